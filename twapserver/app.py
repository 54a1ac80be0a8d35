"""`create_app(settings)`: builds the FastAPI application; nothing global at import time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from twapserver.api import auth, orders, public
from twapserver.api.errors import install_error_handlers
from twapserver.auth import make_token_codec
from twapserver.backfill import BackfillStatus, run_backfill
from twapserver.bus.memory import MemoryOrderEvents
from twapserver.db.candles import upsert_candles
from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database
from twapserver.demo import DEMO_RECORDING, register_recording, replay_forever
from twapserver.hub import MarketHub
from twapserver.orders.engine import Engine
from twapserver.recorder import recorder_for
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait
from twapserver.ws import Broadcaster
from twapserver.ws import router as ws_router

__all__ = ["create_app"]

log = logging.getLogger("twapserver")

CANDLE_FLUSH_S = 1.0


async def _flush_candles_forever(app: FastAPI) -> None:
    while True:
        await asyncio.sleep(CANDLE_FLUSH_S)
        await flush_candles(app)


async def flush_candles(app: FastAPI) -> int:
    """Persist candles the hub closed (or amended) since the last flush."""
    closed = app.state.hub.take_closed_candles()
    if not closed:
        return 0
    async with app.state.sessions() as session, session.begin():
        return await upsert_candles(session, closed)


def create_app(
    settings: Settings | None = None,
    clock: Callable[[], int] = time.time_ns,
    run_engine: bool = True,
) -> FastAPI:
    """The twap server for `settings` (default: from the `TWAP_` environment).

    `clock` (ns since the epoch) drives order timing; tests inject one, and pass
    `run_engine=False` to execute due slices themselves with `app.state.engine.run_due`.
    """
    settings = settings or Settings()
    # Before anything starts: raises InsecureSecretError (naming TWAP_JWT_SECRET)
    # for a missing, default or short secret outside demo mode.
    tokens = make_token_codec(settings)
    hub = MarketHub(max_book_age_s=settings.max_book_age_s)
    broadcaster = Broadcaster(hub, settings.ws_book_interval_s)  # WS /ws

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await upgrade_database(settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.sessions = make_sessionmaker(engine)
        app.state.engine = Engine(app.state.sessions, hub, clock)
        tasks: list[asyncio.Task[None]] = []
        collectors = None
        if settings.demo:
            recording = settings.demo_recording or DEMO_RECORDING
            register_recording(hub, recording)
            tasks.append(asyncio.create_task(replay_forever(hub, recording, settings.demo_speed)))
        elif settings.collect:
            from twapserver.collectors import Collectors  # cryptofeed only when collecting

            collectors = Collectors(settings, hub)
            await collectors.start()
            # -- candle backfill: after start(), so cryptofeed's symbol cache is loaded --
            if settings.backfill_minutes > 0:
                status = app.state.backfill_status
                backfill = run_backfill(settings, app.state.sessions, hub, status, clock)
                tasks.append(asyncio.create_task(backfill))  # cancelled on shutdown below

                def backfill_late_venue(exchange: str, symbols: list[str]) -> None:
                    # A venue unreachable at start: backfill it once its feed is up.
                    for symbol in symbols:
                        status.errors.pop((exchange, symbol), None)
                    only = settings.model_copy(update={"exchanges": {exchange: symbols}})
                    late = run_backfill(only, app.state.sessions, hub, status, clock)
                    tasks.append(asyncio.create_task(late))

                collectors.late_start_listeners.append(backfill_late_venue)
            # -- end candle backfill --
        # Recording (TWAP_RECORD_DIR): after the feeds registered their instruments.
        recorder = recorder_for(settings, hub)
        if recorder is not None:
            log.info("recording to %s", recorder.start())
        tasks.append(asyncio.create_task(_flush_candles_forever(app)))
        await app.state.engine.start(run=run_engine)
        broadcaster.start(app.state.engine)  # WS /ws: book fan-out and order updates
        try:
            yield
        finally:
            await broadcaster.stop()  # WS /ws: stop the fan-out, close sockets with 1001
            await app.state.engine.stop()
            await cancel_and_wait(*tasks)
            if collectors is not None:
                await collectors.stop()
            if recorder is not None:
                await recorder.stop()
            await flush_candles(app)
            await engine.dispose()

    app = FastAPI(
        title="twap",
        version="0.1.0",
        description=(
            "Crypto market data and TWAP paper trading on real order books. "
            "Public routes need no authentication."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.hub = hub
    app.state.ws = broadcaster
    app.state.tokens = tokens
    # Order traffic between API and engine (memory:// in one process; see twapserver.bus).
    app.state.order_events = MemoryOrderEvents()
    # What the candle backfill did ("off" unless collecting with backfill_minutes > 0).
    app.state.backfill_status = BackfillStatus()
    # Seconds since the epoch for token iat/exp; tests swap it to expire tokens.
    app.state.token_clock = time.time
    install_error_handlers(app)
    app.include_router(public.router)
    app.include_router(auth.router)
    app.include_router(orders.router)
    app.include_router(ws_router)
    return app
