"""A connection's bounded send queue; the policy for slow consumers, without any socket."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

__all__ = ["Close", "Outbox"]

BookKey = tuple[str, str]  # (exchange, symbol)


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with `code` and `reason` once everything before it is sent."""

    code: int
    reason: str


@dataclass(slots=True, eq=False)  # compared by identity when removed
class _Entry:
    book: BookKey | None  # None: a message that must be delivered
    payload: str | Close


class Outbox:
    """At most `capacity` serialized messages waiting for one connection's sender task.

    Books are latest-wins: a newer book of a symbol replaces its queued one, and a
    full queue sheds its oldest book (or, holding no book, refuses the new one).
    Other messages (order updates, replies) are never dropped: one that does not fit
    discards the queue and closes the connection with 1013 "too slow" instead, so the
    client knows to reconnect and re-read its orders rather than miss an update.
    """

    def __init__(self, capacity: int, name: str = "") -> None:
        self.capacity = capacity
        self.name = name  # for logs
        self.dropped_books = 0
        self.closing: Close | None = None
        self._entries: deque[_Entry] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return sum(1 for entry in self._entries if not isinstance(entry.payload, Close))

    def put_book(self, book: BookKey, payload: str) -> None:
        """Queue the latest book message of `book`, dropping an older one if needed."""
        if self.closing is not None:
            return
        for entry in self._entries:
            if entry.book == book:
                entry.payload = payload
                self.dropped_books += 1
                return
        if len(self) >= self.capacity and not self._shed_oldest_book():
            self.dropped_books += 1
            return
        self._append(_Entry(book, payload))

    def put(self, payload: str) -> bool:
        """Queue a message that must be delivered.

        False when it did not fit: the outbox then closes with 1013 "too slow".
        """
        if self.closing is not None:
            return True
        if len(self) >= self.capacity and not self._shed_oldest_book():
            self._entries.clear()
            self.close(1013, "too slow")
            return False
        self._append(_Entry(None, payload))
        return True

    def close(self, code: int, reason: str) -> None:
        """Close after the queued messages; later messages are ignored."""
        if self.closing is None:
            self.closing = Close(code, reason)
            self._append(_Entry(None, self.closing))

    async def get(self) -> str | Close:
        """The next message to send, waiting for one."""
        while not self._entries:
            self._ready.clear()
            await self._ready.wait()
        return self._entries.popleft().payload

    def _append(self, entry: _Entry) -> None:
        self._entries.append(entry)
        self._ready.set()

    def _shed_oldest_book(self) -> bool:
        for entry in self._entries:
            if entry.book is not None:
                self._entries.remove(entry)
                self.dropped_books += 1
                return True
        return False
