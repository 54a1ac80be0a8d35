"""Claiming orders: heartbeat, claims and takeovers, and the catch-up of missed slices."""

from __future__ import annotations

from twapcore import SkipReason
from twapserver import metrics
from twapserver.orders import leases, repository
from twapserver.orders.engine._commits import Commits
from twapserver.orders.engine._core import log
from twapserver.orders.engine._tuning import CLAIM_GRACE_NS
from twapserver.orders.live import LiveOrder

__all__ = ["Claims"]


class Claims(Commits):
    """The engine's lease keeping (`twapserver.orders.leases` holds the statements)."""

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
