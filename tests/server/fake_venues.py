"""Helpers for server tests against the fake exchange.

* `fake_exchange`: a running `FakeExchange`, with cryptofeed's symbol cache cleared around it;
* `venue_settings`: server settings whose feeds connect to it;
* `wait_for`: bounded polling on a condition (never a fixed sleep);
* `capture_truth`: what the cryptofeed captures say the market was, rebuilt by twapcore from
  the raw lines, independently of cryptofeed and of the server: books from `OrderBook` with
  `BinanceDepthSync` (Binance REST snapshot + depth diffs) or `verify_kraken_checksum`
  (Kraken snapshot + checksummed updates), trades from a plain parse of the Binance
  ``aggTrade`` and Kraken ``trade`` messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptofeed.symbols import Symbols
from fastapi import FastAPI

from twapcore import (
    BinanceDepthSync,
    BookSnapshot,
    Level,
    OrderBook,
    Side,
    Trade,
    normalize_symbol,
    verify_kraken_checksum,
)
from twapcore.feeds.normalize import seconds_to_ns
from twapserver.fake_exchange import FakeExchange
from twapserver.settings import Settings

TEST_JWT_SECRET = "fake-venues-3f9c1e7a52d84b06a1e2c9d7b4f08e65"  # random enough to pass the check
WAIT_S = 10.0  # upper bound of every wait; conditions normally hold well within it
TOP_N = 10
BINANCE_SYMBOLS = ["NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"]
KRAKEN_SYMBOLS = [
    "WAVES-EUR", "XMR-USD", "KSM-BTC", "GRT-ETH", "SC-EUR",
    "ETH-CHF", "OCEAN-BTC", "OMG-USD", "BTC-CHF", "ADA-BTC",
]  # fmt: skip

MARKETS = [("binance", s) for s in BINANCE_SYMBOLS] + [("kraken", s) for s in KRAKEN_SYMBOLS]

Top = tuple[tuple[Level, ...], tuple[Level, ...]]  # best TOP_N bids, best TOP_N asks


def cryptofeed_captures(shared_data: Path) -> Path:
    """The cryptofeed capture folder, or skip the test."""
    folder = shared_data / "cryptofeed"
    if not (folder / "BINANCE.0").is_file():
        pytest.skip(f"cryptofeed captures not found in {folder}")
    return folder


@contextlib.contextmanager
def fake_exchange(
    captures: Path, speed: float | None, venues: Sequence[Path] = ()
) -> Iterator[FakeExchange]:
    """A running `FakeExchange` replaying ``captures`` at ``speed`` (0 = at once), and the
    other venues captured in the ``venues`` folders (generic fake).

    cryptofeed caches symbols per exchange id for the whole process, fetched from wherever the
    first feed pointed: the cache is cleared around each fake, whose ports are new.
    """
    Symbols.clear()
    try:
        with FakeExchange(captures.parent, speed=speed, captures=venues) as fake:
            yield fake
    finally:
        Symbols.clear()


def venue_settings(fake: FakeExchange, tmp_path: Path, **overrides: object) -> Settings:
    """Settings collecting every captured symbol from ``fake`` (its CA written to tmp_path)."""
    ca_file = tmp_path / "fake-exchange-ca.pem"
    ca_file.write_bytes(fake.ca_pem)
    fields: dict[str, object] = {
        "exchanges": {"binance": BINANCE_SYMBOLS, "kraken": KRAKEN_SYMBOLS},
        "venue_endpoints": {
            "binance": {"ws_url": fake.binance_ws_url, "rest_url": fake.rest_url},
            "kraken": {"ws_url": fake.kraken_ws_url, "rest_url": fake.rest_url},
        },
        "venue_ca_file": ca_file,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        "jwt_secret": TEST_JWT_SECRET,
    }
    return Settings(**(fields | overrides))  # type: ignore[arg-type]


async def wait_for(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` (sync or async) until true; fail naming ``what`` after WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {WAIT_S} s waiting for {what}")
        await asyncio.sleep(0.01)


def top_of(book: BookSnapshot) -> Top:
    return book.bids[:TOP_N], book.asks[:TOP_N]


@dataclass(frozen=True)
class CaptureTruth:
    """The books and trades of the cryptofeed captures, keyed by canonical symbol."""

    binance_tops: dict[str, dict[int, Top]]  # symbol -> update id -> top after it
    binance_last_id: dict[str, int]  # symbol -> last update id of the replay
    kraken_tops: dict[str, list[Top]]  # symbol -> every top in order, snapshot first
    trades: tuple[Trade, ...]

    def final_top(self, exchange: str, symbol: str) -> Top:
        if exchange == "binance":
            return self.binance_tops[symbol][self.binance_last_id[symbol]]
        return self.kraken_tops[symbol][-1]

    def is_a_true_state(self, book: BookSnapshot) -> bool:
        """Whether the venue's book ever looked like `book` (Binance: at `book.seq`)."""
        if book.exchange == "binance":
            return book.seq is not None and self.binance_tops[book.symbol].get(book.seq) == top_of(
                book
            )
        return top_of(book) in self.kraken_tops[book.symbol]


async def replayed_to_the_end(
    book_of: Callable[[str, str], BookSnapshot | None], truth: CaptureTruth
) -> None:
    """Wait until every book of MARKETS is the capture's last one (Binance: at its last id)."""

    def done(exchange: str, symbol: str) -> bool:
        book = book_of(exchange, symbol)
        if book is None:
            return False
        if exchange == "binance":
            return book.seq == truth.binance_last_id[symbol]
        return top_of(book) == truth.final_top(exchange, symbol)

    for market in MARKETS:
        await wait_for(lambda m=market: done(*m), f"the last book of {market}")  # type: ignore[misc]


def received(path: Path) -> Iterator[Any]:
    """The JSON payloads a cryptofeed capture file received (lines ``<ts>: <payload>``)."""
    for line in path.read_text().splitlines():
        head, sep, body = line.partition(": ")
        if sep and head.replace(".", "").isdigit():
            yield json.loads(body)


def _rows(raw: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q, *_ in raw]


def _binance_books(folder: Path) -> tuple[dict[str, dict[int, Top]], dict[str, int]]:
    syncs = {s.replace("-", ""): BinanceDepthSync(OrderBook("binance", s)) for s in BINANCE_SYMBOLS}
    tops: dict[str, dict[int, Top]] = {s: {} for s in BINANCE_SYMBOLS}
    for line in (folder / "BINANCE.http.0.0").read_text().splitlines():
        if " -> " not in line:
            continue
        url, body = line.split(" -> ", 1)[0], line.split(": ", 1)[1]
        native = url.split("symbol=", 1)[1].split("&", 1)[0]
        snapshot = json.loads(body)
        sync = syncs[native]
        # Snapshot first: the diffs it already contains are then skipped (u <= lastUpdateId).
        sync.on_snapshot(
            snapshot["lastUpdateId"],
            _rows(snapshot["bids"]),
            _rows(snapshot["asks"]),
            ts_event=0,
            ts_recv=0,
        )
        tops[sync.book.symbol][snapshot["lastUpdateId"]] = top_of(sync.book.snapshot(TOP_N))
    last_id: dict[str, int] = {}
    for envelope in received(folder / "BINANCE.ws.1.0"):
        diff = envelope["data"]
        if diff.get("e") != "depthUpdate":
            continue
        sync = syncs[diff["s"]]
        if sync.on_diff(
            diff["U"], diff["u"], _rows(diff["b"]), _rows(diff["a"]), ts_event=0, ts_recv=0
        ):
            tops[sync.book.symbol][diff["u"]] = top_of(sync.book.snapshot(TOP_N))
            last_id[sync.book.symbol] = diff["u"]
    return tops, last_id


def _kraken_books(folder: Path) -> dict[str, list[Top]]:
    books: dict[str, OrderBook] = {}
    tops: dict[str, list[Top]] = {}
    for message in received(folder / "KRAKEN.ws.50.0"):
        if not isinstance(message, list) or not message[-2].startswith("book"):
            continue
        symbol = normalize_symbol(message[-1])
        parts = [p for p in message[1:-2] if isinstance(p, dict)]
        if "as" in parts[0]:
            books[symbol] = OrderBook("kraken", symbol, max_depth=1000)
            books[symbol].apply_snapshot(
                _rows(parts[0]["bs"]), _rows(parts[0]["as"]), ts_event=0, ts_recv=0
            )
            tops[symbol] = []
        else:
            for part in parts:
                books[symbol].apply_delta(
                    _rows(part.get("b", [])), _rows(part.get("a", [])), ts_event=0, ts_recv=0
                )
            verify_kraken_checksum(books[symbol], next(int(p["c"]) for p in parts if "c" in p))
        tops[symbol].append(top_of(books[symbol].snapshot(TOP_N)))
    return tops


def _trades(folder: Path) -> Iterator[Trade]:
    for envelope in received(folder / "BINANCE.ws.1.0"):
        data = envelope["data"]
        if data.get("e") == "aggTrade":
            yield Trade(
                exchange="binance",
                symbol=normalize_symbol(data["s"]),
                side=Side.SELL if data["m"] else Side.BUY,
                price=Decimal(data["p"]),
                qty=Decimal(data["q"]),
                ts_event=data["T"] * 1_000_000,
                ts_recv=0,
                trade_id=str(data["a"]),
            )
    for message in received(folder / "KRAKEN.ws.48.0"):
        if isinstance(message, list) and message[-2] == "trade":
            for price, qty, ts, side, *_ in message[1]:
                yield Trade(
                    exchange="kraken",
                    symbol=normalize_symbol(message[-1]),
                    side=Side.BUY if side == "b" else Side.SELL,
                    price=Decimal(price),
                    qty=Decimal(qty),
                    ts_event=seconds_to_ns(ts),
                    ts_recv=0,
                )


@cache
def capture_truth(folder: Path) -> CaptureTruth:
    """The truth of the captures in ``folder`` (``.../cryptofeed``), computed once."""
    binance_tops, binance_last_id = _binance_books(folder)
    return CaptureTruth(
        binance_tops, binance_last_id, _kraken_books(folder), tuple(_trades(folder))
    )


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn in this loop on a free port; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started or task.done(), "uvicorn to start")
        if not server.started:
            raise AssertionError(f"uvicorn did not start: {task.exception()!r}")
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
