"""The generic fake exchange: any venue's cryptofeed capture, replayed to cryptofeed's real class
for that venue through the server's collectors (`twapserver/fake_exchange/_generic.py`).

Captures: `tests/core/data/cryptofeed-samples` (real cryptofeed samples, see PROVENANCE.md):
Binance USD-M perpetuals (symbols in the URL, REST depth snapshots bridged by update ids) and
HitBTC (subscribe messages, snapshots pushed on the socket). What the hub ends up with is
checked against a plain parse of the same files, independent of cryptofeed and of the fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptofeed.symbols import Symbols

from tests.server.fake_venues import TEST_JWT_SECRET, received, wait_for
from twapcore import Level
from twapserver.collectors import Collectors
from twapserver.fake_exchange import FakeExchange
from twapserver.fake_exchange._generic import GenericVenue, load_generic
from twapserver.hub import MarketHub
from twapserver.settings import Settings

VENUES = Path(__file__).parents[1] / "core" / "data" / "cryptofeed-samples"
PERPS = ["SUSHI-USDT-PERP", "AKRO-USDT-PERP", "KEEP-USDT-PERP", "CTK-USDT-PERP"]
TOP = 5


@pytest.fixture(autouse=True)
def fresh_symbol_cache() -> Iterator[None]:
    Symbols.clear()
    yield
    Symbols.clear()


def generic_settings(fake: FakeExchange, tmp_path: Path, **overrides: Any) -> Settings:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(fake.ca_pem)
    fields: dict[str, Any] = {
        "venue_endpoints": fake.venue_endpoints(),
        "venue_ca_file": ca_file,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        "jwt_secret": TEST_JWT_SECRET,
        "backfill_minutes": 0,
        "max_book_age_s": 3600,
    }
    return Settings(**(fields | overrides))


# -- the truth, by plain parsing ---------------------------------------------------------------


def _rest_bodies(path: Path) -> Iterator[tuple[str, Any]]:
    for line in path.read_text().splitlines():
        if " -> " in line:
            url, _, rest = line.partition(" -> ")
            yield url, json.loads(rest.partition(": ")[2])


def futures_books() -> dict[str, tuple[list[Level], list[Level]]]:
    """Binance futures top levels after the replay: snapshot, then every diff not older."""
    books: dict[str, tuple[int, dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
    for url, body in _rest_bodies(VENUES / "BINANCE_FUTURES.http.0.0"):
        native = url.split("symbol=", 1)[1].split("&", 1)[0]
        bids = {Decimal(p): Decimal(q) for p, q in body["bids"]}
        asks = {Decimal(p): Decimal(q) for p, q in body["asks"]}
        books[native] = (body["lastUpdateId"], bids, asks)
    for envelope in received(VENUES / "BINANCE_FUTURES.ws.1.0"):
        diff = envelope["data"]
        if diff.get("e") != "depthUpdate" or diff["u"] < books[diff["s"]][0]:
            continue
        _, bids, asks = books[diff["s"]]
        for levels, side in ((diff["b"], bids), (diff["a"], asks)):
            for price, qty in levels:
                side[Decimal(price)] = Decimal(qty)
                if Decimal(qty) == 0:
                    del side[Decimal(price)]
    return {
        f"{native.removesuffix('USDT')}-USDT-PERP": (
            [Level(p, bids[p]) for p in sorted(bids, reverse=True)[:TOP]],
            [Level(p, asks[p]) for p in sorted(asks)[:TOP]],
        )
        for native, (_, bids, asks) in books.items()
    }


def trade_counts(exchange: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    if exchange == "binance_futures":
        for envelope in received(VENUES / "BINANCE_FUTURES.ws.1.0"):
            if envelope["data"].get("e") == "aggTrade":
                symbol = envelope["data"]["s"].removesuffix("USDT") + "-USDT-PERP"
                counts[symbol] = counts.get(symbol, 0) + 1
    else:  # hitbtc
        for message in received(VENUES / "HITBTC.ws.1.0"):
            if message.get("method") in ("snapshotTrades", "updateTrades"):
                symbol = message["params"]["symbol"].removesuffix("BTC") + "-BTC"
                counts[symbol] = counts.get(symbol, 0) + len(message["params"]["data"])
    return counts


def futures_sizes() -> dict[str, tuple[Decimal, Decimal]]:
    (_, info), *_ = _rest_bodies(VENUES / "BINANCE_FUTURES.0")
    sizes = {}
    for entry in info["symbols"]:
        filters = {f["filterType"]: f for f in entry["filters"]}
        symbol = f"{entry['baseAsset']}-{entry['quoteAsset']}-PERP"
        tick = Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize()
        sizes[symbol] = (tick, Decimal(filters["LOT_SIZE"]["stepSize"]).normalize())
    return sizes


# -- the tests ----------------------------------------------------------------------------------

CASES = {"binance_futures": PERPS, "hitbtc": ["POLY-BTC", "VET-BTC"]}


@pytest.mark.parametrize("exchange", list(CASES))
async def test_the_collectors_take_any_captured_venue_from_the_generic_fake(
    exchange: str, shared_data: Path, tmp_path: Path
) -> None:
    symbols = CASES[exchange]
    trades = trade_counts(exchange)
    hub = MarketHub(max_book_age_s=3600)
    with FakeExchange(shared_data, speed=0, captures=[VENUES]) as fake:
        collectors = Collectors(
            generic_settings(fake, tmp_path, exchanges={exchange: symbols}), hub
        )
        await collectors.start()
        try:
            await wait_for(
                lambda: (
                    all(hub.book(exchange, s) is not None for s in symbols)
                    and all(hub.health(exchange, s).trades == trades.get(s, 0) for s in symbols)
                ),
                f"{exchange}: every book and every captured trade",
            )
            if exchange == "binance_futures":
                truth = futures_books()
                await wait_for(
                    lambda: all(
                        (book := hub.book(exchange, s)) is not None
                        and (list(book.bids[:TOP]), list(book.asks[:TOP])) == truth[s]
                        for s in symbols
                    ),
                    "the books the capture ends with",
                )
        finally:
            await collectors.stop()

    assert fake.connections(exchange) == 1
    for symbol in symbols:
        book = hub.book(exchange, symbol)
        assert book is not None and book.bids[0].price < book.asks[0].price
    if exchange == "binance_futures":
        sizes = futures_sizes()
        infos = {i.symbol: i for i in hub.instruments(exchange)}
        for symbol in symbols:
            info = infos[symbol]
            assert (info.tick_size, info.lot_size) == sizes[symbol]
            assert info.contract_size == Decimal(1)


def test_rest_answers_by_path_and_query_then_ignoring_the_depth_asked() -> None:
    venue = GenericVenue("binance_futures", load_generic(VENUES, "BINANCE_FUTURES"), "/g", None)
    recorded = dict(_rest_bodies(VENUES / "BINANCE_FUTURES.http.0.0"))
    url = "https://fapi.binance.com/fapi/v1/depth?symbol=CTKUSDT&limit=1000"

    exact = venue.recorded_body("/fapi/v1/depth", "symbol=CTKUSDT&limit=1000")
    other_depth = venue.recorded_body("/fapi/v1/depth", "symbol=CTKUSDT&limit=100")

    assert exact is not None and json.loads(exact) == recorded[url]
    assert other_depth == exact
    assert venue.recorded_body("/fapi/v1/klines", "symbol=CTKUSDT") is None


def test_an_unknown_generic_venue_is_named_with_the_served_ones(shared_data: Path) -> None:
    with FakeExchange(shared_data, speed=0, captures=[VENUES]) as fake:
        with pytest.raises(ValueError, match=r"'nasdaq'.*'binance_futures'"):
            fake.ws_url_of("nasdaq")
        assert fake.venues == [
            "binance",
            "kraken",
            "binance_futures",
            "bit.com",
            "bitstamp",
            "hitbtc",
        ]


async def test_a_dropped_generic_venue_is_reconnected_and_replayed_from_the_start(
    shared_data: Path, tmp_path: Path
) -> None:
    symbols = CASES["hitbtc"]
    hub = MarketHub(max_book_age_s=3600)
    with FakeExchange(shared_data, speed=0, captures=[VENUES]) as fake:
        collectors = Collectors(
            generic_settings(fake, tmp_path, exchanges={"hitbtc": symbols}), hub
        )
        await collectors.start()
        try:
            await wait_for(lambda: fake.messages_sent("hitbtc") == 150, "the whole replay")
            fake.drop_connections("hitbtc")
            await wait_for(
                lambda: (
                    fake.messages_sent("hitbtc") == 300
                    and all(hub.book("hitbtc", s) is not None for s in symbols)
                ),
                "the replay again, and the books rebuilt",
            )
        finally:
            await collectors.stop()

    assert fake.connections("hitbtc") == 2
    assert all(hub.health("hitbtc", s).reconnects == 1 for s in symbols)
