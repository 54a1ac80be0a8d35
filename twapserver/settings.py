"""Server settings, from the environment (prefix `TWAP_`) or passed to `create_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from twapcore import normalize_exchange, normalize_symbol

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
    feed_retry_s: float = Field(30.0, gt=0, description="Retry a venue that failed to start.")
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
        "the venue's REST (Binance, Kraken; Kraken caps at 720) where the server has none; "
        "0 disables.",
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
        8, ge=1, description="Messages queued per /ws connection before books are dropped."
    )
    # -- end websocket --
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
