"""`memory://`: order events delivered in-process (every role in one process)."""

from __future__ import annotations

from collections.abc import Callable

from twapserver.bus import OrderUpdate, deliver

__all__ = ["MemoryOrderEvents"]


class MemoryOrderEvents:
    """Calls the listeners directly: nothing is serialized, nothing can be lost."""

    def __init__(self) -> None:
        self._submitted: list[Callable[[int], None]] = []
        self._cancel: list[Callable[[int], None]] = []
        self._update: list[Callable[[OrderUpdate], None]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def order_submitted(self, order_id: int) -> None:
        deliver(self._submitted, order_id)

    def cancel_requested(self, order_id: int) -> None:
        deliver(self._cancel, order_id)

    def order_updated(self, update: OrderUpdate) -> None:
        deliver(self._update, update)

    def on_submitted(self, listener: Callable[[int], None]) -> None:
        self._submitted.append(listener)

    def on_cancel(self, listener: Callable[[int], None]) -> None:
        self._cancel.append(listener)

    def on_update(self, listener: Callable[[OrderUpdate], None]) -> None:
        self._update.append(listener)
