from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.core.builders import book
from twapcore import LiquidityLedger, Side, TopOfBook, WalkBook


def test_top_of_book_fills_only_the_best_level() -> None:
    fills = TopOfBook().fill(Side.BUY, Decimal("2.5"), Decimal(200), book(), LiquidityLedger())

    assert [(f.price, f.qty) for f in fills] == [(Decimal(101), Decimal(1))]


def test_walk_book_walks_levels_within_the_limit() -> None:
    fills = WalkBook().fill(Side.BUY, Decimal("2.5"), Decimal(102), book(), LiquidityLedger())

    assert [(f.price, f.qty) for f in fills] == [
        (Decimal(101), Decimal(1)),
        (Decimal(102), Decimal("1.5")),
    ]


def test_walk_book_stops_at_the_limit() -> None:
    fills = WalkBook().fill(Side.SELL, Decimal(3), Decimal(99), book(), LiquidityLedger())

    assert [(f.price, f.qty) for f in fills] == [(Decimal(99), Decimal(1))]


def test_nothing_fills_when_the_best_price_is_beyond_the_limit() -> None:
    assert WalkBook().fill(Side.BUY, Decimal(1), Decimal(100), book(), LiquidityLedger()) == []


def test_ledger_prevents_consuming_the_same_displayed_size_twice() -> None:
    ledger, snapshot = LiquidityLedger(), book()
    WalkBook().fill(Side.BUY, Decimal("0.6"), Decimal(101), snapshot, ledger)

    second = WalkBook().fill(Side.BUY, Decimal(1), Decimal(101), snapshot, ledger)

    assert [(f.price, f.qty) for f in second] == [(Decimal(101), Decimal("0.4"))]


def test_ledger_forgets_consumption_when_the_book_changes() -> None:
    ledger = LiquidityLedger()
    WalkBook().fill(Side.BUY, Decimal(1), Decimal(101), book(version=1), ledger)

    again = WalkBook().fill(Side.BUY, Decimal(1), Decimal(101), book(version=2), ledger)

    assert sum(f.qty for f in again) == Decimal(1)


_price = st.integers(min_value=1, max_value=2000).map(Decimal)
_qty = st.integers(min_value=1, max_value=5000).map(lambda n: Decimal(n) / 1000)


@given(
    asks=st.dictionaries(_price, _qty, min_size=0, max_size=15),
    bids=st.dictionaries(_price, _qty, min_size=0, max_size=15),
    side=st.sampled_from(Side),
    qty=_qty,
    limit=_price,
    model=st.sampled_from([WalkBook(), TopOfBook()]),
    repeats=st.integers(min_value=1, max_value=4),
)
def test_fills_never_exceed_limit_quantity_or_displayed_size(
    asks: dict[Decimal, Decimal],
    bids: dict[Decimal, Decimal],
    side: Side,
    qty: Decimal,
    limit: Decimal,
    model: WalkBook,
    repeats: int,
) -> None:
    snapshot = book(
        bids=tuple((str(p), str(q)) for p, q in sorted(bids.items(), reverse=True)),
        asks=tuple((str(p), str(q)) for p, q in sorted(asks.items())),
    )
    displayed = asks if side is Side.BUY else bids
    ledger = LiquidityLedger()
    taken: dict[Decimal, Decimal] = {}

    for _ in range(repeats):
        fills = model.fill(side, qty, limit, snapshot, ledger)
        assert sum((f.qty for f in fills), Decimal(0)) <= qty
        for f in fills:
            assert f.price <= limit if side is Side.BUY else f.price >= limit
            taken[f.price] = taken.get(f.price, Decimal(0)) + f.qty

    assert all(taken[p] <= displayed[p] for p in taken)
