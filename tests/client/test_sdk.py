"""The Python SDK: unit behaviour against `httpx.MockTransport`, then a real demo server."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from tests.client.demo_server import DemoServer, eventually
from tests.conftest import REPO_ROOT
from tests.server.server_process import free_port
from twapclient import (
    ApiError,
    AsyncTwapClient,
    AuthenticationError,
    BookMessage,
    NotFoundError,
    OrderMessage,
    OrderRejected,
    ServerError,
    StreamError,
    Tokens,
    TransportError,
    TwapClient,
    TwapClientError,
    ValidationError,
)
from twapcore import OrderStatus, Side

URL = "http://twap.test"
NOW = 1_700_000_000.0
Handler = Callable[[httpx.Request], httpx.Response]


def _tokens(access: str = "a1", refresh: str = "r1", refresh_at: float = NOW + 600) -> Tokens:
    return Tokens(
        access_token=access,
        refresh_token=refresh,
        expires_at=refresh_at + 30,
        refresh_at=refresh_at,
    )


def _token_body(access: str, refresh: str, expires_in: int = 900) -> dict[str, Any]:
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": expires_in,
    }


def _order(token_id: str, status: str = "working") -> dict[str, Any]:
    return {
        "token_id": token_id,
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "status": status,
        "quantity": "0.5",
        "filled_qty": "0.125",
        "remaining_qty": "0.375",
        "average_price": "61840.12",
        "limit_price": "70000",
        "slices_done": 5,
        "slices_total": 20,
        "next_slice_ns": 1723161450000000000,
        "created_ns": 1723161300000000000,
        "updated_ns": 1723161420000000000,
    }


class FakeApi:
    """Answers requests with `handler` and remembers them (method, path, query, auth, body)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.seen: list[tuple[str, str, str, str | None]] = []
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization")
        self.seen.append((request.method, request.url.path, request.url.query.decode(), auth))
        self.bodies.append(request.read())
        return self._handler(request)

    def client(self, **options: Any) -> TwapClient:
        return TwapClient(URL, transport=httpx.MockTransport(self), clock=lambda: NOW, **options)

    def async_client(self, **options: Any) -> AsyncTwapClient:
        transport = httpx.MockTransport(self)
        return AsyncTwapClient(URL, transport=transport, clock=lambda: NOW, **options)


def _expiring_once(request: httpx.Request) -> httpx.Response:
    """Refreshes r1 into a2/r2; `a1` is expired, `a2` works."""
    if request.url.path == "/auth/refresh":
        return httpx.Response(200, json=_token_body("a2", "r2"))
    if request.headers["authorization"] == "Bearer a1":
        return httpx.Response(401, json={"detail": "token expired"})
    return httpx.Response(200, json={"orders": [_order("t1")], "next_after": None})


# --- session ------------------------------------------------------------------------------


def test_login_posts_the_password_form_and_keeps_the_tokens() -> None:
    api = FakeApi(lambda request: httpx.Response(200, json=_token_body("a1", "r1", 900)))
    saved: list[Tokens] = []

    tokens = api.client(on_tokens=saved.append).login("alice", "correct horse")

    assert api.seen == [("POST", "/auth/token", "", None)]
    assert parse_qs(api.bodies[0].decode()) == {
        "username": ["alice"],
        "password": ["correct horse"],
        "grant_type": ["password"],
    }
    assert (tokens.access_token, tokens.expires_at, tokens.refresh_at) == (
        "a1",
        NOW + 900,
        NOW + 870,
    )
    assert saved == [tokens]


def test_an_expired_access_token_is_refreshed_once_and_the_request_retried() -> None:
    api = FakeApi(_expiring_once)
    saved: list[Tokens] = []

    page = api.client(tokens=_tokens("a1", "r1"), on_tokens=saved.append).orders()

    assert [(method, path, auth) for method, path, _, auth in api.seen] == [
        ("GET", "/orders", "Bearer a1"),
        ("POST", "/auth/refresh", None),
        ("GET", "/orders", "Bearer a2"),
    ]
    assert orjson.loads(api.bodies[1]) == {"refresh_token": "r1"}
    assert [t.access_token for t in saved] == ["a2"]
    assert page.orders[0].token_id == "t1"


def test_a_token_still_expired_after_the_refresh_is_not_retried_again() -> None:
    def always_expired(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/refresh":
            return httpx.Response(200, json=_token_body("a2", "r2"))
        return httpx.Response(401, json={"detail": "token expired"})

    api = FakeApi(always_expired)

    with pytest.raises(AuthenticationError, match="token expired") as raised:
        api.client(tokens=_tokens()).order("t1")

    assert [path for _, path, _, _ in api.seen] == ["/orders/t1", "/auth/refresh", "/orders/t1"]
    assert raised.value.status_code == 401


def test_a_token_due_for_refresh_is_refreshed_before_the_request() -> None:
    api = FakeApi(_expiring_once)

    api.client(tokens=_tokens("a1", "r1", refresh_at=NOW - 1)).orders()

    assert [(path, auth) for _, path, _, auth in api.seen] == [
        ("/auth/refresh", None),
        ("/orders", "Bearer a2"),
    ]


def test_a_session_refreshed_by_another_process_is_adopted_instead_of_refreshing() -> None:
    # The server rotates refresh tokens: spending r1 again would revoke the user.
    api = FakeApi(_expiring_once)
    elsewhere = _tokens("a2", "r2")

    api.client(
        tokens=_tokens("a1", "r1", refresh_at=NOW - 1), stored_tokens=lambda: elsewhere
    ).orders()

    assert [(path, auth) for _, path, _, auth in api.seen] == [("/orders", "Bearer a2")]


def test_a_stored_session_that_is_also_due_is_refreshed() -> None:
    api = FakeApi(_expiring_once)
    stale = _tokens("a0", "r0", refresh_at=NOW - 5)

    api.client(tokens=_tokens("a1", "r1", refresh_at=NOW - 1), stored_tokens=lambda: stale).orders()

    assert [path for _, path, _, _ in api.seen] == ["/auth/refresh", "/orders"]
    assert orjson.loads(api.bodies[0]) == {"refresh_token": "r1"}


def test_a_refused_refresh_asks_to_log_in_again() -> None:
    def refresh_refused(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "token expired"})

    with pytest.raises(AuthenticationError, match="token expired: the session cannot be refreshed"):
        FakeApi(refresh_refused).client(tokens=_tokens(refresh_at=NOW - 1)).orders()


def test_other_401s_are_not_refreshed() -> None:
    api = FakeApi(lambda request: httpx.Response(401, json={"detail": "invalid token"}))

    with pytest.raises(AuthenticationError, match=r"invalid token \(HTTP 401\)"):
        api.client(tokens=_tokens()).orders()

    assert len(api.seen) == 1


def test_authenticated_calls_without_a_session_send_nothing() -> None:
    api = FakeApi(lambda request: httpx.Response(200))

    with pytest.raises(
        AuthenticationError, match=re.escape("not logged in to http://twap.test")
    ) as raised:
        api.client().cancel("t1")

    assert (api.seen, raised.value.status_code) == ([], None)


async def test_the_async_client_refreshes_and_retries_the_same_way() -> None:
    api = FakeApi(_expiring_once)

    async with api.async_client(tokens=_tokens("a1", "r1")) as client:
        page = await client.orders()

    assert [auth for _, _, _, auth in api.seen] == ["Bearer a1", None, "Bearer a2"]
    assert client.tokens is not None and client.tokens.access_token == "a2"
    assert page.orders[0].status is OrderStatus.WORKING


# --- errors -------------------------------------------------------------------------------

VALIDATION_BODY = {
    "detail": [{"type": "greater_than_equal", "loc": ["query", "limit"], "msg": "…", "input": "0"}],
    "message": "query.limit: Input should be greater than or equal to 1 (got '0')",
}


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (401, {"detail": "incorrect username or password"}, AuthenticationError,
         "incorrect username or password (HTTP 401)"),
        (404, {"detail": "exchange 'ftx' is not collected by this server"}, NotFoundError,
         "exchange 'ftx' is not collected by this server (HTTP 404)"),
        (422, VALIDATION_BODY, ValidationError,
         "query.limit: Input should be greater than or equal to 1 (got '0') (HTTP 422)"),
        (409, {"detail": "order 'abc' is already completed"}, ApiError,
         "order 'abc' is already completed (HTTP 409)"),
        (413, {"detail": "request body of 70000 bytes exceeds 65536"}, ApiError,
         "request body of 70000 bytes exceeds 65536 (HTTP 413)"),
        (500, "Internal Server Error", ServerError, "Internal Server Error (HTTP 500)"),
        (503, {"detail": "database unavailable"}, ServerError, "database unavailable (HTTP 503)"),
    ],
)  # fmt: skip
def test_error_statuses_map_to_one_exception_each(
    status: int, body: Any, error: type[ApiError], message: str
) -> None:
    content = {"json": body} if isinstance(body, dict) else {"text": body}
    api = FakeApi(lambda request: httpx.Response(status, **content))

    with pytest.raises(ApiError) as raised:
        api.client().symbols("ftx")

    assert type(raised.value) is error
    assert (str(raised.value), raised.value.status_code) == (message, status)


def test_validation_errors_keep_the_servers_field_errors() -> None:
    api = FakeApi(lambda request: httpx.Response(422, json=VALIDATION_BODY))

    with pytest.raises(ValidationError) as raised:
        api.client().klines("binance", "BTC-USDT", limit=0)

    assert raised.value.errors[0]["loc"] == ["query", "limit"]
    assert api.seen[0][2] == "interval=1m&limit=0"


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (
            422,
            "below_lot_size",
            "quantity 0.000001 is below the lot size 0.00001 of binance BTC-USDT",
        ),
        (409, "duplicate_token_id", "token_id 't1' was already used"),
    ],
)
def test_rejections_carry_reason_message_and_status(status: int, reason: str, message: str) -> None:
    body = {"status": "rejected", "reason": reason, "message": message}
    api = FakeApi(lambda request: httpx.Response(status, json=body))

    with pytest.raises(OrderRejected) as raised:
        api.client(tokens=_tokens()).submit_twap(
            "t1", "binance", "BTC-USDT", "buy", "0.000001", "70000", 60, slices=2
        )

    rejected = raised.value
    assert (rejected.reason, rejected.message, rejected.status_code) == (reason, message, status)
    assert str(rejected) == f"order rejected ({reason}): {message}"


def test_submit_sends_exact_decimals_and_leaves_out_unset_options() -> None:
    accepted = {
        "status": "accepted",
        "token_id": "t1",
        "order": _order("t1", "accepted"),
        "schedule": [
            {"index": 0, "due_ns": 1, "qty": "0.25"},
            {"index": 1, "due_ns": 2, "qty": "0.25"},
        ],
    }
    api = FakeApi(lambda request: httpx.Response(201, json=accepted))

    result = api.client(tokens=_tokens()).submit_twap(
        "t1", "binance", "BTC-USDT", Side.BUY, Decimal("0.50"), "70000.10", 60, interval_s="30"
    )

    assert orjson.loads(api.bodies[0]) == {
        "token_id": "t1",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "quantity": "0.50",
        "limit_price": "70000.10",
        "duration_s": "60",
        "interval_s": "30",
    }
    assert result.order.limit_price == Decimal("70000")
    assert [s.qty for s in result.schedule] == [Decimal("0.25")] * 2


def test_connection_refused_names_the_server_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with TwapClient(url) as client, pytest.raises(TransportError) as raised:
        client.health()

    assert str(raised.value).startswith(f"cannot reach the twap server at {url}: ")
    assert raised.value.url == url


def test_timeouts_are_transport_errors_naming_the_server_url() -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(
        TransportError, match=re.escape("the twap server at http://twap.test did not answer")
    ):
        FakeApi(too_slow).client().exchanges()


def test_a_url_without_http_scheme_is_refused() -> None:
    with pytest.raises(TwapClientError, match="server URL 'localhost:8000' must start with http"):
        TwapClient("localhost:8000")


def test_an_unexpected_success_body_is_an_api_error() -> None:
    api = FakeApi(lambda request: httpx.Response(200, json={"not": "a list"}))

    with pytest.raises(
        ApiError, match=re.escape("unexpected response to GET http://twap.test/exchanges")
    ):
        api.client().exchanges()


# --- pagination ---------------------------------------------------------------------------


def _paged(request: httpx.Request) -> httpx.Response:
    """Orders t5..t1 newest first, two per page; the cursor is the last id of a page."""
    after = request.url.params.get("after")
    pages = {None: (["t5", "t4"], 4), "4": (["t3", "t2"], 2), "2": (["t1"], None)}
    ids, next_after = pages[after]
    return httpx.Response(200, json={"orders": [_order(i) for i in ids], "next_after": next_after})


def test_iter_orders_follows_next_after_to_the_last_page() -> None:
    api = FakeApi(_paged)

    orders = list(api.client(tokens=_tokens()).iter_orders(status="closed", page_size=2))

    assert [o.token_id for o in orders] == ["t5", "t4", "t3", "t2", "t1"]
    assert [query for _, _, query, _ in api.seen] == [
        "status=closed&limit=2",
        "status=closed&limit=2&after=4",
        "status=closed&limit=2&after=2",
    ]


def test_one_page_returns_the_cursor_of_the_next() -> None:
    page = FakeApi(_paged).client(tokens=_tokens()).orders(limit=2, after=4)

    assert ([o.token_id for o in page.orders], page.next_after) == (["t3", "t2"], 2)


async def test_async_iter_orders_follows_the_pages_too() -> None:
    async with FakeApi(_paged).async_client(tokens=_tokens()) as client:
        ids = [order.token_id async for order in client.iter_orders(page_size=2)]

    assert ids == ["t5", "t4", "t3", "t2", "t1"]


# --- end to end: a real `twapserver run --demo` -------------------------------------------


@pytest.fixture
def client(server: DemoServer) -> Iterator[TwapClient]:
    with TwapClient(server.url) as client:
        client.login(server.username, server.password)
        yield client


@pytest.mark.slow
def test_a_short_twap_fills_completely_on_the_demo_server(client: TwapClient) -> None:
    exchanges = client.exchanges()
    candles = eventually(
        lambda: client.klines("binance", "BTC-USDT", limit=5), bool, "a first candle", 15
    )
    token_id = f"sdk-{time.time_ns()}"

    accepted = client.submit_twap(
        token_id, "binance", "BTC-USDT", "buy", "0.001", "1000000", duration_s=4, slices=4
    )
    done = eventually(
        lambda: client.order(token_id), lambda o: o.status.is_final, "the order's end", 30
    )

    assert (exchanges[0].name, exchanges[0].symbols) == ("binance", ["BTC-USDT"])
    assert [e.name for e in exchanges] == ["binance", "kraken"]
    assert all(c.low <= c.close <= c.high for c in candles)
    assert [p.qty for p in accepted.schedule] == [Decimal("0.00025")] * 4
    assert done.status is OrderStatus.COMPLETED
    assert sum(f.qty for f in done.fills) == done.filled_qty == Decimal("0.001")
    assert all(f.price <= Decimal(1000000) for f in done.fills)
    assert done.report().filled_qty == Decimal("0.001")
    assert [o.token_id for o in client.iter_orders(token_id=token_id)] == [token_id]


@pytest.mark.slow
def test_a_wrong_password_is_an_authentication_error(server: DemoServer) -> None:
    with TwapClient(server.url) as client, pytest.raises(AuthenticationError) as raised:
        client.login(server.username, "not the password")

    assert str(raised.value) == "incorrect username or password (HTTP 401)"


@pytest.mark.slow
def test_an_unknown_order_is_not_found(client: TwapClient) -> None:
    with pytest.raises(NotFoundError, match="order 'no-such-order' not found"):
        client.order("no-such-order")


async def _logged_in(server: DemoServer, **options: Any) -> AsyncTwapClient:
    client = AsyncTwapClient(server.url, **options)
    if "tokens" not in options:
        await client.login(server.username, server.password)
    return client


async def _books(stream: Any, count: int) -> list[BookMessage]:
    books: list[BookMessage] = []
    async for message in stream:
        if isinstance(message, BookMessage):
            books.append(message)
            if len(books) == count:
                return books
    raise AssertionError("the stream ended")


@pytest.mark.slow
async def test_the_stream_pushes_books_with_decimal_levels_best_first(server: DemoServer) -> None:
    async with asyncio.timeout(20), await _logged_in(server) as client, client.stream() as stream:
        await stream.subscribe_book("binance", "BTC-USDT")
        books = await _books(stream, 1)
        # A tick can repeat the book when the replay has not moved since the
        # last one (a loaded machine); wait for the next book that moved.
        while books[-1].ts_event == books[0].ts_event:
            books += await _books(stream, 1)

    for book in books:
        assert (book.exchange, book.symbol) == ("binance", "BTC-USDT")
        assert 0 < len(book.bids) <= 10 and 0 < len(book.asks) <= 10
        assert isinstance(book.bids[0].price, Decimal)
        assert [b.price for b in book.bids] == sorted((b.price for b in book.bids), reverse=True)
        assert [a.price for a in book.asks] == sorted(a.price for a in book.asks)
        assert book.bids[0].price < book.asks[0].price
    assert all(a.ts_event <= b.ts_event for a, b in itertools.pairwise(books))
    assert books[0].ts_event < books[-1].ts_event


@pytest.mark.slow
async def test_the_stream_pushes_order_updates_until_the_order_ends(server: DemoServer) -> None:
    token_id = f"ws-{time.time_ns()}"
    updates: list[OrderMessage] = []
    async with asyncio.timeout(20), await _logged_in(server) as client, client.stream() as stream:
        await stream.subscribe_orders()
        await client.submit_twap(
            token_id, "binance", "BTC-USDT", "sell", "0.001", "1", duration_s=2, slices=2
        )
        async for message in stream:
            if isinstance(message, OrderMessage) and message.token_id == token_id:
                updates.append(message)
                if message.status.is_final:
                    break

    assert updates[-1].status is OrderStatus.COMPLETED
    assert updates[-1].filled_qty == Decimal("0.001")
    assert [u.slice.index for u in updates if u.slice is not None] == [0, 1]


@pytest.mark.slow
async def test_the_stream_reconnects_and_resubscribes_after_a_dropped_socket(
    server: DemoServer,
) -> None:
    async with (
        asyncio.timeout(20),
        await _logged_in(server) as client,
        client.stream(initial_backoff_s=0.05) as stream,
    ):
        await stream.subscribe_book("binance", "BTC-USDT")
        await _books(stream, 1)
        stream._ws.transport.abort()  # type: ignore[union-attr]  # the network drops us
        after = await _books(stream, 1)
        while stream.reconnects == 0:  # books queued before the drop come first
            after = await _books(stream, 1)

    assert stream.reconnects == 1
    assert after[0].symbol == "BTC-USDT"


@pytest.mark.slow
async def test_the_stream_refreshes_an_access_token_the_server_refuses(
    server: DemoServer,
) -> None:
    async with await _logged_in(server) as logged_in:
        real = logged_in.tokens
    assert real is not None
    stale = real.model_copy(update={"access_token": "not-a-token"})

    async with (
        asyncio.timeout(20),
        await _logged_in(server, tokens=stale) as client,
        client.stream() as stream,
    ):
        await stream.subscribe_book("binance", "BTC-USDT")
        books = await _books(stream, 1)

    assert client.tokens is not None and client.tokens.access_token != "not-a-token"
    assert books[0].exchange == "binance"


@pytest.mark.slow
async def test_the_stream_refuses_a_session_it_cannot_refresh(server: DemoServer) -> None:
    bogus = _tokens("not-a-token", "not-a-refresh-token", refresh_at=time.time() + 600)

    async with asyncio.timeout(20), await _logged_in(server, tokens=bogus) as client:
        with pytest.raises(AuthenticationError, match="invalid token"):
            await client.stream().connect()


@pytest.mark.slow
async def test_subscribing_to_an_unknown_symbol_names_it(server: DemoServer) -> None:
    async with asyncio.timeout(20), await _logged_in(server) as client, client.stream() as stream:
        with pytest.raises(StreamError) as raised:
            await stream.subscribe_book("binance", "DOGE-USDT")
        await stream.subscribe_book("binance", "BTC-USDT")  # the stream is still usable
        await _books(stream, 1)

    assert raised.value.code == "unknown_symbol"
    assert "symbol 'DOGE-USDT' is not collected on binance" in str(raised.value)


# --- the examples, as documented at their top ----------------------------------------------

EXAMPLES = REPO_ROOT / "examples"


def _example(server: DemoServer, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--url", server.url, *args],
        env={**os.environ, "TWAP_PASSWORD": server.password},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_the_sync_example_submits_watches_and_prints_the_report(server: DemoServer) -> None:
    result = _example(server, "submit_and_watch.py", "--duration", "2", "--slices", "2")

    assert result.returncode == 0, result.stderr
    assert "completed filled 0.001 / 0.001" in result.stdout
    assert "TWAP buy 0.001 binance BTC-USDT" in result.stdout


@pytest.mark.slow
def test_the_async_example_streams_the_asked_number_of_books(server: DemoServer) -> None:
    result = _example(server, "async_stream.py", "--count", "2")

    assert result.returncode == 0, result.stderr
    assert [line.split("  ")[0] for line in result.stdout.splitlines()] == ["binance BTC-USDT"] * 2
