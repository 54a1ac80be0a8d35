"""Markouts on the server: the engine stores the mid 1 s / 10 s / 60 s after each fill.

On a real database (SQLite and PostgreSQL), with a test clock and an in-memory
hub. Hand-computed mids first; then the same books through `twap simulate`
(the offline path) must give the same markouts; then missing horizons,
restarts and fencing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.core.builders import levels
from tests.server.engine_support import (
    T0,
    Clock,
    S,
    hub_of,
    load_stored,
    order_spec,
    submit_to,
)
from tests.server.test_auth_migration import _run as _run_sync
from tests.server.test_orders_api import Clock as ApiClock
from tests.server.test_orders_api import order, running_api
from twapcore import (
    BookSnapshot,
    Fill,
    OrderSpec,
    RecordingWriter,
    SliceResult,
    SliceStatus,
    simulate,
)
from twapcore.analytics import MARKOUT_HORIZONS_S, ExecutionReport, MidTape
from twapserver.api.orders import order_report
from twapserver.db.engine import alembic_config
from twapserver.db.models import OrderRow, SliceRow
from twapserver.hub import MarketHub
from twapserver.orders import repository
from twapserver.orders.engine import Engine
from twapserver.orders.markouts import (
    BEING_MEASURED,
    NOT_MEASURED,
    NOT_REACHED,
    SETTLE_NS,
    MarkoutTracker,
)

D = Decimal
VENUES = ("binance", "kraken")


def _hub() -> MarketHub:
    return hub_of(VENUES, max_book_age_s=60)


@dataclass(frozen=True)
class Book:
    """A one-level book event: `bid`/`ask` None for an empty side."""

    ts: int
    bid: str | None
    ask: str | None
    venue: str = "binance"

    def snapshot(self) -> BookSnapshot:
        bids = levels((self.bid, "5")) if self.bid else ()
        asks = levels((self.ask, "5")) if self.ask else ()
        return BookSnapshot(self.venue, "BTC-USDT", bids, asks, self.ts, self.ts)


def _publish(hub: MarketHub, event: Book) -> None:
    snapshot = event.snapshot()
    hub.on_book(event.venue, "BTC-USDT", lambda: snapshot, event.ts)


def _spec(venues: tuple[str, ...] | None = None, slices: int = 2) -> OrderSpec:
    return order_spec(
        "m", quantity=D("0.2"), duration_s=D(10 * slices), slices=slices, venues=venues
    )


async def _run(
    sessions: async_sessionmaker[AsyncSession],
    spec: OrderSpec,
    events: Sequence[Book],
    until: int,
) -> tuple[MarketHub, int]:
    """Submit at T0; publish `events` (in time order), stepping the engine after the books
    of each instant (as `twap simulate`: a slice due at t sees every book received by t);
    then step it at `until`."""
    clock, hub = Clock(), _hub()
    engine = Engine(sessions, hub, clock, engine_id="e")
    order_id = await submit_to(engine, spec, T0)
    for i, event in enumerate(events):
        _publish(hub, event)
        if i + 1 < len(events) and events[i + 1].ts == event.ts:
            continue
        clock.now = event.ts
        await engine.run_due(clock.now)
    clock.now = until
    await engine.run_due(until)
    return hub, order_id


async def _stored_report(
    sessions: async_sessionmaker[AsyncSession], hub: MarketHub, order_id: int, now: int
) -> ExecutionReport:
    """What GET /orders/{token_id} reports (the same `order_report`)."""
    order, slices, execution = await load_stored(sessions, order_id)
    return order_report(order, execution, slices, hub, now)


def _marks(report: ExecutionReport) -> list[tuple[Decimal | None, ...]]:
    return [(f.markout_1s_bps, f.markout_10s_bps, f.markout_60s_bps) for f in report.fills]


# Buy 0.2 in two slices (T0, T0 + 10 s), one level of 5 each side, limit 1000.
_BOOKS = (
    Book(T0, "99", "101"),  # mid 100; slice 0 buys 0.1 @ 101
    Book(T0 + S // 2, "103", "105"),  # mid 104
    Book(T0 + 10 * S, "99", "101"),  # mid 100 at exactly T0 + 10 s; slice 1 buys 0.1 @ 101
    Book(T0 + 11 * S + 1, "89", "91"),  # mid 90: 1 ns after slice 1's 1 s horizon
    Book(T0 + 20 * S, "109", "111"),  # mid 110
    Book(T0 + 60 * S, "107", None),  # one-sided at slice 0's 60 s horizon
    Book(T0 + 70 * S, "99", "101"),  # mid 100 at slice 1's 60 s horizon
    Book(T0 + 75 * S, "99", "101"),  # the recording goes on past every horizon
)


async def test_the_engine_stores_the_mid_of_the_last_book_at_or_before_each_horizon(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    hub, order_id = await _run(sessions, _spec(), _BOOKS, until=T0 + 75 * S)

    async with sessions() as session:
        rows = (
            await session.execute(
                select(SliceRow).where(SliceRow.order_id == order_id).order_by(SliceRow.index)
            )
        ).scalars()
        stored = [
            (r.markout_1s_mid, r.markout_10s_mid, r.markout_60s_mid, r.markout_60s_missing)
            for r in rows
        ]
    assert stored == [
        (D(104), D(100), None, "one_sided_book"),  # T0+1 s, T0+10 s (that book counts), T0+60 s
        (D(100), D(110), D(100), None),  # T0+11 s (the 90 came 1 ns later), T0+20 s, T0+70 s
    ]

    report = await _stored_report(sessions, hub, order_id, T0 + 75 * S)
    # buy: (101 - mid) / mid in bps, + = cost
    assert _marks(report) == [
        (D("-288.461538"), D(100), None),  # -3/104; +1/100
        (D(100), D("-818.181818"), D(100)),  # +1/100; -9/110; +1/100
    ]
    # equal quantities: plain means; 60 s only from slice 1
    assert report.markout_1s_bps == D("-94.230769")
    assert report.markout_10s_bps == D("-359.090909")
    assert report.markout_60s_bps == D(100)
    assert report.markouts_note == (
        "1 of 6 fill markouts have no mid (one-sided book at the horizon)"
    )


def _offline(spec: OrderSpec, events: Sequence[Book], path: Path) -> ExecutionReport:
    with RecordingWriter(path) as writer:
        for event in events:
            writer.write(event.snapshot())
    (report,) = simulate(path, [spec]).reports
    return report


async def test_server_markouts_equal_the_offline_ones_on_the_same_books(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    hub, order_id = await _run(sessions, _spec(), _BOOKS, until=T0 + 75 * S)
    online = await _stored_report(sessions, hub, order_id, T0 + 75 * S)

    offline = _offline(_spec(), _BOOKS, tmp_path / "books.jsonl")

    assert [(f.ts_ns, f.price, f.qty) for f in online.fills] == [
        (f.ts_ns, f.price, f.qty) for f in offline.fills
    ]
    assert _marks(online) == _marks(offline)
    averages = ("markout_1s_bps", "markout_10s_bps", "markout_60s_bps")
    assert [getattr(online, a) for a in averages] == [getattr(offline, a) for a in averages]


# A cross-venue order: the consolidated mid is the best bid of any venue + best ask of any, / 2.
_CROSS = (
    Book(T0, "99", "101"),
    Book(T0, "98", "100", "kraken"),  # consolidated 99 / 100: slice 0 buys 0.1 @ 100 (kraken)
    Book(T0 + S // 2, "100", "102", "kraken"),  # 100 / 101 -> 100.5
    Book(T0 + 10 * S, "97", "99", "kraken"),  # 99 / 99 -> 99; slice 1 buys 0.1 @ 99 (kraken)
    Book(T0 + 15 * S, "102", "104"),  # 102 / 99 (crossed) -> 100.5
    Book(T0 + 30 * S, "99", "101"),  # 99 / 99 -> 99
    Book(T0 + 75 * S, "99", "101"),
)


async def test_a_cross_venue_order_takes_the_consolidated_mid_as_offline(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    spec = _spec(VENUES)
    hub, order_id = await _run(sessions, spec, _CROSS, until=T0 + 75 * S)

    async with sessions() as session:
        rows = (
            await session.execute(
                select(SliceRow).where(SliceRow.order_id == order_id).order_by(SliceRow.index)
            )
        ).scalars()
        stored = [(r.markout_1s_mid, r.markout_10s_mid, r.markout_60s_mid) for r in rows]
    assert stored == [
        (D("100.5"), D(99), D(99)),  # T0+1 s, T0+10 s, T0+60 s
        (D(99), D("100.5"), D(99)),  # T0+11 s, T0+20 s, T0+70 s
    ]
    online = await _stored_report(sessions, hub, order_id, T0 + 75 * S)
    offline = _offline(spec, _CROSS, tmp_path / "cross.jsonl")
    assert [f.venue for f in online.fills] == [f.venue for f in offline.fills] == ["kraken"] * 2
    assert _marks(online) == _marks(offline)
    assert online.markout_10s_bps == offline.markout_10s_bps is not None


async def test_horizons_not_reached_or_just_passed_are_named_in_the_note(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The order ends at its last slice (T0 + 10 s): its detail then has 1 s horizons to come.
    hub, order_id = await _run(sessions, _spec(), _BOOKS[:3], until=T0 + 10 * S)

    at_end = await _stored_report(sessions, hub, order_id, T0 + 10 * S)
    # slice 0's 1 s and 10 s horizons passed: its 1 s mid is stored; its 10 s horizon
    # (T0 + 10 s) is measured SETTLE_NS later, so it is being measured
    assert at_end.status == "completed"
    assert _marks(at_end) == [(D("-288.461538"), None, None), (None, None, None)]
    assert at_end.markouts_note == (
        f"5 of 6 fill markouts have no mid (1 {BEING_MEASURED}; 4 {NOT_REACHED})"
    )
    assert at_end.markout_1s_bps == D("-288.461538")


async def test_after_a_restart_past_horizons_stay_unmeasured_and_later_ones_are_taken(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), _hub()
    first = Engine(sessions, hub, clock, engine_id="first")
    order_id = await submit_to(first, _spec(), T0)
    _publish(hub, Book(T0, "99", "101"))  # slice 0 buys 0.1 @ 101
    await first.run_due(T0)
    _publish(hub, Book(T0 + S // 2, "103", "105"))
    clock.now = T0 + S + SETTLE_NS - 1  # stopped before slice 0's 1 s horizon settled
    await first.stop()

    # A new process: its hub has no book yet when it claims the order back.
    clock.now = T0 + 9 * S + S // 2
    fresh = _hub()
    second = Engine(sessions, fresh, clock, engine_id="second")
    await second.start(run=False)
    for event in (Book(T0 + 10 * S + S // 5, "101", "103"), Book(T0 + 30 * S, "107", "109")):
        clock.now = event.ts
        _publish(fresh, event)
        await second.run_due(clock.now)  # slice 1 buys 0.1 @ 103 at T0 + 10.2 s
    clock.now = T0 + 72 * S
    await second.run_due(clock.now)

    report = await _stored_report(sessions, fresh, order_id, clock.now)
    assert [(f.ts_ns, f.price) for f in report.fills] == [
        (T0, D(101)),
        (T0 + 10 * S + S // 5, D(103)),
    ]
    assert _marks(report) == [
        # 1 s: passed while down; 10 s: no book yet in the new process; 60 s: mid 108
        (None, None, D("-648.148148")),  # (101 - 108) / 108
        (D("98.039216"), D("98.039216"), D("-462.962963")),  # 103 vs 102, 102, 108
    ]
    assert report.markouts_note == (
        f"2 of 6 fill markouts have no mid (1 {NOT_MEASURED}; 1 no book at the horizon)"
    )


async def test_a_markout_is_written_only_by_the_engine_holding_the_order_and_only_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    clock, hub = Clock(), _hub()
    engine = Engine(sessions, hub, clock, engine_id="e")
    order_id = await submit_to(engine, _spec(slices=1), T0)
    _publish(hub, Book(T0, "99", "101"))
    await engine.run_due(T0)  # the order completes at once: it stays with engine "e"
    async with sessions() as session, session.begin():
        await session.execute(
            update(OrderRow).where(OrderRow.id == order_id).values(lease_owner="other")
        )

    clock.now = T0 + S + SETTLE_NS
    assert await engine.record_markouts(clock.now) == 0  # fenced off: not its order

    async with sessions() as session, session.begin():
        await session.execute(
            update(OrderRow).where(OrderRow.id == order_id).values(lease_owner="e")
        )
        first = await repository.record_markouts(session, "e", [(order_id, 0, 10, D(100), None)])
        again = await repository.record_markouts(session, "e", [(order_id, 0, 10, D(1), None)])
    assert (first, again) == (1, 0)  # write-once: a stored horizon keeps its value
    async with sessions() as session:
        row = await session.get(SliceRow, (order_id, 0))
    assert row is not None
    assert (row.markout_1s_mid, row.markout_10s_mid) == (None, D(100))


def test_the_mid_history_follows_only_markets_with_orders_and_is_bounded() -> None:
    hub = _hub()
    tracker = MarkoutTracker(hub)
    hub.book_listeners.append(tracker.on_book)
    for i in range(1000):  # nobody follows binance yet: nothing is kept
        _publish(hub, Book(T0 + i * S // 100, str(90 + i % 7), "200"))
    assert tracker.samples() == 0

    tracker.watch(_spec(), T0 + 10 * S)
    for i in range(20_000):  # 200 s of books, a new mid every 10 ms
        _publish(hub, Book(T0 + 10 * S + i * S // 100, str(90 + i % 7), "200"))
        if i % 100 == 0:
            tracker.watch(_spec(), T0 + 10 * S + i * S // 100)  # stepped every second
            tracker.take_due(T0 + 10 * S + i * S // 100)
    # the longest horizon + margin (70 s) of 10 ms samples, plus those since the last trim
    assert 7_000 <= tracker.samples() <= 7_200

    tracker.take_due(T0 + 400 * S)  # no step for longer than that, nothing pending: dropped
    assert tracker.samples() == 0


def _at_head_with_a_measured_slice(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
    connection.execute(
        text("INSERT INTO users (username, password_hash, created_ns) VALUES ('bob', 'h', 1)")
    )
    connection.execute(
        text(
            "INSERT INTO orders (user_id, token_id, exchange, symbol, side, status, spec, "
            "quantity, filled, notional, slices_done, slices_total, start_ns, created_ns, "
            "updated_ns, version) VALUES (1, 't', 'binance', 'BTC-USDT', 'buy', 'completed', "
            "'{}', '1', '1', '100', 1, 1, 1, 1, 1, 1)"
        )
    )
    connection.execute(
        text(
            'INSERT INTO slices (order_id, "index", due_ns, executed_ns, target_qty, filled_qty,'
            " status, markout_1s_mid, markout_60s_missing) VALUES"
            " (1, 0, 1, 1, '1', '1', 'filled', '100.5', 'no_book')"
        )
    )


def _slice_columns(connection: Connection) -> list[str]:
    return list(connection.execute(text("SELECT * FROM slices")).keys())


async def test_migration_0006_adds_the_markout_columns_and_downgrades_keeping_the_slices(
    database_url: str,
) -> None:
    await _run_sync(database_url, _at_head_with_a_measured_slice)

    await _run_sync(database_url, lambda c: command.downgrade(alembic_config(c), "0005"))
    columns = await _run_sync(database_url, _slice_columns)
    assert not [c for c in columns if c.startswith("markout_")]
    await _run_sync(database_url, lambda c: command.upgrade(alembic_config(c), "head"))

    rows = await _run_sync(
        database_url,
        lambda c: c.execute(text("SELECT filled_qty, markout_1s_mid FROM slices")).all(),
    )
    assert [tuple(r) for r in rows] == [("1", None)]  # the slice stayed; its mid did not


async def test_the_order_detail_shows_the_stored_markouts(database_url: str) -> None:
    async with running_api(database_url, ApiClock()) as api:
        auth = await api.login("alice")
        start = api.clock.now
        body = {**order(quantity="0.2", duration_s=20, slices=2), "token_id": "mo"}
        assert (await api.client.post("/orders/twap", json=body, headers=auth)).status_code == 201
        api.publish(ask="101", bid="99")  # mid 100: slice 0 buys 0.1 @ 101
        await api.app.state.engine.run_due(api.clock.now)
        api.clock.now = start + S // 2
        api.publish(ask="105", bid="103")  # mid 104
        api.clock.now = start + 3 * S
        await api.app.state.engine.run_due(api.clock.now)  # slice 0's 1 s horizon settled

        detail = (await api.client.get("/orders/mo", headers=auth)).json()

    analytics = detail["analytics"]
    assert analytics["fills"][0]["markout_1s_bps"] == "-288.461538"  # (101 - 104) / 104
    assert analytics["markout_1s_bps"] == "-288.461538"
    assert analytics["markout_10s_bps"] is None
    assert analytics["markouts_note"] == f"2 of 3 fill markouts have no mid ({NOT_REACHED})"


_QUOTES = st.sampled_from(
    [("99", "101"), ("100", "102"), ("98", "101"), ("99", None), (None, "103")]
)


@settings(max_examples=150, deadline=None)
@given(
    books=st.lists(st.tuples(st.integers(1, 4 * S), _QUOTES), min_size=1, max_size=40),
    fills=st.lists(st.integers(0, 80 * S), min_size=1, max_size=8),
)
def test_the_tracker_measures_what_a_mid_tape_of_the_same_books_says(
    books: list[tuple[int, tuple[str | None, str | None]]], fills: list[int]
) -> None:
    hub, tape = _hub(), MidTape()
    tracker = MarkoutTracker(hub)
    hub.book_listeners.append(tracker.on_book)
    first = Book(T0, "99", "101")
    _publish(hub, first)
    tape.record(T0, first.snapshot().mid)
    tracker.watch(_spec(), T0)
    timeline: list[tuple[int, int, Book | None]] = [(T0 + f, 0, None) for f in sorted(set(fills))]
    ts = T0
    for gap, (bid, ask) in books:
        ts += gap
        timeline.append((ts, 1, Book(ts, bid, ask)))
    fill_at: dict[int, int] = {}
    writes = []
    for at, _, event in sorted(timeline, key=lambda row: (row[0], row[1])):
        writes += tracker.take_due(at)
        if event is None:  # a slice filled now: its markouts are owed from now on
            fill_at[len(fill_at)] = at
            result = SliceResult(
                0, at, at, D(1), D(1), SliceStatus.FILLED, (Fill(0, D(1), D(1), at),)
            )
            tracker.expect(len(fill_at) - 1, _spec(), [result], at)
        else:
            _publish(hub, event)
            tape.record(at, event.snapshot().mid)
    writes += tracker.take_due(max(ts, *fill_at.values()) + 200 * S)

    assert len(tracker) == 0
    assert len(writes) == len(MARKOUT_HORIZONS_S) * len(fill_at)  # the tape covers every one
    for write in writes:
        expected = tape.mid_at(fill_at[write.order_id] + write.horizon_s * S)
        assert write.mid == expected
        assert write.missing == (None if expected is not None else "one_sided_book")
