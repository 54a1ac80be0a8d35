"""`Engine`: claims, stepping and commits, and the loops that run them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapserver.bus import OrderEvents
from twapserver.orders import leases
from twapserver.orders.engine._core import MarketView, log
from twapserver.orders.engine._stepping import Stepping
from twapserver.orders.engine._tuning import (
    CLAIM_WINDOW_S,
    COMMIT_WINDOW_S,
    MARKOUT_POLL_S,
    NS,
)
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait

__all__ = ["Engine", "engine_for"]


def engine_for(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    market: MarketView,
    order_events: OrderEvents,
    clock: Callable[[], int] = time.time_ns,
) -> Engine:
    """The engine `settings` describe (`engine_id`, `engine_lease_s`)."""
    return Engine(
        sessions,
        market,
        clock,
        order_events=order_events,
        engine_id=settings.engine_id,
        lease_s=settings.engine_lease_s,
    )


class Engine(Stepping):
    """Executes the due slices of every order this engine leases."""

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self, run: bool = True) -> None:
        """Claim the orders free to take (catching up missed slices), then run the loops.

        With `run=False` nothing runs in the background: the caller drives the engine
        with `run_due`, `maintain` and `flush` (tests with an injected clock).
        """
        await self.maintain()
        if run:
            self._tasks = [
                asyncio.create_task(self._step_forever()),
                asyncio.create_task(self._commit_forever()),
                asyncio.create_task(self._maintain_forever()),
                asyncio.create_task(self._markouts_forever()),
            ]

    async def stop(self) -> None:
        """Stop the loops, commit what was stepped, and release the leases."""
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(*tasks, *self._spawned)
        try:
            await self.flush()
            await self.record_markouts(self.clock())  # the later ones are lost with the engine
            async with self.sessions() as session:
                await leases.release(session, self.engine_id)
        except Exception:  # the leases then simply expire
            log.exception("engine %s: releasing leases failed", self.engine_id)

    # --- loops ----------------------------------------------------------------------------------
    async def _step_forever(self) -> None:
        while True:
            try:
                await self._step_due(self.clock())
            except Exception:  # keep the engine alive; the orders are rescheduled
                log.exception("engine %s: stepping failed", self.engine_id)
                await asyncio.sleep(1)
            self._wakeup.clear()
            delay = (self._heap[0][0] - self.clock()) / NS if self._heap else 3600.0
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)

    async def _commit_forever(self) -> None:
        while True:
            await self._commits.queued.wait()
            await asyncio.sleep(COMMIT_WINDOW_S)
            self._commits.queued.clear()
            await self.flush()

    async def _markouts_forever(self) -> None:
        while True:
            await asyncio.sleep(MARKOUT_POLL_S)
            try:
                await self.record_markouts(self.clock())
            except Exception:  # keep measuring; these horizons stay unmeasured
                log.exception("engine %s: measuring markouts failed", self.engine_id)

    async def _maintain_forever(self) -> None:
        """Claim submitted orders at once; heartbeat and scan every quarter lease."""
        loop = asyncio.get_running_loop()
        interval = self.lease_ns / NS / 4
        next_beat = loop.time() + interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claim_wakeup.wait(), max(0, next_beat - loop.time()))
                await asyncio.sleep(CLAIM_WINDOW_S)
            self._claim_wakeup.clear()
            try:
                await self.claim_submitted()
                if loop.time() >= next_beat:
                    next_beat = loop.time() + interval
                    await self.maintain()
            except Exception:
                log.exception("engine %s: lease maintenance failed", self.engine_id)
