"""`submit(..., venues=[...])` on both SDK clients, and the venue of fills in the order model."""

from __future__ import annotations

import httpx
import orjson

from tests.client.test_sdk import FakeApi, _order, _tokens
from twapclient._models import OrderDetail

_ACCEPTED = {
    "status": "accepted",
    "token_id": "v1",
    "order": {**_order("v1", "accepted"), "venues": ["binance", "kraken"]},
    "schedule": [{"index": 0, "due_ns": 1, "qty": "1"}],
}


def test_both_clients_send_venues_and_leave_out_exchange_when_none() -> None:
    api = FakeApi(lambda request: httpx.Response(201, json=_ACCEPTED))
    result = api.client(tokens=_tokens()).submit(
        "v1", None, "BTC-USDT", "buy", "1", "70000", 60, slices=6, venues=("binance", "kraken")
    )
    assert result.order.venues == ["binance", "kraken"]
    api.client(tokens=_tokens()).submit_twap(
        "v2", "binance", "BTC-USDT", "buy", "1", "70000", 60, slices=6, venues=["binance", "kraken"]
    )
    api.client(tokens=_tokens()).submit("v3", "binance", "BTC-USDT", "buy", "1", "70000", 60)
    with_venues, twap, plain = (orjson.loads(body) for body in api.bodies)
    assert with_venues["venues"] == ["binance", "kraken"] and "exchange" not in with_venues
    assert (twap["exchange"], twap["venues"]) == ("binance", ["binance", "kraken"])
    assert "venues" not in plain and plain["exchange"] == "binance"


async def test_the_async_client_sends_the_same_body() -> None:
    api = FakeApi(lambda request: httpx.Response(201, json=_ACCEPTED))
    async with api.async_client(tokens=_tokens()) as client:
        await client.submit(
            "v1", None, "BTC-USDT", "buy", "1", "70000", 60, slices=6,
            venues=["binance", "kraken"], algorithm="pov", participation="0.1",
        )  # fmt: skip
    body = orjson.loads(api.bodies[0])
    assert (body["venues"], body["algorithm"], body["participation"]) == (
        ["binance", "kraken"],
        "pov",
        "0.1",
    )
    assert "exchange" not in body


def test_the_order_model_carries_fill_venues_and_left_out_venues() -> None:
    detail = OrderDetail.model_validate(
        {
            **_order("v1", "working"),
            "venues": ["binance", "kraken"],
            "fills": [{"slice_index": 0, "price": "100", "qty": "1", "ts_ns": 1, "venue": "kraken"}],
            "slices": [
                {"index": 0, "due_ns": 1, "executed_ns": 1, "target_qty": "1", "filled_qty": "1",
                 "status": "filled", "reason": None, "book_mid": "100",
                 "venues_left_out": {"binance": "stale_book"}},
            ],
            "schedule": [],
            "analytics": {},
        }
    )  # fmt: skip
    assert detail.fills[0].venue == "kraken"
    assert detail.slices[0].venues_left_out == {"binance": "stale_book"}
    assert detail.venues == ["binance", "kraken"]
