"""`create_app(settings)`: builds the FastAPI application; nothing global at import time.

It serves the `all` role (everything in one process, `twapserver run`) and the `api`
role (REST + /ws beside separate collect and engine processes; see twapserver.roles).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from twapserver.api import auth, charts, orders, public
from twapserver.api.errors import install_error_handlers
from twapserver.api.http import install_http_middlewares
from twapserver.auth import make_token_codec
from twapserver.backfill import BackfillStatus
from twapserver.bus import order_events_for
from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database
from twapserver.metrics import exposition
from twapserver.orders.engine import engine_for
from twapserver.orders.service import order_service
from twapserver.roles import MarketRole, check_role, new_market
from twapserver.settings import Settings
from twapserver.ui import install_ui
from twapserver.ws import Broadcaster
from twapserver.ws import router as ws_router

__all__ = ["create_app", "create_app_from_env"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def create_app_from_env() -> FastAPI:
    """The app for the `TWAP_` environment: the factory uvicorn workers import
    (`twapserver.app:create_app_from_env`, factory=True)."""
    return create_app(Settings())


def create_app(
    settings: Settings | None = None,
    clock: Callable[[], int] = time.time_ns,
    run_engine: bool = True,
) -> FastAPI:
    """The twap server for `settings` (default: from the `TWAP_` environment).

    `settings.role` is `all` (default: collectors, engine, REST and /ws in this
    process) or `api` (REST and /ws only; market data and order updates come from
    the bus). `clock` (ns since the epoch) drives order timing; tests inject one,
    and pass `run_engine=False` to execute due slices themselves with
    `app.state.engine.run_due`.
    """
    settings = settings or Settings()
    if settings.role not in ("all", "api"):
        raise ValueError(f"create_app serves the all and api roles, not {settings.role!r}")
    # Before anything starts: raises RoleError for a role that cannot work here, and
    # InsecureSecretError (naming TWAP_JWT_SECRET) for a missing, default or short
    # secret outside demo mode.
    check_role(settings)
    tokens = make_token_codec(settings)
    hub = new_market(settings)  # the collected hub, or (api) a view of the bus
    order_events = order_events_for(settings)
    broadcaster = Broadcaster(hub, settings, clock)  # WS /ws

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await upgrade_database(settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.sessions = make_sessionmaker(engine)
        await order_events.start()
        market = MarketRole(settings, hub, app.state.sessions, clock, app.state.backfill_status)
        await market.start()
        app.state.orders = order_service(settings, app.state.sessions, order_events, clock)
        # The engine publishes its committed updates on the bus itself (api role: none here).
        app.state.engine = None
        if settings.role == "all":
            app.state.engine = engine_for(settings, app.state.sessions, hub, order_events, clock)
            await app.state.engine.start(run=run_engine)
        broadcaster.start(order_events)  # WS /ws: book fan-out and order updates from the bus
        try:
            yield
        finally:
            await broadcaster.stop()  # WS /ws: stop the fan-out, close sockets with 1001
            if app.state.engine is not None:
                await app.state.engine.stop()
            await market.stop()
            await order_events.stop()
            await engine.dispose()

    app = FastAPI(
        title="twap",
        version="0.1.0",
        description=(
            "Crypto market data and TWAP paper trading on real order books. "
            "Public routes need no authentication."
        ),
        lifespan=lifespan,
        # /docs and /redoc come from twapserver.ui, on vendored assets (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.hub = hub
    app.state.ws = broadcaster
    app.state.tokens = tokens
    # Order traffic between API and engine (TWAP_BUS_URL; see twapserver.bus).
    app.state.order_events = order_events
    # What the candle backfill did ("off" unless collecting with backfill_minutes > 0).
    app.state.backfill_status = BackfillStatus()
    # Seconds since the epoch for token iat/exp; tests swap it to expire tokens.
    app.state.token_clock = time.time
    install_error_handlers(app)
    install_http_middlewares(app)  # 413/422 bodies, catch-all 500, HEAD, security headers
    app.include_router(public.router)
    app.include_router(auth.router)
    app.include_router(orders.router)
    app.include_router(orders.algorithms_router)
    app.include_router(charts.router)  # GET /orders/{token_id}/chart.png
    app.include_router(ws_router)
    install_ui(app)  # /docs, /redoc, the /ui dashboard and its static assets

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics of this process (text exposition format)."""
        return Response(exposition(), media_type=PROMETHEUS_TEXT)

    return app
