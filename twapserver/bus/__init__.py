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

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from twapserver.settings import Settings

__all__ = ["OrderEvents", "OrderUpdate", "deliver", "is_memory_bus", "order_events_for"]

log = logging.getLogger("twapserver.bus")

T = TypeVar("T")


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


def deliver(listeners: list[Callable[[T], None]], event: T) -> None:
    """Call every listener with `event`; one failing listener must not starve the others."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            log.exception("bus listener %r failed", listener)


def is_memory_bus(bus_url: str) -> bool:
    """True for `memory://` (every role in this process), False for `redis://…`.

    Raises ValueError naming the URL for any other scheme.
    """
    scheme = bus_url.split("://", 1)[0] if "://" in bus_url else ""
    if scheme == "memory":
        return True
    if scheme in ("redis", "rediss", "unix"):
        return False
    raise ValueError(
        f"bus URL {bus_url!r} is neither memory:// nor redis://host:port/db (TWAP_BUS_URL)"
    )


def order_events_for(settings: Settings) -> OrderEvents:
    """The `OrderEvents` implementation `settings.bus_url` names."""
    if is_memory_bus(settings.bus_url):
        from twapserver.bus.memory import MemoryOrderEvents

        return MemoryOrderEvents()
    from twapserver.bus.redis import RedisOrderEvents

    return RedisOrderEvents(settings.bus_url, settings.bus_prefix)
