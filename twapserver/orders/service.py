"""The API side of orders: durable submission by group commit, and cancel requests.

The API never touches an engine's memory. A new order is one row inserted by
`OrderIntake` (many concurrent requests share one transaction) and announced on
the bus; a cancel is a request written to the row and sent to the owning
engine, whose committed result the API waits for (bounded), or applied by the
API itself when no engine holds the order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapserver import metrics
from twapserver.bus import OrderEvents, OrderUpdate
from twapserver.orders import leases, repository
from twapserver.orders.updates import order_update
from twapserver.settings import Settings

__all__ = ["OrderIntake", "OrderService", "order_service"]

log = logging.getLogger("twapserver.orders")

MAX_BATCH = 1000  # orders per group-commit transaction


class OrderIntake:
    """Group commit: orders submitted within `window_s` are inserted in one transaction.

    Each caller gets its answer after that commit. A token_id that repeats within
    a batch or exists already is a `DuplicateTokenId` for exactly the requests
    that did not land (ON CONFLICT DO NOTHING RETURNING tells which did).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        order_events: OrderEvents,
        window_s: float = 0.001,
    ) -> None:
        self.sessions = sessions
        self.order_events = order_events
        self.window_s = window_s
        self._pending: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, values: dict[str, Any]) -> int:
        """Insert one order row (`repository.new_order_values`); its id once committed."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((values, future))
        if self._writer is None:
            # Lives only while orders wait: no task to stop at shutdown.
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(self.window_s)  # what arrives meanwhile joins the batch
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._commit(batch)
        finally:
            self._writer = None

    async def _commit(self, batch: list[tuple[dict[str, Any], asyncio.Future[int]]]) -> None:
        first: dict[tuple[int, str], dict[str, Any]] = {}
        for values, _ in batch:
            first.setdefault((values["user_id"], values["token_id"]), values)
        started = time.perf_counter()
        try:
            async with self.sessions() as session, session.begin():
                landed = await repository.insert_orders(session, list(first.values()))
        except Exception as exc:
            log.exception("inserting %d orders failed", len(first))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        metrics.COMMIT_LATENCY.labels("orders").observe(time.perf_counter() - started)
        for values, future in batch:
            key = (values["user_id"], values["token_id"])
            order_id = landed.get(key)
            if order_id is None or first[key] is not values:
                if not future.done():
                    future.set_exception(repository.DuplicateTokenId(values["token_id"]))
                continue
            if not future.done():
                future.set_result(order_id)
            self.order_events.order_submitted(order_id)


class OrderService:
    """What the orders API does besides reading: submit and cancel."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        order_events: OrderEvents,
        clock: Callable[[], int] = time.time_ns,
        *,
        commit_window_s: float = 0.001,
        cancel_wait_s: float = 2.0,
    ) -> None:
        self.sessions = sessions
        self.order_events = order_events
        self.clock = clock
        self.cancel_wait_s = cancel_wait_s
        self.intake = OrderIntake(sessions, order_events, commit_window_s)
        self._ended: dict[int, list[asyncio.Future[None]]] = {}
        order_events.on_update(self._on_update)

    async def submit(self, values: dict[str, Any]) -> int:
        """Persist a new order (group commit) and announce it; raises `DuplicateTokenId`."""
        return await self.intake.submit(values)

    async def cancel(self, order_id: int) -> bool:
        """Cancel an order; True once the order has ended, False if only requested.

        The request is committed first. If no engine holds the order, the API
        cancels it in the database itself (conditional on its version). Else the
        owning engine is told and applies it; this waits up to `cancel_wait_s`
        for its committed update — an engine on another box may take longer.
        """
        ended = asyncio.get_running_loop().create_future()
        self._ended.setdefault(order_id, []).append(ended)  # before any engine can act
        try:
            now = self.clock()
            async with self.sessions() as session:
                lease = await leases.request_cancel(session, order_id, now)
            if lease is None:
                return True  # it ended on its own
            if not lease.is_live(now) and await self._cancel_unleased(order_id, lease.version, now):
                return True
            self.order_events.cancel_requested(order_id)
            await asyncio.wait_for(ended, self.cancel_wait_s)
            return True
        except TimeoutError:
            return False
        finally:
            waiters = self._ended.get(order_id, [])
            if ended in waiters:
                waiters.remove(ended)
            if not waiters:
                self._ended.pop(order_id, None)

    async def _cancel_unleased(self, order_id: int, version: int, now: int) -> bool:
        async with self.sessions() as session:
            if not await leases.cancel_unleased(session, order_id, version, now):
                return False  # an engine claimed it meanwhile: it applies the request
            loaded = await repository.load_orders(session, [order_id])
        for order, execution in loaded:
            self.order_events.order_updated(order_update(order, execution, None))
        return True

    def _on_update(self, update: OrderUpdate) -> None:
        if update.final:
            for ended in self._ended.pop(update.order_id, []):
                if not ended.done():
                    ended.set_result(None)


def order_service(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    order_events: OrderEvents,
    clock: Callable[[], int] = time.time_ns,
) -> OrderService:
    """The service `settings` describe (`order_commit_window_ms`, `order_cancel_wait_s`)."""
    return OrderService(
        sessions,
        order_events,
        clock,
        commit_window_s=settings.order_commit_window_ms / 1000,
        cancel_wait_s=settings.order_cancel_wait_s,
    )
