"""The server collecting from the fake exchange: cryptofeed's real Binance and Kraken classes,
real uvicorn on a free port, httpx over real sockets.

Every test starts the fake exchange (a thread of its own) and the server in this test's event
loop, then checks what the server serves against `capture_truth`, the market rebuilt by twapcore
from the raw captures. Waits are bounded polls on conditions, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.server.fake_venues import (
    BINANCE_SYMBOLS,
    KRAKEN_SYMBOLS,
    MARKETS,
    CaptureTruth,
    capture_truth,
    cryptofeed_captures,
    fake_exchange,
    replayed_to_the_end,
    serving,
    top_of,
    venue_settings,
    wait_for,
)
from twapcore import BookSnapshot, candles_from_trades
from twapserver.app import create_app
from twapserver.fake_exchange import FakeExchange
from twapserver.hub import MarketHub

FAULT_SPEED = 20.0  # the 31 s captures in ~1.5 s: slow enough to act before a replay ends


@pytest.fixture
def captures(shared_data: Path) -> Path:
    return cryptofeed_captures(shared_data)


@pytest.fixture
def truth(captures: Path) -> CaptureTruth:
    return capture_truth(captures)


@dataclass
class BookWatch:
    """Reads every market's book from the hub each few ms, as a WS fan-out tick would, and
    keeps each distinct version it was served."""

    hub: MarketHub
    served: list[BookSnapshot] = field(default_factory=list)
    _versions: dict[tuple[str, str], int] = field(default_factory=dict)

    def sample(self) -> None:
        for market in MARKETS:
            book = self.hub.book(*market)
            if book is not None and self._versions.get(market) != book.version:
                self._versions[market] = book.version
                self.served.append(book)

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.002)


@dataclass
class LiveServer:
    fake: FakeExchange
    hub: MarketHub
    http: httpx.AsyncClient
    watch: BookWatch

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        return self.hub.book(exchange, symbol)

    async def health(self) -> dict[tuple[str, str], dict[str, object]]:
        response = await self.http.get("/health")
        return {(f["exchange"], f["symbol"]): f for f in response.json()["feeds"]}


@contextlib.asynccontextmanager
async def watching(hub: MarketHub) -> AsyncIterator[BookWatch]:
    watch = BookWatch(hub)
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def start_server(
    captures: Path, tmp_path: Path
) -> AsyncIterator[Callable[[float | None], Awaitable[LiveServer]]]:
    """Start the fake exchange at a replay speed and the server collecting from it."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(speed: float | None) -> LiveServer:
            fake = stack.enter_context(fake_exchange(captures, speed))
            # Stale after 30 s of silence: the replays end within seconds and then go quiet.
            app = create_app(venue_settings(fake, tmp_path, max_book_age_s=30))
            base_url = await stack.enter_async_context(serving(app))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url))
            watch = await stack.enter_async_context(watching(app.state.hub))
            return LiveServer(fake, app.state.hub, http, watch)

        yield start


def assert_final_books_are_true(server: LiveServer, truth: CaptureTruth) -> None:
    for exchange, symbol in MARKETS:
        book = server.book(exchange, symbol)
        assert book is not None, f"no {exchange} {symbol} book"
        assert top_of(book) == truth.final_top(exchange, symbol), f"{exchange} {symbol} differs"


def assert_every_served_book_was_true(server: LiveServer, truth: CaptureTruth) -> None:
    server.watch.sample()
    wrong = [b for b in server.watch.served if not truth.is_a_true_state(b)]
    assert server.watch.served
    assert not wrong, f"{len(wrong)} wrong books served, first: {wrong[0]}"


# -- a healthy replay --------------------------------------------------------------------


async def test_health_lists_every_feed_connected_and_fresh(start_server) -> None:
    server = await start_server(0)
    await wait_for(lambda: all(server.book(*m) for m in MARKETS), "a book of every market")

    response = await server.http.get("/health")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert [(f["exchange"], f["symbol"]) for f in body["feeds"]] == sorted(MARKETS)
    for feed in body["feeds"]:
        # The captures are from 2021: fresh means the hub ages books by receive time.
        assert (feed["connected"], feed["stale"]) == (True, False), feed
        assert feed["last_message_age_s"] < 30
        assert (feed["reconnects"], feed["gaps"], feed["checksum_failures"]) == (0, 0, 0)


async def test_exchanges_lists_both_venues_and_their_symbols(start_server) -> None:
    server = await start_server(0)

    response = await server.http.get("/exchanges")

    assert response.json() == [
        {"name": "binance", "symbols": sorted(BINANCE_SYMBOLS)},
        {"name": "kraken", "symbols": sorted(KRAKEN_SYMBOLS)},
    ]


async def test_books_equal_the_books_twapcore_rebuilds_from_the_capture(
    start_server, truth
) -> None:
    server = await start_server(0)

    await replayed_to_the_end(server.book, truth)

    assert_final_books_are_true(server, truth)
    assert_every_served_book_was_true(server, truth)


async def test_klines_equal_candles_built_from_the_capture_trades(start_server, truth) -> None:
    server = await start_server(0)
    expected = {
        market: [
            (c.open_ns, c.open, c.high, c.low, c.close, c.volume, c.trades)
            for c in candles_from_trades(
                [t for t in truth.trades if (t.exchange, t.symbol) == market], "1m"
            )
        ]
        for market in MARKETS
    }
    served: dict[tuple[str, str], object] = {}

    async def klines_match() -> bool:
        for exchange, symbol in MARKETS:
            response = await server.http.get(f"/klines/{exchange}/{symbol}?interval=1m")
            served[(exchange, symbol)] = [
                (
                    k["open_ns"],
                    *(Decimal(k[f]) for f in ("open", "high", "low", "close", "volume")),
                    k["trades"],
                )
                for k in response.json()
            ]
        return served == expected

    await wait_for(klines_match, "klines equal to the capture's candles")

    assert sum(len(candles) for candles in expected.values()) == 4  # 4 symbols traded


# -- faults ------------------------------------------------------------------------------


async def test_dropped_binance_connection_reconnects_and_rebuilds_the_books(
    start_server, truth
) -> None:
    server = await start_server(FAULT_SPEED)
    await wait_for(lambda: server.book("binance", "NKN-USDT"), "a NKN-USDT book")

    server.fake.drop_connections("binance")
    await wait_for(lambda: server.fake.depth_requests("NKNUSDT") == 2, "a new NKNUSDT snapshot")
    await replayed_to_the_end(server.book, truth)

    health = await server.health()
    assert server.fake.connections("binance") == 2
    assert all(health[("binance", s)]["reconnects"] == 1 for s in BINANCE_SYMBOLS)
    assert all(health[("kraken", s)]["reconnects"] == 0 for s in KRAKEN_SYMBOLS)
    assert_final_books_are_true(server, truth)
    assert_every_served_book_was_true(server, truth)


async def test_binance_gap_resyncs_without_serving_a_wrong_book(start_server, truth) -> None:
    server = await start_server(FAULT_SPEED)
    snapshot_id = min(truth.binance_tops["NKN-USDT"])

    def nkn_update_id() -> int:
        book = server.book("binance", "NKN-USDT")
        return snapshot_id if book is None or book.seq is None else book.seq

    await wait_for(lambda: nkn_update_id() > snapshot_id, "a NKN-USDT diff on the snapshot")

    server.fake.inject_gap("binance", "NKNUSDT")
    await wait_for(lambda: server.fake.depth_requests("NKNUSDT") == 2, "a refetched snapshot")
    await replayed_to_the_end(server.book, truth)

    nkn = (await server.health())[("binance", "NKN-USDT")]
    assert (nkn["gaps"], nkn["resyncs"], nkn["reconnects"]) == (1, 1, 0)
    assert server.fake.connections("binance") == 1  # recovered in place
    assert_final_books_are_true(server, truth)
    assert_every_served_book_was_true(server, truth)


async def test_kraken_bad_checksum_resubscribes_and_rebuilds_the_book(start_server, truth) -> None:
    server = await start_server(FAULT_SPEED)
    await wait_for(
        lambda: server.hub.health("kraken", "XMR-USD").messages >= 10, "Kraken book updates"
    )

    # XMR/USD: cryptofeed checks "c" only in an update's first dict, and one SC/EUR update
    # carries it in the second, so a corruption of that one would go unnoticed.
    server.fake.corrupt_checksum("kraken", "XMR/USD")
    await wait_for(lambda: server.fake.connections("kraken") == 2, "a Kraken reconnect")
    await replayed_to_the_end(server.book, truth)

    health = await server.health()
    failed = [s for s in KRAKEN_SYMBOLS if health[("kraken", s)]["checksum_failures"]]
    assert failed == ["XMR-USD"]
    assert health[("kraken", "XMR-USD")]["resyncs"] == 1
    assert all(health[("kraken", s)]["reconnects"] == 1 for s in KRAKEN_SYMBOLS)
    assert_final_books_are_true(server, truth)
    assert_every_served_book_was_true(server, truth)
