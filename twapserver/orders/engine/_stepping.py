"""Stepping: the due slices of the held orders, against the books as they are now."""

from __future__ import annotations

import asyncio
import heapq

from twapcore import BookSnapshot, MarketActivity, SkipReason, SliceResult
from twapcore.book import consolidated_mid
from twapserver import metrics
from twapserver.orders.engine._claims import Claims
from twapserver.orders.engine._core import log
from twapserver.orders.engine._tuning import (
    NS,
    RETRY_NS,
    STEP_ATTEMPTS,
    STEP_CHUNK,
    STEP_RETRY_NS,
)
from twapserver.orders.live import LiveOrder

__all__ = ["Stepping"]


class Stepping(Claims):
    """Steps due slices (`TwapExecution.step`) and queues their writes for the committer."""

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
