"""The orders API in-process (ASGI), with a test clock driving the engine."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.core.builders import book
from twapserver.app import create_app
from twapserver.auth.users import create_user
from twapserver.hub import InstrumentInfo
from twapserver.settings import Settings

S = 1_000_000_000
SECRET = "test-secret-" + "x" * 40


class Clock:
    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    clock: Clock

    def publish(self, ask: str = "101", qty: str = "1", bid: str = "99") -> None:
        ts = self.clock.now
        snapshot = book(bids=((bid, qty),), asks=((ask, qty), ("102", "5")), ts=ts)
        self.app.state.hub.on_book("binance", "BTC-USDT", lambda: snapshot, ts)

    async def login(self, username: str) -> dict[str, str]:
        async with self.app.state.sessions() as session, session.begin():
            await create_user(session, username, "correct horse battery", now_ns=0)
        response = await self.client.post(
            "/auth/token", data={"username": username, "password": "correct horse battery"}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def tick(self, seconds: float) -> None:
        self.clock.now += int(seconds * S)
        self.publish()
        await self.app.state.engine.run_due(self.clock.now)


def _settings(database_url: str) -> Settings:
    return Settings(
        collect=False,
        exchanges={"binance": ["BTC-USDT"]},
        database_url=database_url,
        jwt_secret=SECRET,
    )


@contextlib.asynccontextmanager
async def running_api(database_url: str, clock: Clock) -> AsyncIterator[Api]:
    """The app with its lifespan, an instrument with a lot size, and an in-process client."""
    app = create_app(_settings(database_url), clock=clock, run_engine=False)
    async with app.router.lifespan_context(app):
        app.state.hub.register(
            InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.001"))
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(app, client, clock)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """On SQLite and on PostgreSQL (see tests/server/conftest.py)."""
    async with running_api(database_url, Clock()) as running:
        yield running


def order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token_id": "t-1",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "quantity": "0.6",
        "limit_price": "1000",
        "duration_s": 60,
        "slices": 6,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def test_submit_is_accepted_at_once_with_the_schedule(api: Api) -> None:
    auth = await api.login("alice")

    response = await api.client.post("/orders/twap", json=order(), headers=auth)

    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["order"]["status"], body["order"]["slices_done"]) == (
        "accepted",
        "accepted",
        0,
    )
    assert [s["qty"] for s in body["schedule"]] == ["0.1"] * 6
    assert body["schedule"][1]["due_ns"] - body["schedule"][0]["due_ns"] == 10 * S


async def test_order_runs_to_completion_and_reports_fills_and_analytics(api: Api) -> None:
    auth = await api.login("alice")
    api.publish()
    await api.client.post("/orders/twap", json=order(), headers=auth)
    await api.tick(0)
    for _ in range(5):
        await api.tick(10)

    detail = (await api.client.get("/orders/t-1", headers=auth)).json()

    assert detail["status"] == "completed"
    assert (detail["filled_qty"], detail["average_price"]) == ("0.6", "101")
    assert len(detail["fills"]) == 6
    assert [s["status"] for s in detail["slices"]] == ["filled"] * 6
    assert detail["analytics"]["arrival_mid"] == "100"
    assert detail["analytics"]["slippage_bps"] == "100"


async def test_limit_that_cannot_fill_expires_with_reasons(api: Api) -> None:
    auth = await api.login("alice")
    api.publish()
    await api.client.post("/orders/twap", json=order(side="sell", limit_price="150"), headers=auth)
    await api.tick(0)
    for _ in range(5):
        await api.tick(10)

    detail = (await api.client.get("/orders/t-1", headers=auth)).json()

    assert (detail["status"], detail["filled_qty"]) == ("expired", "0")
    assert {s["reason"] for s in detail["slices"]} == {"limit_price"}


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        ({"exchange": "ftx"}, "unknown_exchange", "exchange 'ftx' is not collected"),
        ({"symbol": "DOGE-USDT"}, "unknown_symbol", "symbol 'DOGE-USDT' is not collected"),
        ({"quantity": "0"}, "invalid_quantity", "quantity 0 must be greater than 0"),
        ({"quantity": "-1"}, "invalid_quantity", "quantity -1 must be greater than 0"),
        ({"quantity": "0.0001"}, "below_lot_size", "quantity 0.0001 is below the lot size 0.001"),
        ({"limit_price": "0"}, "invalid_limit_price", "limit_price 0 must be greater than 0"),
        ({"duration_s": 0}, "invalid_duration", "duration_s 0 is outside 1..604800"),
        ({"slices": 0}, "invalid_slices", "slices 0 is outside 1..1000"),
        ({"slices": 5000}, "invalid_slices", "slices 5000 is outside 1..1000"),
        ({"slices": None, "interval_s": "0.01"}, "invalid_slices", "interval_s 0.01"),
        ({"quantity": "NaN"}, "invalid_request", "quantity"),
        ({"quantity": "abc"}, "invalid_request", "quantity"),
        ({"side": "hold"}, "invalid_request", "side"),
        ({"token_id": "has space"}, "invalid_request", "token_id"),
    ],
)
async def test_bad_orders_are_rejected_naming_the_value(
    api: Api, changes: dict[str, Any], reason: str, message: str
) -> None:
    auth = await api.login("alice")

    response = await api.client.post("/orders/twap", json=order(**changes), headers=auth)

    body = response.json()
    assert response.status_code == 422
    assert (body["status"], body["reason"]) == ("rejected", reason)
    assert message in body["message"]


async def test_rejected_order_uses_up_no_token_id(api: Api) -> None:
    auth = await api.login("alice")
    await api.client.post("/orders/twap", json=order(quantity="0"), headers=auth)

    response = await api.client.post("/orders/twap", json=order(), headers=auth)

    assert response.status_code == 201


async def test_duplicate_token_id_is_a_409(api: Api) -> None:
    auth = await api.login("alice")
    await api.client.post("/orders/twap", json=order(), headers=auth)

    response = await api.client.post("/orders/twap", json=order(quantity="1"), headers=auth)

    assert response.status_code == 409
    assert response.json()["reason"] == "duplicate_token_id"


async def test_another_users_order_is_a_404_everywhere(api: Api) -> None:
    alice, bob = await api.login("alice"), await api.login("bob")
    await api.client.post("/orders/twap", json=order(), headers=alice)

    read = await api.client.get("/orders/t-1", headers=bob)
    cancel = await api.client.delete("/orders/t-1", headers=bob)
    listed = await api.client.get("/orders", headers=bob)

    assert (read.status_code, cancel.status_code) == (404, 404)
    assert listed.json()["orders"] == []


async def test_same_token_id_for_two_users_is_fine(api: Api) -> None:
    alice, bob = await api.login("alice"), await api.login("bob")

    first = await api.client.post("/orders/twap", json=order(), headers=alice)
    second = await api.client.post("/orders/twap", json=order(), headers=bob)

    assert (first.status_code, second.status_code) == (201, 201)


async def test_list_filters_by_status_and_pages_newest_first(api: Api) -> None:
    auth = await api.login("alice")
    api.publish()
    for i in range(5):
        await api.client.post("/orders/twap", json=order(token_id=f"t-{i}"), headers=auth)
    await api.client.delete("/orders/t-0", headers=auth)

    first = (await api.client.get("/orders?status=open&limit=2", headers=auth)).json()
    second = (
        await api.client.get(
            f"/orders?status=open&limit=2&after={first['next_after']}", headers=auth
        )
    ).json()
    closed = (await api.client.get("/orders?status=closed", headers=auth)).json()
    by_token = (await api.client.get("/orders?token_id=t-3", headers=auth)).json()

    assert [o["token_id"] for o in first["orders"]] == ["t-4", "t-3"]
    assert [o["token_id"] for o in second["orders"]] == ["t-2", "t-1"]
    assert second["next_after"] is None
    assert [o["token_id"] for o in closed["orders"]] == ["t-0"]
    assert [o["token_id"] for o in by_token["orders"]] == ["t-3"]


async def test_cancel_is_idempotent_but_ended_orders_conflict(api: Api) -> None:
    auth = await api.login("alice")
    api.publish()
    await api.client.post("/orders/twap", json=order(token_id="a"), headers=auth)
    await api.client.post(
        "/orders/twap", json=order(token_id="b", duration_s=1, slices=1), headers=auth
    )
    await api.tick(0)

    first = await api.client.delete("/orders/a", headers=auth)
    again = await api.client.delete("/orders/a", headers=auth)
    ended = await api.client.delete("/orders/b", headers=auth)

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == again.json()["status"] == "cancelled"
    assert ended.status_code == 409
    assert "already completed" in ended.json()["detail"]


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 422),
        (b"token_id=x", {"Content-Type": "application/x-www-form-urlencoded"}, 422),
        (b"x" * (1024 * 1024), {"Content-Type": "application/json"}, 413),
    ],
)
async def test_malformed_bodies_get_a_4xx(
    api: Api, content: bytes, headers: dict[str, str], status: int
) -> None:
    auth = await api.login("alice")

    response = await api.client.post("/orders/twap", content=content, headers={**auth, **headers})

    assert response.status_code == status


async def test_orders_need_a_token(api: Api) -> None:
    response = await api.client.post("/orders/twap", json=order())

    assert response.status_code == 401


async def test_token_id_stays_used_after_a_restart(database_url: str) -> None:
    clock = Clock()
    async with running_api(database_url, clock) as first:
        auth = await first.login("alice")
        assert (
            await first.client.post("/orders/twap", json=order(), headers=auth)
        ).status_code == 201

    async with running_api(database_url, clock) as second:
        token = await second.client.post(
            "/auth/token", data={"username": "alice", "password": "correct horse battery"}
        )
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        again = await second.client.post("/orders/twap", json=order(), headers=auth)

    assert again.status_code == 409
    assert again.json()["reason"] == "duplicate_token_id"
