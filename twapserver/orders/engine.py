"""The paper-trading engine: executes the due slices of the orders it leases.

Any number of engines may share one database: each works only the orders it
holds a lease on (`twapserver.orders.leases`), renews them by heartbeat, and
takes over orders whose lease ran out (a dead engine's). Every write is fenced
by the order's `version`, so an engine that lost a lease never writes and never
announces anything for that order.

Two halves, so a backlog of commits never changes which book a slice sees:

* stepping — a heap holds (next due time, order id); when slices fall due the
  engine reads each market's book once, at that instant, and runs
  `TwapExecution.step` (the same code as `twap simulate`) for every due order
  against it. All orders share one `LiquidityLedger`, so two orders never take
  the same displayed size of one book version. A step that raises is retried
  with backoff, then recorded as skipped (`engine_error`): one bad order never
  strands the others.
* committing — the stepped slices queue, in order, for the committer, which
  writes many orders per transaction (their slice rows, fills and O(1) progress
  columns), fenced per order, then publishes each committed change as an
  `OrderUpdate` on the bus. A failed transaction sends its orders back to the
  database state (reload) and retries.

On claiming an order back (a restart or takeover: it was claimed before), slices
that fell due more than `CLAIM_GRACE_NS` before are recorded as skipped
(`server_down`) and their quantity carries over; an order whose end passed ends
`expired` with what it had filled. The first claim of an order that never
executed skips nothing while the order's end is ahead: the claim was merely
late, so its due slices execute late (SLICE_LATENESS shows by how much); one
first claimed after its end (no engine ran all along) expires as before.

Each step is told what its market traded since the order's previous step
(`MarketActivity`, from the same per-market counters as the order's market
window): pov trades a share of it, and slices store it so pov resumes after a
restart.

Markouts (`twapserver.orders.markouts`): the engine keeps a short mid history of
the markets it steps on, and stores the mid 1 s, 10 s and 60 s after each
committed fill — also after the order ended, while it holds the order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapcore import (
    BookSnapshot,
    LiquidityLedger,
    MarketActivity,
    MarketCounters,
    OrderSpec,
    SkipReason,
    SliceResult,
    Trade,
)
from twapcore.book import consolidated_mid
from twapserver import metrics
from twapserver.bus import OrderEvents
from twapserver.bus.memory import MemoryOrderEvents
from twapserver.orders import leases, repository
from twapserver.orders.committer import CommitQueue
from twapserver.orders.live import LiveOrder, PendingWrite
from twapserver.orders.markouts import MarkoutTracker, MarkoutWrite
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait

__all__ = [
    "DEFAULT_LEASE_S",
    "Engine",
    "LiveOrder",
    "MarketView",
    "default_engine_id",
    "engine_for",
]

log = logging.getLogger("twapserver.engine")

DEFAULT_LEASE_S = 5.0
NS = 1_000_000_000
RETRY_NS = NS  # after a failed commit, try again from the database state in 1 s
STEP_ATTEMPTS = 3  # a slice whose step raised this many times is skipped (engine_error)
STEP_RETRY_NS = NS // 10  # first retry of a failed step; doubles each time
CLAIM_GRACE_NS = NS  # a slice overdue by more than this when claimed was missed
# Under a stream of submissions, wait this long after the first of a burst so that one
# claim (and one commit) serves many orders rather than one statement set each.
CLAIM_WINDOW_S = 0.005
COMMIT_WINDOW_S = 0.002
STEP_CHUNK = 500  # steps between two yields to the event loop
MARKOUT_POLL_S = 0.5  # how often the running engine measures the horizons that passed


class MarketView(Protocol):
    """What the engine reads of the market: latest books, their arrivals, the trade stream."""

    trade_listeners: list[Callable[[Trade], None]]
    book_listeners: list[Callable[[str, str, int], None]]

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None: ...


def engine_for(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    market: MarketView,
    order_events: OrderEvents,
    clock: Callable[[], int] = time.time_ns,
) -> Engine:
    """The engine `settings` describe (`engine_id`, `engine_lease_s`)."""
    return Engine(
        sessions,
        market,
        clock,
        order_events=order_events,
        engine_id=settings.engine_id,
        lease_s=settings.engine_lease_s,
    )


def default_engine_id() -> str:
    """host:pid:random — unique per engine instance, readable in the orders table."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Engine:
    """Executes the due slices of every order this engine leases."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        market: MarketView,
        clock: Callable[[], int] = time.time_ns,
        *,
        order_events: OrderEvents | None = None,
        engine_id: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.sessions = sessions
        self.market = market
        self.clock = clock
        self.order_events: OrderEvents = order_events or MemoryOrderEvents()
        self.engine_id = engine_id or default_engine_id()
        self.lease_ns = int(lease_s * NS)
        # How far ahead a lease is set (claim, heartbeat, write). Heartbeats come every
        # quarter lease and renew what has less than half a lease left, so a live engine
        # always keeps a quarter lease of slack, and a dead engine's leases run out and
        # are taken over (at the next scan) within one lease of its last heartbeat.
        self._horizon_ns = self.lease_ns * 3 // 4
        self.ledger = LiquidityLedger()
        self._live: dict[int, LiveOrder] = {}
        self._heap: list[tuple[int, int]] = []
        self._commits = CommitQueue(sessions, self.engine_id, self._lease_until)
        self._maintain_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()  # the heap's head changed
        self._claim_wakeup = asyncio.Event()  # orders were submitted
        self._to_claim: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._counters: dict[tuple[str, str], MarketCounters] = {}
        # Cross-venue orders: counters per (venues, symbol), and which of them a market feeds.
        self._group_counters: dict[tuple[tuple[str, ...], str], MarketCounters] = {}
        self._groups_of: dict[tuple[str, str], list[MarketCounters]] = {}
        self.markouts = MarkoutTracker(market)
        self._unwritten_markouts: list[MarkoutWrite] = []
        market.trade_listeners.append(self._on_trade)
        market.book_listeners.append(self.markouts.on_book)
        self.order_events.on_submitted(self.on_submitted)
        self.order_events.on_cancel(self.on_cancel)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self, run: bool = True) -> None:
        """Claim the orders free to take (catching up missed slices), then run the loops.

        With `run=False` nothing runs in the background: the caller drives the engine
        with `run_due`, `maintain` and `flush` (tests with an injected clock).
        """
        await self.maintain()
        if run:
            self._tasks = [
                asyncio.create_task(self._step_forever()),
                asyncio.create_task(self._commit_forever()),
                asyncio.create_task(self._maintain_forever()),
                asyncio.create_task(self._markouts_forever()),
            ]

    async def stop(self) -> None:
        """Stop the loops, commit what was stepped, and release the leases."""
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(*tasks, *self._spawned)
        try:
            await self.flush()
            await self.record_markouts(self.clock())  # the later ones are lost with the engine
            async with self.sessions() as session:
                await leases.release(session, self.engine_id)
        except Exception:  # the leases then simply expire
            log.exception("engine %s: releasing leases failed", self.engine_id)

    def _lease_until(self) -> int:
        return self.clock() + self._horizon_ns

    def live(self, order_id: int) -> LiveOrder | None:
        return self._live.get(order_id)

    # --- bus events ---------------------------------------------------------------------------
    def on_submitted(self, order_id: int) -> None:
        """A new order was committed: claim it soon (the periodic scan is the fallback)."""
        self._to_claim.add(order_id)
        self._claim_wakeup.set()

    def on_cancel(self, order_id: int) -> None:
        """A cancel was requested: apply it if this engine holds the order."""
        live = self._live.get(order_id)
        if live is None:
            return
        if live.stale:
            self._spawn(self._reload(live))  # the reload applies the request
        elif self._cancel(live, self.clock()):
            self._spawn(self.flush())

    # --- leases -----------------------------------------------------------------------------
    async def maintain(self, now_ns: int | None = None) -> int:
        """Heartbeat and claims; returns how many orders were claimed.

        Renews this engine's leases (an order no longer leased to it is dropped; a
        pending cancel request is applied), then claims submitted orders and any
        free or expired one.
        """
        async with self._maintain_lock:
            now = self.clock() if now_ns is None else now_ns
            until = now + self._horizon_ns
            # Under the commit lock: this engine's writes and its renewal never wait on
            # each other's row locks (nor deadlock: they lock the same rows).
            async with self._commits.lock, self.sessions() as session:
                # Leases with more than half a lease left were renewed by a recent write.
                held = await leases.renew(session, self.engine_id, until, now + self.lease_ns // 2)
            for order_id, live in list(self._live.items()):
                if order_id not in held and not live.execution.status.is_final:
                    log.warning("engine %s: lost the lease of %s", self.engine_id, live.token_id)
                    self._drop(live)
                elif held.get(order_id) is not None and not live.stale:
                    self._cancel(live, now)  # a cancel request whose notification was lost
            orphans = [order_id for order_id in held if order_id not in self._live]
            claimed = await self._claim(now, until)
            await self._adopt([*orphans, *claimed], now)
            return len(claimed)

    async def claim_submitted(self, now_ns: int | None = None) -> int:
        """Claim the orders announced by `on_submitted`; returns how many."""
        ids, self._to_claim = sorted(self._to_claim), set()
        if not ids:
            return 0
        async with self._maintain_lock:  # one claimer at a time: an order is adopted once
            now = self.clock() if now_ns is None else now_ns
            claimed: list[int] = []
            for start in range(0, len(ids), leases.CLAIM_BATCH):
                async with self.sessions() as session:
                    chunk = ids[start : start + leases.CLAIM_BATCH]
                    rows = await leases.claim(
                        session, self.engine_id, now, now + self._horizon_ns, ids=chunk
                    )
                claimed += [c.order_id for c in rows]
            await self._adopt(claimed, now)
            return len(claimed)

    async def _claim(self, now: int, until: int) -> list[int]:
        claimed: list[int] = []
        for expired in (True, False):
            while True:
                async with self.sessions() as session:
                    rows = await leases.claim(session, self.engine_id, now, until, expired=expired)
                claimed += [c.order_id for c in rows]
                if expired and rows:
                    metrics.LEASE_TAKEOVERS.inc(len(rows))
                    log.info("engine %s: took over %d orders", self.engine_id, len(rows))
                if len(rows) < leases.CLAIM_BATCH:
                    break
        return claimed

    async def _adopt(self, order_ids: list[int], now: int) -> None:
        """Load claimed orders, record their missed slices, and schedule them."""
        for start in range(0, len(order_ids), leases.CLAIM_BATCH):
            async with self.sessions() as session:
                loaded = await repository.load_orders(
                    session, order_ids[start : start + leases.CLAIM_BATCH]
                )
            for order, execution in loaded:
                if order.id in self._live:
                    continue
                live = LiveOrder(order, execution, order.version, repository.saved_window(order))
                self.markouts.expect(order.id, execution.spec, execution.results, now)
                counters = self._counters_for(execution.spec)
                live.last_totals = counters.totals(now)
                live.market_mark = (counters.volume, counters.trades)
                self._live[order.id] = live
                if order.cancel_requested_ns is not None:
                    self._cancel(live, now)
                else:
                    self._skip_missed(live, now)
        await self.flush()

    def _skip_missed(self, live: LiveOrder, now: int) -> None:
        execution = live.execution
        first_claim = not execution.results and live.version == leases.FIRST_CLAIM_VERSION
        if first_claim and now < execution.end_ns:
            self._push(live)  # claimed late, not missed: its due slices execute now
            return
        skipped = []
        while (due := execution.next_due_ns) is not None and due < now - CLAIM_GRACE_NS:
            skipped.append(execution.skip(due, SkipReason.SERVER_DOWN))
        # All of an order's missed slices in one write: they are one fact.
        if skipped:
            self._enqueue(live, skipped, now)
        self._push(live)

    # --- stepping --------------------------------------------------------------------------------
    async def run_due(self, now_ns: int) -> int:
        """Claim submitted orders, step every slice due at or before `now_ns`, commit.

        Returns how many slices were stepped. The running engine does the same in
        its loops; tests with an injected clock call this instead.
        """
        await self.claim_submitted(now_ns)
        stepped = await self._step_due(now_ns)
        await self.flush()
        await self.record_markouts(now_ns)
        return stepped

    async def _step_due(self, now_ns: int) -> int:
        """Step every due slice against the books as they are now; queue the writes."""
        at = max(now_ns, self.clock())
        books: dict[tuple[str, str], BookSnapshot | None] = {}
        stepped = 0
        while due_orders := self._pop_due(now_ns):
            stale: list[LiveOrder] = []
            for n, (due, live) in enumerate(due_orders):
                if n and n % STEP_CHUNK == 0:
                    await asyncio.sleep(0)  # books are captured: yielding changes no price
                if self._live.get(live.order_id) is not live or live.execution.status.is_final:
                    continue
                if live.stale:
                    stale.append(live)
                    continue
                try:
                    result = self._step_or_skip(live, at, books)
                    if result is None:
                        continue  # retried later (scheduled)
                    self._enqueue(live, [result], at)
                except Exception:  # not even a skip could be recorded: start over from the DB
                    log.exception(
                        "engine %s: order %s: slice not recorded", self.engine_id, live.token_id
                    )
                    self._mark_stale(live, at + RETRY_NS)
                    continue
                metrics.SLICE_LATENESS.observe((at - due) / NS)
                stepped += 1
                self._push(live)
            for live in stale:
                await self._reload(live)  # rescheduled (popped again above) if still ours
        return stepped

    def _pop_due(self, now_ns: int) -> list[tuple[int, LiveOrder]]:
        popped: list[tuple[int, LiveOrder]] = []
        while self._heap and self._heap[0][0] <= now_ns:
            due, order_id = heapq.heappop(self._heap)
            live = self._live.get(order_id)
            if live is None or live.scheduled_ns != due:
                continue  # dropped, or a superseded heap entry
            live.scheduled_ns = None
            popped.append((due, live))
        return popped

    def _step_or_skip(
        self, live: LiveOrder, at: int, books: dict[tuple[str, str], BookSnapshot | None]
    ) -> SliceResult | None:
        """One slice; a failing step is retried with backoff, then skipped as engine_error.

        `TwapExecution.step` changes the execution only once the slice succeeded,
        so a failed attempt leaves it as it was.
        """
        try:
            spec = live.execution.spec
            for venue in spec.venue_names:  # each market's book is read once per instant
                key = (venue, spec.symbol)
                if key not in books:
                    books[key] = self.market.book(*key)
            book: BookSnapshot | dict[str, BookSnapshot | None] | None = (
                books[(spec.exchange, spec.symbol)]
                if spec.venues is None
                else {venue: books[(venue, spec.symbol)] for venue in spec.venues}
            )
            result = self._step(live, at, book)
        except Exception:
            live.failures += 1
            log.exception(
                "engine %s: order %s: step failed (attempt %d of %d)",
                self.engine_id, live.token_id, live.failures, STEP_ATTEMPTS,
            )  # fmt: skip
            if live.failures < STEP_ATTEMPTS:
                self._schedule(live, at + STEP_RETRY_NS * 2 ** (live.failures - 1))
                return None
            result = live.execution.skip(at, SkipReason.ENGINE_ERROR)
        live.failures = 0
        metrics.SLICES.labels(result.status.value, result.reason or "").inc()
        return result

    def _step(
        self,
        live: LiveOrder,
        now_ns: int,
        book: BookSnapshot | dict[str, BookSnapshot | None] | None,
    ) -> SliceResult:
        """Step against the order's book (a cross-venue order: one book per venue)."""
        counters = self._counters_for(live.execution.spec)
        self.markouts.watch(live.execution.spec, now_ns)
        if isinstance(book, dict):
            seen = [b for b in book.values() if b is not None]
            if seen:
                counters.on_mid(now_ns, consolidated_mid(seen))
            book_list = seen
        elif book is not None:
            counters.on_mid(now_ns, book.mid)
            book_list = [book]
        else:
            book_list = []
        if live.last_totals is None:
            live.last_totals = counters.totals(now_ns)
        seen_volume, seen_trades = live.market_mark or (counters.volume, counters.trades)
        market = MarketActivity(counters.volume - seen_volume, counters.trades - seen_trades)
        result = live.execution.step(now_ns, book, self.ledger, market)
        live.market_mark = (counters.volume, counters.trades)
        for seen_book in book_list:
            metrics.BOOK_SKEW.observe(abs(result.due_ns - seen_book.ts_recv) / NS)
        return result

    def _cancel(self, live: LiveOrder, now: int) -> bool:
        """Cancel in memory and queue the write; False if the order already ended."""
        if live.execution.status.is_final:
            return False
        live.execution.cancel(now)
        live.scheduled_ns = None
        self._enqueue(live, [], now)
        return True

    def _enqueue(self, live: LiveOrder, results: list[SliceResult], at: int) -> None:
        """Queue a write of the order's progress as of now, and its bus updates."""
        totals = self._counters_for(live.execution.spec).totals(at)
        if live.last_totals is not None:
            live.window = live.window + (totals - live.last_totals)
        live.last_totals = totals
        execution = live.execution
        values = repository.progress_values(execution)
        values["updated_ns"] = at
        values["market_window"] = repository.totals_to_json(live.window)
        self._commits.put(PendingWrite.of(live, results, values, at))

    # --- committing ---------------------------------------------------------------------------
    async def flush(self) -> None:
        """Commit every queued write (in order; many orders per transaction)."""
        while self._commits:
            for live in await self._commit_batch():
                await self._reload(live)

    async def _commit_batch(self) -> list[LiveOrder]:
        async with self._commits.lock:
            batch = self._commits.take(self._is_current)
            if not batch:
                return []
            try:
                applied = await self._commits.write(batch)
            except Exception:
                log.exception(
                    "engine %s: writing %d orders failed; retrying", self.engine_id, len(batch)
                )
                for pending in batch:
                    self._mark_stale(pending.live, pending.at + RETRY_NS)
                return []
        lost = []
        for pending in batch:
            live = pending.live
            if live.order_id not in applied:
                # Lease lost (or the slice already stored): nothing was written, nothing is told.
                log.warning("engine %s: write of %s was fenced off", self.engine_id, live.token_id)
                self._drop(live)
                lost.append(live)
                continue
            live.version += 1
            pending.apply_to(live.order)
            self.markouts.expect(live.order_id, live.execution.spec, pending.results, pending.at)
            if pending.final and self._live.get(live.order_id) is live:
                del self._live[live.order_id]
            for update in pending.updates:
                self.order_events.order_updated(update)
        return lost

    def _is_current(self, pending: PendingWrite) -> bool:
        live = pending.live
        return self._live.get(live.order_id) is live and pending.generation == live.generation

    def _mark_stale(self, live: LiveOrder, retry_ns: int) -> None:
        """Memory ran ahead of a failed commit: reload the order before its next slice."""
        live.stale = True
        live.generation += 1  # its later queued writes were based on the failed one
        if self._live.get(live.order_id) is live:
            self._schedule(live, retry_ns)

    def _drop(self, live: LiveOrder) -> None:
        live.generation += 1
        live.scheduled_ns = None
        if self._live.get(live.order_id) is live:
            del self._live[live.order_id]

    async def _reload(self, live: LiveOrder) -> bool:
        """Replace the in-memory order by the database's; drop it unless still leased here."""
        now = self.clock()
        async with self._commits.lock:  # no write of ours in flight
            try:
                async with self.sessions() as session:
                    loaded = await repository.load_orders(session, [live.order_id])
            except Exception:
                log.exception("engine %s: cannot reload %s", self.engine_id, live.token_id)
                self._mark_stale(live, now + RETRY_NS)
                return False
        self._drop(live)
        if not loaded:
            return False
        order, execution = loaded[0]
        if order.lease_owner != self.engine_id or order.status not in repository.OPEN_STATUSES:
            return False
        live.order, live.execution, live.version = order, execution, order.version
        live.stale = False
        live.window = repository.saved_window(order)
        self._live[order.id] = live
        if order.cancel_requested_ns is not None:
            self._cancel(live, now)
        else:
            self._push(live)
        return True

    async def record_markouts(self, now_ns: int) -> int:
        """Store the markout mids of the horizons settled by `now_ns`; how many landed.

        Under the commit lock, like the slice writes; a failed write is retried next time.
        """
        writes = self._unwritten_markouts + self.markouts.take_due(now_ns)
        self._unwritten_markouts = []
        if not writes:
            return 0
        rows = [(w.order_id, w.slice_index, w.horizon_s, w.mid, w.missing) for w in writes]
        try:
            async with self._commits.lock, self.sessions() as session, session.begin():
                return await repository.record_markouts(session, self.engine_id, rows)
        except Exception:
            log.exception("engine %s: writing %d markouts failed", self.engine_id, len(rows))
            self._unwritten_markouts = writes
            return 0

    # --- loops ----------------------------------------------------------------------------------
    async def _step_forever(self) -> None:
        while True:
            try:
                await self._step_due(self.clock())
            except Exception:  # keep the engine alive; the orders are rescheduled
                log.exception("engine %s: stepping failed", self.engine_id)
                await asyncio.sleep(1)
            self._wakeup.clear()
            delay = (self._heap[0][0] - self.clock()) / NS if self._heap else 3600.0
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)

    async def _commit_forever(self) -> None:
        while True:
            await self._commits.queued.wait()
            await asyncio.sleep(COMMIT_WINDOW_S)
            self._commits.queued.clear()
            await self.flush()

    async def _markouts_forever(self) -> None:
        while True:
            await asyncio.sleep(MARKOUT_POLL_S)
            try:
                await self.record_markouts(self.clock())
            except Exception:  # keep measuring; these horizons stay unmeasured
                log.exception("engine %s: measuring markouts failed", self.engine_id)

    async def _maintain_forever(self) -> None:
        """Claim submitted orders at once; heartbeat and scan every quarter lease."""
        loop = asyncio.get_running_loop()
        interval = self.lease_ns / NS / 4
        next_beat = loop.time() + interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claim_wakeup.wait(), max(0, next_beat - loop.time()))
                await asyncio.sleep(CLAIM_WINDOW_S)
            self._claim_wakeup.clear()
            try:
                await self.claim_submitted()
                if loop.time() >= next_beat:
                    next_beat = loop.time() + interval
                    await self.maintain()
            except Exception:
                log.exception("engine %s: lease maintenance failed", self.engine_id)

    # --- helpers ------------------------------------------------------------------------------
    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def _push(self, live: LiveOrder) -> None:
        due = live.execution.next_due_ns
        if due is not None:
            self._schedule(live, due)

    def _schedule(self, live: LiveOrder, when_ns: int) -> None:
        wake = not self._heap or when_ns < self._heap[0][0]
        live.scheduled_ns = when_ns
        heapq.heappush(self._heap, (when_ns, live.order_id))
        if wake:
            self._wakeup.set()

    def _counters_for(self, spec: OrderSpec) -> MarketCounters:
        """The market counters of the order's market (a cross-venue order: its venues' trades
        together, the consolidated mid)."""
        if spec.venues is None:
            key = (spec.exchange, spec.symbol)
            counters = self._counters.get(key)
            if counters is None:
                counters = self._counters[key] = MarketCounters()
            return counters
        group = (spec.venues, spec.symbol)
        counters = self._group_counters.get(group)
        if counters is None:
            counters = self._group_counters[group] = MarketCounters()
            for venue in spec.venues:
                self._groups_of.setdefault((venue, spec.symbol), []).append(counters)
        return counters

    def _on_trade(self, trade: Trade) -> None:
        key = (trade.exchange, trade.symbol)
        counters = self._counters.get(key)
        if counters is not None:
            counters.on_trade(trade.price, trade.qty)
        for group in self._groups_of.get(key, ()):
            group.on_trade(trade.price, trade.qty)
