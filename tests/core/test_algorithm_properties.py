"""Invariants every algorithm keeps, whatever the books and the traded volume."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.builders import levels
from twapcore import (
    BookSnapshot,
    LiquidityLedger,
    MarketActivity,
    OrderExecution,
    OrderSpec,
    Side,
)

LOT = Decimal("0.01")
STEP_S = 10


@dataclass(frozen=True)
class Scenario:
    spec: OrderSpec
    books: list[BookSnapshot | None]  # one per step (None: no book)
    volumes: list[Decimal]  # traded since the previous step


_PARAMS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "twap": st.just({}),
    "twap_random": st.fixed_dictionaries(
        {
            "seed": st.integers(0, 2**32),
            "jitter": st.decimals("0", "1", places=2),
        }
    ),
    "vwap": st.fixed_dictionaries(
        {"profile_weights": st.lists(st.decimals("0", "50", places=1), min_size=1, max_size=8)}
    ).map(lambda p: {**p, "profile_weights": tuple(p["profile_weights"])}),
    "pov": st.fixed_dictionaries(
        {
            "participation": st.decimals("0.01", "1", places=2),
            "max_slice_qty": st.one_of(st.none(), st.decimals("0.01", "2", places=2)),
        }
    ),
}


def _side_levels(draw: st.DrawFn, best: int, step: int) -> tuple[tuple[str, str], ...]:
    sizes = draw(st.lists(st.decimals("0.001", "2", places=3), min_size=0, max_size=3))
    return tuple((str(best + step * i), str(size)) for i, size in enumerate(sizes))


@st.composite
def scenarios(draw: st.DrawFn, algorithm: str, open_ended: bool = False) -> Scenario:
    """An order of `algorithm` (`open_ended`: pov without duration_s, a step every STEP_S)."""
    slices = draw(st.integers(1, 10))
    timing: dict[str, Any] = (
        {"interval_s": Decimal(STEP_S)}
        if open_ended
        else {"duration_s": Decimal(slices * STEP_S), "slices": slices}
    )
    spec = OrderSpec(
        exchange="binance",
        symbol="BTC-USDT",
        side=draw(st.sampled_from(Side)),
        quantity=LOT * draw(st.integers(1, 400)),
        limit_price=Decimal(draw(st.integers(95, 105))),
        lot_size=LOT,
        **timing,
        algorithm=algorithm,
        **draw(_PARAMS[algorithm]),
    )
    books: list[BookSnapshot | None] = []
    for step in range(slices):
        if draw(st.booleans()) and draw(st.booleans()):
            books.append(None)
            continue
        bids, asks = _side_levels(draw, 99, -1), _side_levels(draw, 101, 1)
        ts = step * STEP_S * 1_000_000_000
        books.append(
            BookSnapshot(
                "binance", "BTC-USDT", levels(*bids), levels(*asks), ts, ts, None, step + 1
            )
        )
    volumes = draw(st.lists(st.decimals("0", "5", places=2), min_size=slices, max_size=slices))
    return Scenario(spec, books, volumes)


def _continue(execution: OrderExecution, scenario: Scenario) -> None:
    """Step to the end; an open-ended order steps once per book, then expires."""
    ledger = LiquidityLedger()
    while (due := execution.next_due_ns) is not None:
        i = execution.next_index
        if scenario.spec.duration_s is None and i == len(scenario.books):
            execution.expire(due)
            break
        book = scenario.books[min(i, len(scenario.books) - 1)]
        execution.step(
            due, book, ledger, MarketActivity(scenario.volumes[i % len(scenario.volumes)], 1)
        )


def _check_invariants(execution: OrderExecution, scenario: Scenario) -> None:
    spec = scenario.spec
    assert all(planned.qty % LOT == 0 for planned in execution.plan)
    assert sum((p.qty for p in execution.plan), Decimal(0)) in (spec.quantity, Decimal(0))
    assert execution.filled_qty <= spec.quantity
    for result in execution.results:
        if spec.algorithm == "pov":  # the scheduled ones catch up fills of any displayed size
            assert result.target_qty % LOT == 0
        assert result.filled_qty <= result.target_qty
        by_price: dict[Decimal, Decimal] = {}
        for fill in result.fills:
            within = (
                fill.price <= spec.limit_price
                if spec.side is Side.BUY
                else fill.price >= spec.limit_price
            )
            assert within
            by_price[fill.price] = by_price.get(fill.price, Decimal(0)) + fill.qty
        book = scenario.books[min(result.index, len(scenario.books) - 1)]
        displayed = (
            {}
            if book is None
            else {lvl.price: lvl.qty for lvl in (book.asks if spec.side is Side.BUY else book.bids)}
        )
        for price, qty in by_price.items():
            assert qty <= displayed[price]
    if spec.duration_s is None:  # open-ended: once ended, its plan is the steps it took
        assert execution.status.is_final
        assert len(execution.plan) == len(execution.results)
    if spec.algorithm == "pov":
        assert spec.participation is not None
        assert execution.filled_qty <= spec.participation * execution.observed_volume


def _property(algorithm: str, open_ended: bool = False) -> Any:
    @settings(max_examples=60, deadline=None)
    @given(scenario=scenarios(algorithm, open_ended), cut=st.integers(0, 10))
    def check(scenario: Scenario, cut: int) -> None:
        first = OrderExecution(scenario.spec, 0)
        _continue(first, scenario)
        _check_invariants(first, scenario)

        again = OrderExecution(scenario.spec, 0)
        _continue(again, scenario)
        assert again.to_state() == first.to_state()  # same inputs, same run

        partial = OrderExecution(scenario.spec, 0)
        ledger = LiquidityLedger()
        while partial.next_due_ns is not None and partial.next_index < min(
            cut, len(scenario.books)
        ):
            i = partial.next_index
            partial.step(
                partial.next_due_ns,
                scenario.books[i],
                ledger,
                MarketActivity(scenario.volumes[i], 1),
            )
        resumed = OrderExecution.from_state(partial.to_state())
        _continue(resumed, scenario)
        _continue(partial, scenario)
        assert resumed.to_state() == partial.to_state() == first.to_state()

    return check


test_twap_invariants = _property("twap")
test_twap_random_invariants = _property("twap_random")
test_vwap_invariants = _property("vwap")
test_pov_invariants = _property("pov")
test_open_ended_pov_invariants = _property("pov", open_ended=True)
