"""The engine with a cross-venue order: per-venue books, fills stored with their venue, restart."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.core.builders import levels
from tests.server.engine_support import (
    T0,
    Clock,
    S,
    hub_of,
    order_spec,
    stored_execution,
    submit_to,
)
from twapcore import BookSnapshot, OrderSpec, Side, Trade
from twapserver.db.models import FillRow, OrderRow, SliceRow
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.orders.engine import Engine
from twapserver.orders.updates import order_message


def _hub() -> MarketHub:
    hub = hub_of()
    hub.register(InstrumentInfo("kraken", "BTC-USDT", Decimal("0.1"), Decimal("0.0001")))
    return hub


def _publish(hub: MarketHub, venue: str, ask: str, qty: str, ts: int) -> None:
    snapshot = BookSnapshot(
        venue, "BTC-USDT", levels(("99", "5")), levels((ask, qty), ("110", "50")), ts, ts
    )
    hub.on_book(venue, "BTC-USDT", lambda: snapshot, ts)


def _spec() -> OrderSpec:
    return order_spec(
        "x", quantity=Decimal("0.3"), limit_price=Decimal(105), duration_s=Decimal(30), slices=3,
        venues=("binance", "kraken"),
    )  # fmt: skip


async def test_a_cross_venue_order_fills_on_both_venues_and_survives_a_restart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), _hub()
    first = Engine(sessions, hub, clock, engine_id="first")
    order_id = await submit_to(first, _spec(), T0)
    _publish(hub, "binance", "101", "0.06", T0)
    _publish(hub, "kraken", "100", "0.05", T0)
    await first.run_due(T0)
    hub.on_trade(Trade("kraken", "BTC-USDT", Side.SELL, Decimal(100), Decimal("2"), T0, T0))
    hub.on_trade(Trade("binance", "BTC-USDT", Side.SELL, Decimal(101), Decimal("1"), T0, T0))
    clock.now = T0 + 10 * S
    _publish(hub, "binance", "102", "1", clock.now)  # kraken's book is 10 s old: left out
    await first.run_due(clock.now)
    await first.stop()

    async with sessions() as session:
        venues = (await session.execute(select(FillRow.venue).order_by(FillRow.id))).all()
        left_out = (await session.execute(select(SliceRow.venues_left_out))).scalars().all()
    assert [v for (v,) in venues] == ["kraken", "binance", "binance"]
    assert sorted(left_out, key=str) == [None, '[["kraken","stale_book"]]']

    stored = await stored_execution(sessions, order_id)
    assert [(f.venue, f.price, f.qty) for f in stored.fills] == [
        ("kraken", Decimal(100), Decimal("0.05")),
        ("binance", Decimal(101), Decimal("0.05")),
        ("binance", Decimal(102), Decimal("0.1")),
    ]
    assert stored.results[1].venues_left_out == (("kraken", "stale_book"),)
    assert stored.results[1].market_volume == Decimal(3)  # both venues' trades
    async with sessions() as session:
        row = await session.get(OrderRow, order_id)
    assert row is not None  # the WS update of that slice says which venue was left out
    update = order_message(row, stored, stored.results[1])
    assert update["slice"]["venues_left_out"] == {"kraken": "stale_book"}

    clock.now = T0 + 20 * S  # a restart: the next engine resumes from the stored rows
    second = Engine(sessions, hub, clock, engine_id="second")
    _publish(hub, "kraken", "100", "1", clock.now)
    await second.start(run=False)
    await second.run_due(clock.now)
    await second.stop()
    final = await stored_execution(sessions, order_id)
    assert final.status.value == "completed"
    assert [(f.venue, f.price) for f in final.fills[3:]] == [("kraken", Decimal(100))]
    assert final.results[2].venues_left_out == (("binance", "stale_book"),)
