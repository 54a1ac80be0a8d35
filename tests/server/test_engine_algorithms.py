"""The engine with every algorithm: market activity, pov across a restart, late first claims.

On a real database (SQLite and PostgreSQL), with a test clock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.core.builders import book
from twapcore import OrderSpec, Side, SkipReason, SliceStatus, Trade, TwapExecution
from twapserver.db import make_sessionmaker
from twapserver.db.models import OrderRow, SliceRow, UserRow
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.orders import repository
from twapserver.orders.engine import CLAIM_GRACE_NS, Engine
from twapserver.orders.updates import order_message, order_row_message

S = 1_000_000_000
T0 = 1_700_000_000 * S


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    makers = make_sessionmaker(engine)
    async with makers() as session, session.begin():
        session.add(UserRow(username="alice", password_hash="x", created_ns=0))
    return makers


def _hub() -> MarketHub:
    hub = MarketHub(max_book_age_s=5)
    hub.register(InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.001")))
    return hub


def _publish(hub: MarketHub, ts: int) -> None:
    snapshot = book(asks=(("101", "10"), ("102", "50")), ts=ts)
    hub.on_book("binance", "BTC-USDT", lambda: snapshot, ts)


def _trade(hub: MarketHub, qty: str, ts: int) -> None:
    hub.on_trade(Trade("binance", "BTC-USDT", Side.SELL, Decimal(100), Decimal(qty), ts, ts))


def _spec(token: str, **algorithm: Any) -> OrderSpec:
    return OrderSpec(
        exchange="binance",
        symbol="BTC-USDT",
        side=Side.BUY,
        quantity=Decimal("0.6"),
        limit_price=Decimal(1000),
        duration_s=Decimal(60),
        slices=6,
        lot_size=Decimal("0.001"),
        token_id=token,
        **algorithm,
    )


async def _submit(sessions: async_sessionmaker[AsyncSession], spec: OrderSpec, now: int) -> int:
    execution = TwapExecution(spec, now)
    async with sessions() as session, session.begin():
        user = (await session.execute(select(UserRow))).scalar_one()
        order = await repository.insert_order(session, user.id, execution, now)
    return order.id


async def _stored(sessions: async_sessionmaker[AsyncSession], order_id: int) -> TwapExecution:
    async with sessions() as session:
        order = await session.get(OrderRow, order_id)
        assert order is not None
        slices, fills = await repository.load_history(session, order_id)
        return repository.execution_from_rows(order, slices, fills)


async def test_pov_trades_its_share_of_the_volume_since_the_previous_step(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), _hub()
    engine = Engine(sessions, hub, clock)
    order_id = await _submit(sessions, _spec("p", algorithm="pov", participation="0.1"), T0)
    engine.on_submitted(order_id)
    _publish(hub, T0)
    await engine.run_due(T0)  # adopted and stepped: nothing traded yet
    _trade(hub, "1.5", T0 + S)
    _trade(hub, "0.5", T0 + 2 * S)
    clock.now = T0 + 10 * S
    _publish(hub, clock.now)
    await engine.run_due(clock.now)

    stored = await _stored(sessions, order_id)
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
    clock, hub = Clock(), _hub()
    first = Engine(sessions, hub, clock, engine_id="first")
    spec = _spec("p", algorithm="pov", participation="0.5", max_slice_qty="0.1")
    order_id = await _submit(sessions, spec, T0)
    first.on_submitted(order_id)
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

    stored = await _stored(sessions, order_id)
    assert [r.filled_qty for r in stored.results] == [Decimal(0), Decimal("0.1"), Decimal("0.1")]
    assert stored.observed_volume == Decimal(1)


async def test_a_late_first_claim_executes_the_due_slice_late(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The soak's finding: claimed 3 s after submission, no server was down."""
    clock, hub = Clock(), _hub()
    order_id = await _submit(sessions, _spec("late"), T0)
    clock.now = T0 + CLAIM_GRACE_NS + 2 * S
    _publish(hub, clock.now)
    engine = Engine(sessions, hub, clock)
    await engine.start(run=False)
    await engine.run_due(clock.now)

    stored = await _stored(sessions, order_id)
    assert [r.status for r in stored.results] == [SliceStatus.FILLED]
    assert stored.results[0].executed_ns - stored.results[0].due_ns == CLAIM_GRACE_NS + 2 * S
    assert stored.filled_qty == Decimal("0.1")


async def test_a_takeover_of_a_never_executed_order_still_records_server_down(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), _hub()
    order_id = await _submit(sessions, _spec("crashed"), T0)
    dead = Engine(sessions, hub, clock, engine_id="dead", lease_s=1)
    await dead.maintain(T0)  # claimed, then the engine dies before the first slice
    assert dead.live(order_id) is not None
    clock.now = T0 + 10 * S + CLAIM_GRACE_NS // 2  # slice 1 is just due, slice 0 was missed
    _publish(hub, clock.now)
    survivor = Engine(sessions, hub, clock, engine_id="survivor")
    await survivor.start(run=False)
    await survivor.run_due(clock.now)

    stored = await _stored(sessions, order_id)
    assert [r.reason for r in stored.results] == [SkipReason.SERVER_DOWN, None]
    assert stored.results[1].filled_qty == Decimal("0.2")  # slice 1 catches up slice 0


async def test_a_first_claim_after_the_order_ended_expires_it_with_server_down(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), _hub()
    order_id = await _submit(sessions, _spec("never-claimed"), T0)
    clock.now = T0 + 61 * S  # no engine ran during the whole 60 s order
    _publish(hub, clock.now)
    engine = Engine(sessions, hub, clock)
    await engine.start(run=False)
    await engine.run_due(clock.now)

    stored = await _stored(sessions, order_id)
    assert [r.reason for r in stored.results] == [SkipReason.SERVER_DOWN] * 6
    assert (stored.status.value, stored.filled_qty) == ("expired", Decimal(0))
