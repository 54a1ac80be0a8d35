"""Broadcaster: who is subscribed to what on `/ws`, the book fan-out and order updates.

Publishing never awaits a socket: it only puts serialized messages into each
connection's `Outbox`, whose own sender task writes them. So a client that does
not read costs its own dropped books, never the fan-out's time or other clients'.
"""

from __future__ import annotations

import asyncio
import logging

from twapcore import BookSnapshot, SliceResult
from twapcore.recording import book_to_record
from twapserver.hub import MarketHub
from twapserver.orders.engine import Engine, LiveOrder
from twapserver.tasks import cancel_and_wait
from twapserver.ws.messages import dumps, order_message
from twapserver.ws.outbox import BookKey, Outbox

__all__ = ["BOOK_DEPTH", "CLOSE_WAIT_S", "Broadcaster"]

log = logging.getLogger("twapserver.ws")

BOOK_DEPTH = 10
# How long to wait for a connection's sender to send a queued close.
CLOSE_WAIT_S = 2.0


class Broadcaster:
    """The `/ws` subscriptions of one app; `tick()` sends one book per subscribed symbol."""

    def __init__(self, hub: MarketHub, interval_s: float = 1.0) -> None:
        self.hub = hub
        self.interval_s = interval_s
        self.books_serialized = 0  # how many book messages were built (not sent)
        self._connections: dict[Outbox, asyncio.Task[None]] = {}  # outbox -> its sender
        self._books: dict[BookKey, set[Outbox]] = {}
        self._orders: dict[int, set[Outbox]] = {}  # user id -> subscribers
        self._payloads: dict[BookKey, tuple[BookSnapshot, str]] = {}
        self._engine: Engine | None = None
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------
    def start(self, engine: Engine) -> None:
        """Follow `engine`'s orders and tick every `interval_s` seconds."""
        self._engine = engine
        engine.listeners.append(self.on_order)
        self._task = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        """Stop ticking and close every connection with 1001."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._engine is not None:
            self._engine.listeners.remove(self.on_order)
            self._engine = None
        for outbox in self._connections:
            outbox.close(1001, "server shutting down")
        if self._connections:
            await asyncio.wait(self._connections.values(), timeout=CLOSE_WAIT_S)

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            # On a fixed grid, so ticking time does not stretch the interval; after a
            # stall, one tick at once rather than a burst of the missed ones.
            next_tick = max(next_tick + self.interval_s, loop.time())
            await asyncio.sleep(next_tick - loop.time())
            try:
                self.tick()
            except Exception:  # one bad book must not end the fan-out
                log.exception("book fan-out tick failed")

    # --- connections and subscriptions ---------------------------------------------------
    def connect(self, outbox: Outbox, sender: asyncio.Task[None]) -> None:
        self._connections[outbox] = sender

    def disconnect(self, outbox: Outbox) -> None:
        """Forget a connection and all its subscriptions."""
        self._connections.pop(outbox, None)
        for key in list(self._books):
            self.unsubscribe_book(outbox, key)
        for user_id in list(self._orders):
            self.unsubscribe_orders(outbox, user_id)

    def outboxes(self) -> list[Outbox]:
        return list(self._connections)

    def subscribe_book(self, outbox: Outbox, key: BookKey) -> None:
        self._books.setdefault(key, set()).add(outbox)

    def unsubscribe_book(self, outbox: Outbox, key: BookKey) -> None:
        subscribers = self._books.get(key)
        if subscribers is not None:
            subscribers.discard(outbox)
            if not subscribers:
                del self._books[key]
                self._payloads.pop(key, None)

    def subscribe_orders(self, outbox: Outbox, user_id: int) -> None:
        self._orders.setdefault(user_id, set()).add(outbox)

    def unsubscribe_orders(self, outbox: Outbox, user_id: int) -> None:
        subscribers = self._orders.get(user_id)
        if subscribers is not None:
            subscribers.discard(outbox)
            if not subscribers:
                del self._orders[user_id]

    # --- publishing ------------------------------------------------------------------------
    def tick(self) -> None:
        """Send the current top-10 book of every subscribed symbol to its subscribers.

        Each book is serialized once, and only when it changed since the last tick;
        every subscriber gets the same text.
        """
        for key, subscribers in self._books.items():
            book = self.hub.book(*key)
            if book is None:
                continue
            cached = self._payloads.get(key)
            if cached is not None and cached[0] is book:
                payload = cached[1]
            else:
                payload = dumps(book_to_record(book, BOOK_DEPTH))
                self.books_serialized += 1
                self._payloads[key] = (book, payload)
            for outbox in subscribers:
                outbox.put_book(key, payload)

    def on_order(self, live: LiveOrder, result: SliceResult | None) -> None:
        """Engine listener: push the order's new state to its owner's subscribed sockets."""
        subscribers = self._orders.get(live.order.user_id)
        if not subscribers:
            return
        payload = dumps(order_message(live, result))
        for outbox in subscribers:
            if not outbox.put(payload):
                log.warning(
                    "closing %s (1013 too slow): an update of order %r overflowed its "
                    "send queue of %d messages",
                    outbox.name,
                    live.order.token_id,
                    outbox.capacity,
                )
