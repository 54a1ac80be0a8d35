"""Starting without the venues (offline, issue 11): one log line per venue per retry, with the
back-off delay; tracebacks only at debug level; /health says what to do in plain words.

The venues are pointed at a closed local port (refused at once, no DNS needed). The back-off
waits go through an injected sleep that records the delays and advances a virtual clock: no
real waiting.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptofeed.symbols import Symbols

from tests.server.fake_venues import TEST_JWT_SECRET, wait_for
from twapserver.app import create_app
from twapserver.collectors import Collectors
from twapserver.hub import MarketHub, health_hint
from twapserver.settings import Settings

OFFLINE_HINT = "no venue reachable: offline?"


@pytest.fixture(autouse=True)
def fresh_symbol_cache() -> Iterator[None]:
    Symbols.clear()
    yield
    Symbols.clear()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused at once


def offline_settings(tmp_path: Path, exchanges: dict[str, list[str]], **overrides: Any) -> Settings:
    port = closed_port()
    endpoints = {
        venue: {"ws_url": f"wss://127.0.0.1:{port}/{venue}", "rest_url": f"http://127.0.0.1:{port}"}
        for venue in exchanges
    }
    fields: dict[str, Any] = {
        "exchanges": exchanges,
        "venue_endpoints": endpoints,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        "jwt_secret": TEST_JWT_SECRET,
        "backfill_minutes": 0,
    }
    return Settings(**(fields | overrides))


class VirtualTime:
    """An injected back-off: records each wait, advances a clock by it, and after ``limit``
    waits blocks (the test has seen enough retries)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.delays: list[float] = []
        self.now = 0.0

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay
        if len(self.delays) >= self.limit:
            await asyncio.Event().wait()
        await asyncio.sleep(0)

    def clock(self) -> float:
        return self.now


async def run_until_waits(
    settings: Settings, limit: int, what: str
) -> tuple[MarketHub, VirtualTime]:
    """Run the collectors of `settings` on virtual time until they waited `limit` times."""
    hub = MarketHub()
    time = VirtualTime(limit=limit)
    collectors = Collectors(settings, hub, sleep=time.sleep, clock=time.clock)
    await collectors.start()
    try:
        await wait_for(lambda: len(time.delays) >= time.limit, what)
    finally:
        await collectors.stop()
    return hub, time


def venue_lines(records: list[logging.LogRecord], exchange: str) -> list[str]:
    return [r.getMessage() for r in records if r.getMessage().startswith(f"{exchange}: ")]


async def test_a_venue_that_cannot_start_logs_one_line_per_retry_with_its_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = offline_settings(
        tmp_path, {"binance": ["BTC-USDT"], "coinbase": ["BTC-USD"]}, feed_retry_s=4
    )
    with caplog.at_level(logging.DEBUG):
        hub, time = await run_until_waits(settings, 8, "8 retries")

    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    # Every failed attempt: one line, then one wait; the 8th wait never ends.
    assert len(loud) == len(time.delays)
    assert all(r.exc_info is None and "Traceback" not in r.getMessage() for r in loud)
    delays = ("1 s", "2 s", "4 s", "4 s", "4 s", "4 s", "4 s")
    for venue in ("binance", "coinbase"):
        lines = venue_lines(loud, venue)
        expected = [
            f"{venue}: cannot connect (Connection refused); retrying in {d}" for d in delays
        ]
        assert len(lines) >= 2, lines
        assert lines == expected[: len(lines)]
    # The traceback is still there for who asks for it.
    assert any(r.levelno == logging.DEBUG and r.exc_info for r in caplog.records)
    assert health_hint(hub) is not None and health_hint(hub).startswith(OFFLINE_HINT)  # type: ignore[union-attr]


async def test_a_lost_websocket_logs_one_line_per_retry_with_its_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Symbols known from an earlier start: the feed starts, its WebSocket cannot connect.
    Symbols.set("BINANCE", {"BTC-USDT": "BTCUSDT"}, {})
    settings = offline_settings(tmp_path, {"binance": ["BTC-USDT"]}, feed_reconnect_max_s=2)
    with caplog.at_level(logging.INFO):
        hub, _ = await run_until_waits(settings, 5, "5 reconnect attempts")

    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in loud] == [
        f"binance: cannot connect (Connection refused); retrying in {delay}"
        for delay in ("0.5 s", "1 s", "2 s", "2 s", "2 s")
    ]
    assert all(r.exc_info is None for r in loud)
    assert hub.health("binance", "BTC-USDT").last_error == "cannot connect (Connection refused)"


async def test_health_says_what_to_do_when_no_venue_is_reachable(tmp_path: Path) -> None:
    settings = offline_settings(
        tmp_path, {"binance": ["BTC-USDT"], "kraken": ["BTC-USD"]}, feed_retry_s=600
    )
    app = create_app(settings, run_engine=False)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twap") as http:
            health = (await http.get("/health")).json()

    assert health["status"] == "degraded"
    assert health["hint"].startswith(OFFLINE_HINT)
    assert "make demo" in health["hint"]
    assert [f["last_error"] for f in health["feeds"]] == ["cannot connect (Connection refused)"] * 2


def test_health_names_the_unreachable_venue_when_others_are_served() -> None:
    from twapserver.hub import InstrumentInfo

    hub = MarketHub()
    for market in (("binance", "BTC-USDT"), ("kraken", "BTC-USD")):
        hub.register(InstrumentInfo(*market))
    hub.on_connect("binance", ["BTC-USDT"])
    hub.on_feed_error("kraken", "BTC-USD", "cannot connect (Name or service not known)")

    assert health_hint(hub) == "kraken unreachable, retrying; the other venues are served"
