"""`TwapStream` against a fake /ws server (re-subscription pacing, resume point, unsubscribe)
and against the real one (the orders snapshot)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.server.test_ws import running
from tests.server.test_ws_orders import run_slices, submit
from twapclient import OrderMessage
from twapclient._stream import RESUME_MARGIN_NS, TwapStream, ws_url

WAIT_S = 10
# A fake server answers each subscription this long after it arrived; a client that
# sends the next one without waiting for the answer is caught with two in flight.
ANSWER_DELAY_S = 0.05
SERVER_NS = 1_700_000_000_000_000_000
SYMBOLS = [f"C{n}-USDT" for n in range(9)]


@dataclass
class FakeServer:
    """Answers auth, ping and (un)subscribe like twapserver; drops connections on demand."""

    url: str = ""
    connections: list[ServerConnection] = field(default_factory=list)
    ops: list[list[dict[str, Any]]] = field(default_factory=list)  # per connection
    most_in_flight: int = 0
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    _in_flight: int = 0

    async def handle(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        ops: list[dict[str, Any]] = []
        self.ops.append(ops)
        answers: set[asyncio.Task[None]] = set()
        with contextlib.suppress(ConnectionClosed):  # drop() cuts it
            await self._serve(ws, ops, answers)

    async def _serve(
        self, ws: ServerConnection, ops: list[dict[str, Any]], answers: set[asyncio.Task[None]]
    ) -> None:
        async for raw in ws:
            op = json.loads(raw)
            ops.append(op)
            if op["op"] == "auth":
                await ws.send(json.dumps({"type": "auth", "status": "ok", "user": "alice"}))
            elif op["op"] == "ping":
                await ws.send(json.dumps({"type": "pong", "now_ns": SERVER_NS}))
            else:
                self._in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self._in_flight)
                reply = {k: v for k, v in op.items() if k not in ("op", "since_ns")}
                reply["type"] = f"{op['op']}d"
                answers.add(asyncio.create_task(self._answer_later(ws, reply)))

    async def _answer_later(self, ws: ServerConnection, reply: dict[str, Any]) -> None:
        await asyncio.sleep(ANSWER_DELAY_S)
        self._in_flight -= 1
        await ws.send(json.dumps(reply))
        self.answered.set()

    async def drop(self) -> None:
        """Cut the latest connection as a network failure would."""
        self.connections[-1].transport.abort()

    async def until_ops(self, connection: int, count: int) -> list[dict[str, Any]]:
        """The ops of the `connection`-th connection once it has sent `count` and all are
        answered."""
        async with asyncio.timeout(WAIT_S):
            while (
                len(self.ops) <= connection
                or len(self.ops[connection]) < count
                or (self._in_flight)
            ):
                self.answered.clear()
                await self.answered.wait()
        return self.ops[connection]


@contextlib.asynccontextmanager
async def fake_server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    async with serve(fake.handle, "127.0.0.1", 0) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        fake.url = f"ws://{host}:{port}/ws"
        yield fake


async def token(refreshed: bool) -> str:
    return "a-token"


async def test_reconnecting_re_subscribes_one_at_a_time_and_resumes_orders() -> None:
    async with fake_server() as fake, TwapStream(fake.url, token, initial_backoff_s=0.01) as s:
        await s.subscribe_orders()
        for symbol in SYMBOLS:
            await s.subscribe_book("binance", symbol)
        await s.ping()  # the server's clock: SERVER_NS
        await fake.drop()
        resent = await fake.until_ops(1, 1 + 1 + len(SYMBOLS))

    assert fake.most_in_flight == 1
    assert resent[0]["op"] == "auth"
    assert resent[1] == {
        "op": "subscribe",
        "channel": "orders",
        "since_ns": SERVER_NS - RESUME_MARGIN_NS,
    }
    assert [op["symbol"] for op in resent[2:]] == SYMBOLS


async def test_an_unsubscribed_book_is_not_re_subscribed_after_a_reconnect() -> None:
    async with fake_server() as fake, TwapStream(fake.url, token, initial_backoff_s=0.01) as s:
        await s.subscribe_book("binance", "BTC-USDT")
        await s.subscribe_book("binance", "ETH-USDT")
        await s.unsubscribe_book("binance", "BTC-USDT")
        first = [op["op"] for op in fake.ops[0][1:]]
        await fake.drop()
        resent = await fake.until_ops(1, 2)

    assert first == ["subscribe", "subscribe", "unsubscribe"]
    assert [(op["op"], op["symbol"]) for op in resent[1:]] == [("subscribe", "ETH-USDT")]


async def test_subscribing_to_orders_yields_the_open_orders_first(tmp_path: Path) -> None:
    async with running(tmp_path) as server:
        alice = await server.token("alice")
        await run_slices(server)
        await submit(server, alice, "open-1")
        await run_slices(server)

        async def access(refreshed: bool) -> str:
            return alice

        async with TwapStream(ws_url(server.base), access) as stream:
            await stream.subscribe_orders()
            first = await asyncio.wait_for(anext(stream), WAIT_S)

    assert isinstance(first, OrderMessage)
    assert (first.token_id, first.status.value, first.slices_done) == ("open-1", "working", 1)
