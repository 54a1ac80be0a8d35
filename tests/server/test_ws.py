"""WS /ws under real uvicorn, with the websockets client: auth, books, slow clients, orders."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.core.builders import book, levels
from tests.server.fake_venues import WAIT_S, serving
from tests.server.test_orders_api import SECRET, Clock, order
from twapcore import BookSnapshot
from twapcore.recording import book_to_record
from twapserver.app import create_app
from twapserver.auth.users import create_user
from twapserver.hub import InstrumentInfo
from twapserver.settings import Settings
from twapserver.ws import Broadcaster

S = 1_000_000_000
PASSWORD = "correct horse battery"
BOOK = {"channel": "book", "exchange": "binance", "symbol": "BTC-USDT"}


@dataclass
class Server:
    app: FastAPI
    base: str
    http: httpx.AsyncClient
    clock: Clock

    @property
    def ws(self) -> Broadcaster:
        broadcaster: Broadcaster = self.app.state.ws
        return broadcaster

    async def token(self, username: str) -> str:
        async with self.app.state.sessions() as session, session.begin():
            await create_user(session, username, PASSWORD, now_ns=0)
        response = await self.http.post(
            "/auth/token", data={"username": username, "password": PASSWORD}
        )
        return str(response.json()["access_token"])

    @contextlib.asynccontextmanager
    async def client(
        self, token: str | None = None, query: str = "", **options: Any
    ) -> AsyncIterator[ClientConnection]:
        """A socket to /ws, authenticated by a first message when `token` is given."""
        async with connect(f"ws{self.base.removeprefix('http')}/ws{query}", **options) as ws:
            if token is not None:
                reply = await request(ws, op="auth", token=token)
                assert (reply["type"], reply["status"]) == ("auth", "ok")
            yield ws

    @property
    def pong(self) -> dict[str, Any]:
        """The answer to a ping: stamped with the server's (orders') clock."""
        return {"type": "pong", "now_ns": self.clock.now}

    def publish(self, snapshot: BookSnapshot) -> None:
        self.app.state.hub.on_book("binance", "BTC-USDT", lambda: snapshot, snapshot.ts_recv)


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **settings: Any) -> AsyncIterator[Server]:
    """The app under uvicorn; its fan-out loop does not tick unless a test asks for it."""
    clock = Clock()
    config = Settings(
        collect=False,
        exchanges={"binance": ["BTC-USDT"]},
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        jwt_secret=SECRET,
        **{"ws_book_interval_s": 3600.0, **settings},
    )
    app = create_app(config, clock=clock, run_engine=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        app.state.hub.register(
            InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.001"))
        )
        yield Server(app, base, http, clock)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running(tmp_path) as started:
        yield started


async def receive(ws: ClientConnection) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))


async def request(ws: ClientConnection, **message: Any) -> Any:
    await ws.send(orjson.dumps(message).decode())
    return await receive(ws)


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed):
        await receive(ws)
    return ws.close_code, ws.close_reason


def deep_book(depth: int, qty: str = "1", seq: int | None = None) -> BookSnapshot:
    bids = levels(*((str(100 - i), qty) for i in range(depth)))
    asks = levels(*((str(101 + i), qty) for i in range(depth)))
    return BookSnapshot("binance", "BTC-USDT", bids, asks, 7, 8, seq, 1)


# --- authentication -----------------------------------------------------------------


async def test_first_message_auth_is_acknowledged_with_the_user(server: Server) -> None:
    token = await server.token("alice")
    async with server.client() as ws:
        reply = await request(ws, op="auth", token=token)

    assert reply == {"type": "auth", "status": "ok", "user": "alice"}


async def test_token_in_the_url_authenticates_without_a_message(server: Server) -> None:
    token = await server.token("alice")
    async with server.client(query=f"?token={token}") as ws:
        greeting = await receive(ws)
        pong = await request(ws, op="ping")

    assert (greeting, pong) == ({"type": "auth", "status": "ok", "user": "alice"}, server.pong)


async def test_no_auth_in_time_closes_4401(tmp_path: Path) -> None:
    async with running(tmp_path, ws_auth_timeout_s=0.2) as server, server.client() as ws:
        code, reason = await closed(ws)

    assert (code, reason) == (4401, "authentication required")


@pytest.mark.parametrize("in_url", [False, True])
async def test_expired_token_gets_an_error_then_4401(server: Server, in_url: bool) -> None:
    token = await server.token("alice")
    server.app.state.token_clock = lambda: time.time() + 3600
    async with server.client(query=f"?token={token}" if in_url else "") as ws:
        if not in_url:
            await ws.send(orjson.dumps({"op": "auth", "token": token}).decode())
        error = await receive(ws)
        code, reason = await closed(ws)

    assert error == {"type": "error", "code": "unauthorized", "message": "token expired"}
    assert (code, reason) == (4401, "authentication required")


# --- requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code", "detail"),
    [
        (
            {"op": "subscribe", **BOOK, "symbol": "DOGE-USDT"},
            "unknown_symbol",
            "symbol 'DOGE-USDT' is not collected on binance; collected: BTC-USDT",
        ),
        (
            {"op": "subscribe", **BOOK, "exchange": "nyse"},
            "unknown_exchange",
            "exchange 'nyse' is not collected by this server",
        ),
        ({"op": "subscribe", "channel": "book"}, "bad_request", "missing field 'exchange'"),
        ({"op": "subscribe", "channel": "news"}, "bad_request", "unknown channel 'news'"),
        ({"op": "dance"}, "bad_request", "unknown op 'dance'"),
        ({"op": 5}, "bad_request", "field 'op' must be a string, not int"),
        ([1, 2], "bad_request", "message must be a JSON object, not list"),
    ],
)
async def test_a_bad_request_is_an_error_message_and_the_socket_stays_usable(
    server: Server, message: Any, code: str, detail: str
) -> None:
    async with server.client(await server.token("alice")) as ws:
        await ws.send(orjson.dumps(message).decode())
        error = await receive(ws)
        pong = await request(ws, op="ping")

    assert (error["type"], error["code"]) == ("error", code)
    assert error["message"].startswith(detail)
    assert pong == server.pong


async def test_malformed_json_is_a_bad_request(server: Server) -> None:
    async with server.client(await server.token("alice")) as ws:
        await ws.send("{not json")
        error = await receive(ws)

    assert (error["code"], error["message"][:27]) == ("bad_request", "message is not valid JSON: ")


# --- books --------------------------------------------------------------------------------


async def test_a_tick_sends_the_top_10_book_to_a_subscriber(server: Server) -> None:
    snapshot = deep_book(12)
    async with server.client(await server.token("alice")) as ws:
        subscribed = await request(ws, op="subscribe", **BOOK)
        server.publish(snapshot)
        server.ws.tick()
        message = await receive(ws)

    assert subscribed == {"type": "subscribed", **BOOK}
    assert message == book_to_record(snapshot, 10)
    assert (len(message["bids"]), len(message["asks"])) == (10, 10)


async def test_subscribers_get_the_same_text_serialized_once_per_tick(server: Server) -> None:
    token = await server.token("alice")
    async with server.client(token) as one, server.client(token) as two:
        for ws in (one, two):
            await request(ws, op="subscribe", **BOOK)
        server.publish(deep_book(3))
        server.ws.tick()
        texts = [await asyncio.wait_for(ws.recv(), WAIT_S) for ws in (one, two)]

    assert texts[0] == texts[1] == orjson.dumps(book_to_record(deep_book(3), 10)).decode()
    assert server.ws.books_serialized == 1


async def test_unsubscribed_client_gets_no_more_books(server: Server) -> None:
    async with server.client(await server.token("alice")) as ws:
        await request(ws, op="subscribe", **BOOK)
        unsubscribed = await request(ws, op="unsubscribe", **BOOK)
        server.publish(deep_book(3))
        server.ws.tick()
        after = await request(ws, op="ping")

    assert unsubscribed == {"type": "unsubscribed", **BOOK}
    assert after == server.pong  # replies keep their order: no book came first


async def test_the_fan_out_loop_ticks_on_its_own(tmp_path: Path) -> None:
    async with running(tmp_path, ws_book_interval_s=0.05) as server:
        server.publish(deep_book(1))
        async with server.client(await server.token("alice")) as ws:
            await request(ws, op="subscribe", **BOOK)
            message = await receive(ws)

    assert message == book_to_record(deep_book(1))


@contextlib.asynccontextmanager
async def stalled_reader(
    server: Server, token: str, close_timeout: float = 1
) -> AsyncIterator[ClientConnection]:
    """A client whose reads the test stops, with a tiny receive window (4 KB) and queue."""
    host, port = server.base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    options: dict[str, Any] = {
        "sock": sock,
        "max_queue": 1,
        "compression": None,
        "close_timeout": close_timeout,
    }
    async with server.client(token, **options) as ws:
        yield ws


async def test_a_client_that_does_not_read_does_not_delay_others(tmp_path: Path) -> None:
    # ~200 KB books, uncompressed, into a 4 KB receive window and a client that stopped
    # reading: the slow socket's buffers are full after a few MB, i.e. within ~20 rounds.
    fat_qty = "1." + "0" * 9_999 + "1"
    async with running(tmp_path, ws_send_queue=2) as server:
        token = await server.token("alice")
        async with (
            stalled_reader(server, token, close_timeout=0.1) as slow,
            server.client(token) as fast,
        ):
            for ws in (slow, fast):
                await request(ws, op="subscribe", **BOOK)
            for seq in range(200):
                server.publish(deep_book(10, qty=fat_qty, seq=seq))
                server.ws.tick()
                assert (await receive(fast))["seq"] == seq  # every tick, in order
                if any(outbox.dropped_books for outbox in server.ws.outboxes()):
                    break
            outboxes = server.ws.outboxes()

    assert sorted(bool(outbox.dropped_books) for outbox in outboxes) == [False, True]
    assert all(len(outbox) <= 2 for outbox in outboxes)


# --- orders -----------------------------------------------------------------------------


async def test_order_updates_reach_their_owner_only(server: Server) -> None:
    alice, bob = await server.token("alice"), await server.token("bob")
    server.publish(book(ts=server.clock.now))
    async with server.client(alice) as mine, server.client(bob) as other:
        for ws in (mine, other):
            assert await request(ws, op="subscribe", channel="orders") == {
                "type": "subscribed",
                "channel": "orders",
                "now_ns": server.clock.now,
            }
        auth = {"Authorization": f"Bearer {alice}"}
        accepted = await server.http.post("/orders/twap", json=order(), headers=auth)
        await server.app.state.engine.run_due(server.clock.now)
        update = await receive(mine)
        other_next = await request(other, op="ping")

    due = accepted.json()["schedule"][0]["due_ns"]
    assert update == {
        "type": "order",
        "token_id": "t-1",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "venues": None,
        "algorithm": "twap",
        "status": "working",
        "filled_qty": "0.1",
        "remaining_qty": "0.5",
        "average_price": "101",
        "slices_done": 1,
        "slices_total": 6,
        "next_slice_ns": due + 10 * S,
        "slice": {
            "index": 0,
            "due_ns": due,
            "executed_ns": server.clock.now,
            "target_qty": "0.1",
            "filled_qty": "0.1",
            "status": "filled",
            "reason": None,
            "book_mid": "100",
            "market_volume": "0",
        },
    }
    assert other_next == server.pong  # bob's socket got no order message before it


# --- shutdown ---------------------------------------------------------------


async def test_stopping_closes_open_sockets_with_1001(server: Server) -> None:
    async with server.client(await server.token("alice")) as ws:
        await server.ws.stop()
        code, _ = await closed(ws)

    assert code == 1001
