"""The one rule for showing decimals and times to people and JSON clients.

Decimals are written in plain positional notation (never `1E-7`), without
trailing-zero noise (`0E-8` is `0`, `61831.89000000` is `61831.89`), and
exactly: the text parses back to the same value, so nothing is rounded away.
Prices and sizes can be padded to the precision of their tick or lot
(`61831.9` with tick `0.01` is `61831.90`). Times are ISO-8601 UTC with
milliseconds. Pure functions; no floats anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

__all__ = [
    "AVERAGE_DIGITS",
    "format_average",
    "format_decimal",
    "format_price",
    "format_qty",
    "iso_ns",
    "step_places",
]

# Significant digits kept of a computed average (a VWAP, an average fill price):
# exact division leaves 28 digits, most of them noise to a reader.
AVERAGE_DIGITS = 15

_NS_PER_SECOND = 1_000_000_000
_NS_PER_MILLISECOND = 1_000_000

DecimalLike = Decimal | int | str


def _as_decimal(value: DecimalLike) -> Decimal:
    number = value if isinstance(value, Decimal) else Decimal(value)
    if not number.is_finite():
        raise ValueError(f"cannot format the non-finite number {value!r}")
    return number


def _rounded(number: Decimal, max_places: int | None) -> Decimal:
    exponent = number.as_tuple().exponent
    if max_places is None or (isinstance(exponent, int) and -exponent <= max_places):
        return number
    with localcontext() as context:
        context.prec = max(len(number.as_tuple().digits) + 1, 1)
        return number.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_EVEN)


def format_decimal(value: DecimalLike, max_places: int | None = None) -> str:
    """`value` in positional notation without trailing zeros, exactly.

    `Decimal(format_decimal(x)) == x` for every finite `x`; the result never
    contains an exponent. `str`/`int` inputs are parsed as decimals first.
    `max_places` rounds (half-even) to at most that many decimals: for computed
    figures such as averages, never for stored prices and sizes.
    Raises `ValueError` for NaN and infinities.
    """
    text = format(_rounded(_as_decimal(value), max_places), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_average(value: DecimalLike) -> str:
    """A computed average (VWAP, average price) rounded half-even to `AVERAGE_DIGITS`
    significant digits, then written by `format_decimal`: `61836.54600484676166231361788`
    is `61836.5460048468`. Stored prices and sizes use `format_decimal` (exact)."""
    number = _as_decimal(value)
    if number == 0:
        return "0"
    return format_decimal(number, max(AVERAGE_DIGITS - 1 - number.adjusted(), 0))


def step_places(step: DecimalLike) -> int:
    """Decimal places of a tick or lot size: `0.01` -> 2, `0.00100000` -> 3, `5` -> 0."""
    text = format_decimal(step)
    _, _, fraction = text.partition(".")
    return len(fraction)


def _pad(value: DecimalLike, places: int, max_places: int | None) -> str:
    text = format_decimal(value, max_places)
    whole, _, fraction = text.partition(".")
    if len(fraction) >= places:
        return text
    return f"{whole}.{fraction.ljust(places, '0')}"


def format_price(
    value: DecimalLike, tick: DecimalLike | None, max_places: int | None = None
) -> str:
    """`value` with as many decimals as the tick size has (more only if the value has them).

    Never rounds unless `max_places` is given (see `format_decimal`): an
    off-tick price keeps all its digits. Without a known tick this is
    `format_decimal(value, max_places)`.
    """
    if tick is None:
        return format_decimal(value, max_places)
    places = step_places(tick)
    return _pad(value, places, None if max_places is None else max(max_places, places))


def format_qty(value: DecimalLike, lot: DecimalLike | None, max_places: int | None = None) -> str:
    """`value` with as many decimals as the lot size has; see `format_price`."""
    return format_price(value, lot, max_places)


def iso_ns(ns: int) -> str:
    """`ns` nanoseconds since the epoch as ISO-8601 UTC with milliseconds.

    `1795861891123456789` -> `2026-11-28T10:31:31.123Z`; sub-millisecond
    digits are truncated (floored), never rounded up into the next second.
    """
    seconds, remainder = divmod(ns, _NS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    millis = remainder // _NS_PER_MILLISECOND
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"
