"""Engines sharing one database (SQLite file and PostgreSQL): leases, takeover, fencing,
failure isolation, cancel requests, and the API's group commit.

Each engine has its own database connection pool, as separate processes would; time is
an injected clock, and the engines are driven step by step (`maintain`, `run_due`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core.builders import book
from tests.server.engine_support import T0, Clock, S, Sessions, add_user, hub_of, order_spec
from twapcore import BookSnapshot, OrderSpec, OrderStatus, TwapExecution
from twapserver import metrics
from twapserver.bus import OrderUpdate
from twapserver.bus.memory import MemoryOrderEvents
from twapserver.db import make_engine, make_sessionmaker
from twapserver.db.models import FillRow, OrderRow, SliceRow, UserRow
from twapserver.hub import MarketHub
from twapserver.orders import leases, repository
from twapserver.orders.engine import Engine
from twapserver.orders.service import OrderIntake, OrderService


@pytest.fixture
async def pools(engine: AsyncEngine, database_url: str) -> AsyncIterator[tuple[Sessions, Sessions]]:
    """Two connection pools on one migrated database (with one user)."""
    other = make_engine(database_url)
    first, second = make_sessionmaker(engine), make_sessionmaker(other)
    await add_user(first)
    yield first, second
    await other.dispose()


def _hub() -> MarketHub:
    return hub_of(symbols=("BTC-USDT", "ETH-USDT"))


def _publish(hub: MarketHub, ts: int, symbol: str = "BTC-USDT") -> None:
    snapshot = BookSnapshot(
        "binance", symbol, book(ts=ts).bids, book(asks=(("101", "1000"),), ts=ts).asks, ts, ts
    )
    hub.on_book("binance", symbol, lambda: snapshot, ts)


def _spec(token: str, symbol: str = "BTC-USDT") -> OrderSpec:
    return order_spec(token, symbol=symbol)


async def _insert(sessions: Sessions, *specs: OrderSpec) -> list[int]:
    async with sessions() as session, session.begin():
        user = (await session.execute(select(UserRow))).scalar_one()
        return [
            (await repository.insert_order(session, user.id, TwapExecution(spec, T0), T0)).id
            for spec in specs
        ]


async def _slice_indexes(sessions: Sessions) -> dict[int, list[int]]:
    async with sessions() as session:
        rows = await session.execute(
            select(SliceRow.order_id, SliceRow.index).order_by(SliceRow.order_id, SliceRow.index)
        )
        indexes: dict[int, list[int]] = {}
        for order_id, index in rows:
            indexes.setdefault(order_id, []).append(index)
        return indexes


async def _order(sessions: Sessions, order_id: int) -> OrderRow:
    async with sessions() as session:
        order = await session.get(OrderRow, order_id)
    assert order is not None
    return order


def _engine(sessions: Sessions, hub: MarketHub, clock: Clock, name: str) -> Engine:
    return Engine(sessions, hub, clock, order_events=MemoryOrderEvents(), engine_id=name)


async def test_two_engines_claim_disjoint_orders_and_run_each_slice_once(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, hub = Clock(), _hub()
    a, b = (_engine(pool, hub, clock, name) for pool, name in zip(pools, "ab", strict=True))
    ids = await _insert(pools[0], *(_spec(f"t{i}") for i in range(8)))

    claimed = await asyncio.gather(a.maintain(), b.maintain())
    for i in range(6):
        clock.now = T0 + i * 10 * S
        _publish(hub, clock.now)
        await asyncio.gather(a.run_due(clock.now), b.run_due(clock.now))

    held_by_a = {i for i in ids if a.live(i) is not None}
    assert sum(claimed) == len(ids)
    assert await _slice_indexes(pools[0]) == {i: list(range(6)) for i in ids}
    async with pools[0]() as session:
        fills = await session.scalar(select(func.count()).select_from(FillRow))
    assert fills == 6 * len(ids)
    assert held_by_a == set()  # all completed: nothing left in memory


async def test_a_dead_engines_orders_move_to_another_once_its_lease_ran_out(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, hub = Clock(), _hub()
    a, b = _engine(pools[0], hub, clock, "a"), _engine(pools[1], hub, clock, "b")
    ids = await _insert(pools[0], _spec("x"), _spec("y"))
    await a.maintain()
    _publish(hub, T0)
    await a.run_due(T0)  # slice 0 by a; then a "dies": no heartbeat, no release
    takeovers = metrics.LEASE_TAKEOVERS._value.get()

    clock.now = T0 + 3 * S
    before_expiry = await b.maintain()
    clock.now = T0 + 5 * S  # one lease (5 s) after a's last heartbeat and write
    after_expiry = await b.maintain()
    clock.now = T0 + 10 * S
    _publish(hub, clock.now)
    await b.run_due(clock.now)

    assert (before_expiry, after_expiry) == (0, 2)
    assert metrics.LEASE_TAKEOVERS._value.get() - takeovers == 2
    assert await _slice_indexes(pools[0]) == {i: [0, 1] for i in ids}
    assert {(await _order(pools[0], i)).lease_owner for i in ids} == {"b"}


async def test_an_engine_that_lost_its_lease_writes_and_announces_nothing(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, hub = Clock(), _hub()
    a, b = _engine(pools[0], hub, clock, "a"), _engine(pools[1], hub, clock, "b")
    (order_id,) = await _insert(pools[0], _spec("x"))
    await a.maintain()
    _publish(hub, T0)
    await a.run_due(T0)
    clock.now = T0 + 6 * S
    await b.maintain()  # a's lease ran out while it was stalled
    announced_by_a: list[OrderUpdate] = []
    a.order_events.on_update(announced_by_a.append)
    version = (await _order(pools[0], order_id)).version

    clock.now = T0 + 10 * S
    _publish(hub, clock.now)
    stepped_by_a = await a.run_due(clock.now)  # a still believes it holds the order
    after_a = await _order(pools[0], order_id)
    await b.run_due(clock.now)

    assert stepped_by_a == 1
    assert announced_by_a == []
    assert a.live(order_id) is None
    assert (after_a.version, after_a.slices_done) == (version, 1)
    assert await _slice_indexes(pools[0]) == {order_id: [0, 1]}


class FailingMarket:
    """A market whose ETH-USDT book read raises while `failing` is set."""

    def __init__(self, hub: MarketHub) -> None:
        self.hub = hub
        self.trade_listeners = hub.trade_listeners
        self.book_listeners = hub.book_listeners
        self.failing = True

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        if symbol == "ETH-USDT" and self.failing:
            raise RuntimeError("book decoding failed")
        return self.hub.book(exchange, symbol)


async def test_a_failing_step_is_retried_then_skipped_and_the_others_go_on(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, hub = Clock(), _hub()
    market = FailingMarket(hub)
    engine = Engine(pools[0], market, clock, order_events=MemoryOrderEvents())
    btc, eth = await _insert(pools[0], _spec("btc"), _spec("eth", symbol="ETH-USDT"))
    await engine.maintain()

    for at in (T0, T0 + S // 10, T0 + 3 * S // 10):  # the first try, then two retries
        clock.now = at
        _publish(hub, at)
        _publish(hub, at, "ETH-USDT")
        await engine.run_due(at)
    market.failing = False
    clock.now = T0 + 10 * S
    _publish(hub, clock.now, "ETH-USDT")
    await engine.run_due(clock.now)

    async with pools[0]() as session:
        eth_slices, _ = await repository.load_history(session, eth)
        btc_slices, _ = await repository.load_history(session, btc)
    assert [(s.index, s.reason) for s in eth_slices] == [(0, "engine_error"), (1, None)]
    assert eth_slices[1].filled_qty == Decimal("0.2")  # slice 0's quantity carried over
    assert (btc_slices[0].status, btc_slices[0].executed_ns) == ("filled", T0)


async def test_cancel_of_an_order_held_by_a_running_engine_is_applied_by_it(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, hub, events = Clock(), _hub(), MemoryOrderEvents()
    engine = Engine(pools[0], hub, clock, order_events=events, engine_id="a")
    service = OrderService(pools[1], events, clock, cancel_wait_s=5)
    (order_id,) = await _insert(pools[0], _spec("x"))
    await engine.maintain()

    applied = await service.cancel(order_id)

    order = await _order(pools[1], order_id)
    assert applied is True
    assert (order.status, order.lease_owner) == ("cancelled", "a")
    assert order.cancel_requested_ns == T0


async def test_cancel_of_an_order_no_engine_holds_is_applied_by_the_api(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, events = Clock(), MemoryOrderEvents()
    service = OrderService(pools[0], events, clock, cancel_wait_s=5)
    (order_id,) = await _insert(pools[0], _spec("x"))
    async with pools[0]() as session:
        await leases.claim(session, "gone", T0, T0 + 5 * S, ids=[order_id])
    updates: list[OrderUpdate] = []
    events.on_update(updates.append)
    clock.now = T0 + 6 * S  # the holder's lease ran out

    applied = await service.cancel(order_id)

    order = await _order(pools[0], order_id)
    assert applied is True
    assert (order.status, order.ended_ns, order.lease_owner) == ("cancelled", clock.now, None)
    assert [(u.order_id, u.final) for u in updates] == [(order_id, True)]


async def test_cancel_of_an_order_held_elsewhere_is_requested_then_applied_on_takeover(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, hub, events = Clock(), _hub(), MemoryOrderEvents()
    service = OrderService(pools[0], events, clock, cancel_wait_s=0.05)
    (order_id,) = await _insert(pools[0], _spec("x"))
    async with pools[0]() as session:
        await leases.claim(session, "elsewhere", T0, T0 + 5 * S, ids=[order_id])

    applied = await service.cancel(order_id)
    requested = await _order(pools[0], order_id)
    clock.now = T0 + 6 * S
    await Engine(pools[1], hub, clock, order_events=events, engine_id="b").maintain()

    order = await _order(pools[0], order_id)
    assert applied is False
    assert (requested.status, requested.cancel_requested_ns) == ("accepted", T0)
    assert (order.status, order.slices_done) == ("cancelled", 0)


async def test_a_cancel_request_whose_notification_was_lost_is_applied_at_the_heartbeat(
    pools: tuple[Sessions, Sessions],
) -> None:
    clock, hub = Clock(), _hub()
    engine = _engine(pools[0], hub, clock, "a")
    (order_id,) = await _insert(pools[0], _spec("x"))
    await engine.maintain()
    async with pools[1]() as session:
        await leases.request_cancel(session, order_id, T0)  # nobody is told

    clock.now = T0 + S
    await engine.maintain()

    order = await _order(pools[0], order_id)
    assert (order.status, order.ended_ns) == ("cancelled", T0 + S)
    assert engine.live(order_id) is None


async def test_group_commit_refuses_exactly_the_duplicate_requests(
    pools: tuple[Sessions, Sessions], engine: AsyncEngine
) -> None:
    events = MemoryOrderEvents()
    submitted: list[int] = []
    events.on_submitted(submitted.append)
    intake = OrderIntake(pools[0], events, window_s=0.05)
    (old_id,) = await _insert(pools[0], _spec("old"))
    async with pools[0]() as session:
        user_id = (await session.execute(select(UserRow.id))).scalar_one()
    commits: list[object] = []
    event.listen(engine.sync_engine, "commit", commits.append)

    def values(token: str) -> dict[str, object]:
        return repository.new_order_values(user_id, TwapExecution(_spec(token), T0), T0)

    outcomes = await asyncio.gather(
        *(intake.submit(values(t)) for t in ("new", "new", "old", "other")),
        return_exceptions=True,
    )

    assert len(commits) == 1  # one transaction for the four requests
    assert [type(o).__name__ for o in outcomes] == [
        "int",
        "DuplicateTokenId",
        "DuplicateTokenId",
        "int",
    ]
    assert sorted(submitted) == sorted(o for o in outcomes if isinstance(o, int))
    assert old_id not in submitted
    assert {(await _order(pools[0], i)).status for i in submitted} == {OrderStatus.ACCEPTED.value}
