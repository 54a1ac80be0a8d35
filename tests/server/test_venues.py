"""`twapserver.venues`: what twap knows per venue, and connection failures in plain words."""

from __future__ import annotations

import socket
import urllib.error
from decimal import Decimal

import aiohttp
import pytest
import requests

from twapcore import InstrumentInfo
from twapserver.venues import Venue, VenueError, fetch_json, unreachable_reason, venue_for


def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/x"  # closed again: refused at once


def test_a_venue_with_a_module_gets_its_facts_and_any_other_the_defaults() -> None:
    kraken, coinbase = venue_for("kraken"), venue_for("coinbase")

    assert kraken.feed_options == {"checksum_validation": True}
    assert type(coinbase) is Venue and coinbase.feed_options == {}
    assert coinbase.exchange == "coinbase"


def test_an_exchange_cryptofeed_does_not_know_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown exchange 'nasdaq'.*binance_futures"):
        venue_for("nasdaq")


def test_venues_with_rest_candles_in_cryptofeed_or_in_their_venue_file_can_be_backfilled() -> None:
    assert venue_for("binance").has_rest_candles
    assert venue_for("binance_futures").has_rest_candles
    assert venue_for("kraken").has_rest_candles  # twapserver/venues/kraken.py reads OHLC
    assert not venue_for("hitbtc").has_rest_candles


def test_sizes_come_from_the_instruments_body_else_from_cryptofeeds_symbol_info() -> None:
    body = {
        "symbols": [
            {
                "symbol": "SUSHIUSDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "tickSize": "0.0010"},
                    {"filterType": "LOT_SIZE", "stepSize": "1"},
                ],
            }
        ]
    }
    natives = {"SUSHI-USDT-PERP": "SUSHIUSDT", "CTK-USDT-PERP": "CTKUSDT"}
    info = {"tick_size": {"CTK-USDT-PERP": "0.001"}}

    infos = venue_for("binance_futures").instruments(body, natives, info)

    assert infos == [
        InstrumentInfo(
            "binance_futures", "SUSHI-USDT-PERP", Decimal("0.001"), Decimal(1), Decimal(1)
        ),
        InstrumentInfo("binance_futures", "CTK-USDT-PERP", Decimal("0.001"), None, Decimal(1)),
    ]


def test_spot_has_no_contract_size_and_an_unreadable_body_leaves_sizes_unknown() -> None:
    (spot,) = venue_for("binance").instruments({"symbols": "garbage"}, {"BTC-USDT": "BTCUSDT"})

    assert spot == InstrumentInfo("binance", "BTC-USDT")


def test_the_reason_a_venue_is_unreachable_is_the_sockets_own_words() -> None:
    url = closed_url()
    failures: list[BaseException] = []
    for call in (lambda: fetch_json(url), lambda: requests.get(url, timeout=5)):
        try:
            call()
        except Exception as exc:
            failures.append(exc)

    assert [unreachable_reason(exc) for exc in failures] == ["Connection refused"] * 2


async def test_aiohttp_failures_read_the_same() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError) as failure:
            await session.get(closed_url())

    assert unreachable_reason(failure.value) == "Connection refused"


def test_an_answer_is_not_a_connection_failure() -> None:
    http = urllib.error.HTTPError("http://x", 503, "Service Unavailable", {}, None)  # type: ignore[arg-type]

    assert unreachable_reason(http) is None
    assert unreachable_reason(VenueError("HTTP 500 boom")) is None
    assert unreachable_reason(ValueError("not json")) is None
