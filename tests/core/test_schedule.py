from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twapcore import InvalidOrder, plan_twap

S = 1_000_000_000
LOT = Decimal("0.001")


def test_slices_are_equal_with_the_remainder_on_the_last() -> None:
    plan = plan_twap(Decimal("1"), 0, 60, slices=3, lot_size=LOT)

    assert [p.qty for p in plan] == [Decimal("0.333"), Decimal("0.333"), Decimal("0.334")]


def test_due_times_spread_evenly_from_start() -> None:
    plan = plan_twap(Decimal("1"), 5 * S, 60, slices=4, lot_size=LOT)

    assert [p.due_ns for p in plan] == [5 * S, 20 * S, 35 * S, 50 * S]


def test_interval_sets_the_slice_count() -> None:
    plan = plan_twap(Decimal("1"), 0, 60, interval_s=Decimal("7.5"), lot_size=LOT)

    assert len(plan) == 8


def test_never_more_slices_than_lots() -> None:
    plan = plan_twap(Decimal("0.003"), 0, 60, slices=10, lot_size=LOT)

    assert [p.qty for p in plan] == [LOT, LOT, LOT]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": Decimal(0)}, "quantity 0 must be greater than 0"),
        ({"quantity": Decimal("-1")}, "quantity -1 must be greater than 0"),
        ({"duration_s": 0}, "duration_s 0 must be greater than 0"),
        ({"slices": 0}, "slices 0 must be at least 1"),
        ({"quantity": Decimal("0.0001")}, "quantity 0.0001 is below the lot size 0.001"),
        ({"quantity": Decimal("1.0005")}, "quantity 1.0005 is not a multiple of the lot size"),
    ],
)
def test_rejects_bad_orders_naming_the_value(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"quantity": Decimal(1), "duration_s": 60, "slices": 5}
    args.update(kwargs)

    with pytest.raises(InvalidOrder, match=message):
        plan_twap(args["quantity"], 0, args["duration_s"], slices=args["slices"], lot_size=LOT)  # type: ignore[arg-type]


def test_slices_and_interval_are_exclusive() -> None:
    with pytest.raises(InvalidOrder, match="exactly one of slices or interval_s"):
        plan_twap(Decimal(1), 0, 60, slices=2, interval_s=10, lot_size=LOT)


@given(
    lots=st.integers(min_value=1, max_value=10**9),
    lot_exp=st.integers(min_value=-8, max_value=2),
    slices=st.integers(min_value=1, max_value=500),
    duration=st.integers(min_value=1, max_value=86400 * 7),
)
def test_plan_sums_exactly_and_respects_lots(
    lots: int, lot_exp: int, slices: int, duration: int
) -> None:
    lot = Decimal(1).scaleb(lot_exp)
    quantity = lot * lots

    plan = plan_twap(quantity, 0, duration, slices=slices, lot_size=lot)

    assert sum(p.qty for p in plan) == quantity
    assert len(plan) == min(slices, lots)
    assert all(p.qty > 0 and (p.qty / lot) == (p.qty / lot).to_integral_value() for p in plan)
    assert all(a.due_ns <= b.due_ns for a, b in itertools.pairwise(plan))
    assert plan[-1].due_ns < duration * S


@pytest.mark.parametrize(
    ("quantity", "lot", "duration"),
    [
        ("1E+5000", "0.001", 60),
        ("1" * 1000, "0.001", 60),
        ("1", "1E-999999", 60),
        ("1", "0.001", "1E+999999"),
    ],
)
def test_absurd_values_are_invalid_orders_not_decimal_errors(
    quantity: str, lot: str, duration: str | int
) -> None:
    with pytest.raises(InvalidOrder, match=r"needs more than 60 digits|out of range"):
        plan_twap(Decimal(quantity), 0, Decimal(duration), slices=5, lot_size=Decimal(lot))
