"""Feed chaos through the fake exchange: a venue that hangs, duplicated and out-of-order book
messages, a venue down then back. cryptofeed's real classes, real uvicorn, real sockets.

The stall and outage scenarios are the ones `benchmarks/feed_chaos.py` runs for minutes; here
they last seconds, with a 1 s `max_book_age_s`. The engine is driven by the test: each phase's
due slices run at its end, so their skip reasons say what that phase's market was.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.conftest import load_benchmark
from tests.server.fake_venues import (
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
from twapcore import BookSnapshot
from twapserver.app import create_app
from twapserver.fake_exchange import FakeExchange
from twapserver.hub import MarketHub

RECONNECT_MAX_S = 1.0
OUTAGE_S = 8.0
# The 31 s cryptofeed captures in ~6 s: faults are armed after the first books arrive, and a
# busy machine must not let the fake's replay end before the client has caught up with it.
FAULT_SPEED = 5.0


@pytest.fixture(scope="module")
def chaos() -> ModuleType:
    return load_benchmark("feed_chaos")


@pytest.fixture
def btcusdt_data(shared_data: Path) -> Path:
    """The shared data folder with the 10-minute BTCUSDT capture (a book every ~100 ms)."""
    if not (shared_data / "hftbacktest" / "spot").is_dir():
        pytest.skip("hftbacktest BTCUSDT capture not found")
    return shared_data


# -- a venue that hangs with its sockets open ------------------------------------------------


async def test_stalled_venue_goes_stale_skips_slices_and_is_reconnected(
    chaos: ModuleType, btcusdt_data: Path, tmp_path: Path
) -> None:
    async with chaos.chaos_server(
        btcusdt_data, tmp_path, max_book_age_s=1, feed_silence_s=3
    ) as server:
        healthy = await server.run_slices()
        server.fake.stall("binance")
        await chaos.wait_until(lambda: chaos._stale(server), "a stale book")
        stale_health = await server.feed()
        stale = await server.run_slices()
        connections = server.fake.connections("binance")

        async def reconnected() -> bool:
            return bool(server.fake.connections("binance") > connections)

        await chaos.wait_until(reconnected, "the watchdog to reconnect the silent socket")
        silent = await server.run_slices()
        silent_health = await server.feed()
        server.fake.resume("binance")
        await chaos.wait_until(server.healthy, "healthy after the stall")
        after = await server.run_slices()

    assert healthy and set(healthy) == {None}
    assert (stale_health["connected"], stale_health["stale"]) == (True, True)
    assert stale and set(stale) == {"stale_book"}  # the old book is still there, too old
    assert silent and set(silent) == {"no_book"}  # dropped when its socket was given up
    assert silent_health["stale"] and silent_health["reconnects"] >= 1
    assert after and set(after) == {None}


# -- a venue down, then back -----------------------------------------------------------------


async def test_venue_outage_skips_slices_and_recovers_within_the_backoff_cap(
    chaos: ModuleType, btcusdt_data: Path, tmp_path: Path, record_property
) -> None:
    async with chaos.chaos_server(
        btcusdt_data, tmp_path, max_book_age_s=1, feed_reconnect_max_s=RECONNECT_MAX_S
    ) as server:
        report = await chaos.outage(server, OUTAGE_S)

    record_property("back_to_healthy_s", report.back_to_healthy_s)
    assert report.reasons_before and set(report.reasons_before) == {None}
    assert report.reasons_during and set(report.reasons_during) <= {"no_book", "stale_book"}
    down = report.health_during
    assert (down["connected"], down["stale"]) == (False, True)
    assert "503" in down["last_error"]
    assert report.refused >= 2  # it kept trying while the venue was down
    assert report.fault_s >= OUTAGE_S
    # One capped wait, the connect and the first snapshot. Waits doubling from 0.5 s without
    # a cap would try at 3.5 s, 7.5 s and 15.5 s into the outage: ~7 s to come back here.
    assert report.back_to_healthy_s < RECONNECT_MAX_S + 3.0
    assert report.reasons_after and set(report.reasons_after) == {None}


# -- duplicated and out-of-order book messages -----------------------------------------------


class ServedBooks:
    """Every distinct book version the hub served, sampled every few ms."""

    def __init__(self, hub: MarketHub) -> None:
        self.hub = hub
        self.served: list[BookSnapshot] = []
        self._versions: dict[tuple[str, str], int] = {}

    def sample(self) -> None:
        for market in MARKETS:
            book = self.hub.book(*market)
            if book is not None and self._versions.get(market) != book.version:
                self._versions[market] = book.version
                self.served.append(book)


@contextlib.asynccontextmanager
async def collecting(
    captures: Path, tmp_path: Path
) -> AsyncIterator[tuple[FakeExchange, MarketHub, httpx.AsyncClient, ServedBooks]]:
    with fake_exchange(captures, FAULT_SPEED) as fake:
        app = create_app(venue_settings(fake, tmp_path, max_book_age_s=30, backfill_minutes=0))
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
            hub: MarketHub = app.state.hub
            books = ServedBooks(hub)

            async def sample_forever() -> None:
                while True:
                    books.sample()
                    await asyncio.sleep(0.002)

            sampler = asyncio.create_task(sample_forever())
            try:
                yield fake, hub, http, books
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler


def assert_books_true(hub: MarketHub, books: ServedBooks, truth: CaptureTruth) -> None:
    for exchange, symbol in MARKETS:
        book = hub.book(exchange, symbol)
        assert book is not None and top_of(book) == truth.final_top(exchange, symbol)
    books.sample()
    wrong = [b for b in books.served if not truth.is_a_true_state(b)]
    assert books.served and not wrong, f"{len(wrong)} wrong books served, first: {wrong[:1]}"


async def feeds(http: httpx.AsyncClient) -> dict[tuple[str, str], dict[str, object]]:
    body = (await http.get("/health")).json()
    return {(f["exchange"], f["symbol"]): f for f in body["feeds"]}


async def test_duplicated_book_messages_leave_every_book_true(
    shared_data: Path, tmp_path: Path
) -> None:
    captures = cryptofeed_captures(shared_data)
    truth = capture_truth(captures)
    async with collecting(captures, tmp_path) as (fake, hub, http, books):
        await wait_for(lambda: hub.health("binance", "NKN-USDT").messages >= 5, "NKN diffs")
        await wait_for(lambda: hub.health("kraken", "XMR-USD").messages >= 5, "XMR updates")
        for _ in range(3):
            fake.duplicate("binance", "NKNUSDT")
            fake.duplicate("kraken", "XMR/USD")
        await replayed_to_the_end(hub.book, truth)
        # cryptofeed hands each Kraken update to the hub, repeats included.
        xmr = len(truth.kraken_tops["XMR-USD"]) + sum(
            (t.exchange, t.symbol) == ("kraken", "XMR-USD") for t in truth.trades
        )
        await wait_for(
            lambda: hub.health("kraken", "XMR-USD").messages == xmr + 3, "3 repeated XMR updates"
        )
        health = await feeds(http)

    for market in (("binance", "NKN-USDT"), ("kraken", "XMR-USD")):
        row = health[market]
        # A repeated diff is older than the book (u <= last id) and a repeated Kraken update
        # sets the same levels again (its checksum still matches): both harmless.
        assert (row["gaps"], row["checksum_failures"], row["resyncs"]) == (0, 0, 0), row
    assert_books_true(hub, books, truth)


async def test_out_of_order_binance_diffs_are_detected_and_resynced(
    shared_data: Path, tmp_path: Path
) -> None:
    captures = cryptofeed_captures(shared_data)
    truth = capture_truth(captures)
    snapshot_id = min(truth.binance_tops["NKN-USDT"])
    async with collecting(captures, tmp_path) as (fake, hub, http, books):

        def on_the_snapshot() -> bool:
            book = hub.book("binance", "NKN-USDT")
            return book is not None and book.seq is not None and book.seq > snapshot_id

        await wait_for(on_the_snapshot, "a NKN-USDT diff applied on the snapshot")
        fake.reorder("binance", "NKNUSDT")
        await wait_for(lambda: fake.depth_requests("NKNUSDT") == 2, "a refetched snapshot")
        await replayed_to_the_end(hub.book, truth)
        nkn = (await feeds(http))[("binance", "NKN-USDT")]

    assert (nkn["gaps"], nkn["resyncs"]) == (1, 1)  # flagged, rebuilt from a new snapshot
    assert_books_true(hub, books, truth)  # and never served wrong meanwhile
