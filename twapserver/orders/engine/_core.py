"""The engine's state and the small helpers every part of it uses.

`Engine` (`twapserver.orders.engine`) builds on it: commits, claims, stepping (one
module each, each class on the one before), then the loops that drive them.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import secrets
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapcore import BookSnapshot, LiquidityLedger, MarketCounters, OrderSpec, Trade
from twapserver.bus import OrderEvents
from twapserver.bus.memory import MemoryOrderEvents
from twapserver.orders.committer import CommitQueue
from twapserver.orders.engine._tuning import DEFAULT_LEASE_S, NS
from twapserver.orders.live import LiveOrder
from twapserver.orders.markouts import MarkoutTracker, MarkoutWrite

__all__ = ["EngineCore", "MarketView", "default_engine_id", "log"]

log = logging.getLogger("twapserver.engine")


class MarketView(Protocol):
    """What the engine reads of the market: latest books, their arrivals, the trade stream."""

    trade_listeners: list[Callable[[Trade], None]]
    book_listeners: list[Callable[[str, str, int], None]]

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None: ...


def default_engine_id() -> str:
    """host:pid:random — unique per engine instance, readable in the orders table."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class EngineCore(ABC):
    """What an engine holds: its leased orders, their schedule, the market counters."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        market: MarketView,
        clock: Callable[[], int] = time.time_ns,
        *,
        order_events: OrderEvents | None = None,
        engine_id: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.sessions = sessions
        self.market = market
        self.clock = clock
        self.order_events: OrderEvents = order_events or MemoryOrderEvents()
        self.engine_id = engine_id or default_engine_id()
        self.lease_ns = int(lease_s * NS)
        # How far ahead a lease is set (claim, heartbeat, write). Heartbeats come every
        # quarter lease and renew what has less than half a lease left, so a live engine
        # always keeps a quarter lease of slack, and a dead engine's leases run out and
        # are taken over (at the next scan) within one lease of its last heartbeat.
        self._horizon_ns = self.lease_ns * 3 // 4
        self.ledger = LiquidityLedger()
        self._live: dict[int, LiveOrder] = {}
        self._heap: list[tuple[int, int]] = []
        self._commits = CommitQueue(sessions, self.engine_id, self._lease_until)
        self._maintain_lock = asyncio.Lock()
        self._wakeup = asyncio.Event()  # the heap's head changed
        self._claim_wakeup = asyncio.Event()  # orders were submitted
        self._to_claim: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        self._counters: dict[tuple[str, str], MarketCounters] = {}
        # Cross-venue orders: counters per (venues, symbol), and which of them a market feeds.
        self._group_counters: dict[tuple[tuple[str, ...], str], MarketCounters] = {}
        self._groups_of: dict[tuple[str, str], list[MarketCounters]] = {}
        self.markouts = MarkoutTracker(market)
        self._unwritten_markouts: list[MarkoutWrite] = []
        market.trade_listeners.append(self._on_trade)
        market.book_listeners.append(self.markouts.on_book)
        self.order_events.on_submitted(self.on_submitted)
        self.order_events.on_cancel(self.on_cancel)

    # --- bus events ---------------------------------------------------------------------------
    def on_submitted(self, order_id: int) -> None:
        """A new order was committed: claim it soon (the periodic scan is the fallback)."""
        self._to_claim.add(order_id)
        self._claim_wakeup.set()

    @abstractmethod
    def on_cancel(self, order_id: int) -> None:
        """A cancel was requested: apply it if this engine holds the order (`_commits`)."""

    # --- helpers ------------------------------------------------------------------------------
    def _lease_until(self) -> int:
        return self.clock() + self._horizon_ns

    def live(self, order_id: int) -> LiveOrder | None:
        return self._live.get(order_id)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def _push(self, live: LiveOrder) -> None:
        due = live.execution.next_due_ns
        if due is not None:
            self._schedule(live, due)

    def _schedule(self, live: LiveOrder, when_ns: int) -> None:
        wake = not self._heap or when_ns < self._heap[0][0]
        live.scheduled_ns = when_ns
        heapq.heappush(self._heap, (when_ns, live.order_id))
        if wake:
            self._wakeup.set()

    def _counters_for(self, spec: OrderSpec) -> MarketCounters:
        """The market counters of the order's market (a cross-venue order: its venues' trades
        together, the consolidated mid)."""
        if spec.venues is None:
            key = (spec.exchange, spec.symbol)
            counters = self._counters.get(key)
            if counters is None:
                counters = self._counters[key] = MarketCounters()
            return counters
        group = (spec.venues, spec.symbol)
        counters = self._group_counters.get(group)
        if counters is None:
            counters = self._group_counters[group] = MarketCounters()
            for venue in spec.venues:
                self._groups_of.setdefault((venue, spec.symbol), []).append(counters)
        return counters

    def _on_trade(self, trade: Trade) -> None:
        key = (trade.exchange, trade.symbol)
        counters = self._counters.get(key)
        if counters is not None:
            counters.on_trade(trade.price, trade.qty)
        for group in self._groups_of.get(key, ()):
            group.on_trade(trade.price, trade.qty)
