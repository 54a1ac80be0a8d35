"""Server settings, from the environment (prefix `TWAP_`) or passed to `create_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from twapcore import normalize_exchange, normalize_symbol
from twapserver.ratelimit import RateLimit

DEFAULT_JWT_SECRET = "change-me"

__all__ = ["DEFAULT_JWT_SECRET", "Settings", "VenueEndpoints"]


class VenueEndpoints(BaseModel):
    """Where a venue's feed connects instead of its production URLs (a local fake exchange)."""

    ws_url: str = Field(description="wss:// address of the venue's WebSocket")
    rest_url: str = Field(description="http(s):// base of the venue's REST API")


class Settings(BaseSettings):
    """Everything the server needs to know; see the README for the variables."""

    model_config = SettingsConfigDict(env_prefix="TWAP_", env_nested_delimiter="__")

    exchanges: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "binance": ["BTC-USDT", "ETH-USDT"],
            "kraken": ["BTC-USDT", "ETH-USDT"],
        },
        description="Venues (any cryptofeed exchange id) and the symbols to collect on each.",
    )
    database_url: str = "sqlite+aiosqlite:///./twap.db"
    max_book_age_s: float = Field(5.0, gt=0, description="Older books are stale.")
    book_depth: int = Field(20, ge=1, le=1000, description="Levels kept per side in snapshots.")
    collect: bool = Field(True, description="Run the cryptofeed collectors in this process.")
    demo: bool = Field(False, description="Replay bundled recordings instead of live feeds.")
    demo_recording: Path | None = Field(None, description="Recording replayed in demo mode.")
    demo_speed: float = Field(1.0, gt=0, description="Replay speed in demo mode (2 = twice).")
    feed_retry_s: float = Field(
        30.0,
        gt=0,
        description="A venue that failed to start is retried after 1 s, doubling up to this.",
    )
    record_dir: Path | None = Field(None, description="Write recordings of collected data here.")
    record_every_ms: int = Field(100, ge=1, description="Book recording cadence per symbol.")
    venue_endpoints: dict[str, VenueEndpoints] = Field(
        default_factory=dict, description="Per-venue endpoint overrides (tests, demos)."
    )
    venue_ca_file: Path | None = Field(
        None, description="Extra CA certificate (PEM) trusted for venue WebSockets."
    )
    # -- candle backfill (twapserver/backfill.py) --
    backfill_minutes: int = Field(
        600,
        ge=0,
        description="On start, fetch this many recent 1m candles per collected symbol from "
        "the venue's REST (cryptofeed's REST candles: Binance, Coinbase, Bitstamp, …; Kraken "
        "from its venue file, capped at 720) where the server has none or a partial one (again "
        "every 60 s for markets with partial candles); 0 disables.",
    )
    # -- end candle backfill --
    # -- websocket /ws (twapserver/ws) --
    ws_auth_timeout_s: float = Field(
        10.0, gt=0, description="A /ws client must authenticate within this many seconds."
    )
    ws_book_interval_s: float = Field(
        1.0, gt=0, description="Seconds between two top-10 book messages of a symbol on /ws."
    )
    ws_send_queue: int = Field(
        8, ge=1, description="Book messages queued per /ws connection before books are dropped."
    )
    ws_max_message_bytes: int = Field(
        4096,
        ge=256,
        le=1 << 20,
        description="Largest /ws client message in bytes (before and after auth); longer: 1009.",
    )
    ws_max_unauthenticated: int = Field(
        256, ge=1, description="Open /ws connections not yet authenticated; more close 1013."
    )
    ws_max_subscriptions: int = Field(
        64, ge=1, description="Subscriptions (books + orders) one /ws connection may hold."
    )
    ws_reply_queue: int = Field(
        16,
        ge=1,
        description="Replies (pong, acks, errors) waiting per /ws connection before the server "
        "stops reading that client's requests until it reads its replies.",
    )
    ws_order_backlog: int = Field(
        1024,
        ge=2,
        description="Orders with an update waiting per /ws connection (latest per order); "
        "more means the client does not read: it is closed 1013.",
    )
    ws_idle_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A /ws client that takes none of the data waiting for it for this long is "
        "closed 4408.",
    )
    # -- end websocket --
    # -- H-bus: roles and the bus (twapserver/bus, twapserver/market, twapserver/roles.py) --
    role: Literal["all", "api", "engine", "collect"] = Field(
        "all",
        description="What this process runs: all (one process: collectors, engine, REST/WS), "
        "api (REST + /ws, market data from the bus), engine, or collect.",
    )
    bus_url: str = Field(
        "memory://",
        description="memory:// (every role in one process) or redis://host:port/db "
        "(roles as separate processes).",
    )
    bus_prefix: str = Field(
        "twap", min_length=1, description="Prefix of every Redis key and channel of the bus."
    )
    bus_book_every_ms: int = Field(
        100, ge=1, description="A market's book is published on the bus at most this often, ms."
    )
    # -- end H-bus --
    # -- H-auth: login, rate limits, account cache (twapserver/auth, twapserver/ratelimit.py) --
    login_concurrency: int = Field(
        2,
        ge=1,
        description="Password verifications (argon2: ~0.1 s of CPU and 64 MiB each) run at "
        "once; further logins wait for a slot.",
    )
    login_queue_timeout_s: float = Field(
        5.0, gt=0, description="A login that waits longer for a slot gets 503 with Retry-After."
    )
    auth_ip_limit: RateLimit = Field(
        RateLimit(burst=100, per_minute=600),
        description="Requests to /auth/token, /auth/refresh and /auth/register per client IP.",
    )
    auth_username_limit: RateLimit = Field(
        RateLimit(burst=20, per_minute=20),
        description="Requests to /auth/token, /auth/refresh and /auth/register per username.",
    )
    order_limit: RateLimit = Field(
        RateLimit(burst=1000, per_minute=60_000),
        description="POST /orders/twap per user.",
    )
    refresh_reuse_grace_s: float = Field(
        10.0,
        ge=0,
        description="A refresh token used again within this many seconds of its first use "
        "is a race of one client's requests (it gets a new pair too), not a theft.",
    )
    user_cache_ttl_s: float = Field(
        2.0,
        ge=0,
        description="Seconds an authenticated request may rely on a cached account (token "
        "version, disabled): a revocation by another process applies within this time.",
    )
    # -- end H-auth --
    # -- H-chaos --
    feed_silence_s: float = Field(
        30.0,
        gt=0,
        description="A venue WebSocket that receives nothing for this many seconds is reported "
        "in /health and reconnected (a venue that hangs with the socket open).",
    )
    feed_reconnect_max_s: float = Field(
        5.0,
        gt=0,
        description="Longest wait between two connection attempts to a venue that is down: "
        "the wait doubles from 0.5 s up to this, so a venue back up is reconnected within it.",
    )
    # -- end H-chaos --
    # -- H-engine: orders, engines and leases (twapserver/orders) --
    engine_lease_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="A dead engine's orders move to another engine within this time; "
        "engines renew their leases every quarter of it.",
    )
    engine_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="This engine's id in the orders table (default: host:pid:random).",
    )
    order_commit_window_ms: float = Field(
        1.0,
        ge=0,
        le=100,
        description="POST /orders/twap group commit: orders arriving within this window "
        "are inserted in one transaction.",
    )
    order_cancel_wait_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="DELETE /orders/{token_id} waits this long for the engine holding the "
        "order to apply the cancel, then answers 202 cancel_requested.",
    )
    # -- end H-engine --
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = Field(
        "HS256", description="HMAC algorithm signing the JWTs (the secret is symmetric)."
    )
    access_token_ttl_s: int = Field(900, gt=0, description="Access token lifetime, seconds.")
    refresh_token_ttl_s: int = Field(
        7 * 86400, gt=0, description="Refresh token lifetime, seconds."
    )
    allow_registration: bool = Field(
        False, description="Serve POST /auth/register (self-service sign-up)."
    )

    @field_validator("exchanges")
    @classmethod
    def _canonical_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {
            normalize_exchange(exchange): [normalize_symbol(s) for s in symbols]
            for exchange, symbols in value.items()
        }
