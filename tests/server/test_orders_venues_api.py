"""`venues` on `POST /orders` and `POST /orders/twap`: validation, detail, fills per venue.

SQLite only (the SQL is the same as single-venue orders; the fill venue column is
covered on both backends by tests/server/test_engine_venues.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.core.builders import levels
from tests.server.test_orders_api import Api, Clock, order, running_api
from twapcore import BookSnapshot, Candle
from twapserver.db.candles import upsert_candles
from twapserver.hub import InstrumentInfo
from twapserver.orders.profiles import DAY_NS, MINUTE_NS


@pytest.fixture
def backend_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with running_api(database_url, Clock()) as running:
        hub = running.app.state.hub
        hub.register(InstrumentInfo("kraken", "BTC-USDT", Decimal("0.1"), Decimal("0.0001")))
        hub.register(InstrumentInfo("kraken", "BTC-USD", Decimal("0.1"), Decimal("0.0001")))
        hub.register(InstrumentInfo("okx", "BTC-USDT", Decimal("0.1"), Decimal("0.0003")))
        hub.register(InstrumentInfo("okx", "ETH-USDT", Decimal("0.1"), None))
        yield running


def _publish(api: Api, venue: str, ask: str, qty: str, age_s: int = 0) -> None:
    ts = api.clock.now - age_s * 1_000_000_000
    snapshot = BookSnapshot(
        venue, "BTC-USDT", levels(("99", "5")), levels((ask, qty), ("105", "50")), ts, ts
    )
    api.app.state.hub.on_book(venue, "BTC-USDT", lambda: snapshot, ts)


def _venues(**changes: Any) -> dict[str, Any]:
    return order(exchange=None, venues=["binance", "kraken"], **changes)


async def test_a_cross_venue_order_is_accepted_and_shows_its_venues(api: Api) -> None:
    auth = await api.login("alice")
    for n, path in enumerate(["/orders", "/orders/twap"]):
        accepted = await api.client.post(path, json=_venues(token_id=f"v-{n}"), headers=auth)
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["order"]["exchange"] == "binance"
        assert accepted.json()["order"]["venues"] == ["binance", "kraken"]
        listed = (await api.client.get("/orders", headers=auth)).json()["orders"]
        assert listed[0]["venues"] == ["binance", "kraken"]
        plain = await api.client.post(path, json=order(token_id=f"p-{n}"), headers=auth)
        assert plain.json()["order"]["venues"] is None


_REJECTED = [
    ({"venues": ["binance", "coinbase"]}, "unknown_exchange", "'coinbase'"),
    ({"venues": ["binance", "kraken"], "symbol": "BTC-USD"}, "unknown_symbol", "binance"),
    ({"venues": ["okx", "kraken"], "symbol": "ETH-USDT"}, "unknown_symbol",
     "not collected on kraken"),
    ({"venues": ["binance", "binance"]}, "duplicate_venue", "'binance' is listed twice"),
    ({"venues": ["kraken", "binance"], "exchange": "binance"}, "invalid_venues",
     "exchange 'binance' conflicts"),
    ({"venues": []}, "invalid_venues", "venues is empty"),
    ({"venues": None}, "invalid_venues", "give exchange"),
    ({"venues": ["binance", "okx"]}, "incompatible_lot_size", "okx"),
    # binance 0.001, kraken 0.0001: the order's lot is 0.001
    ({"venues": ["binance", "kraken"], "quantity": "0.6005"}, "not_lot_multiple", "0.001"),
]  # fmt: skip


async def test_validation_names_the_offending_venue(api: Api) -> None:
    auth = await api.login("alice")
    for changes, reason, named in _REJECTED:
        body = {**order(exchange=None), **changes}
        body = {k: v for k, v in body.items() if v is not None}
        response = await api.client.post("/orders", json=body, headers=auth)
        assert response.status_code == 422, (changes, response.text)
        assert response.json()["reason"] == reason, (changes, response.text)
        assert named in response.json()["message"], (changes, response.text)
    api.app.state.hub.register(InstrumentInfo("kraken", "ETH-USDT", Decimal("0.1"), Decimal("1")))
    body = order(exchange=None, venues=["kraken", "okx"], symbol="ETH-USDT")
    response = await api.client.post("/orders", json=body, headers=auth)
    assert response.json()["reason"] == "market_unavailable"
    assert "okx ETH-USDT" in response.json()["message"]
    good = await api.client.post("/orders", json=_venues(quantity="0.601"), headers=auth)
    assert good.status_code == 201, good.text
    both = order(token_id="t-both", venues=["binance", "kraken"])  # exchange = the first venue
    assert (await api.client.post("/orders", json=both, headers=auth)).status_code == 201


async def test_fills_carry_their_venue_and_a_stale_venue_is_reported(api: Api) -> None:
    auth = await api.login("alice")
    response = await api.client.post(
        "/orders", json=_venues(quantity="0.3", slices=3, duration_s=30), headers=auth
    )
    assert response.status_code == 201, response.text
    _publish(api, "binance", "101", "0.05")
    _publish(api, "kraken", "100", "0.03")
    await api.app.state.engine.run_due(api.clock.now)
    api.clock.now += 10 * 1_000_000_000
    _publish(api, "binance", "101", "1")  # kraken's book is now 10 s old: left out
    await api.app.state.engine.run_due(api.clock.now)

    detail = (await api.client.get("/orders/t-1", headers=auth)).json()
    fills = [(f["venue"], f["price"], f["qty"]) for f in detail["fills"]]
    assert fills[:3] == [("kraken", "100", "0.03"), ("binance", "101", "0.05"),
                         ("binance", "105", "0.02")]  # fmt: skip
    assert fills[3:] == [("binance", "101", "0.1")]
    first, second = detail["slices"][:2]
    assert first["venues_left_out"] is None
    assert second["venues_left_out"] == {"kraken": "stale_book"}
    assert detail["venues"] == ["binance", "kraken"]


async def test_a_cross_venue_vwap_profile_adds_up_the_venues_candles(api: Api) -> None:
    auth = await api.login("alice")
    start = api.clock.now
    price = (Decimal(100),) * 4
    candles = [
        Candle(venue, "BTC-USDT", "1m", open_ns, *price, Decimal(volume), 1)
        for venue, open_ns, volume in (
            ("binance", start - DAY_NS, 3),
            ("kraken", start - DAY_NS, 2),
            ("kraken", start - DAY_NS + MINUTE_NS, 5),
        )
    ]
    async with api.app.state.sessions() as session, session.begin():
        await upsert_candles(session, candles)
    body = _venues(algorithm="vwap", profile_days=2, duration_s=120)
    accepted = await api.client.post("/orders", json=body, headers=auth)
    assert accepted.status_code == 201, accepted.text
    detail = (await api.client.get("/orders/t-1", headers=auth)).json()
    assert detail["parameters"]["profile_weights"] == ["5", "5"]
