"""The bus between the server's roles: order events (and, with `MarketSource`, market data).

One code path above two implementations chosen by `TWAP_BUS_URL`:
`memory://` (default; every role in one process) and `redis://host:port/db`
(collector, engine and API roles as separate processes).

Publishing is synchronous and never waits on the network: an implementation
queues what it sends and a background task delivers it, so the engine's slice
loop and the API's request path never await the bus. Delivery is at most once;
the database stays the truth (engines also scan for orders, WS clients get a
snapshot on subscribe), so a lost event delays, never loses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["OrderEvents", "OrderUpdate"]


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A committed change of an order, as sent to its owner's `/ws` subscribers."""

    user_id: int
    order_id: int
    token_id: str
    final: bool  # the order reached a terminal state: never coalesced away
    payload: str  # the `{"type":"order",…}` JSON text, serialized once by the engine


class OrderEvents(Protocol):
    """Order traffic between API workers and engines (see the module docstring)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    # --- API -> engines ---
    def order_submitted(self, order_id: int) -> None:
        """A new order was committed; an engine should claim it."""

    def cancel_requested(self, order_id: int) -> None:
        """A cancel request was committed; the engine holding the order applies it."""

    # --- engines -> API workers ---
    def order_updated(self, update: OrderUpdate) -> None:
        """An engine committed a slice or a cancel of an order."""

    # --- listeners (called on the receiving side's event loop, must not block) ---
    def on_submitted(self, listener: Callable[[int], None]) -> None: ...

    def on_cancel(self, listener: Callable[[int], None]) -> None: ...

    def on_update(self, listener: Callable[[OrderUpdate], None]) -> None: ...
