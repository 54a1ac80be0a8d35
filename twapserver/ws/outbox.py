"""A connection's send queue and the policy for slow consumers, without any socket.

Three kinds of message share one queue (so they go out in the order they were
queued) but each has its own budget, so one kind never crowds out another:

* books: latest per symbol; a newer book replaces the queued one in place, and
  over `book_capacity` queued books the oldest is shed. Never a reason to close.
* order updates: latest per order; a newer update replaces the queued one of the
  same order in place, so every order's newest state (a final one included:
  nothing follows it) is delivered. Only when `order_capacity` different orders
  wait at once does the client count as not reading: the outbox closes 1013.
* replies (pong, acks, errors): never dropped and never a reason to close; the
  endpoint stops reading a client's requests while `reply_capacity` replies wait
  (`wait_for_reply_room`), so a client that pipelines is slowed down by TCP.

A client that reads nothing at all is found by `stalled_s`: how long the sender
has been blocked writing one message.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from twapserver.metrics import WS_DROPPED_BOOKS

__all__ = ["BookKey", "Close", "Outbox"]

BookKey = tuple[str, str]  # (exchange, symbol)


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with `code` and `reason` once everything before it is sent."""

    code: int
    reason: str


@dataclass(slots=True, eq=False)  # compared by identity when removed
class _Entry:
    kind: Literal["book", "order", "reply", "close"]
    key: BookKey | int | None  # the book's market or the order's id
    payload: str | Close


class Outbox:
    """The messages waiting for one connection's sender task (see the module docstring)."""

    def __init__(
        self,
        book_capacity: int,
        order_capacity: int = 1024,
        reply_capacity: int = 16,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        self.book_capacity = book_capacity
        self.order_capacity = order_capacity
        self.reply_capacity = reply_capacity
        self.name = name  # for logs
        self.dropped_books = 0
        self.closing: Close | None = None
        self._clock = clock
        self._entries: deque[_Entry] = deque()
        self._books: dict[BookKey, _Entry] = {}
        self._orders: dict[int, _Entry] = {}
        self._replies = 0
        self._sending_since: float | None = None
        self._ready = asyncio.Event()  # something to send
        self._taken = asyncio.Event()  # the sender took something: there may be room
        # Orders that got a live update while a snapshot is being queued (see put_snapshot).
        self._live_during_snapshot: set[int] | None = None

    def __len__(self) -> int:
        closes = 1 if self._entries and self._entries[-1].kind == "close" else 0
        return len(self._entries) - closes

    # --- queueing -------------------------------------------------------------------------
    def put_book(self, book: BookKey, payload: str) -> None:
        """Queue the latest book message of `book`, dropping an older one if needed."""
        if self.closing is not None:
            return
        queued = self._books.get(book)
        if queued is not None:
            queued.payload = payload
            self._dropped_book()
            return
        if len(self._books) >= self.book_capacity:
            oldest = next(iter(self._books.values()))
            self._entries.remove(oldest)
            del self._books[oldest.key]  # type: ignore[arg-type]
            self._dropped_book()
        self._books[book] = self._append("book", book, payload)

    def put_order(self, order_id: int, payload: str) -> bool:
        """Queue an order's newest state, replacing a queued older one of the same order.

        False when `order_capacity` other orders already wait: the outbox then
        closes with 1013 "too slow" (the client reads nothing, or far too little).
        """
        if self.closing is not None:
            return True
        if self._live_during_snapshot is not None:
            self._live_during_snapshot.add(order_id)
        queued = self._orders.get(order_id)
        if queued is not None:
            queued.payload = payload
            return True
        if len(self._orders) >= self.order_capacity:
            self.close(1013, "too slow", discard=True)
            return False
        self._orders[order_id] = self._append("order", order_id, payload)
        return True

    def put_reply(self, payload: str) -> None:
        """Queue the reply to a request; see `wait_for_reply_room` for the budget."""
        if self.closing is None:
            self._replies += 1
            self._append("reply", None, payload)

    def close(self, code: int, reason: str, *, discard: bool = False) -> None:
        """Close after the queued messages (or at once, with `discard`); ignore later ones."""
        if discard:
            self._entries.clear()
            self._books.clear()
            self._orders.clear()
            self._replies = 0
        elif self.closing is not None:
            return
        self.closing = self.closing or Close(code, reason)
        self._append("close", None, self.closing)

    # --- snapshots ---------------------------------------------------------------------------
    def begin_snapshot(self) -> None:
        """Start noting which orders get live updates (call before reading the snapshot)."""
        self._live_during_snapshot = set()

    def end_snapshot(self) -> None:
        self._live_during_snapshot = None

    async def put_snapshot(self, order_id: int, payload: str) -> None:
        """Queue an order's state read from the database, waiting for room.

        Skipped when a live update of the order arrived since `begin_snapshot`:
        the live stream then carries every later state, and the database read may
        be older than what was already sent. Waits while half the order budget is
        used, so live updates of other orders still fit.
        """
        await self._wait_until(lambda: len(self._orders) < max(1, self.order_capacity // 2))
        seen = self._live_during_snapshot
        if self.closing is None and (seen is None or order_id not in seen):
            self.put_order(order_id, payload)

    async def wait_for_reply_room(self) -> None:
        """Wait until fewer than `reply_capacity` replies are queued (or the outbox closes)."""
        await self._wait_until(lambda: self._replies < self.reply_capacity)

    async def _wait_until(self, has_room: Callable[[], bool]) -> None:
        while self.closing is None and not has_room():
            self._taken.clear()
            await self._taken.wait()

    # --- the sender side ---------------------------------------------------------------------
    async def get(self) -> str | Close:
        """The next message to send, waiting for one; the previous one counts as sent."""
        self._sending_since = None
        while not self._entries:
            self._ready.clear()
            await self._ready.wait()
        entry = self._entries.popleft()
        if entry.kind == "book":
            del self._books[entry.key]  # type: ignore[arg-type]
        elif entry.kind == "order":
            del self._orders[entry.key]  # type: ignore[arg-type]
        elif entry.kind == "reply":
            self._replies -= 1
        self._taken.set()
        self._sending_since = self._clock()
        return entry.payload

    def stalled_s(self) -> float:
        """Seconds the sender has been writing the message it took last (0: not writing)."""
        since = self._sending_since
        return 0.0 if since is None else self._clock() - since

    def _dropped_book(self) -> None:
        self.dropped_books += 1
        WS_DROPPED_BOOKS.inc()

    def _append(self, kind: Literal["book", "order", "reply", "close"], key: BookKey | int | None,
                payload: str | Close) -> _Entry:  # fmt: skip
        entry = _Entry(kind, key, payload)
        self._entries.append(entry)
        self._ready.set()
        if kind == "close":
            self._taken.set()  # wake waiters: nothing will be sent after a close
        return entry
