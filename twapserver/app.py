"""`create_app(settings)`: builds the FastAPI application; nothing global at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from twapserver.api import public
from twapserver.db.candles import upsert_candles
from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database
from twapserver.demo import DEMO_RECORDING, register_recording, replay_forever
from twapserver.hub import MarketHub
from twapserver.settings import Settings

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


def create_app(settings: Settings | None = None) -> FastAPI:
    """The twap server for `settings` (default: from the `TWAP_` environment)."""
    settings = settings or Settings()
    hub = MarketHub(max_book_age_s=settings.max_book_age_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await upgrade_database(settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.sessions = make_sessionmaker(engine)
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
        tasks.append(asyncio.create_task(_flush_candles_forever(app)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if collectors is not None:
                await collectors.stop()
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
    app.include_router(public.router)
    return app
