"""Demo mode: replay recordings through the hub as if they were live.

`twapserver run --demo` replays two bundled recordings side by side, Binance
BTC-USDT (twapcore's demo recording) and ten Kraken pairs (`data/kraken-demo.jsonl.gz`,
see its PROVENANCE.md), each in its own loop. Bundled recordings rather than the fake
exchange with the real collectors: the demo then starts in about a second, needs no
sockets and no cryptofeed start-up, and the same files drive `twap simulate --demo`.
Timestamps are shifted so the replayed books look fresh; at the end a replay starts
again (with a new shift), so a demo server never runs dry.

The demo keeps its own database (`twap-demo.db` for the default URL) so its replayed
candles and orders never show up in a live server, and gets a ready `demo` account.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twapcore import NS_PER_SECOND, iter_records
from twapcore.recording import (
    book_from_record,
    demo_recording,
    instrument_from_record,
    trade_from_record,
)
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.settings import Settings

__all__ = [
    "DEMO_RECORDINGS",
    "DEMO_USERNAME",
    "demo_banner",
    "demo_database_url",
    "ensure_demo_account",
    "register_recording",
    "replay_forever",
    "start_demo_replay",
]

KRAKEN_DEMO_RECORDING = Path(__file__).resolve().parent / "data" / "kraken-demo.jsonl.gz"
DEMO_RECORDINGS = (demo_recording(), KRAKEN_DEMO_RECORDING)
DEMO_USERNAME = "demo"
LIVE_DATABASE_URL = "sqlite+aiosqlite:///./twap.db"
DEMO_DATABASE_URL = "sqlite+aiosqlite:///./twap-demo.db"


def start_demo_replay(hub: MarketHub, settings: Settings) -> list[asyncio.Task[None]]:
    """Register the demo instruments in `hub` and start one replay loop per recording
    (`settings.demo_recording` alone when given, else `DEMO_RECORDINGS`)."""
    recordings = [settings.demo_recording] if settings.demo_recording else DEMO_RECORDINGS
    for recording in recordings:
        register_recording(hub, recording)
    return [
        asyncio.create_task(replay_forever(hub, recording, settings.demo_speed))
        for recording in recordings
    ]


def demo_database_url(database_url: str) -> str:
    """The demo's database: `twap-demo.db` instead of the live default `twap.db`; any
    URL chosen explicitly is kept."""
    return DEMO_DATABASE_URL if database_url == LIVE_DATABASE_URL else database_url


async def ensure_demo_account(database_url: str, clock: Callable[[], int] = time.time_ns) -> str:
    """Create the `demo` user on the (migrated) demo database, or give it a new password
    (revoking its old tokens); returns the password, random at every start."""
    from twapserver.auth import create_user, get_user_by_name
    from twapserver.auth.admin import change_password
    from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database

    password = secrets.token_urlsafe(12)
    await upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if await get_user_by_name(session, DEMO_USERNAME) is None:
                await create_user(session, DEMO_USERNAME, password, now_ns=clock())
                await session.commit()
            else:
                await change_password(session, DEMO_USERNAME, password)
    finally:
        await engine.dispose()
    return password


def demo_banner(base_url: str, password: str, database_url: str) -> str:
    """The one-screen text `twapserver run --demo` prints before it serves."""
    return "\n".join(
        [
            "twap demo: replaying Binance BTC-USDT and Kraken (10 pairs); no network needed",
            f"  dashboard   {base_url}/ui",
            f"  API docs    {base_url}/docs   (also {base_url}/redoc)",
            f"  account     user {DEMO_USERNAME}  password {password}   (new at every start)",
            f"  database    {database_url}   (demo only; live uses its own)",
            "  next:",
            f"    .venv/bin/twap login {base_url} {DEMO_USERNAME}",
            "    .venv/bin/twap exchanges",
            "    .venv/bin/twap submit --exchange binance --symbol BTC-USDT --side buy \\",
            "        --quantity 0.01 --limit-price 70000 --duration 60 --slices 6",
            "    .venv/bin/twap orders          (then: twap watch TOKEN_ID)",
            "  stop with Ctrl-C",
        ]
    )


def register_recording(hub: MarketHub, recording: Path) -> None:
    """Register every (exchange, symbol) the recording holds, with its lot and tick sizes."""
    seen: dict[tuple[str, str], InstrumentInfo] = {}
    for record in iter_records(recording):
        key = (record.get("exchange", ""), record.get("symbol", ""))
        if record["type"] == "instrument":
            seen[key] = instrument_from_record(record)
        elif record["type"] in ("book", "trade") and key not in seen:
            seen[key] = InstrumentInfo(*key)
    for info in seen.values():
        hub.register(info)


def _shifted(record: dict[str, Any], shift: int) -> dict[str, Any]:
    return {**record, "ts_event": record["ts_event"] + shift, "ts_recv": record["ts_recv"] + shift}


async def replay_forever(
    hub: MarketHub,
    recording: Path,
    speed: float = 1.0,
    clock: Callable[[], int] = time.time_ns,
) -> None:
    """Push the recording's books and trades into `hub` at `speed`× real time, looping."""
    while True:
        start_wall = clock()
        first_ts: int | None = None
        for record in iter_records(recording):
            kind = record["type"]
            if kind not in ("book", "trade"):
                continue
            if first_ts is None:
                first_ts = record["ts_recv"]
            offset = int((record["ts_recv"] - first_ts) / speed)
            delay = (start_wall + offset - clock()) / NS_PER_SECOND
            if delay > 0:
                await asyncio.sleep(delay)
            shifted = _shifted(record, start_wall + offset - record["ts_recv"])
            if kind == "book":
                hub.on_book(
                    shifted["exchange"],
                    shifted["symbol"],
                    lambda r=shifted: book_from_record(r),  # type: ignore[misc]
                    shifted["ts_recv"],
                )
            else:
                hub.on_trade(trade_from_record(shifted))
        await asyncio.sleep(0)
