"""An engine's stepped writes waiting for their transaction, and the one writer of them."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapserver import metrics
from twapserver.orders import repository
from twapserver.orders.live import PendingWrite

__all__ = ["COMMIT_BATCH", "CommitQueue"]

COMMIT_BATCH = 1000  # orders written per transaction


class CommitQueue:
    """Writes in the order they were stepped; many orders per transaction, one per order.

    `lock` is held while a batch is written: whoever holds it knows no write of this
    engine is in flight (reloads, lease renewal).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        owner: str,
        lease_until: Callable[[], int],
    ) -> None:
        self.sessions = sessions
        self.owner = owner
        self.lease_until = lease_until
        self.lock = asyncio.Lock()
        self.queued = asyncio.Event()
        self._queue: deque[PendingWrite] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, pending: PendingWrite) -> None:
        self._queue.append(pending)
        self.queued.set()

    def take(self, is_current: Callable[[PendingWrite], bool]) -> list[PendingWrite]:
        """The next batch: queued writes in order, stopping at an order's second write.

        Writes that are no longer `is_current` (their order was dropped or reloaded
        since they were stepped) are discarded.
        """
        batch: list[PendingWrite] = []
        in_batch: set[int] = set()
        while self._queue and len(batch) < COMMIT_BATCH:
            pending = self._queue[0]
            if not is_current(pending):
                self._queue.popleft()
                continue
            if pending.live.order_id in in_batch:
                break
            in_batch.add(pending.live.order_id)
            batch.append(self._queue.popleft())
        return batch

    async def write(self, batch: list[PendingWrite]) -> set[int]:
        """Commit `batch` in one transaction (hold `lock`); the ids of the orders written.

        The others were fenced off: this engine no longer leases them at the version
        their write holds. Raises if the transaction failed (then nothing was written).
        """
        writes = [pending.write() for pending in batch]
        started = time.perf_counter()
        async with self.sessions() as session, session.begin():
            written = await repository.record_slices(
                session, self.owner, writes, self.lease_until()
            )
        metrics.COMMIT_LATENCY.labels("slices").observe(time.perf_counter() - started)
        return written
