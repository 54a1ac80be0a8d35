"""/ws limits under real uvicorn: message size, connection and subscription caps,
pipelined requests, idle clients (with an injected clock)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.server.fake_venues import WAIT_S
from tests.server.test_ws import (
    BOOK,
    closed,
    deep_book,
    receive,
    request,
    running,
    stalled_reader,
)

BIG = "x" * (1 << 20)  # a 1 MiB message


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_1_mib_message_before_auth_closes_1009_naming_the_limit(tmp_path: Path) -> None:
    async with running(tmp_path) as server, server.client() as ws:
        await ws.send(BIG)
        code, reason = await closed(ws)

    assert (code, reason) == (1009, f"message of {len(BIG)} bytes is over the limit of 4096")


async def test_a_message_over_the_limit_after_auth_closes_1009(tmp_path: Path) -> None:
    async with (
        running(tmp_path, ws_max_message_bytes=1024) as server,
        server.client(await server.token("alice")) as ws,
    ):
        fits = await request(ws, op="ping", pad="x" * 900)
        too_big = orjson.dumps({"op": "ping", "pad": "x" * 1024}).decode()
        await ws.send(too_big)
        code, reason = await closed(ws)

    assert fits == server.pong
    assert (code, reason) == (1009, f"message of {len(too_big)} bytes is over the limit of 1024")


async def test_connections_past_the_unauthenticated_cap_close_1013(tmp_path: Path) -> None:
    async with running(tmp_path, ws_max_unauthenticated=2) as server:
        token = await server.token("alice")
        async with server.client() as first, server.client() as _second:
            async with server.client() as third:
                refused = await closed(third)
            await request(first, op="auth", token=token)  # no longer counts
            async with server.client(token) as fourth:
                admitted = await request(fourth, op="ping")

    assert refused == (1013, "try again later: too many connections are authenticating")
    assert admitted == server.pong
    assert server.ws.unauthenticated == 0


async def test_subscriptions_past_the_cap_are_refused_naming_the_limit(tmp_path: Path) -> None:
    async with (
        running(tmp_path, ws_max_subscriptions=1) as server,
        server.client(await server.token("alice")) as ws,
    ):
        await request(ws, op="subscribe", **BOOK)
        again = await request(ws, op="subscribe", **BOOK)  # the same one: no new slot
        refused = await request(ws, op="subscribe", channel="orders")
        await request(ws, op="unsubscribe", **BOOK)
        after_unsubscribe = await request(ws, op="subscribe", channel="orders")

    assert again == {"type": "subscribed", **BOOK}
    assert refused == {
        "type": "error",
        "code": "too_many_subscriptions",
        "message": "this connection already holds 1 subscriptions, the limit; "
        "unsubscribe from one first",
    }
    assert after_unsubscribe["type"] == "subscribed"


async def test_pipelined_pings_are_all_answered_and_the_socket_stays_open(
    tmp_path: Path,
) -> None:
    # Far more requests than the reply budget, sent before reading a single reply.
    async with (
        running(tmp_path, ws_reply_queue=4) as server,
        server.client(await server.token("alice")) as ws,
    ):
        for _ in range(40):
            await ws.send('{"op":"ping"}')
        pongs = [await receive(ws) for _ in range(40)]
        still_open = await request(ws, op="ping")

    assert pongs == [server.pong] * 40
    assert still_open == server.pong


async def drained_until_closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read everything the server had sent; the close code and reason that came after."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.recv()
    return ws.close_code, ws.close_reason


async def test_a_client_that_reads_nothing_is_closed_4408_and_a_reader_is_not(
    tmp_path: Path,
) -> None:
    fat_qty = "1." + "0" * 9_999 + "1"  # ~200 KB books fill the slow socket's buffers fast
    async with running(tmp_path, ws_send_queue=1, ws_idle_timeout_s=30) as server:
        clock = server.ws.monotonic = FakeMonotonic()
        token = await server.token("alice")
        async with stalled_reader(server, token) as slow, server.client(token) as fast:
            for ws in (slow, fast):
                await request(ws, op="subscribe", **BOOK)
            for seq in range(200):
                server.publish(deep_book(10, qty=fat_qty, seq=seq))
                server.ws.tick()
                await receive(fast)
                if any(outbox.dropped_books for outbox in server.ws.outboxes()):
                    break  # the slow client's sender is blocked: its books pile up
            clock.now += 29
            early = server.ws.close_idle()
            clock.now += 2
            idle = server.ws.close_idle()
            async with asyncio.timeout(WAIT_S):  # read again: what was sent, then the close
                code, reason = await drained_until_closed(slow)
            pong = await request(fast, op="ping")
            remaining = len(server.ws.outboxes())

    assert (early, len(idle)) == ([], 1)
    assert (code, reason) == (4408, "idle: read nothing for 30 s")
    assert (pong, remaining) == (server.pong, 1)  # the reader was left alone
