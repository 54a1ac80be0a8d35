"""The server's roles, one code path chosen by settings (`TWAP_ROLE`, `TWAP_BUS_URL`).

* `all` (`twapserver run`): collectors (or the demo replay), engine, REST and /ws in
  one process; its `MarketHub` is the market source and the bus is in memory.
* `collect`: collectors or the demo replay feed a hub that is published on the bus;
  closed candles are written to the database.
* `engine`: executes orders, reading books from a `MarketView` of the bus.
* `api`: REST and /ws (`twapserver.app`), reading books from a `MarketView`.

`MarketRole` is the market-data side every role runs; `check_role` refuses the
combinations that cannot work, before anything starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapcore import interval_ns
from twapserver.backfill import REPAIR_EVERY_S, BackfillStatus, run_backfill
from twapserver.bus import is_memory_bus
from twapserver.db.candles import fetch_minutes_since, upsert_candles
from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database
from twapserver.demo import start_demo_replay
from twapserver.hub import MarketHub
from twapserver.market.view import MarketView
from twapserver.recorder import Recorder, recorder_for
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait

if TYPE_CHECKING:
    from twapserver.collectors import Collectors
    from twapserver.market.redis import RedisMarketPublisher, RedisMarketSubscriber

__all__ = [
    "CANDLE_FLUSH_S",
    "MarketRole",
    "RoleError",
    "check_role",
    "flush_candles",
    "new_market",
    "run_collect_role",
    "run_engine_role",
    "seed_candles",
    "serve_metrics",
]

log = logging.getLogger("twapserver")

CANDLE_FLUSH_S = 1.0

Sessions = async_sessionmaker[AsyncSession]


class RoleError(ValueError):
    """A role cannot run with these settings; the message says why and what to change."""


def check_role(settings: Settings, workers: int = 1) -> None:
    """Raise `RoleError` when `settings.role` cannot work with the bus and database given."""
    role = settings.role
    memory = is_memory_bus(settings.bus_url)  # ValueError for a bad URL
    if role != "all" and memory and not (role == "collect" and settings.record_dir):
        only_record = " (or only record, with --record-dir)" if role == "collect" else ""
        raise RoleError(
            f"twapserver {role} runs beside other roles and needs a shared bus: "
            f"set TWAP_BUS_URL=redis://host:port/db{only_record}; memory:// reaches no "
            f"other process"
        )
    if role == "api" and workers > 1 and settings.database_url.startswith("sqlite"):
        raise RoleError(
            f"--workers {workers} on SQLite: every worker would write the one file and wait "
            f"on its lock, so more workers are slower, not faster; use PostgreSQL "
            f"(TWAP_DATABASE_URL=postgresql+asyncpg://…) or one worker"
        )


def reads_bus(settings: Settings) -> bool:
    """Whether this role reads market data from the bus rather than collecting it."""
    return settings.role in ("api", "engine")


def new_market(settings: Settings) -> MarketHub:
    """The role's market source: a hub it feeds itself, or a view of the bus."""
    if reads_bus(settings):
        return MarketView(max_book_age_s=settings.max_book_age_s)
    return MarketHub(max_book_age_s=settings.max_book_age_s)


async def flush_candles(hub: MarketHub, sessions: Sessions, *, open_too: bool = False) -> int:
    """Persist candles the hub closed (or amended) since the last flush.

    `open_too` (a graceful stop) also stores the candles still open, marked
    partial (their later trades go unseen), so a restart continues them
    (`seed_candles`) instead of leaving a gap, and a backfill replaces them.
    """
    candles = hub.take_closed_candles() + (hub.open_candles() if open_too else [])
    if not candles:
        return 0
    async with sessions() as session, session.begin():
        return await upsert_candles(session, candles)


async def seed_candles(hub: MarketHub, sessions: Sessions, now_ns: int) -> int:
    """Give `hub` the stored 1m candles of today's (UTC) bucket, which holds every current
    bucket of every interval: a restarted server continues its open candles."""
    day = interval_ns("1d")
    async with sessions() as session:
        minutes = await fetch_minutes_since(session, now_ns - now_ns % day)
    hub.seed_candles(minutes)
    return len(minutes)


class MarketRole:
    """The market-data side of a process, from `start` to `stop`.

    Collecting roles (`all`, `collect`): feed `hub` from the collectors or the demo
    replay; with `sessions`, backfill and store candles; record with `record_dir`;
    publish on a Redis bus. Reading roles (`api`, `engine`): keep `hub` (a
    `MarketView`) current from the bus.
    """

    def __init__(
        self,
        settings: Settings,
        hub: MarketHub,
        sessions: Sessions | None,
        clock: Callable[[], int] = time.time_ns,
        backfill_status: BackfillStatus | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.sessions = sessions
        self.clock = clock
        self.backfill_status = backfill_status or BackfillStatus()
        self.recorder: Recorder | None = None
        self.collectors: Collectors | None = None
        self._publisher: RedisMarketPublisher | None = None
        self._subscriber: RedisMarketSubscriber | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start feeding (or following) the hub; returns once it has its first data source."""
        settings, hub = self.settings, self.hub
        if isinstance(hub, MarketView):
            from twapserver.market.redis import RedisMarketSubscriber

            self._subscriber = RedisMarketSubscriber(hub, settings.bus_url, settings.bus_prefix)
            await self._subscriber.start()
            return
        if self.sessions is not None:
            await seed_candles(hub, self.sessions, self.clock())
        if settings.demo:
            self._tasks.extend(start_demo_replay(hub, settings))
        elif settings.collect:
            await self._start_collectors()
        # Recording (TWAP_RECORD_DIR): after the feeds registered their instruments.
        self.recorder = recorder_for(settings, hub)
        if self.recorder is not None:
            log.info("recording to %s", self.recorder.start())
        if self.sessions is not None:
            self._tasks.append(asyncio.create_task(self._flush_candles_forever(self.sessions)))
        if not is_memory_bus(settings.bus_url):
            from twapserver.market.redis import RedisMarketPublisher

            self._publisher = RedisMarketPublisher(
                hub, settings.bus_url, settings.bus_prefix, settings.bus_book_every_ms
            )
            await self._publisher.start()

    async def _start_collectors(self) -> None:
        from twapserver.collectors import Collectors  # cryptofeed only when collecting

        settings, sessions = self.settings, self.sessions
        self.collectors = collectors = Collectors(settings, self.hub)
        await collectors.start()
        # -- candle backfill: after start(), so cryptofeed's symbol cache is loaded --
        if sessions is None or settings.backfill_minutes <= 0:
            return
        status, hub, clock = self.backfill_status, self.hub, self.clock
        backfill = run_backfill(settings, sessions, hub, status, clock)
        self._tasks.append(asyncio.create_task(backfill))  # cancelled by stop()
        self._tasks.append(asyncio.create_task(self._repair_candles_forever(sessions)))

        def backfill_late_venue(exchange: str, symbols: list[str]) -> None:
            # A venue unreachable at start: backfill it once its feed is up.
            for symbol in symbols:
                status.errors.pop((exchange, symbol), None)
            only = settings.model_copy(update={"exchanges": {exchange: symbols}})
            late = run_backfill(only, sessions, hub, status, clock)
            self._tasks.append(asyncio.create_task(late))

        collectors.late_start_listeners.append(backfill_late_venue)

    async def _repair_candles_forever(self, sessions: Sessions) -> None:
        # Partial candles of this run (the first minute, a reconnect) close after the start's
        # backfill: replace them with the venue's once they have.
        while True:
            await asyncio.sleep(REPAIR_EVERY_S)
            settings, status = self.settings, self.backfill_status
            await run_backfill(settings, sessions, self.hub, status, self.clock, repair=True)

    async def _flush_candles_forever(self, sessions: Sessions) -> None:
        while True:
            await asyncio.sleep(CANDLE_FLUSH_S)
            try:
                await flush_candles(self.hub, sessions)
            except Exception:  # the database may be back by the next flush
                log.exception("storing closed candles failed")

    async def stop(self) -> None:
        """Stop everything `start` started; the last closed candles are stored."""
        if self._subscriber is not None:
            await self._subscriber.stop()
        if self._publisher is not None:
            await self._publisher.stop()
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()
        if self.collectors is not None:
            await self.collectors.stop()
        if self.recorder is not None:
            await self.recorder.stop()
        if self.sessions is not None and not isinstance(self.hub, MarketView):
            await flush_candles(self.hub, self.sessions, open_too=True)


async def run_engine_role(settings: Settings, stop: asyncio.Event) -> None:
    """The `engine` role until `stop` is set: lease and execute orders, books from the bus."""
    from twapserver.bus import order_events_for
    from twapserver.orders.engine import engine_for

    await upgrade_database(settings.database_url)
    database = make_engine(settings.database_url)
    sessions = make_sessionmaker(database)
    order_events = order_events_for(settings)
    market = MarketRole(settings, new_market(settings), None)
    await order_events.start()
    await market.start()
    engine = engine_for(settings, sessions, market.hub, order_events, time.time_ns)
    try:
        await engine.start()
        log.info("engine %s running; books from %s", engine.engine_id, settings.bus_url)
        await stop.wait()
    finally:
        await engine.stop()
        await market.stop()
        await order_events.stop()
        await database.dispose()


async def run_collect_role(settings: Settings, stop: asyncio.Event) -> MarketRole:
    """The `collect` role until `stop` is set; returns its (stopped) `MarketRole`.

    On a Redis bus: publish the collected hub and store its candles in the
    database. On memory:// (allowed only with `record_dir`): record, nothing else.
    """
    database = None
    sessions = None
    if not is_memory_bus(settings.bus_url):
        await upgrade_database(settings.database_url)
        database = make_engine(settings.database_url)
        sessions = make_sessionmaker(database)
    market = MarketRole(settings, new_market(settings), sessions)
    try:
        await market.start()
        log.info("collecting from %s", ", ".join(market.hub.exchanges()))
        await stop.wait()
    finally:
        await market.stop()
        if database is not None:
            await database.dispose()
    return market


def serve_metrics(host: str, port: int) -> Callable[[], None]:
    """Serve /metrics on `host:port` (0: any free port, logged) in a thread; returns `stop`."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host)
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
