"""Broadcaster: who is subscribed to what on `/ws`, the book fan-out and order updates.

Publishing never awaits a socket: it only puts serialized messages into each
connection's `Outbox`, whose own sender task writes them. So a client that does
not read costs its own dropped books, never the fan-out's time or other clients'.
A client that takes nothing of what waits for it for `ws_idle_timeout_s` is
closed with 4408 by a watchdog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from twapcore import BookSnapshot
from twapcore.recording import book_to_record
from twapserver.bus import OrderEvents, OrderUpdate
from twapserver.hub import MarketHub
from twapserver.metrics import WS_CLIENTS
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait
from twapserver.ws.messages import dumps
from twapserver.ws.outbox import BookKey, Outbox

__all__ = ["BOOK_DEPTH", "CLOSE_WAIT_S", "IDLE", "Broadcaster", "tick_delay_s"]

log = logging.getLogger("twapserver.ws")

BOOK_DEPTH = 10
# How long to wait for a connection's sender to send a queued close.
CLOSE_WAIT_S = 2.0
IDLE = 4408  # close code: the client read nothing for ws_idle_timeout_s (HTTP 408)


def tick_delay_s(now_s: float, interval_s: float) -> float:
    """Seconds from `now_s` (epoch) to the next multiple of `interval_s` (always > 0)."""
    return interval_s - (now_s % interval_s)


class Broadcaster:
    """The `/ws` connections of one app; `tick()` sends one book per subscribed symbol.

    `clock` (ns since the epoch, the orders' clock) stamps `now_ns` in replies;
    `monotonic` (seconds) times idle clients; tests replace either.
    """

    def __init__(
        self, hub: MarketHub, settings: Settings, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.interval_s = settings.ws_book_interval_s
        self.clock = clock
        self.monotonic: Callable[[], float] = time.monotonic
        self.close_wait_s = CLOSE_WAIT_S
        self.books_serialized = 0  # how many book messages were built (not sent)
        self.unauthenticated = 0  # connections admitted and not yet authenticated
        self._connections: dict[Outbox, asyncio.Task[None]] = {}  # outbox -> its sender
        self._books: dict[BookKey, set[Outbox]] = {}
        self._orders: dict[int, set[Outbox]] = {}  # user id -> subscribers
        self._order_users: dict[Outbox, int] = {}  # the reverse, for disconnect()
        self._payloads: dict[BookKey, tuple[BookSnapshot, str]] = {}
        self._events: OrderEvents | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle -----------------------------------------------------------------
    def start(self, events: OrderEvents) -> None:
        """Deliver `events`' order updates, tick books and watch for idle clients."""
        self._events = events
        events.on_update(self.on_update)
        self._tasks = [
            asyncio.create_task(self._tick_forever()),
            asyncio.create_task(self._watch_idle_forever()),
        ]

    async def stop(self) -> None:
        """Stop ticking and close every connection with 1001."""
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(*tasks)
        self._events = None  # updates still delivered by the bus are ignored (on_update)
        for outbox in self._connections:
            outbox.close(1001, "server shutting down")
        if self._connections:
            await asyncio.wait(self._connections.values(), timeout=self.close_wait_s)

    async def _tick_forever(self) -> None:
        while True:
            # On the wall clock's grid of `interval_s` (whole seconds by default): ticking
            # time does not stretch the interval, a stall is followed by one tick rather
            # than a burst of the missed ones, and every API process of a scaled-out
            # deployment ticks at the same instants, so their clients get the same books.
            now = time.time()
            await asyncio.sleep(tick_delay_s(now, self.interval_s))
            try:
                self.tick()
            except Exception:  # one bad book must not end the fan-out
                log.exception("book fan-out tick failed")

    async def _watch_idle_forever(self) -> None:
        # Four looks per timeout: a stalled client is closed within 1.25 timeouts.
        while True:
            await asyncio.sleep(self.settings.ws_idle_timeout_s / 4)
            self.close_idle()

    # --- connections and subscriptions ---------------------------------------------------
    def admit(self) -> bool:
        """Count a new connection as unauthenticated; False when the cap is reached."""
        if self.unauthenticated >= self.settings.ws_max_unauthenticated:
            return False
        self.unauthenticated += 1
        return True

    def authenticated(self) -> None:
        """An admitted connection passed (or failed) authentication."""
        self.unauthenticated -= 1

    def outbox(self, name: str) -> Outbox:
        """A send queue with this server's budgets and idle clock."""
        s = self.settings
        return Outbox(
            s.ws_send_queue,
            s.ws_order_backlog,
            s.ws_reply_queue,
            clock=lambda: self.monotonic(),
            name=name,
        )

    def connect(self, outbox: Outbox, sender: asyncio.Task[None]) -> None:
        """Track a connection's outbox and the task that sends it."""
        self._connections[outbox] = sender
        WS_CLIENTS.set(len(self._connections))

    def disconnect(self, outbox: Outbox) -> None:
        """Forget a connection and all its subscriptions."""
        self._connections.pop(outbox, None)
        WS_CLIENTS.set(len(self._connections))
        for key in list(self._books):
            self.unsubscribe_book(outbox, key)
        user_id = self._order_users.get(outbox)
        if user_id is not None:
            self.unsubscribe_orders(outbox, user_id)

    def outboxes(self) -> list[Outbox]:
        """The outboxes of the open connections."""
        return list(self._connections)

    def close_idle(self) -> list[str]:
        """Close (4408) every client whose sender has been blocked for the idle timeout.

        Its queued messages are discarded and the blocked write is cancelled; the
        endpoint then sends the close frame if the client still takes it. Returns
        the names of the connections closed.
        """
        limit = self.settings.ws_idle_timeout_s
        closed = []
        for outbox, sender in list(self._connections.items()):
            if not sender.done() and outbox.stalled_s() > limit:
                log.warning("closing %s (%d): it read nothing for %g s", outbox.name, IDLE, limit)
                outbox.close(IDLE, f"idle: read nothing for {limit:g} s", discard=True)
                sender.cancel()
                closed.append(outbox.name)
        return closed

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
        self._order_users[outbox] = user_id

    def unsubscribe_orders(self, outbox: Outbox, user_id: int) -> None:
        self._order_users.pop(outbox, None)
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

    def on_update(self, update: OrderUpdate) -> None:
        """Bus listener: queue an order's new state for its owner's subscribed sockets."""
        if self._events is None:
            return
        for outbox in self._orders.get(update.user_id, ()):
            if not outbox.put_order(update.order_id, update.payload):
                log.warning(
                    "closing %s (1013 too slow): %d orders' updates wait unread",
                    outbox.name,
                    outbox.order_capacity,
                )
