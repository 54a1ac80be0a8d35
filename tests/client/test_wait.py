"""`wait()`: until an order ends, over polling (sync) or the WebSocket with a polling fallback."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.client.demo_server import DemoServer
from tests.client.test_sdk import FakeApi, _order, _tokens
from tests.server.server_process import free_port
from twapclient import (
    AsyncTwapClient,
    Order,
    OrderMessage,
    TwapClient,
    WaitTimeout,
)
from twapclient._wait import OrderWait
from twapcore import OrderStatus

Update = Order | OrderMessage


def _detail(status: str, filled: str = "0.125", slices_done: int = 5) -> dict[str, Any]:
    return {
        **_order("t1", status),
        "filled_qty": filled,
        "slices_done": slices_done,
        "fills": [],
        "slices": [],
        "schedule": [],
        "analytics": {},
    }


def _answers(*bodies: dict[str, Any]) -> FakeApi:
    """A fake API answering GET /orders/t1 with `bodies` in turn (the last one forever)."""
    left = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/orders/t1"
        return httpx.Response(200, json=left.pop(0) if len(left) > 1 else left[0])

    return FakeApi(handler)


# --- the sans-I/O state -------------------------------------------------------------------


def test_pause_is_the_poll_interval_cut_at_the_deadline_then_a_timeout() -> None:
    waiting = OrderWait("t1", timeout_s=2.5, poll_interval_s=1.0, now=100.0)

    assert waiting.pause(100.0) == 1.0
    assert waiting.pause(102.0) == 0.5
    with pytest.raises(WaitTimeout) as raised:
        waiting.pause(102.5)
    assert raised.value.token_id == "t1"
    assert "order 't1' did not end within 2.5 s (still unknown)" in str(raised.value)


def test_without_a_timeout_the_pause_is_always_the_poll_interval() -> None:
    waiting = OrderWait("t1", timeout_s=None, poll_interval_s=0.25, now=0.0)

    assert waiting.pause(1e9) == 0.25


def test_each_distinct_state_is_reported_once_and_the_final_one_ends_the_wait() -> None:
    reported: list[tuple[str, Decimal]] = []
    waiting = OrderWait(
        "t1", None, 1.0, 0.0, on_update=lambda u: reported.append((u.status.value, u.filled_qty))
    )
    states = [
        _detail("working", "0.1", 1),
        _detail("working", "0.1", 1),  # read again: no news
        _detail("working", "0.2", 2),
        _detail("completed", "0.5", 20),
    ]

    ended = [waiting.seen(Order.model_validate(state)) for state in states]

    assert ended == [False, False, False, True]
    assert reported == [
        ("working", Decimal("0.1")),
        ("working", Decimal("0.2")),
        ("completed", Decimal("0.5")),
    ]


def test_an_older_state_arriving_late_is_not_reported() -> None:
    # E.g. the stream's snapshot, read before the REST poll it is delivered after.
    reported: list[Decimal] = []
    waiting = OrderWait("t1", None, 1.0, 0.0, on_update=lambda u: reported.append(u.filled_qty))
    states = [
        _detail("working", "0.2", 2),
        _detail("working", "0", 0),
        _detail("working", "0.3", 3),
    ]

    for state in states:
        waiting.seen(Order.model_validate(state))

    assert reported == [Decimal("0.2"), Decimal("0.3")]


def test_bad_timeouts_and_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout -1 s must not be negative"):
        OrderWait("t1", -1, 1.0, 0.0)
    with pytest.raises(ValueError, match="poll interval 0 s must be positive"):
        OrderWait("t1", None, 0, 0.0)


# --- the sync client (polling) ------------------------------------------------------------


def test_sync_wait_polls_until_the_order_ends_and_returns_it() -> None:
    api = _answers(
        _detail("working", "0.1", 1), _detail("working", "0.3", 3), _detail("expired", "0.3", 3)
    )
    seen: list[Update] = []

    with api.client(tokens=_tokens()) as client:
        final = client.wait("t1", timeout=30, poll_interval_s=0.001, on_update=seen.append)

    assert final.status is OrderStatus.EXPIRED
    assert [s.filled_qty for s in seen] == [Decimal("0.1"), Decimal("0.3"), Decimal("0.3")]
    assert [method for method, *_ in api.seen] == ["GET"] * 3


def test_sync_wait_times_out_naming_the_order_and_its_last_status() -> None:
    api = _answers(_detail("working"))

    with api.client(tokens=_tokens()) as client, pytest.raises(WaitTimeout) as raised:
        client.wait("t1", timeout=0)

    assert (raised.value.token_id, raised.value.status) == ("t1", "working")
    assert "keeps working on the server" in str(raised.value)
    assert len(api.seen) == 1  # read once, then out of time


# --- against the demo server --------------------------------------------------------------


class _Forward(httpx.AsyncBaseTransport):
    """Sends every HTTP request to `target` instead (the WebSocket is not an HTTP request)."""

    def __init__(self, target: str) -> None:
        self._target = httpx.URL(target)
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host=self._target.host, port=self._target.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _submit(client: AsyncTwapClient, token_id: str, duration_s: int, slices: int) -> None:
    await client.submit_twap(
        token_id, "binance", "BTC-USDT", "buy", "0.001", "1000000", duration_s, slices=slices
    )


@pytest.mark.slow
def test_sync_wait_returns_the_completed_order_of_the_demo_server(server: DemoServer) -> None:
    token_id = f"wait-sync-{time.time_ns()}"
    with TwapClient(server.url) as client:
        client.login(server.username, server.password)
        client.submit_twap(
            token_id, "binance", "BTC-USDT", "buy", "0.001", "1000000", duration_s=2, slices=2
        )
        final = client.wait(token_id, timeout=30, poll_interval_s=0.2)

    assert (final.status, final.filled_qty) == (OrderStatus.COMPLETED, Decimal("0.001"))
    assert sum(f.qty for f in final.fills) == Decimal("0.001")


@pytest.mark.slow
async def test_async_wait_follows_the_stream_until_the_order_completes(
    server: DemoServer, caplog: pytest.LogCaptureFixture
) -> None:
    token_id = f"wait-ws-{time.time_ns()}"
    seen: list[Update] = []
    caplog.set_level(logging.WARNING, logger="twapclient")

    async with AsyncTwapClient(server.url) as client:
        await client.login(server.username, server.password)
        await _submit(client, token_id, duration_s=2, slices=2)
        final = await client.wait(token_id, timeout=30, on_update=seen.append)

    assert (final.status, final.filled_qty) == (OrderStatus.COMPLETED, Decimal("0.001"))
    assert any(isinstance(update, OrderMessage) for update in seen)  # pushed, not polled
    assert [u.filled_qty for u in seen] == sorted(u.filled_qty for u in seen)
    assert seen[-1].status is OrderStatus.COMPLETED
    assert not caplog.records  # no fallback to polling


@pytest.mark.slow
async def test_async_wait_polls_when_the_websocket_cannot_connect(
    server: DemoServer, caplog: pytest.LogCaptureFixture
) -> None:
    token_id = f"wait-poll-{time.time_ns()}"
    caplog.set_level(logging.WARNING, logger="twapclient")
    # REST reaches the server through the transport; the WebSocket finds nobody at this port.
    nobody = f"http://127.0.0.1:{free_port()}"

    async with AsyncTwapClient(nobody, transport=_Forward(server.url)) as client:
        await client.login(server.username, server.password)
        await _submit(client, token_id, duration_s=2, slices=2)
        final = await client.wait(token_id, timeout=30, poll_interval_s=0.2)

    assert (final.status, final.filled_qty) == (OrderStatus.COMPLETED, Decimal("0.001"))
    [warning] = [record.getMessage() for record in caplog.records]
    ws = nobody.replace("http://", "ws://")
    assert warning.startswith(
        f"live updates of order {token_id!r} unavailable (cannot open the WebSocket at {ws}/ws"
    )
    assert warning.endswith("; polling every 0.2 s")


@pytest.mark.slow
async def test_async_wait_times_out_and_the_order_keeps_working(server: DemoServer) -> None:
    token_id = f"wait-timeout-{time.time_ns()}"

    async with asyncio.timeout(30), AsyncTwapClient(server.url) as client:
        await client.login(server.username, server.password)
        await _submit(client, token_id, duration_s=120, slices=4)
        with pytest.raises(WaitTimeout) as raised:
            await client.wait(token_id, timeout=0.5)
        still = await client.order(token_id)
        await client.cancel(token_id)
        cancelled = await client.wait(token_id, timeout=10)

    assert (raised.value.token_id, raised.value.status) == (token_id, "working")
    assert still.status is OrderStatus.WORKING
    assert cancelled.status is OrderStatus.CANCELLED
