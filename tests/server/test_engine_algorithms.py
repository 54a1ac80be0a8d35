"""The engine with every algorithm: market activity, pov across a restart, late first claims.

On a real database (SQLite and PostgreSQL), with a test clock.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.core.builders import book
from tests.server.engine_support import (
    T0,
    Clock,
    S,
    hub_of,
    order_spec,
    store_order,
    stored_execution,
    submit_to,
)
from twapcore import Side, SkipReason, SliceStatus, Trade
from twapserver.db.models import OrderRow, SliceRow
from twapserver.hub import MarketHub
from twapserver.orders.engine import CLAIM_GRACE_NS, Engine
from twapserver.orders.updates import order_message, order_row_message


def _publish(hub: MarketHub, ts: int) -> None:
    snapshot = book(asks=(("101", "10"), ("102", "50")), ts=ts)
    hub.on_book("binance", "BTC-USDT", lambda: snapshot, ts)


def _trade(hub: MarketHub, qty: str, ts: int) -> None:
    hub.on_trade(Trade("binance", "BTC-USDT", Side.SELL, Decimal(100), Decimal(qty), ts, ts))


async def test_pov_trades_its_share_of_the_volume_since_the_previous_step(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    engine = Engine(sessions, hub, clock)
    order_id = await submit_to(engine, order_spec("p", algorithm="pov", participation="0.1"), T0)
    _publish(hub, T0)
    await engine.run_due(T0)  # adopted and stepped: nothing traded yet
    _trade(hub, "1.5", T0 + S)
    _trade(hub, "0.5", T0 + 2 * S)
    clock.now = T0 + 10 * S
    _publish(hub, clock.now)
    await engine.run_due(clock.now)

    stored = await stored_execution(sessions, order_id)
    first, second = stored.results
    assert (first.reason, first.market_volume) == (SkipReason.NO_TRADES, Decimal(0))
    assert (second.market_volume, second.filled_qty) == (Decimal(2), Decimal("0.2"))
    # The (re)subscribe snapshot, read from the row alone, says what the live update said.
    async with sessions() as session:
        row = await session.get(OrderRow, order_id)
    assert row is not None
    from_row = order_row_message(row)
    assert from_row == order_message(row, stored, None)
    assert (from_row["algorithm"], from_row["filled_qty"]) == ("pov", "0.2")


async def test_pov_resumes_from_the_stored_volume_after_a_restart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    first = Engine(sessions, hub, clock, engine_id="first")
    spec = order_spec("p", algorithm="pov", participation="0.5", max_slice_qty="0.1")
    order_id = await submit_to(first, spec, T0)
    _publish(hub, T0)
    await first.run_due(T0)
    _trade(hub, "1", T0 + S)  # allows 0.5; the cap lets 0.1 through, 0.4 stays owed
    clock.now = T0 + 10 * S
    _publish(hub, clock.now)
    await first.run_due(clock.now)
    await first.stop()  # a clean restart: the next engine claims it at once

    async with sessions() as session:
        volumes = (await session.execute(select(SliceRow.market_volume))).scalars().all()
    assert sorted(volumes) == [Decimal(0), Decimal(1)]
    clock.now = T0 + 20 * S
    second = Engine(sessions, hub, clock, engine_id="second")
    _publish(hub, clock.now)
    await second.start(run=False)
    restored = second.live(order_id)
    assert restored is not None and restored.execution.observed_volume == Decimal(1)
    await second.run_due(clock.now)  # no new trades: it still owes what the first saw

    stored = await stored_execution(sessions, order_id)
    assert [r.filled_qty for r in stored.results] == [Decimal(0), Decimal("0.1"), Decimal("0.1")]
    assert stored.observed_volume == Decimal(1)


async def test_a_late_first_claim_executes_the_due_slice_late(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The soak's finding: claimed 3 s after submission, no server was down."""
    clock, hub = Clock(), hub_of()
    order_id = (await store_order(sessions, order_spec("late"), T0)).id
    clock.now = T0 + CLAIM_GRACE_NS + 2 * S
    _publish(hub, clock.now)
    engine = Engine(sessions, hub, clock)
    await engine.start(run=False)
    await engine.run_due(clock.now)

    stored = await stored_execution(sessions, order_id)
    assert [r.status for r in stored.results] == [SliceStatus.FILLED]
    assert stored.results[0].executed_ns - stored.results[0].due_ns == CLAIM_GRACE_NS + 2 * S
    assert stored.filled_qty == Decimal("0.1")


async def test_a_takeover_of_a_never_executed_order_still_records_server_down(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    order_id = (await store_order(sessions, order_spec("crashed"), T0)).id
    dead = Engine(sessions, hub, clock, engine_id="dead", lease_s=1)
    await dead.maintain(T0)  # claimed, then the engine dies before the first slice
    assert dead.live(order_id) is not None
    clock.now = T0 + 10 * S + CLAIM_GRACE_NS // 2  # slice 1 is just due, slice 0 was missed
    _publish(hub, clock.now)
    survivor = Engine(sessions, hub, clock, engine_id="survivor")
    await survivor.start(run=False)
    await survivor.run_due(clock.now)

    stored = await stored_execution(sessions, order_id)
    assert [r.reason for r in stored.results] == [SkipReason.SERVER_DOWN, None]
    assert stored.results[1].filled_qty == Decimal("0.2")  # slice 1 catches up slice 0


async def test_a_first_claim_after_the_order_ended_expires_it_with_server_down(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    order_id = (await store_order(sessions, order_spec("never-claimed"), T0)).id
    clock.now = T0 + 61 * S  # no engine ran during the whole 60 s order
    _publish(hub, clock.now)
    engine = Engine(sessions, hub, clock)
    await engine.start(run=False)
    await engine.run_due(clock.now)

    stored = await stored_execution(sessions, order_id)
    assert [r.reason for r in stored.results] == [SkipReason.SERVER_DOWN] * 6
    assert (stored.status.value, stored.filled_qty) == ("expired", Decimal(0))
