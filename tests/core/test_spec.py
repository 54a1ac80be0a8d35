"""`OrderSpec` construction: exact numbers in, floats and bad values out, naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from twapcore import InvalidOrder, OrderExecution, OrderSpec, Side, TwapOrderSpec

_BASE: dict[str, object] = {
    "exchange": "binance",
    "symbol": "ETH-USDT",
    "side": "sell",
    "quantity": 40,
    "limit_price": 2600,
    "duration_s": 600,
    "slices": 20,
}


def test_int_and_numeric_str_become_exact_decimals() -> None:
    spec = TwapOrderSpec("binance", "ETH-USDT", "sell", 40, "2600.10", 600, slices=20)  # type: ignore[arg-type]

    assert (spec.quantity, spec.limit_price, spec.duration_s) == (
        Decimal(40),
        Decimal("2600.10"),
        Decimal(600),
    )
    assert spec.side is Side.SELL
    assert OrderExecution(spec, 0).plan[0].qty == Decimal(2)


@pytest.mark.parametrize(
    "field",
    ["quantity", "limit_price", "duration_s", "interval_s", "catch_up_cap", "max_book_age_s"],
)
def test_a_float_is_refused_naming_the_field(field: str) -> None:
    values = {**_BASE, field: 0.1}
    if field == "interval_s":
        values.pop("slices")

    with pytest.raises(InvalidOrder, match=rf"^{field} 0\.1 is a float") as caught:
        OrderSpec(**values)  # type: ignore[arg-type]

    assert caught.value.reason.startswith("invalid_")


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", True, [1]])
def test_a_bad_value_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidOrder, match=r"^quantity "):
        OrderSpec(**{**_BASE, "quantity": bad})  # type: ignore[arg-type]


def test_slices_must_be_an_integer() -> None:
    with pytest.raises(InvalidOrder, match=r"^slices '5' must be an integer"):
        OrderSpec(**{**_BASE, "slices": "5"})  # type: ignore[arg-type]


def test_unknown_algorithm_is_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidOrder, match="algorithm 'iceberg' is not one of: pov, twap"):
        OrderSpec(**_BASE, algorithm="iceberg")  # type: ignore[arg-type]


def test_a_parameter_of_another_algorithm_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="participation applies to pov orders, not twap"):
        OrderSpec(**_BASE, participation="0.1")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"algorithm": "pov"}, "pov needs participation"),
        ({"algorithm": "pov", "participation": "1.5"}, "participation 1.5 is outside"),
        (
            {"algorithm": "pov", "participation": "0.1", "min_slice_qty": 5, "max_slice_qty": 2},
            "min_slice_qty 5 is above max_slice_qty 2",
        ),
        ({"algorithm": "twap_random", "jitter": "0.1"}, "seed is missing"),
        ({"algorithm": "twap_random", "seed": 1, "jitter": 2}, "jitter 2 is outside 0..1"),
        ({"algorithm": "vwap", "profile_weights": ["1", "-1"]}, "profile_weights entry -1"),
    ],
)
def test_algorithm_parameters_are_checked_at_construction(
    extra: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidOrder, match=message):
        OrderSpec(**{**_BASE, **extra})  # type: ignore[arg-type]


def test_a_twap_spec_serializes_without_algorithm_fields() -> None:
    data = OrderSpec(**_BASE).to_dict()  # type: ignore[arg-type]

    assert "algorithm" not in data
    assert "participation" not in data
    assert OrderSpec.from_dict(data).algorithm == "twap"


def test_algorithm_fields_round_trip() -> None:
    spec = OrderSpec(
        **_BASE,  # type: ignore[arg-type]
        algorithm="vwap",
        profile="day.json",
        profile_weights=(Decimal(1), Decimal("2.5")),
    )

    data = spec.to_dict()

    assert data["algorithm"] == "vwap"
    assert data["profile_weights"] == ["1", "2.5"]
    assert OrderSpec.from_dict(data) == spec
