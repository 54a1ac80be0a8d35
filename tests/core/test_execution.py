from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.builders import S, book, spec
from twapcore import (
    InvalidOrder,
    InvalidState,
    LiquidityLedger,
    OrderStatus,
    Side,
    SkipReason,
    SliceStatus,
    TwapExecution,
)


def _run(execution: TwapExecution, books: list[object]) -> None:
    for snapshot in books:
        due = execution.next_due_ns
        assert due is not None
        execution.step(due, snapshot)  # type: ignore[arg-type]


def test_completes_when_every_slice_fills() -> None:
    execution = TwapExecution(spec(quantity="0.6", slices=6), 0)

    _run(execution, [book(ts=i * 10 * S, version=i) for i in range(6)])

    assert execution.status is OrderStatus.COMPLETED
    assert execution.filled_qty == Decimal("0.6")


def test_expires_with_what_filled_when_the_limit_blocks() -> None:
    execution = TwapExecution(spec(limit="100", slices=3), 0)

    _run(execution, [book(ts=i * 20 * S, version=i) for i in range(3)])

    assert execution.status is OrderStatus.EXPIRED
    assert execution.filled_qty == 0
    assert {r.reason for r in execution.results} == {SkipReason.LIMIT_PRICE}


def test_missing_book_skips_and_the_next_slice_catches_up() -> None:
    execution = TwapExecution(spec(quantity="0.6", slices=6), 0)

    skipped = execution.step(0, None)
    caught_up = execution.step(10 * S, book(ts=10 * S))

    assert (skipped.status, skipped.reason) == (SliceStatus.SKIPPED, SkipReason.NO_BOOK)
    assert caught_up.target_qty == Decimal("0.2")
    assert caught_up.filled_qty == Decimal("0.2")


def test_stale_book_is_not_traded() -> None:
    execution = TwapExecution(spec(max_book_age_s=Decimal(2)), 0)

    result = execution.step(0 + 3 * S, book(ts=0))

    assert result.reason == SkipReason.STALE_BOOK
    assert result.fills == ()


def test_catch_up_is_capped_at_a_multiple_of_one_slice() -> None:
    execution = TwapExecution(spec(quantity="0.6", slices=6, catch_up_cap=Decimal(2)), 0)
    for i in range(4):
        execution.step(i * 10 * S, None)

    result = execution.step(40 * S, book(ts=40 * S))

    assert result.target_qty == Decimal("0.2")


def test_server_down_skip_carries_quantity_over() -> None:
    execution = TwapExecution(spec(quantity="0.6", slices=6), 0)

    execution.skip(5 * S, SkipReason.SERVER_DOWN)
    result = execution.step(10 * S, book(ts=10 * S))

    assert execution.results[0].reason == "server_down"
    assert result.filled_qty == Decimal("0.2")


def test_step_before_the_due_time_is_refused() -> None:
    execution = TwapExecution(spec(slices=6), 0)
    execution.step(0, book())

    with pytest.raises(InvalidOrder, match="slice 1 is due at 10000000000 ns"):
        execution.step(5 * S, book())


def test_cancel_ends_the_order_and_keeps_fills() -> None:
    execution = TwapExecution(spec(quantity="0.6", slices=6), 0)
    execution.step(0, book())

    execution.cancel(1 * S)

    assert execution.status is OrderStatus.CANCELLED
    assert execution.filled_qty == Decimal("0.1")
    assert execution.next_due_ns is None
    with pytest.raises(InvalidOrder, match="already cancelled"):
        execution.cancel(2 * S)


def test_book_of_another_symbol_is_refused() -> None:
    execution = TwapExecution(spec(), 0)

    with pytest.raises(Exception, match="ETH-USDT"):
        execution.step(0, book(symbol="ETH-USDT"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("limit_price", Decimal(0), "limit_price 0 must be greater than 0"),
        ("catch_up_cap", Decimal("0.5"), "catch_up_cap 0.5 must be at least 1"),
        ("fill_model", "magic", "fill model 'magic' is not one of"),
    ],
)
def test_invalid_specs_are_rejected(field: str, value: object, message: str) -> None:
    from dataclasses import replace

    with pytest.raises(InvalidOrder, match=message):
        TwapExecution(replace(spec(), **{field: value}), 0)


def test_from_state_rejects_unknown_versions() -> None:
    with pytest.raises(InvalidState, match="state_version 99"):
        TwapExecution.from_state({"state_version": 99})


_book_or_none = st.one_of(
    st.none(),
    st.tuples(
        st.integers(min_value=95, max_value=105),
        st.integers(min_value=1, max_value=400),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    side=st.sampled_from(Side),
    split=st.integers(min_value=0, max_value=12),
    books=st.lists(_book_or_none, min_size=12, max_size=12),
)
def test_state_round_trip_continues_identically(
    side: Side, split: int, books: list[tuple[int, int] | None]
) -> None:
    def snapshot(i: int, row: tuple[int, int] | None) -> object:
        if row is None:
            return None
        price, size = row
        qty = str(Decimal(size) / 1000)
        return book(
            bids=((str(price - 1), qty),), asks=((str(price), qty),), ts=i * 5 * S, version=i
        )

    def run(execution: TwapExecution, start: int, ledger: LiquidityLedger) -> None:
        for i in range(start, 12):
            execution.step(i * 5 * S, snapshot(i, books[i]), ledger)  # type: ignore[arg-type]

    order = spec(side=side, quantity="1.2", limit="101" if side is Side.BUY else "99", slices=12)
    straight, ledger_a = TwapExecution(order, 0), LiquidityLedger()
    run(straight, 0, ledger_a)
    resumed, ledger_b = TwapExecution(order, 0), LiquidityLedger()
    for i in range(split):
        resumed.step(i * 5 * S, snapshot(i, books[i]), ledger_b)  # type: ignore[arg-type]

    restored = TwapExecution.from_state(resumed.to_state())
    run(restored, split, ledger_b)

    assert restored.to_state() == straight.to_state()
    assert restored.filled_qty <= order.quantity
