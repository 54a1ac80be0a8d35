"""/ws order updates under real uvicorn: from the bus, bursts, and the (re)subscribe snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from tests.core.builders import book
from tests.server.fake_venues import WAIT_S
from tests.server.test_orders_api import order
from tests.server.test_ws import S, Server, receive, request, running
from twapserver.bus import OrderUpdate
from twapserver.db.models import UserRow

FINAL = {"completed", "expired", "cancelled"}


async def submit(server: Server, token: str, *token_ids: str, **changes: Any) -> None:
    """Submit orders at once (concurrent POSTs), each of them accepted."""
    auth = {"Authorization": f"Bearer {token}"}
    responses = await asyncio.gather(
        *(
            server.http.post("/orders/twap", json=order(token_id=t, **changes), headers=auth)
            for t in token_ids
        )
    )
    assert [r.status_code for r in responses] == [201] * len(token_ids), responses[0].text


async def user_id_of(server: Server, username: str) -> int:
    async with server.app.state.sessions() as session:
        return int(await session.scalar(select(UserRow.id).where(UserRow.username == username)))


async def run_slices(server: Server, seconds: float = 0) -> None:
    """Advance the clock, publish a fresh book, and let the engine run what is due."""
    server.clock.now += int(seconds * S)
    server.publish(book(ts=server.clock.now))
    await server.app.state.engine.run_due(server.clock.now)


async def until_final(ws: Any, token_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Read order messages until each of `token_ids` reached a final state; the last of each."""
    last: dict[str, dict[str, Any]] = {}
    while not all(last.get(t, {}).get("status") in FINAL for t in token_ids):
        message = await receive(ws)
        if message["type"] == "order":
            last[message["token_id"]] = message
    return last


async def test_an_update_published_on_the_bus_reaches_the_owners_subscribers(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as server:
        alice = await server.token("alice")
        async with server.client(alice) as ws:
            await request(ws, op="subscribe", channel="orders")
            user_id = await user_id_of(server, "alice")
            payload = '{"type":"order","token_id":"from-the-bus"}'
            server.app.state.order_events.order_updated(
                OrderUpdate(user_id, 99, "from-the-bus", False, payload)
            )
            text = await asyncio.wait_for(ws.recv(), WAIT_S)

    assert text == payload


async def test_twelve_orders_at_once_reach_a_reading_subscriber_that_stays_open(
    tmp_path: Path,
) -> None:
    token_ids = {f"burst-{n}" for n in range(12)}
    async with running(tmp_path) as server:  # the default queues: 8 books, 16 replies
        alice = await server.token("alice")
        async with server.client(alice) as ws:
            await request(ws, op="subscribe", channel="orders")
            await run_slices(server)
            await submit(server, alice, *sorted(token_ids), quantity="0.06")
            reader = asyncio.create_task(until_final(ws, token_ids))
            await run_slices(server)  # 12 first slices, committed and published together
            for _ in range(6):
                await run_slices(server, 10)
            last = await asyncio.wait_for(reader, WAIT_S)
            pong = await request(ws, op="ping")

    assert set(last) == token_ids
    assert {m["status"] for m in last.values()} == {"completed"}
    assert pong == server.pong


async def test_subscribing_sends_the_users_open_orders_first(tmp_path: Path) -> None:
    async with running(tmp_path) as server:
        alice, bob = await server.token("alice"), await server.token("bob")
        await run_slices(server)
        await submit(server, alice, "open-1")
        await run_slices(server)  # one slice done
        async with server.client(alice) as mine, server.client(bob) as other:
            ack = await request(mine, op="subscribe", channel="orders")
            snapshot = await receive(mine)
            await request(other, op="subscribe", channel="orders")
            other_next = await request(other, op="ping")

    assert ack == {"type": "subscribed", "channel": "orders", "now_ns": server.clock.now}
    assert (snapshot["type"], snapshot["token_id"], snapshot["status"]) == (
        "order",
        "open-1",
        "working",
    )
    assert (snapshot["slices_done"], snapshot["filled_qty"], snapshot["slice"]) == (
        1,
        "0.1",
        None,
    )
    assert other_next == server.pong  # bob's snapshot holds none of alice's orders


async def test_a_reconnecting_client_gets_what_ended_since_its_last_ack(tmp_path: Path) -> None:
    async with running(tmp_path) as server:
        alice = await server.token("alice")
        await run_slices(server)
        await submit(server, alice, "ends-while-away", duration_s=10, slices=2)
        await run_slices(server)  # the first of two slices
        async with server.client(alice) as ws:
            ack = await request(ws, op="subscribe", channel="orders")
            before = await receive(ws)  # the snapshot
        await run_slices(server, 10)  # the order completes while the client is away
        async with server.client(alice) as ws:
            await request(ws, op="subscribe", channel="orders", since_ns=ack["now_ns"])
            resumed = await receive(ws)
            since_later = server.clock.now + 1
            later = await request(ws, op="subscribe", channel="orders", since_ns=since_later)
            after_later = await request(ws, op="ping")

    assert (before["status"], before["slices_done"]) == ("working", 1)
    assert (resumed["token_id"], resumed["status"]) == ("ends-while-away", "completed")
    assert resumed["slices_done"] == resumed["slices_total"] == 2
    assert later["type"] == "subscribed"
    assert after_later == server.pong  # nothing ended after since_ns: no snapshot entry


async def test_a_snapshot_entry_says_what_the_live_update_said(tmp_path: Path) -> None:
    async with running(tmp_path) as server:
        alice = await server.token("alice")
        await run_slices(server)
        async with server.client(alice) as ws:
            await request(ws, op="subscribe", channel="orders")
            await submit(server, alice, "same", duration_s=10, slices=2)
            await run_slices(server)
            await run_slices(server, 10)
            live = (await until_final(ws, {"same"}))["same"]
            await request(ws, op="unsubscribe", channel="orders")
            await request(ws, op="subscribe", channel="orders", since_ns=0)
            snapshot = await receive(ws)

    assert snapshot == {**live, "slice": None}


async def test_a_bad_since_ns_is_refused_naming_it(tmp_path: Path) -> None:
    async with running(tmp_path) as server, server.client(await server.token("alice")) as ws:
        error = await request(ws, op="subscribe", channel="orders", since_ns="yesterday")

    assert (error["type"], error["code"]) == ("error", "bad_request")
    assert error["message"].endswith("(ns since the epoch), not 'yesterday'")


async def test_a_snapshot_the_database_cannot_give_is_an_error_and_updates_still_come(
    tmp_path: Path,
) -> None:
    unreachable = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/twap.db")
    async with running(tmp_path) as server:
        alice = await server.token("alice")
        async with server.client(alice) as ws:
            working, server.app.state.sessions = (
                server.app.state.sessions,
                (async_sessionmaker(unreachable)),
            )
            ack = await request(ws, op="subscribe", channel="orders")
            error = await receive(ws)
            server.app.state.sessions = working
            user_id = await user_id_of(server, "alice")
            server.app.state.order_events.order_updated(
                OrderUpdate(user_id, 1, "t", False, '{"type":"order","token_id":"t"}')
            )
            update = await receive(ws)
    await unreachable.dispose()

    assert ack["type"] == "subscribed"
    assert (error["type"], error["code"]) == ("error", "snapshot_unavailable")
    assert update == {"type": "order", "token_id": "t"}
