"""The paper-trading engine on a real database (SQLite and PostgreSQL), with a test clock."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
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
)
from twapcore import OrderSpec, OrderStatus, Side, SkipReason, TwapExecution
from twapserver.bus.memory import MemoryOrderEvents
from twapserver.db.models import FillRow, OrderRow, SliceRow, UserRow
from twapserver.hub import MarketHub
from twapserver.orders import leases, repository
from twapserver.orders.engine import Engine


def _publish(hub: MarketHub, ts: int, ask_qty: str = "1") -> None:
    snapshot = book(asks=(("101", ask_qty), ("102", "5")), ts=ts)
    hub.on_book("binance", "BTC-USDT", lambda: snapshot, ts)


def _spec(
    token: str, quantity: str = "0.6", limit: str = "1000", side: Side = Side.BUY
) -> OrderSpec:
    return order_spec(token, quantity=Decimal(quantity), limit_price=Decimal(limit), side=side)


async def _submit(engine: Engine, spec: OrderSpec) -> OrderRow:
    """Store the order as the API does and announce it; the engine claims it when it runs."""
    order = await store_order(engine.sessions, spec, engine.clock())
    engine.order_events.order_submitted(order.id)
    return order


async def _slice_zero_stepped(engine: Engine, hub: MarketHub) -> OrderRow:
    """Order "a" submitted and its slice 0 filled (0.1 @ 101) and committed at T0."""
    order = await _submit(engine, _spec("a"))
    _publish(hub, T0)
    await engine.run_due(T0)
    return order


async def test_due_slices_fill_against_the_hub_book_and_are_persisted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    engine = Engine(sessions, hub, clock)
    order = await _submit(engine, _spec("a"))

    for i in range(6):
        clock.now = T0 + i * 10 * S
        _publish(hub, clock.now)
        assert await engine.run_due(clock.now) == 1

    stored = await stored_execution(sessions, order.id)
    assert stored.status is OrderStatus.COMPLETED
    assert stored.filled_qty == Decimal("0.6")
    assert stored.to_state()["results"] == [
        {**r, "book_version": None}
        for r in (await stored_execution(sessions, order.id)).to_state()["results"]
    ]
    assert [f.price for f in stored.fills] == [Decimal(101)] * 6


async def test_nothing_runs_before_the_next_due_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    engine = Engine(sessions, hub, clock)
    await _slice_zero_stepped(engine, hub)

    assert await engine.run_due(T0 + 9 * S) == 0
    assert await engine.run_due(T0 + 10 * S) == 1


async def test_missing_book_skips_with_a_reason_and_carries_over(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    engine = Engine(sessions, hub, clock)
    order = await _submit(engine, _spec("a"))

    await engine.run_due(T0)
    clock.now = T0 + 10 * S
    _publish(hub, clock.now)
    await engine.run_due(clock.now)

    stored = await stored_execution(sessions, order.id)
    assert stored.results[0].reason == SkipReason.NO_BOOK
    assert stored.results[1].filled_qty == Decimal("0.2")


async def test_orders_on_one_book_share_its_displayed_size(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    engine = Engine(sessions, hub, clock)
    orders = [await _submit(engine, _spec(t, quantity="0.6", limit="101")) for t in ("a", "b")]
    _publish(hub, T0, ask_qty="0.15")

    await engine.run_due(T0)

    filled = [(await stored_execution(sessions, o.id)).filled_qty for o in orders]
    assert sum(filled) == Decimal("0.15")


async def test_restart_records_missed_slices_as_server_down_and_resumes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    first = Engine(sessions, hub, clock)
    order = await _slice_zero_stepped(first, hub)

    clock.now = T0 + 35 * S  # slices 1, 2, 3 fell due while "down"
    second = Engine(sessions, hub, clock)
    await second.start(run=False)
    _publish(hub, clock.now)
    clock.now = T0 + 40 * S
    _publish(hub, clock.now)
    await second.run_due(clock.now)

    stored = await stored_execution(sessions, order.id)
    assert [r.reason for r in stored.results[1:4]] == ["server_down"] * 3
    assert stored.results[0].filled_qty == Decimal("0.1")
    assert stored.results[4].filled_qty == Decimal("0.3")  # catch-up capped at 3 slices


async def test_order_whose_end_passed_while_down_expires_with_its_fills(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), hub_of()
    first = Engine(sessions, hub, clock)
    order = await _slice_zero_stepped(first, hub)

    clock.now = T0 + 3600 * S
    await Engine(sessions, hub, clock).start(run=False)

    stored = await stored_execution(sessions, order.id)
    assert stored.status is OrderStatus.EXPIRED
    assert stored.filled_qty == Decimal("0.1")
    async with sessions() as session:
        row = await session.get(OrderRow, order.id)
    assert row is not None
    assert (row.status, row.next_due_ns) == ("expired", None)


async def _leased(
    sessions: async_sessionmaker[AsyncSession], execution: TwapExecution, owner: str
) -> tuple[OrderRow, int]:
    async with sessions() as session, session.begin():
        user = (await session.execute(select(UserRow))).scalar_one()
        order = await repository.insert_order(session, user.id, execution, T0)
    async with sessions() as session:
        (claimed,) = await leases.claim(session, owner, T0, T0 + 5 * S, ids=[order.id])
    return order, claimed.version


async def _slice_zero_write(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[TwapExecution, repository.SliceWrite]:
    """Order "a" leased to engine-a and its slice 0 stepped: the write engine-a would commit."""
    execution = TwapExecution(_spec("a"), T0)
    order, version = await _leased(sessions, execution, "engine-a")
    result = execution.step(T0, book(ts=T0))
    values = repository.progress_values(execution) | {"updated_ns": T0, "market_window": None}
    return execution, repository.SliceWrite(order.id, version, (result,), values)


async def _counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int | None, int | None]:
    async with sessions() as session:
        slices = await session.scalar(select(func.count()).select_from(SliceRow))
        fills = await session.scalar(select(func.count()).select_from(FillRow))
    return slices, fills


async def test_a_write_holding_an_old_version_is_fenced_off(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, write = await _slice_zero_write(sessions)

    written = []
    for _ in range(2):
        async with sessions() as session, session.begin():
            written.append(await repository.record_slices(session, "engine-a", [write], T0 + 5 * S))

    assert written == [{write.order_id}, set()]
    assert await _counts(sessions) == (1, 1)


async def test_a_slice_already_stored_is_not_written_again_by_the_lease_holder(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution, first = await _slice_zero_write(sessions)
    async with sessions() as session, session.begin():
        await repository.record_slices(session, "engine-a", [first], T0 + 5 * S)
    again = execution.skip(T0 + 10 * S, SkipReason.NO_BOOK)  # slice 1, written with slice 0
    (result,) = first.results
    write = repository.SliceWrite(first.order_id, first.version + 1, (result, again), first.values)

    with pytest.raises(repository.SliceConflict):
        async with sessions() as session, session.begin():
            await repository.record_slices(session, "engine-a", [write], T0 + 5 * S)

    assert await _counts(sessions) == (1, 1)  # slice 1 rolled back with the whole write
    assert [r.index for r in (await stored_execution(sessions, first.order_id)).results] == [0]


async def test_a_write_by_an_engine_without_the_lease_is_fenced_off(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, write = await _slice_zero_write(sessions)

    async with sessions() as session, session.begin():
        written = await repository.record_slices(session, "engine-b", [write], T0 + 5 * S)

    assert written == set()
    assert await _counts(sessions) == (0, 0)


async def test_cancel_request_stops_the_order_and_keeps_its_fills(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub, events = Clock(), hub_of(), MemoryOrderEvents()
    engine = Engine(sessions, hub, clock, order_events=events)
    order = await _slice_zero_stepped(engine, hub)
    published = []
    events.on_update(published.append)

    clock.now = T0 + 1 * S
    async with sessions() as session:
        await leases.request_cancel(session, order.id, clock.now)
    events.cancel_requested(order.id)
    await engine.flush()
    ran = await engine.run_due(T0 + 3600 * S)

    stored = await stored_execution(sessions, order.id)
    assert ran == 0
    assert stored.status is OrderStatus.CANCELLED
    assert stored.filled_qty == Decimal("0.1")
    assert [(u.order_id, u.final) for u in published] == [(order.id, True)]


async def test_duplicate_token_id_is_refused_by_the_database(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    engine = Engine(sessions, hub_of(), Clock())
    await _submit(engine, _spec("same"))

    with pytest.raises(repository.DuplicateTokenId):
        await _submit(engine, _spec("same"))


async def test_a_failed_commit_is_retried_from_the_database_state(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, hub = Clock(), hub_of()
    engine = Engine(sessions, hub, clock)
    order = await _submit(engine, _spec("a"))
    _publish(hub, T0)
    record_slices = repository.record_slices
    failures = [RuntimeError("database went away")]

    async def flaky(*args: object, **kwargs: object) -> set[int]:
        if failures:
            raise failures.pop()
        return await record_slices(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "record_slices", flaky)
    await engine.run_due(T0)
    nothing = await stored_execution(sessions, order.id)
    await engine.run_due(T0 + 999_999_999)
    still_nothing = await stored_execution(sessions, order.id)
    await engine.run_due(T0 + S)

    stored = await stored_execution(sessions, order.id)
    assert (len(nothing.results), len(still_nothing.results)) == (0, 0)
    assert [r.index for r in stored.results] == [0]
    assert stored.filled_qty == Decimal("0.1")
