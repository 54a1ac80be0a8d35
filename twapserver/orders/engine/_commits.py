"""Committing: writes queued (slices, cancels), committed fenced per order, then announced."""

from __future__ import annotations

import asyncio

from twapcore import SliceResult
from twapserver.orders import repository
from twapserver.orders.engine._core import EngineCore, log
from twapserver.orders.engine._tuning import RETRY_NS
from twapserver.orders.live import LiveOrder, PendingWrite

__all__ = ["Commits"]


class Commits(EngineCore):
    """Writes what was stepped, announces only what was committed, reloads what failed."""

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
        except asyncio.CancelledError:  # a stop: its own final write takes them
            self._unwritten_markouts = writes
            raise
        except Exception:
            log.exception("engine %s: writing %d markouts failed", self.engine_id, len(rows))
            self._unwritten_markouts = writes
            return 0

    def on_cancel(self, order_id: int) -> None:
        """A cancel was requested: apply it if this engine holds the order."""
        live = self._live.get(order_id)
        if live is None:
            return
        if live.stale:
            self._spawn(self._reload(live))  # the reload applies the request
        elif self._cancel(live, self.clock()):
            self._spawn(self.flush())

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
