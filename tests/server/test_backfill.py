"""Candle backfill from the venues' REST (`twapserver.backfill`).

Against the fake exchange, whose ``/api/v3/klines`` (fetched by cryptofeed's own REST candle
support) and ``/0/public/OHLC`` (read by ``twapserver/venues/kraken.py``: cryptofeed 2.4 has no
Kraken candles) answer candles of the captured trades, the stored candles must equal what ``twapcore.candles_from_trades`` makes
of the same trades, parsed independently of the fake: the cryptofeed captures by the plain
parse of ``fake_venues.capture_truth``, the hftbacktest BTCUSDT session by twapcore's
cryptofeed-driven converter. Failures are exercised against a closed port and a stub venue
answering garbage. No sleeps: the only wait is a bounded poll.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptofeed.symbols import Symbols
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.server.fake_venues import (
    capture_truth,
    cryptofeed_captures,
    fake_exchange,
    venue_settings,
    wait_for,
)
from twapcore import Candle, Trade, candles_from_trades
from twapcore.candles import INTERVALS
from twapcore.feeds.convert import convert_captures
from twapcore.recording import read_recording
from twapserver.app import create_app
from twapserver.backfill import (
    BackfillStatus,
    backfill_candles,
    partial_markets,
    repair_partial_candles,
    run_backfill,
)
from twapserver.db import fetch_candles, make_engine, make_sessionmaker, upgrade_database
from twapserver.db.candles import upsert_candles
from twapserver.fake_exchange import FakeExchange
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.roles import flush_candles, seed_candles
from twapserver.settings import Settings

MINUTE = INTERVALS["1m"]
WINDOW_MINUTES = 60
SECRET = "tests-secret-4f9c2b7e1d8a6053-not-for-production"

Key = tuple[str, str]


# -- the truth ----------------------------------------------------------------------------


@cache
def _btcusdt_trades(spot: Path) -> tuple[Trade, ...]:
    """The hftbacktest BTCUSDT trades, parsed by cryptofeed via twapcore's converter."""
    days = sorted(spot.glob("btcusdt_*.gz"))
    with tempfile.TemporaryDirectory() as folder:
        recording = Path(folder) / "btcusdt.jsonl"
        convert_captures(days, recording, depth=1, every_ns=3600 * 10**9)
        return tuple(t for t in read_recording(recording) if isinstance(t, Trade))


def capture_trades(shared_data: Path, market: Key) -> list[Trade]:
    if market == ("binance", "BTC-USDT"):
        spot = shared_data / "hftbacktest" / "spot"
        if not any(spot.glob("btcusdt_*.gz")):
            pytest.skip(f"hftbacktest captures not found in {spot}")
        trades: tuple[Trade, ...] = _btcusdt_trades(spot)
    else:
        trades = capture_truth(cryptofeed_captures(shared_data)).trades
    return [t for t in trades if (t.exchange, t.symbol) == market]


def expected_candles(trades: list[Trade], interval: str, start: int, end: int) -> list[Candle]:
    """The capture's candles of ``interval`` whose whole bucket lies in [start, end)."""
    length = INTERVALS[interval]
    return [
        c
        for c in candles_from_trades(trades, interval)
        if c.open_ns >= start and c.open_ns + length <= end
    ]


def server_candle(interval: str, open_ns: int, *ohlcv: str, partial: bool = False) -> Candle:
    """A BTC-USDT candle "built by the server": open, high, low, close, volume, then trades."""
    o, h, lo, c, v, trades = ohlcv
    return Candle(
        "binance",
        "BTC-USDT",
        interval,
        open_ns,
        Decimal(o),
        Decimal(h),
        Decimal(lo),
        Decimal(c),
        Decimal(v),
        int(trades),
        partial,
    )


def merged(interval: str, open_ns: int, minutes: list[Candle]) -> Candle:
    first, last = minutes[0], minutes[-1]
    return Candle(
        first.exchange,
        first.symbol,
        interval,
        open_ns,
        first.open,
        max(c.high for c in minutes),
        min(c.low for c in minutes),
        last.close,
        sum((c.volume for c in minutes), Decimal(0)),
        sum(c.trades for c in minutes),
    )


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_symbol_cache() -> Iterator[None]:
    Symbols.clear()  # cryptofeed caches symbols per exchange id, process-wide
    yield
    Symbols.clear()


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeExchange]:
    with fake_exchange(cryptofeed_captures(shared_data), speed=0) as running:
        yield running


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on a migrated database of each backend (SQLite; PostgreSQL when reachable)."""
    return make_sessionmaker(engine)


@pytest.fixture
async def sqlite_sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def settings_for(exchanges: dict[str, list[str]], rest_url: str, **overrides: Any) -> Settings:
    endpoints = {
        venue: {"ws_url": "wss://127.0.0.1:1/unused", "rest_url": rest_url} for venue in exchanges
    }
    fields: dict[str, Any] = {
        "exchanges": exchanges,
        "venue_endpoints": endpoints,
        "backfill_minutes": WINDOW_MINUTES,
        "jwt_secret": SECRET,
    }
    return Settings(**(fields | overrides))


async def stored(
    sessions: async_sessionmaker[AsyncSession], market: Key, interval: str
) -> list[Candle]:
    async with sessions() as session:
        return await fetch_candles(session, *market, interval, 100_000)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused at once


def window_after(trades: list[Trade]) -> tuple[int, int, int]:
    """(now_ns, window start, window end) with every trade's minute closed inside the window."""
    last = max(t.ts_event for t in trades)
    end = last - last % MINUTE + 2 * MINUTE
    return end + 7 * 10**9, end - WINDOW_MINUTES * MINUTE, end


# -- candles from the fake venue ---------------------------------------------------------

CASES = {
    "binance-hftbacktest": ("binance", ["BTC-USDT"]),
    "binance-cryptofeed": ("binance", ["NKN-USDT", "LRC-BTC", "RUNE-EUR"]),
    "kraken": ("kraken", ["XMR-USD", "SC-EUR", "BTC-CHF"]),  # BTC-CHF: no trades captured
}


@pytest.mark.parametrize("case", list(CASES))
async def test_backfill_stores_the_capture_candles_and_their_roll_ups(
    case: str, fake: FakeExchange, sessions: async_sessionmaker[AsyncSession], shared_data: Path
) -> None:
    exchange, symbols = CASES[case]
    trades = {(exchange, s): capture_trades(shared_data, (exchange, s)) for s in symbols}
    now, start, end = window_after([t for ts in trades.values() for t in ts])
    status = BackfillStatus()

    result = await backfill_candles(
        settings_for({exchange: symbols}, fake.rest_url), sessions, None, now, status
    )

    assert status.errors == {}
    assert status.state == "done"
    assert result == {
        market: len(expected_candles(t, "1m", start, end)) for market, t in trades.items()
    }
    for market, market_trades in trades.items():
        for interval in INTERVALS:
            assert await stored(sessions, market, interval) == expected_candles(
                market_trades, interval, start, end
            ), f"{market} {interval}"
    if case == "binance-hftbacktest":  # 11 minutes of trades: two whole 5m buckets
        assert len(await stored(sessions, ("binance", "BTC-USDT"), "5m")) >= 2


async def test_the_servers_own_candles_are_never_overwritten(
    fake: FakeExchange, sessions: async_sessionmaker[AsyncSession], shared_data: Path
) -> None:
    market = ("binance", "BTC-USDT")
    trades = capture_trades(shared_data, market)
    now, start, end = window_after(trades)
    venue = {c.open_ns: c for c in expected_candles(trades, "1m", start, end)}
    five = expected_candles(trades, "5m", start, end)
    # Buckets 1 and 2 have trades in every minute (bucket 0 only in its last ones).
    first_bucket, second_bucket = five[1].open_ns, five[2].open_ns
    # What the server built from its own trades (values no venue candle has).
    own_minute = server_candle("1m", first_bucket + MINUTE, "1", "2", "1", "2", "5", "7")
    own_five = server_candle("5m", second_bucket, "3", "4", "3", "3", "9", "9")
    async with sessions() as session, session.begin():
        await upsert_candles(session, [own_minute, own_five])
    settings = settings_for({"binance": ["BTC-USDT"]}, fake.rest_url)

    first = await backfill_candles(settings, sessions, None, now)
    again = await backfill_candles(settings, sessions, None, now)

    assert first == {market: len(venue) - 1}
    assert again == {market: 0}
    minutes = await stored(sessions, market, "1m")
    assert minutes == sorted({**venue, own_minute.open_ns: own_minute}.values(), key=_open)
    fives = {c.open_ns: c for c in await stored(sessions, market, "5m")}
    assert fives[second_bucket] == own_five  # stored before: kept
    # The first bucket is rolled up from the stored minutes: the server's own among them.
    in_first = [c for c in minutes if first_bucket <= c.open_ns < first_bucket + 5 * MINUTE]
    assert own_minute in in_first
    assert fives[first_bucket] == merged("5m", first_bucket, in_first)
    assert fives[first_bucket] != five[1]


async def test_the_minute_the_hub_is_building_is_left_to_it(
    fake: FakeExchange, sessions: async_sessionmaker[AsyncSession], shared_data: Path
) -> None:
    market = ("binance", "BTC-USDT")
    trades = capture_trades(shared_data, market)
    now, start, _ = window_after(trades)
    live = trades[-1]  # the hub is building the last captured minute
    hub = MarketHub()
    hub.register(InstrumentInfo(*market))
    hub.on_trade(live)
    live_minute = live.ts_event - live.ts_event % MINUTE

    result = await backfill_candles(
        settings_for({"binance": ["BTC-USDT"]}, fake.rest_url), sessions, hub, now
    )

    expected = expected_candles(trades, "1m", start, live_minute)
    assert result == {market: len(expected)}
    assert await stored(sessions, market, "1m") == expected
    assert all(
        c.open_ns + INTERVALS["5m"] <= live_minute for c in await stored(sessions, market, "5m")
    )


async def test_a_minute_seeded_after_a_restart_does_not_hold_the_window_back(
    fake: FakeExchange, sessions: async_sessionmaker[AsyncSession], shared_data: Path
) -> None:
    # A restart seeds the newest stored minute as the open one; hours may have passed.
    market = ("binance", "BTC-USDT")
    trades = capture_trades(shared_data, market)
    now, start, end = window_after(trades)
    first = trades[0]
    seeded = Candle(*market, "1m", first.ts_event - first.ts_event % MINUTE, *[first.price] * 4,
                    first.qty, 1)  # fmt: skip
    hub = MarketHub()
    hub.seed_candles([seeded])
    hub.register(InstrumentInfo(*market))
    assert hub.open_candle(*market, "1m") == seeded

    result = await backfill_candles(
        settings_for({"binance": ["BTC-USDT"]}, fake.rest_url), sessions, hub, now
    )

    # The whole window up to now is fetched (before: it ended at the seeded minute).
    expected = expected_candles(trades, "1m", start, end)
    assert result == {market: len(expected)} and len(expected) > 1
    assert await stored(sessions, market, "1m") == expected


# -- partial candles ----------------------------------------------------------------------


async def test_only_partial_candles_are_replaced_roll_ups_included(
    fake: FakeExchange, sessions: async_sessionmaker[AsyncSession], shared_data: Path
) -> None:
    market = ("binance", "BTC-USDT")
    trades = capture_trades(shared_data, market)
    now, start, end = window_after(trades)
    venue = {c.open_ns: c for c in expected_candles(trades, "1m", start, end)}
    five = expected_candles(trades, "5m", start, end)
    first_bucket, second_bucket = five[1].open_ns, five[2].open_ns
    whole = server_candle("1m", first_bucket, "1", "2", "1", "2", "5", "7")
    partial = server_candle("1m", first_bucket + MINUTE, "1", "2", "1", "2", "5", "7", partial=True)
    whole_five = server_candle("5m", second_bucket, "3", "4", "3", "3", "9", "9")
    partial_five = server_candle("5m", first_bucket, "3", "4", "3", "3", "9", "9", partial=True)
    async with sessions() as session, session.begin():
        await upsert_candles(session, [whole, partial, whole_five, partial_five])

    result = await backfill_candles(
        settings_for({"binance": ["BTC-USDT"]}, fake.rest_url), sessions, None, now
    )

    assert result == {market: len(venue) - 1}  # every minute but the whole one: one replaced
    minutes = {c.open_ns: c for c in await stored(sessions, market, "1m")}
    assert minutes == {**venue, whole.open_ns: whole}
    fives = {c.open_ns: c for c in await stored(sessions, market, "5m")}
    assert fives[second_bucket] == whole_five
    in_first = [minutes[t] for t in sorted(minutes) if first_bucket <= t < second_bucket]
    assert fives[first_bucket] == merged("5m", first_bucket, in_first)  # rolled up again
    assert not fives[first_bucket].partial


def _before(trades: list[Trade], ts_ns: int) -> list[Trade]:
    return [t for t in trades if t.ts_event < ts_ns]


async def _serve(
    sessions: async_sessionmaker[AsyncSession], now_ns: int, trades: list[Trade], end: str
) -> MarketHub:
    """One server life on BTC-USDT from `now_ns`: seed, trades, then store as at `end`:
    "stop" (graceful: the open candles too), "crash" (only what the periodic flush stored) or
    "running" (the periodic flush, and the hub goes on)."""
    hub = MarketHub()
    await seed_candles(hub, sessions, now_ns)
    hub.register(InstrumentInfo("binance", "BTC-USDT"))
    for trade in trades:
        hub.on_trade(trade)
    await flush_candles(hub, sessions, open_too=end == "stop")
    return hub


def _in_window(candles: list[Candle], start: int, end: int) -> list[Candle]:
    return [c for c in candles if c.open_ns >= start and c.open_ns + INTERVALS[c.interval] <= end]


@pytest.mark.parametrize("end", ["stop", "crash"])
async def test_after_a_stop_or_crash_mid_minute_the_backfill_makes_every_candle_whole(
    end: str, fake: FakeExchange, sessions: async_sessionmaker[AsyncSession], shared_data: Path
) -> None:
    market = ("binance", "BTC-USDT")
    trades = capture_trades(shared_data, market)
    now, start, window_end = window_after(trades)
    bucket = expected_candles(trades, "5m", start, window_end)[1].open_ns  # trades every minute
    cut = bucket + 2 * MINUTE + 20 * 10**9  # the server ends 20 s into the bucket's third minute
    await _serve(sessions, _before(trades, cut)[0].ts_event, _before(trades, cut), end)
    truth = {i: expected_candles(trades, i, start, window_end) for i in INTERVALS}
    minutes = {c.open_ns: c for c in await stored(sessions, market, "1m")}
    if end == "stop":  # stored, but without the minute's last 40 s
        whole = {c.open_ns: c for c in truth["1m"]}[cut - 20 * 10**9]
        assert minutes[whole.open_ns].partial and minutes[whole.open_ns].volume < whole.volume
    else:  # the open minute was lost, the bucket's roll-up stored as it was then
        assert cut - 20 * 10**9 not in minutes
        assert {c.open_ns: c for c in await stored(sessions, market, "5m")}[bucket].partial

    await backfill_candles(
        settings_for({"binance": ["BTC-USDT"]}, fake.rest_url), sessions, None, now
    )

    for interval in INTERVALS:
        got = _in_window(await stored(sessions, market, interval), start, window_end)
        assert got == truth[interval], interval  # values and partial=False
    assert await partial_markets(settings_for({"binance": ["BTC-USDT"]}, fake.rest_url),
                                 sessions, None, now) == {}  # fmt: skip


async def test_a_minute_continued_across_a_restart_is_replaced_once_it_closed(
    fake: FakeExchange, sessions: async_sessionmaker[AsyncSession], shared_data: Path
) -> None:
    market = ("binance", "BTC-USDT")
    trades = capture_trades(shared_data, market)
    _, start, window_end = window_after(trades)
    bucket = expected_candles(trades, "5m", start, window_end)[1].open_ns
    minute = bucket + 2 * MINUTE
    stop, restart = minute + 20 * 10**9, minute + 40 * 10**9
    first_life = _before(trades, stop)
    second_life = [t for t in _before(trades, minute + 2 * MINUTE) if t.ts_event >= restart]
    assert [t for t in trades if stop <= t.ts_event < restart], "no trade in the restart gap"
    settings = settings_for({"binance": ["BTC-USDT"]}, fake.rest_url)
    await _serve(sessions, first_life[0].ts_event, first_life, "stop")

    hub = await _serve(sessions, restart, [], "running")
    # The start's backfill: the first life's first minute (partial: trades before it started
    # went unseen) is replaced; the minute being continued is not closed yet.
    assert await backfill_candles(settings, sessions, hub, restart) == {market: 1}
    for trade in second_life:  # the rest of the minute, then the next: it closes
        hub.on_trade(trade)
    await flush_candles(hub, sessions)
    continued = {c.open_ns: c for c in await stored(sessions, market, "1m")}[minute]
    truth = {c.open_ns: c for c in expected_candles(trades, "1m", start, window_end)}[minute]
    assert continued.partial and continued.volume < truth.volume  # the gap's trades are missing
    later = minute + MINUTE + 30 * 10**9

    assert await partial_markets(settings, sessions, hub, later) == {"binance": ["BTC-USDT"]}
    await repair_partial_candles(settings, sessions, hub, later)

    assert {c.open_ns: c for c in await stored(sessions, market, "1m")}[minute] == truth
    assert await partial_markets(settings, sessions, hub, later) == {}


async def test_a_repair_pass_without_partial_candles_asks_no_venue(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    # A whole minute, and a partial one older than the window: nothing the venue could fix.
    now = 10**18
    whole = server_candle("1m", now - now % MINUTE - 5 * MINUTE, "1", "1", "1", "1", "1", "1")
    old = server_candle("1m", now - 2 * WINDOW_MINUTES * MINUTE, "1", "1", "1", "1", "1", "1",
                        partial=True)  # fmt: skip
    async with sqlite_sessions() as session, session.begin():
        await upsert_candles(session, [whole, old])
    settings = settings_for({"binance": ["BTC-USDT"]}, f"http://127.0.0.1:{closed_port()}")
    status = BackfillStatus()

    await run_backfill(settings, sqlite_sessions, MarketHub(), status, lambda: now, repair=True)

    assert (status.state, status.errors, status.finished_ns) == ("off", {}, None)


# -- failures -----------------------------------------------------------------------------


async def test_an_unreachable_venue_is_recorded_not_raised(
    sqlite_sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    # Binance with cryptofeed's symbols cached (fails at klines); Coinbase without (fails at
    # its instruments call); HitBTC has no REST candles in cryptofeed: skipped.
    Symbols.set("BINANCE", {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT"}, {})
    exchanges = {
        "binance": ["BTC-USDT", "ETH-USDT"],
        "hitbtc": ["XMR-USD"],
        "coinbase": ["BTC-USD"],
    }
    settings = settings_for(exchanges, f"http://127.0.0.1:{closed_port()}")
    status = BackfillStatus()

    with caplog.at_level(logging.WARNING, logger="twapserver.backfill"):
        result = await backfill_candles(settings, sqlite_sessions, None, 10**18, status)

    markets = [("binance", "BTC-USDT"), ("binance", "ETH-USDT"), ("coinbase", "BTC-USD")]
    assert result == dict.fromkeys(markets, 0)
    assert sorted(status.errors) == markets
    assert set(status.errors.values()) == {"unreachable: Connection refused"}
    assert status.skipped == [("hitbtc", "XMR-USD")]
    assert status.state == "done"
    # One line per venue: Binance's second symbol is not tried against a dead venue.
    assert len(caplog.records) == 2
    assert all(r.exc_info is None for r in caplog.records)
    view = status.as_dict()
    assert [m["error"] is not None for m in view["markets"]] == [True, True, True, False]
    assert [m["skipped"] for m in view["markets"]] == [False, False, False, True]


async def test_a_venue_without_rest_candles_is_said_once_and_shown_skipped(
    sqlite_sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for({"hitbtc": ["XMR-USD", "BTC-USD"]}, "http://127.0.0.1:1")
    status = BackfillStatus()

    with caplog.at_level(logging.INFO, logger="twapserver.backfill"):
        first = await backfill_candles(settings, sqlite_sessions, None, 10**18, status)
        again = await backfill_candles(settings, sqlite_sessions, None, 10**18, status)

    assert first == again == {}
    assert status.skipped == [("hitbtc", "XMR-USD"), ("hitbtc", "BTC-USD")]
    assert status.errors == {}
    (said,) = [r.getMessage() for r in caplog.records]
    assert said == "no candle backfill for hitbtc: cryptofeed has no REST candles for it"


@contextlib.asynccontextmanager
async def stub_venue() -> AsyncIterator[str]:
    """A venue answering every kind of unusable candle response; yields its base URL."""

    async def klines(request: web.Request) -> web.Response:
        symbol = request.query["symbol"]
        if symbol == "ETHUSDT":
            return web.Response(status=500, text="boom")
        bodies = {
            "BTCUSDT": "not json",
            "NKNUSDT": '[[1633998480000, "x", "1", "1", "1", "1", 1633998539999, "1", 1]]',
            "LRCBTC": '{"code": 0}',
            # not on a minute
            "RUNEEUR": '[[1633998481000, "1", "1", "1", "1", "1", 1633998539999, "1", 1]]',
        }
        return web.Response(text=bodies[symbol], content_type="application/json")

    app = web.Application()
    app.add_routes([web.get("/api/v3/klines", klines)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_http_errors_and_malformed_bodies_are_recorded_per_symbol(
    sqlite_sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    binance = ["BTC-USDT", "ETH-USDT", "NKN-USDT", "LRC-BTC", "RUNE-EUR", "DOGE-USDT"]
    Symbols.set("BINANCE", {s: s.replace("-", "") for s in binance[:-1]}, {})
    status = BackfillStatus()

    async with stub_venue() as url:
        settings = settings_for({"binance": binance}, url)
        with caplog.at_level(logging.WARNING):
            result = await backfill_candles(settings, sqlite_sessions, None, 10**18, status)

    assert set(result.values()) == {0}
    errors = status.errors
    assert errors[("binance", "BTC-USDT")].startswith("malformed candles from binance")
    assert "not json" in errors[("binance", "BTC-USDT")]
    assert errors[("binance", "ETH-USDT")] == "HTTP 500 Internal Server Error: boom"
    assert "InvalidOperation" in errors[("binance", "NKN-USDT")]
    assert '{"code": 0}' in errors[("binance", "LRC-BTC")]
    assert "not on a minute" in errors[("binance", "RUNE-EUR")]
    assert errors[("binance", "DOGE-USDT")] == "DOGE-USDT is not listed on binance"
    # One warning per symbol, and nothing from cryptofeed's own HTTP error logging.
    assert [r.name for r in caplog.records] == ["twapserver.backfill"] * 6
    assert await stored(sqlite_sessions, ("binance", "RUNE-EUR"), "1m") == []


async def test_zero_minutes_disables_the_backfill(
    sqlite_sessions: async_sessionmaker[AsyncSession],
) -> None:
    settings = settings_for(
        {"binance": ["BTC-USDT"]}, f"http://127.0.0.1:{closed_port()}", backfill_minutes=0
    )
    status = BackfillStatus()

    assert await backfill_candles(settings, sqlite_sessions, None, 10**18, status) == {}
    assert (status.state, status.errors) == ("off", {})


# -- the app ------------------------------------------------------------------------------


async def test_the_app_backfills_in_the_background_when_collecting(
    shared_data: Path, tmp_path: Path
) -> None:
    captures = cryptofeed_captures(shared_data)
    markets = [("binance", "NKN-USDT"), ("binance", "LRC-BTC")]
    trades = {m: capture_trades(shared_data, m) for m in markets}
    now, start, end = window_after([t for ts in trades.values() for t in ts])
    # Real-time replay: the captured trades reach the hub 12 s and more after connecting, so
    # the backfill (well under a second) has the minutes to itself.
    with fake_exchange(captures, speed=1.0) as fake:
        settings = venue_settings(
            fake, tmp_path, exchanges={"binance": ["NKN-USDT", "LRC-BTC"]}, backfill_minutes=60
        )
        app = create_app(settings, clock=lambda: now, run_engine=False)
        status = app.state.backfill_status
        assert status.state == "off"
        async with app.router.lifespan_context(app):
            await wait_for(lambda: status.state == "done", "the backfill to finish")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://twap") as http:
                response = await http.get("/klines/binance/NKN-USDT", params={"interval": "1m"})
                health = (await http.get("/health")).json()["backfill"]

    assert status.errors == {}
    assert health["state"] == "done"
    assert {(m["exchange"], m["symbol"]): m["stored"] for m in health["markets"]} == status.stored
    assert status.stored == {
        m: len(expected_candles(t, "1m", start, end)) for m, t in trades.items()
    }
    assert status.finished_ns == now
    (served,) = response.json()
    (truth,) = expected_candles(trades[("binance", "NKN-USDT")], "1m", start, end)
    assert (served["open_ns"], Decimal(served["close"]), served["trades"]) == (
        truth.open_ns,
        truth.close,
        truth.trades,
    )


async def test_demo_mode_does_not_backfill(tmp_path: Path) -> None:
    settings = Settings(
        demo=True,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        jwt_secret=SECRET,
    )
    app = create_app(settings)

    async with app.router.lifespan_context(app):
        assert app.state.backfill_status.state == "off"


def _open(candle: Candle) -> int:
    return candle.open_ns
