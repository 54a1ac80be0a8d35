"""The one decimal and time formatting rule (twapcore.formatting)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twapcore.formatting import (
    AVERAGE_DIGITS,
    format_average,
    format_decimal,
    format_price,
    format_qty,
    iso_ns,
    step_places,
)

finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0E-8", "0"),
        ("1E-7", "0.0000001"),
        ("61831.89000000", "61831.89"),
        ("1E+3", "1000"),
        ("-0.000", "0"),
        ("-2.50", "-2.5"),
        ("0.1000000000000000000000000000000000001", "0.1000000000000000000000000000000000001"),
    ],
)
def test_format_decimal_writes_plain_digits_without_trailing_zeros(
    value: str, expected: str
) -> None:
    assert format_decimal(Decimal(value)) == expected


@given(finite_decimals)
def test_format_decimal_round_trips_exactly(value: Decimal) -> None:
    assert Decimal(format_decimal(value)) == value


@given(finite_decimals)
def test_format_decimal_never_uses_exponents_or_trailing_zeros(value: Decimal) -> None:
    text = format_decimal(value)
    assert "E" not in text.upper()
    assert not ("." in text and text.endswith(("0", ".")))


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_format_decimal_refuses_non_finite_numbers_naming_them(value: str) -> None:
    with pytest.raises(ValueError, match=value):
        format_decimal(Decimal(value))


@pytest.mark.parametrize(
    ("step", "places"), [("0.01", 2), ("0.01000000", 2), ("1E-8", 8), ("5", 0), ("1E+1", 0)]
)
def test_step_places_counts_the_significant_decimals_of_a_tick(step: str, places: int) -> None:
    assert step_places(Decimal(step)) == places


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        ("61831.9", "0.01", "61831.90"),
        ("61831.89000000", "0.01000000", "61831.89"),
        ("61831", "0.1", "61831.0"),
        ("61831.123", "0.01", "61831.123"),
        ("61831.5", "1", "61831.5"),
        ("61831.50", None, "61831.5"),
    ],
)
def test_format_price_pads_to_the_tick_precision_and_never_rounds(
    price: str, tick: str | None, expected: str
) -> None:
    assert format_price(Decimal(price), None if tick is None else Decimal(tick)) == expected


@given(finite_decimals, st.integers(min_value=0, max_value=12))
def test_format_price_keeps_the_value_and_has_at_least_tick_places(
    value: Decimal, places: int
) -> None:
    tick = Decimal(1).scaleb(-places)
    text = format_price(value, tick)
    assert Decimal(text) == value
    assert "E" not in text.upper()
    assert len(text.partition(".")[2]) >= places


def test_format_qty_uses_the_lot_precision() -> None:
    assert format_qty(Decimal("0.5"), Decimal("0.00001")) == "0.50000"


@given(st.integers(min_value=0, max_value=4_102_444_800 * 10**9))
def test_iso_ns_is_utc_millisecond_iso_8601_that_parses_back(ns: int) -> None:
    text = iso_ns(ns)
    assert text.endswith("Z")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None and parsed.utcoffset() == UTC.utcoffset(None)
    back = int(parsed.timestamp()) * 10**9 + parsed.microsecond * 1000
    assert 0 <= ns - back < 1_000_000


def test_iso_ns_example() -> None:
    moment = datetime(2026, 11, 28, 10, 31, 31, tzinfo=UTC)
    ns = int(moment.timestamp()) * 10**9 + 123_456_789
    assert iso_ns(ns) == "2026-11-28T10:31:31.123Z"


@pytest.mark.parametrize(
    ("value", "max_places", "expected"),
    [
        ("61835.3266666666666666666666", 8, "61835.32666667"),
        ("61835.32600000000000000000", 8, "61835.326"),
        ("0.000000005", 8, "0"),
        ("0.000000015", 8, "0.00000002"),
        ("1E+30", 2, "1000000000000000000000000000000"),
    ],
)
def test_format_decimal_max_places_rounds_half_even_then_trims(
    value: str, max_places: int, expected: str
) -> None:
    assert format_decimal(Decimal(value), max_places) == expected


@given(finite_decimals, st.integers(min_value=0, max_value=12))
def test_format_decimal_max_places_is_within_half_a_unit(value: Decimal, places: int) -> None:
    text = format_decimal(value, places)
    assert len(text.partition(".")[2]) <= places
    assert abs(Decimal(text) - value) <= Decimal(1).scaleb(-places) / 2


def test_format_price_max_places_rounds_computed_averages_but_keeps_tick_places() -> None:
    assert format_price(Decimal("61835.3266666666"), Decimal("0.01"), 4) == "61835.3267"
    assert format_price(Decimal("61835.3"), Decimal("0.01"), 4) == "61835.30"
    assert format_price(Decimal("61835.3266"), Decimal("0.01"), 0) == "61835.33"


def test_a_computed_average_keeps_fifteen_significant_digits() -> None:
    assert format_average(Decimal("61836.54600484676166231361788")) == "61836.5460048468"
    assert format_average(Decimal("0.00001234123412341234")) == "0.0000123412341234123"
    assert format_average(Decimal("61840.12000000")) == "61840.12"
    assert format_average(Decimal("0E-8")) == "0"
    assert (
        format_average(Decimal("12345678901234567890.5")) == "12345678901234567890"
    )  # integers stay


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12))
def test_a_computed_average_is_within_half_a_unit_of_its_last_kept_digit(value: Decimal) -> None:
    text = format_average(value)
    assert "E" not in text
    if value != 0:
        unit = Decimal(1).scaleb(value.adjusted() - (AVERAGE_DIGITS - 1))
        assert abs(Decimal(text) - value) <= unit / 2
