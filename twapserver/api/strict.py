"""Strict input types: the one home for the shape of every number and string the API accepts.

Pydantic's lax defaults take `true` as 1, `"1_000"` and `"  0.01  "` as numbers,
and let `1E+5000` or a thousand digits through to the arithmetic. These
`Annotated` types refuse all of that with a message naming the value, and state
their bounds in the OpenAPI schema. Domain rules (quantity > 0, duration
1..604800 s, …) stay in `twapserver.orders.validation`, which gives them reason
codes; here is only what a well-formed value looks like.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from annotated_types import Interval as Bounds
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from twapcore import INTERVALS, interval_ns

__all__ = [
    "CONTROL_FREE_PATTERN",
    "DECIMAL_PATTERN",
    "DECIMAL_RULE",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DECIMAL_CHARS",
    "MAX_DECIMAL_INTEGER_DIGITS",
    "MAX_DECIMAL_PLACES",
    "MAX_NAME_CHARS",
    "QUERY_INT",
    "TOKEN_ID_PATTERN",
    "DecimalNumber",
    "DecimalString",
    "Int64",
    "Interval",
    "MarketName",
    "QueryNonNegativeInt",
    "TokenId",
    "parse_decimal",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# A decimal has at most 15 digits before the point (|value| < 10^15) and 18 after:
# far beyond any real quantity or price, and small enough that the order
# arithmetic (lots, slices, catch-up) stays exact.
MAX_DECIMAL_INTEGER_DIGITS = 15
MAX_DECIMAL_PLACES = 18
MAX_DECIMAL_CHARS = 40
# Digits with an optional point and exponent; no spaces, underscores or "+" sign.
DECIMAL_PATTERN = r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)

# No C0/C1 control characters (NUL included: PostgreSQL text cannot hold it).
CONTROL_FREE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
MAX_NAME_CHARS = 64

# 1-64 of A-Z a-z 0-9 . _ : -, but not "." or ".." (URL normalisation would make
# such an order unreachable at /orders/{token_id}). Written without look-ahead so
# pydantic's regex engine and OpenAPI tools read the same pattern.
TOKEN_ID_PATTERN = (
    r"^(?:[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,63}"
    r"|\.[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,62}"
    r"|\.\.[A-Za-z0-9._:-]{1,62})$"
)

_INT_TEXT = re.compile(r"^-?[0-9]{1,19}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TOKEN_ID = re.compile(TOKEN_ID_PATTERN)


def _check_magnitude(value: Decimal, shown: object) -> Decimal:
    """`value` if it has at most MAX_DECIMAL_INTEGER_DIGITS / MAX_DECIMAL_PLACES digits."""
    if not value.is_finite():
        raise ValueError(f"{shown!r} is not a finite number")
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    if not any(digits):  # zero, however written ("0E-50", "0.000")
        return value
    # Trailing zeros do not count: "1.500" has one decimal place, "1E+2" three integer digits.
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
        exponent += 1
    places = max(0, -exponent)
    integer_digits = max(0, significant + exponent)
    if places > MAX_DECIMAL_PLACES:
        raise ValueError(f"{shown!r} has more than {MAX_DECIMAL_PLACES} decimal places")
    if integer_digits > MAX_DECIMAL_INTEGER_DIGITS:
        raise ValueError(
            f"{shown!r} is too large: at most {MAX_DECIMAL_INTEGER_DIGITS} digits before the point"
        )
    return value


def parse_decimal(value: object, *, numbers: bool) -> Decimal:
    """A bounded, finite `Decimal` from a decimal string (or a JSON number if `numbers`).

    Raises `ValueError` naming the value: pydantic turns it into a 422.
    """
    if isinstance(value, Decimal):  # already parsed (defaults, internal callers)
        return _check_magnitude(value, str(value))
    if isinstance(value, str):
        if len(value) > MAX_DECIMAL_CHARS:
            raise ValueError(
                f"a decimal of {len(value)} characters is over the maximum {MAX_DECIMAL_CHARS}"
            )
        if _DECIMAL.fullmatch(value) is None:
            raise ValueError(
                f'{value!r} is not a decimal string such as "0.5" '
                "(digits, an optional point and exponent; no spaces, underscores or '+')"
            )
        try:
            parsed = Decimal(value)
        except InvalidOperation:  # an exponent beyond what Decimal can hold
            raise ValueError(f"{value!r} is out of range") from None
        return _check_magnitude(parsed, value)
    if isinstance(value, bool):  # bool is an int subclass: check it first
        raise ValueError(f"{value!r} is a boolean, not a number")
    if not numbers:
        raise ValueError(f'give a decimal string such as "0.5", not the JSON value {value!r}')
    if isinstance(value, int):
        return _check_magnitude(Decimal(value), value)
    if isinstance(value, float):
        # repr is the shortest text that reads back as this float: 0.1 -> "0.1".
        return _check_magnitude(Decimal(repr(value)), value)
    raise ValueError(f"{value!r} is not a number")


def _decimal_schema(numbers: bool) -> dict[str, Any]:
    text = {"type": "string", "pattern": DECIMAL_PATTERN, "maxLength": MAX_DECIMAL_CHARS}
    if not numbers:
        return text
    limit = 10**MAX_DECIMAL_INTEGER_DIGITS
    return {
        "anyOf": [{"type": "number", "exclusiveMinimum": -limit, "exclusiveMaximum": limit}, text]
    }


def _strict_decimal(value: object) -> Decimal:
    return parse_decimal(value, numbers=False)


def _decimal_or_number(value: object) -> Decimal:
    return parse_decimal(value, numbers=True)


DECIMAL_RULE = (
    f"at most {MAX_DECIMAL_INTEGER_DIGITS} digits before the point and {MAX_DECIMAL_PLACES} after"
)

# Money (quantity, price): a decimal string only, as on the wire everywhere
# (a JSON number is a binary float in most clients).
DecimalString = Annotated[
    Decimal, BeforeValidator(_strict_decimal), WithJsonSchema(_decimal_schema(numbers=False))
]
# Seconds and ratios: a JSON number or a decimal string (README and SDK use both).
DecimalNumber = Annotated[
    Decimal, BeforeValidator(_decimal_or_number), WithJsonSchema(_decimal_schema(numbers=True))
]


def _int_from_text(value: object) -> object:
    """Query and path integers arrive as text: plain digits only (no "1_000", " 5", "5.0")."""
    if isinstance(value, str):
        if _INT_TEXT.fullmatch(value) is None:
            raise ValueError(f"{value[:40]!r} is not a whole number within the 64-bit range")
        return int(value)
    return value


# A JSON integer: booleans, strings and floats are refused; 64-bit signed range.
Int64 = Annotated[int, Strict(), Field(ge=INT64_MIN, le=INT64_MAX)]
# An integer in a query string: digits with an optional leading "-". Routes give
# their bounds as annotated_types.Interval *before* it (bounds after a
# BeforeValidator would be missing from the OpenAPI schema):
# `Annotated[int, annotated_types.Interval(ge=1, le=500), QUERY_INT, Query(...)]`.
QUERY_INT = BeforeValidator(_int_from_text)
# A time in ns since the epoch, or a row id, in a query string: 0..2^63-1.
QueryNonNegativeInt = Annotated[int, Bounds(ge=0, le=INT64_MAX), QUERY_INT]


def _control_free(value: str) -> str:
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(
            f"{value[:40]!r} holds the control character {found.group()!r} at {found.start()}"
        )
    return value


def _token_id(value: str) -> str:
    if _TOKEN_ID.fullmatch(value) is None:
        raise ValueError(
            f'token_id {value[:80]!r} is not 1-64 of A-Z a-z 0-9 . _ : - (and not "." or "..")'
        )
    return value


# A name (exchange, symbol): 1-64 characters, no control characters.
MarketName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_CHARS),
    AfterValidator(_control_free),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_NAME_CHARS,
            "pattern": CONTROL_FREE_PATTERN,
        }
    ),
]
# A client's order id (see TOKEN_ID_PATTERN).
TokenId = Annotated[
    str,
    AfterValidator(_token_id),
    WithJsonSchema({"type": "string", "pattern": TOKEN_ID_PATTERN, "maxLength": 64}),
]


def _known_interval(value: str) -> str:
    interval_ns(value)  # UnknownInterval (a ValueError) names the value and the choices
    return value


# A candle interval: one of twapcore.INTERVALS (1m … 1d).
Interval = Annotated[
    str, AfterValidator(_known_interval), WithJsonSchema({"type": "string", "enum": [*INTERVALS]})
]
