"""The paper-trading engine: one task per process runs every order's due slices.

A heap holds (next due time, order id), so each wake-up touches only the orders
that are due — never a poll of every order. A slice takes the hub's current
book, runs `TwapExecution.step` (the same code as `twap simulate`), and commits
the slice row, its fills and the order's new state in one transaction. All
orders share one `LiquidityLedger`, so two orders never take the same
displayed size of one book version.

On start it reloads working orders: slices that fell due while the server was
down are recorded as skipped (`server_down`) and their quantity carries over;
an order whose end passed while down ends `expired` with what it had filled.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapcore import (
    LiquidityLedger,
    MarketCounters,
    MarketTotals,
    SkipReason,
    SliceResult,
    Trade,
    TwapExecution,
)
from twapserver.db.models import OrderRow
from twapserver.hub import MarketHub
from twapserver.orders import repository
from twapserver.tasks import cancel_and_wait

__all__ = ["Engine", "LiveOrder", "OrderListener"]

log = logging.getLogger("twapserver.engine")

RETRY_NS = 1_000_000_000  # after a failed commit, try again from the database state in 1 s
BATCH_SLICES = 256  # slices written per transaction when many fall due together

OrderListener = Callable[["LiveOrder", SliceResult | None], None]


@dataclass(slots=True)
class LiveOrder:
    """An order this engine is working on."""

    order: OrderRow
    execution: TwapExecution
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    window: MarketTotals = field(default_factory=MarketTotals)
    last_totals: MarketTotals | None = None
    scheduled_ns: int | None = None  # the heap entry that is current for this order
    stale: bool = False  # memory ran ahead of a failed commit: reload from the database


class Engine:
    """Executes the due slices of every working order of this process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: MarketHub,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.sessions = sessions
        self.hub = hub
        self.clock = clock
        self.ledger = LiquidityLedger()
        self.listeners: list[OrderListener] = []
        self._live: dict[int, LiveOrder] = {}
        self._heap: list[tuple[int, int]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._counters: dict[tuple[str, str], MarketCounters] = {}
        self.lateness_ns: list[int] = []  # slice start lateness, for benchmarks
        hub.trade_listeners.append(self._on_trade)

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self, run: bool = True) -> None:
        """Reload working orders (catching up missed slices) and start the run loop."""
        now = self.clock()
        async with self.sessions() as session:
            loaded = await repository.load_working_orders(session)
        for order, execution in loaded:
            live = LiveOrder(order, execution, window=repository.saved_window(order))
            live.last_totals = self._counters_for(order).totals(now)
            await self._skip_missed(live, now)
            self._track(live)
        if run:
            self._task = asyncio.create_task(self._run_forever())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    # --- orders ----------------------------------------------------------------------------
    def submit(self, order: OrderRow, execution: TwapExecution) -> LiveOrder:
        """Start working an order that was just persisted."""
        live = LiveOrder(order, execution)
        self._track(live)
        return live

    def live(self, order_id: int) -> LiveOrder | None:
        return self._live.get(order_id)

    async def cancel(self, order: OrderRow) -> TwapExecution:
        """Cancel a working order and persist it; raises `InvalidOrder` if it already ended."""
        live = self._live.get(order.id)
        if live is None:
            async with self.sessions() as session:
                slices, fills = await repository.load_history(session, order.id)
            live = LiveOrder(order, repository.execution_from_rows(order, slices, fills))
        async with live.lock:
            if live.stale and not await self._reload(live):
                raise RuntimeError(f"order {order.token_id!r} cannot be read from the database")
            now = self.clock()
            live.execution.cancel(now)
            await self._commit([(live, None, now)])
        return live.execution

    def market_window(self, live: LiveOrder) -> MarketTotals:
        """Trades and mids seen during the order's life so far."""
        if live.execution.status.is_final or live.last_totals is None:
            return live.window
        now_totals = self._counters_for(live.order).totals(self.clock())
        return live.window + (now_totals - live.last_totals)

    # --- the loop ------------------------------------------------------------------------------
    async def run_due(self, now_ns: int) -> int:
        """Execute every slice due at or before `now_ns`; returns how many ran.

        Due slices run in batches: each batch's slices are stepped, then written in
        one transaction (each slice's writes are atomic within it). A slice runs at
        the engine clock's time when it starts (never before `now_ns`), so a
        backlog shows up as lateness and in book staleness, not hidden.
        """
        executed = 0
        while batch := self._pop_due(now_ns):
            executed += await self._execute_batch(batch, now_ns)
        return executed

    def _pop_due(self, now_ns: int) -> list[tuple[int, LiveOrder]]:
        batch: list[tuple[int, LiveOrder]] = []
        while self._heap and self._heap[0][0] <= now_ns and len(batch) < BATCH_SLICES:
            due, order_id = heapq.heappop(self._heap)
            live = self._live.get(order_id)
            if live is None or live.scheduled_ns != due:
                continue  # cancelled, or a superseded heap entry
            live.scheduled_ns = None
            batch.append((due, live))
        return batch

    async def _run_forever(self) -> None:
        while True:
            try:
                await self.run_due(self.clock())
            except Exception:  # keep the engine alive; failed slices are retried
                log.exception("engine iteration failed")
                await asyncio.sleep(1)
            self._wakeup.clear()
            delay = (self._heap[0][0] - self.clock()) / 1e9 if self._heap else 3600.0
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)

    async def _execute_batch(self, batch: list[tuple[int, LiveOrder]], now_ns: int) -> int:
        async with contextlib.AsyncExitStack() as held:
            stepped: list[tuple[LiveOrder, SliceResult, int]] = []
            for due, live in batch:
                # Held until the write is committed, so a cancel cannot interleave.
                await held.enter_async_context(live.lock)
                at = max(now_ns, self.clock())
                if live.stale and not await self._reload(live):
                    self._schedule(live, at + RETRY_NS)
                    continue
                if live.execution.status.is_final:
                    continue
                if not live.stale:
                    self.lateness_ns.append(at - due)
                stepped.append((live, self._step(live, at), at))
            try:
                await self._commit(stepped)
            except Exception:
                return 0  # logged, marked stale and rescheduled by _commit
        return len(stepped)

    def _step(self, live: LiveOrder, now_ns: int) -> SliceResult:
        spec = live.execution.spec
        book = self.hub.book(spec.exchange, spec.symbol)
        counters = self._counters_for(live.order)
        if book is not None:
            counters.on_mid(now_ns, book.mid)
        if live.last_totals is None:
            live.last_totals = counters.totals(now_ns)
        return live.execution.step(now_ns, book, self.ledger)

    async def _reload(self, live: LiveOrder) -> bool:
        """Replace the in-memory execution by the one stored; False if the database fails."""
        try:
            async with self.sessions() as session:
                slices, fills = await repository.load_history(session, live.order.id)
            live.execution = repository.execution_from_rows(live.order, slices, fills)
        except Exception:
            log.exception("cannot reload order %s", live.order.token_id)
            return False
        live.stale = False
        return True

    async def _skip_missed(self, live: LiveOrder, now_ns: int) -> None:
        execution = live.execution
        skipped = []
        while (due := execution.next_due_ns) is not None and due < now_ns:
            skipped.append((live, execution.skip(due, SkipReason.SERVER_DOWN), due))
        # All of an order's missed slices in one transaction: they are one fact.
        await self._commit(skipped, track=False)

    async def _commit(
        self,
        stepped: Sequence[tuple[LiveOrder, SliceResult | None, int]],
        track: bool = True,
    ) -> None:
        """Persist stepped orders in one transaction, then reschedule them and notify.

        If the transaction fails nothing of it is stored: the orders are marked
        stale (reloaded from the database) and retried in `RETRY_NS`.
        """
        if not stepped:
            return
        writes = []
        for live, result, at in stepped:
            totals = self._counters_for(live.order).totals(at)
            if live.last_totals is not None:
                live.window = live.window + (totals - live.last_totals)
            live.last_totals = totals
            writes.append(
                repository.SliceWrite(live.order, live.execution, result, at, self._extra(live))
            )
        try:
            async with self.sessions() as session, session.begin():
                await repository.record_slices(session, writes)
        except Exception:
            log.exception("writing %d slices failed; retrying from the database", len(writes))
            for live, _, at in stepped:
                live.stale = True
                if track and live.order.id in self._live:
                    self._schedule(live, at + RETRY_NS)
            raise
        for live, result, _ in stepped:
            if track:
                if live.execution.status.is_final:
                    self._live.pop(live.order.id, None)
                else:
                    self._push(live)
            for listener in self.listeners:
                listener(live, result)

    # --- helpers ------------------------------------------------------------------------------
    def _extra(self, live: LiveOrder) -> dict[str, object]:
        return {"market_window": repository.totals_to_json(live.window)}

    def _track(self, live: LiveOrder) -> None:
        if live.execution.status.is_final:
            return
        self._live[live.order.id] = live
        self._push(live)

    def _push(self, live: LiveOrder) -> None:
        due = live.execution.next_due_ns
        if due is not None:
            self._schedule(live, due)

    def _schedule(self, live: LiveOrder, when_ns: int) -> None:
        wake = not self._heap or when_ns < self._heap[0][0]
        live.scheduled_ns = when_ns
        heapq.heappush(self._heap, (when_ns, live.order.id))
        if wake:
            self._wakeup.set()

    def _counters_for(self, order: OrderRow) -> MarketCounters:
        key = (order.exchange, order.symbol)
        counters = self._counters.get(key)
        if counters is None:
            counters = self._counters[key] = MarketCounters()
        return counters

    def _on_trade(self, trade: Trade) -> None:
        counters = self._counters.get((trade.exchange, trade.symbol))
        if counters is not None:
            counters.on_trade(trade.price, trade.qty)
