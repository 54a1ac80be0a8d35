"""cryptofeed's real Binance and Kraken classes against the local fake exchange.

Each test runs a FeedHandler inside the test's event loop while the fake serves from its own
thread. Waits are bounded polls on conditions, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptofeed import FeedHandler
from cryptofeed.defines import L2_BOOK, TICKER, TRADES
from cryptofeed.exceptions import BadChecksum
from cryptofeed.exchanges import Binance
from cryptofeed.feed import Feed
from cryptofeed.symbols import Symbols

from twapserver.fake_exchange import FakeExchange
from twapserver.feeds import FeedEndpoints, feed_class, make_feed

WAIT_S = 10.0  # upper bound of every wait; the conditions normally hold within a second
TOP_N = 10
BTC_SNAPSHOT_ID = 50093239218  # lastUpdateId of the hftbacktest BTCUSDT snapshot line
BTC_BRIDGING_U = 50093239224  # u of the diff that bridges it (U <= id + 1 <= u)
KRAKEN_PAIRS = [
    "WAVES-EUR", "XMR-USD", "KSM-BTC", "GRT-ETH", "SC-EUR",
    "ETH-CHF", "OCEAN-BTC", "OMG-USD", "BTC-CHF", "ADA-BTC",
]  # fmt: skip

Top = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]  # bids, asks


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def captures(shared_data: Path) -> Path:
    """The cryptofeed capture folder, or skip."""
    folder = shared_data / "cryptofeed"
    if not (folder / "BINANCE.0").is_file():
        pytest.skip(f"cryptofeed captures not found in {folder}")
    return folder


@pytest.fixture(autouse=True)
def fresh_symbol_cache() -> Iterator[None]:
    # cryptofeed caches symbols per exchange id for the whole process.
    Symbols.clear()
    yield
    Symbols.clear()


@pytest.fixture
def start_fake(captures: Path) -> Iterator[Callable[[float | None], FakeExchange]]:
    """Start a fake exchange at a given speed; stopped after the test."""
    started: list[FakeExchange] = []

    def start(speed: float | None) -> FakeExchange:
        started.append(FakeExchange(captures.parent, speed=speed).start())
        return started[-1]

    yield start
    for fake in started:
        fake.stop()


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``WAIT_S`` seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {WAIT_S} s waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(*feeds: Feed) -> AsyncIterator[None]:
    """Run ``feeds`` in this loop; stop them and cancel what cryptofeed leaves behind."""
    before = asyncio.all_tasks()
    handler = FeedHandler(config={"log": {"disabled": True}})  # no feedhandler.log in cwd
    for feed in feeds:
        handler.add_feed(feed)
    handler.run(start_loop=False, install_signal_handlers=False)
    try:
        yield
    finally:
        await handler.stop_async()
        # Connection watchdogs (30 s sleeps) and reconnect back-offs outlive stop_async.
        leftovers = asyncio.all_tasks() - before - {asyncio.current_task()}
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)


@dataclass
class BookEvent:
    symbol: str
    sequence: int | None
    is_snapshot: bool  # no delta: a fresh book (REST snapshot or Kraken snapshot message)
    top: Top


@dataclass
class Recorder:
    """Collects cryptofeed callbacks; books are copied since cryptofeed mutates them in place."""

    books: list[BookEvent] = field(default_factory=list)
    trades: list[Any] = field(default_factory=list)
    tickers: list[Any] = field(default_factory=list)

    async def on_book(self, book: Any, receipt_ts: float) -> None:
        top = (book.book.bids.to_list()[:TOP_N], book.book.asks.to_list()[:TOP_N])
        event = BookEvent(book.symbol, book.sequence_number, book.delta is None, top)
        self.books.append(event)

    async def on_trade(self, trade: Any, receipt_ts: float) -> None:
        self.trades.append(trade)

    async def on_ticker(self, ticker: Any, receipt_ts: float) -> None:
        self.tickers.append(ticker)

    def snapshots_since(self, index: int) -> int:
        return sum(event.is_snapshot for event in self.books[index:])

    def deltas_since(self, index: int) -> int:
        return sum(not event.is_snapshot for event in self.books[index:])

    def last_snapshot_index(self) -> int:
        return max(i for i, event in enumerate(self.books) if event.is_snapshot)


def binance_feed(fake: FakeExchange, symbols: list[str], recorder: Recorder) -> Feed:
    return make_feed(
        "binance",
        symbols,
        {L2_BOOK: recorder.on_book, TRADES: recorder.on_trade},
        endpoints=FeedEndpoints(ws_url=fake.binance_ws_url, rest_url=fake.rest_url),
        ssl_context=fake.ssl_context,
    )


def kraken_feed(fake: FakeExchange, recorder: Recorder, *, with_extras: bool) -> Feed:
    callbacks: dict[str, Any] = {L2_BOOK: recorder.on_book}
    if with_extras:
        callbacks |= {TRADES: recorder.on_trade, TICKER: recorder.on_ticker}
    return make_feed(
        "kraken",
        KRAKEN_PAIRS,
        callbacks,
        endpoints=FeedEndpoints(ws_url=fake.kraken_ws_url, rest_url=fake.rest_url),
        ssl_context=fake.ssl_context,
        checksum_validation=True,
    )


def received_payloads(path: Path) -> Iterator[Any]:
    """The JSON payloads a cryptofeed capture file received (lines ``<ts>: <payload>``)."""
    for line in path.read_text().splitlines():
        head, sep, body = line.partition(": ")
        if sep and head.replace(".", "").isdigit():
            yield json.loads(body)


def rebuild_nkn_tops(captures: Path) -> dict[int, Top]:
    """Top-of-book of NKNUSDT after each update id, from the capture with plain dicts."""
    snapshot_line = next(
        line
        for line in (captures / "BINANCE.http.0.0").read_text().splitlines()
        if "NKNUSDT" in line
    )
    snapshot = json.loads(snapshot_line.split(": ", 1)[1])
    book = {side: {Decimal(p): Decimal(q) for p, q in snapshot[side]} for side in ("bids", "asks")}

    def top() -> Top:
        bids = sorted(book["bids"].items(), reverse=True)[:TOP_N]
        return bids, sorted(book["asks"].items())[:TOP_N]

    tops = {snapshot["lastUpdateId"]: top()}
    for envelope in received_payloads(captures / "BINANCE.ws.1.0"):
        diff = envelope["data"]
        if envelope["stream"] != "nknusdt@depth@100ms" or diff["u"] <= snapshot["lastUpdateId"]:
            continue
        for key, side in (("b", "bids"), ("a", "asks")):
            for price, qty in diff[key]:
                if Decimal(qty) == 0:
                    book[side].pop(Decimal(price), None)
                else:
                    book[side][Decimal(price)] = Decimal(qty)
        tops[diff["u"]] = top()
    return tops


def nkn_events(recorder: Recorder) -> list[BookEvent]:
    return [event for event in recorder.books if event.symbol == "NKN-USDT"]


# -- Binance -------------------------------------------------------------------------------


async def test_binance_book_matches_book_rebuilt_from_capture(start_fake, captures) -> None:
    fake = start_fake(20.0)
    recorder = Recorder()
    expected = rebuild_nkn_tops(captures)
    last_id = max(expected)

    async with running(binance_feed(fake, ["NKN-USDT"], recorder)):
        await wait_for(
            lambda: any(e.sequence == last_id for e in nkn_events(recorder)) and recorder.trades,
            "the last NKNUSDT diff and the NKNUSDT trade",
        )

    events = nkn_events(recorder)
    assert len(events) > 100
    for event in events:
        assert event.sequence is not None
        assert event.top == expected[event.sequence], f"book differs at update id {event.sequence}"
    trade = recorder.trades[0]
    assert (trade.symbol, trade.side, trade.price, trade.amount) == (
        "NKN-USDT",
        "buy",
        Decimal("0.35280000"),
        Decimal("58"),
    )


async def test_binance_btcusdt_bridges_the_snapshot_and_adapts_raw_trades(
    start_fake, shared_data
) -> None:
    if not (shared_data / "hftbacktest" / "spot").is_dir():
        pytest.skip("hftbacktest BTCUSDT capture not found")
    # Half speed: the snapshot is requested on the first diff and must be served before the
    # bridging diff is sent, 0.2 s of capture time later.
    fake = start_fake(0.5)
    recorder = Recorder()

    async with running(binance_feed(fake, ["BTC-USDT"], recorder)):
        await wait_for(lambda: recorder.deltas_since(0) >= 3 and recorder.trades, "BTC books")

    assert recorder.books[0].is_snapshot
    assert recorder.books[0].sequence == BTC_SNAPSHOT_ID
    assert recorder.books[1].sequence == BTC_BRIDGING_U
    assert recorder.trades[0].id == "3735683259"  # the first @trade's "t", sent as aggTrade "a"
    assert fake.depth_requests("BTCUSDT") == 1


async def test_binance_gap_makes_cryptofeed_refetch_the_snapshot_and_recover(
    start_fake, captures, caplog
) -> None:
    fake = start_fake(10.0)
    recorder = Recorder()
    expected = rebuild_nkn_tops(captures)

    async with running(binance_feed(fake, ["NKN-USDT"], recorder)):
        await wait_for(lambda: recorder.deltas_since(0) >= 1, "NKNUSDT bridged")
        fake.inject_gap("binance", "NKNUSDT")
        await wait_for(lambda: fake.depth_requests("NKNUSDT") == 2, "a second snapshot request")
        await wait_for(lambda: recorder.snapshots_since(1) == 1, "the refetched snapshot")
        refetched = recorder.last_snapshot_index()
        await wait_for(lambda: recorder.deltas_since(refetched) >= 3, "diffs after the refetch")

    assert "Missing book update detected" in caplog.text
    assert fake.connections("binance") == 1  # recovered in place, no reconnect
    for event in recorder.books[refetched:]:
        assert event.top == expected[event.sequence]


async def test_binance_drop_reconnects_and_books_arrive_again(start_fake, captures) -> None:
    fake = start_fake(20.0)
    recorder = Recorder()
    expected = rebuild_nkn_tops(captures)

    async with running(binance_feed(fake, ["NKN-USDT"], recorder)):
        await wait_for(lambda: recorder.deltas_since(0) >= 1, "NKNUSDT books")
        before_drop = len(recorder.books)
        fake.drop_connections("binance")
        await wait_for(lambda: fake.connections("binance") == 2, "a reconnect")
        await wait_for(lambda: recorder.snapshots_since(before_drop) == 1, "a new snapshot")
        resnapshot = recorder.last_snapshot_index()
        await wait_for(lambda: recorder.deltas_since(resnapshot) >= 1, "diffs after it")

    # cryptofeed resets its books on (re)subscribe, so the first diff fetches a new snapshot,
    # taken from the restarted replay.
    assert fake.depth_requests("NKNUSDT") == 2
    for event in recorder.books[resnapshot:]:
        assert event.top == expected[event.sequence]


# -- Kraken --------------------------------------------------------------------------------


async def test_kraken_books_trades_and_tickers_arrive_with_checksums_passing(
    start_fake, captures, caplog
) -> None:
    payloads = [
        p
        for name in ("KRAKEN.ws.48.0", "KRAKEN.ws.49.0", "KRAKEN.ws.50.0")
        for p in received_payloads(captures / name)
        if isinstance(p, list)
    ]
    book_messages = sum(p[-2].startswith("book") for p in payloads)
    trades = sum(len(p[1]) for p in payloads if p[-2] == "trade")
    tickers = sum(p[-2] == "ticker" for p in payloads)
    fake = start_fake(None)
    recorder = Recorder()

    async with running(kraken_feed(fake, recorder, with_extras=True)):
        await wait_for(
            lambda: (
                (len(recorder.books), len(recorder.trades), len(recorder.tickers))
                == (book_messages, trades, tickers)
            ),
            f"{book_messages} books, {trades} trades and {tickers} tickers",
        )

    # 10 pairs x 3 channels in subscriptions of at most 20: two connections, none re-made
    # (a failed checksum raises inside cryptofeed, which then reconnects).
    assert fake.connections("kraken") == 2
    assert {event.symbol for event in recorder.books} == set(KRAKEN_PAIRS)
    assert sum(event.is_snapshot for event in recorder.books) == len(KRAKEN_PAIRS)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_kraken_bad_checksum_makes_cryptofeed_reconnect_and_resubscribe(
    start_fake, caplog
) -> None:
    fake = start_fake(5.0)
    recorder = Recorder()

    async with running(kraken_feed(fake, recorder, with_extras=False)):
        await wait_for(lambda: recorder.deltas_since(0) >= 10, "Kraken book updates")
        fake.corrupt_checksum("kraken")
        await wait_for(lambda: fake.connections("kraken") == 2, "a reconnect")
        resubscribed = len(recorder.books)
        await wait_for(lambda: recorder.snapshots_since(resubscribed) >= 1, "a new snapshot")

    # BadChecksum escapes Kraken's message handler; cryptofeed's connection handler logs it
    # with the traceback, waits 1 s, reconnects and resubscribes.
    failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is BadChecksum]
    assert len(failures) == 1


# -- REST edges and the feed factory -------------------------------------------------------


async def test_depth_of_an_uncaptured_symbol_is_a_binance_error(start_fake) -> None:
    fake = start_fake(None)

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.rest_url}/api/v3/depth?symbol=ETHBTC&limit=5") as response,
    ):
        assert response.status == 400
        assert (await response.json())["code"] == -1121


def test_faults_are_refused_on_a_venue_that_cannot_show_them(start_fake) -> None:
    fake = start_fake(None)

    with pytest.raises(ValueError, match="inject_gap needs a sequenced feed"):
        fake.inject_gap("kraken")
    with pytest.raises(ValueError, match="corrupt_checksum needs a checksummed feed"):
        fake.corrupt_checksum("binance")


def test_start_without_captures_names_the_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"BINANCE\.0"):
        FakeExchange(tmp_path).start()


def test_feed_class_without_endpoints_is_the_venue_class() -> None:
    assert feed_class("binance") is Binance


def test_feed_class_with_endpoints_only_moves_the_urls() -> None:
    endpoints = FeedEndpoints(ws_url="wss://127.0.0.1:1/binance", rest_url="http://127.0.0.1:2/")

    cls = feed_class("binance", endpoints)

    assert issubclass(cls, Binance)
    assert cls.id == Binance.id
    assert [e.address for e in cls.websocket_endpoints] == ["wss://127.0.0.1:1/binance"]
    rest = cls.rest_endpoints[0]
    assert rest.route("l2book").format("NKNUSDT", 1000) == (
        "http://127.0.0.1:2/api/v3/depth?symbol=NKNUSDT&limit=1000"
    )
    assert cls.websocket_endpoints[0].options["ping_interval"] == 10  # venue options kept
    assert cls.api == "http://127.0.0.1:2/api/v3/"  # REST mixin (candles): path kept


def test_feed_class_names_the_known_exchanges_when_unknown() -> None:
    with pytest.raises(ValueError, match=r"unknown exchange 'nasdaq'.*binance"):
        feed_class("nasdaq")


# -- chaos faults --------------------------------------------------------------------------


async def raw_binance(fake: FakeExchange, streams: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` envelopes of a plain WebSocket client (no cryptofeed)."""
    url = f"{fake.binance_ws_url}/stream?streams={streams}"
    received: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, ssl=fake.ssl_context) as ws,
    ):
        async with asyncio.timeout(WAIT_S):
            while len(received) < count:
                received.append(json.loads((await ws.receive()).data))
    return received


def captured_nkn_first_ids(captures: Path) -> list[int]:
    return [
        envelope["data"]["U"]
        for envelope in received_payloads(captures / "BINANCE.ws.1.0")
        if envelope["stream"] == "nknusdt@depth@100ms"
    ]


async def test_binance_duplicate_and_reorder_faults_reach_the_client_as_armed(
    start_fake, captures
) -> None:
    fake = start_fake(None)
    expected = captured_nkn_first_ids(captures)
    fake.reorder("binance", "NKNUSDT")  # holds diff 1 until diff 2 has gone out
    fake.duplicate("binance", "NKNUSDT")  # then diff 2 goes out twice

    envelopes = await raw_binance(fake, "nknusdt@depth@100ms", len(expected) + 1)

    first_ids = [envelope["data"]["U"] for envelope in envelopes]
    d1, d2, *rest = expected
    assert first_ids == [d2, d2, d1, *rest]


async def test_kraken_duplicated_update_reaches_cryptofeed_twice_and_checks_out(
    start_fake, captures, caplog
) -> None:
    book_messages = sum(
        isinstance(p, list) and p[-2].startswith("book")
        for p in received_payloads(captures / "KRAKEN.ws.50.0")
    )
    fake = start_fake(None)
    recorder = Recorder()
    fake.duplicate("kraken", "XMR/USD")

    async with running(kraken_feed(fake, recorder, with_extras=False)):
        await wait_for(lambda: len(recorder.books) == book_messages + 1, "every book, one twice")

    # One update applied twice sets the same levels again: its checksum still matches.
    assert not [r for r in caplog.records if r.exc_info and r.exc_info[0] is BadChecksum]


async def test_stalled_venue_keeps_the_socket_open_and_silent_until_resumed(
    start_fake, captures
) -> None:
    fake = start_fake(None)
    expected = captured_nkn_first_ids(captures)
    fake.stall("binance")
    url = f"{fake.binance_ws_url}/stream?streams=nknusdt@depth@100ms"

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, ssl=fake.ssl_context) as ws,
    ):
        with pytest.raises(TimeoutError):  # unpaced, the whole replay would be here by now
            await ws.receive(timeout=0.5)
        silent = (fake.connections("binance"), fake.messages_sent("binance"), ws.closed)
        fake.resume("binance")
        async with asyncio.timeout(WAIT_S):
            first_ids = [json.loads((await ws.receive()).data)["data"]["U"] for _ in expected]

    assert silent == (1, 0, False)
    assert first_ids == expected


async def test_venue_taken_down_answers_503_to_websocket_and_rest_until_brought_up(
    start_fake,
) -> None:
    fake = start_fake(None)
    info = f"{fake.rest_url}/api/v3/exchangeInfo"
    kraken_info = f"{fake.rest_url}/0/public/AssetPairs"

    async with aiohttp.ClientSession() as session:

        async def status(url: str) -> int:
            async with session.get(url) as response:
                return response.status

        fake.take_down("binance")
        down = await status(info)  # control calls are applied in order before requests
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                f"{fake.binance_ws_url}/stream?streams=a", ssl=fake.ssl_context
            )
        kraken_meanwhile = await status(kraken_info)
        fake.bring_up("binance")
        up = await status(info)

    assert (down, refused.value.status, kraken_meanwhile, up) == (503, 503, 200, 200)
    assert fake.refused("binance") == 2
