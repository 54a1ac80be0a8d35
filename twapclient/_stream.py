"""`TwapStream`: the server's `/ws` WebSocket, with re-authentication and reconnection.

Protocol (JSON text frames):

    → {"op": "auth", "token": ACCESS}              ← {"type": "auth", "status": "ok", …}
    → {"op": "subscribe", "channel": "book", "exchange": E, "symbol": S}
    → {"op": "subscribe", "channel": "orders"[, "since_ns": T]}
                                                   ← {"type": "subscribed", …, "now_ns": T}
                                                      then the open orders (and those ended
                                                      since T) as order messages
    → {"op": "unsubscribe", …same fields}          ← {"type": "unsubscribed", …}
    → {"op": "ping"}                               ← {"type": "pong", "now_ns": T}
    ← {"type": "book", …} once a second per subscribed symbol
    ← {"type": "order", …} on every change of one of the user's orders
    ← {"type": "error", "code", "message"}         (the answer to a refused op, or a push)
    close code 4401: authentication failed

On reconnection the subscriptions are sent again one at a time, each after the
previous one's answer, and `orders` asks for what ended since the server time
last seen (less `RESUME_MARGIN_NS`), so no final state is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypedDict, Unpack

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from twapclient._exceptions import (
    AuthenticationError,
    StreamError,
    TransportError,
    TwapClientError,
)
from twapclient._models import StreamMessage

__all__ = [
    "AUTH_FAILED_CLOSE_CODE",
    "RESUME_MARGIN_NS",
    "StreamOptions",
    "TokenSource",
    "TwapStream",
    "ws_url",
]

AUTH_FAILED_CLOSE_CODE = 4401
# An update is published after its commit, a little after the time the server stamps
# on it: resume `orders` from this long before the server time last seen.
RESUME_MARGIN_NS = 60_000_000_000

TokenSource = Callable[[bool], Awaitable[str]]
"""Returns an access token; with True, a freshly refreshed one."""

_Key = tuple[str, ...]
_Request = tuple[str, _Key]  # ("subscribe" | "unsubscribe", key)
_MESSAGE: TypeAdapter[StreamMessage] = TypeAdapter(StreamMessage)
_DATA_TYPES = frozenset({"book", "order", "error"})


def ws_url(base_url: str) -> str:
    """The `/ws` URL of the server at `base_url` (http → ws, https → wss)."""
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/ws"


class StreamOptions(TypedDict, total=False):
    """Tuning of a `TwapStream`; times in seconds."""

    open_timeout_s: float
    reply_timeout_s: float
    ping_interval_s: float
    max_reconnects: int
    initial_backoff_s: float
    max_backoff_s: float


class _Closed:
    """Queue marker: the stream was closed by its user."""


class TwapStream:
    """Live books and order updates; use as `async with client.stream() as stream:`.

    Iterating yields `BookMessage`, `OrderMessage` and `ErrorMessage`. When the
    connection drops, the stream reconnects with exponential backoff (at most
    `max_reconnects` attempts in a row, `max_backoff_s` apart at most),
    authenticates again — with a refreshed token if the server says 4401 — and
    re-subscribes everything. Iteration then raises `TransportError` if the
    server stayed unreachable, or `AuthenticationError` if it refuses the session.
    """

    def __init__(
        self,
        url: str,
        token: TokenSource,
        **options: Unpack[StreamOptions],
    ) -> None:
        self.url = url
        self._token = token
        self._open_timeout_s = options.get("open_timeout_s", 10.0)
        self._reply_timeout_s = options.get("reply_timeout_s", 10.0)
        self._ping_interval_s = options.get("ping_interval_s", 15.0)
        self._max_reconnects = options.get("max_reconnects", 8)
        self._initial_backoff_s = options.get("initial_backoff_s", 0.25)
        self._max_backoff_s = options.get("max_backoff_s", 8.0)
        self._ws: ClientConnection | None = None
        self._subscriptions: dict[_Key, dict[str, Any]] = {}
        self._pending: deque[_Request] = deque()  # ops awaiting their answer, in order
        self._waiters: dict[_Request, asyncio.Future[None]] = {}
        self._server_ns: int | None = None  # the server's clock, as last seen (now_ns)
        self._queue: asyncio.Queue[StreamMessage | BaseException | _Closed] = asyncio.Queue()
        self._pong = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: BaseException | None = None
        self._closing = False
        self.reconnects = 0

    # --- lifecycle ------------------------------------------------------------

    async def __aenter__(self) -> TwapStream:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open and authenticate the socket; raise `TransportError`/`AuthenticationError`."""
        self._ws = await self._open()
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="twap-stream-reader"),
            asyncio.create_task(self._keep_alive(), name="twap-stream-ping"),
        ]

    async def close(self) -> None:
        """Stop reading and close the socket; iteration then ends."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None:
            await self._ws.close()
        self._queue.put_nowait(_Closed())

    # --- subscriptions --------------------------------------------------------

    async def subscribe_book(self, exchange: str, symbol: str) -> None:
        """Receive `BookMessage`s (top 10, once a second) of `exchange` `symbol`."""
        op = {"op": "subscribe", "channel": "book", "exchange": exchange, "symbol": symbol}
        await self._subscribe(("book", exchange, symbol), op)

    async def subscribe_orders(self) -> None:
        """Receive an `OrderMessage` whenever one of the user's orders changes.

        The server first sends the state of every open order (a snapshot), so
        nothing committed before the subscription is missed either.
        """
        await self._subscribe(("orders",), {"op": "subscribe", "channel": "orders"})

    async def unsubscribe_book(self, exchange: str, symbol: str) -> None:
        """Stop the `BookMessage`s of `exchange` `symbol`."""
        op = {"op": "unsubscribe", "channel": "book", "exchange": exchange, "symbol": symbol}
        await self._unsubscribe(("book", exchange, symbol), op)

    async def unsubscribe_orders(self) -> None:
        """Stop the `OrderMessage`s."""
        await self._unsubscribe(("orders",), {"op": "unsubscribe", "channel": "orders"})

    async def _subscribe(self, key: _Key, op: dict[str, Any]) -> None:
        if key in self._subscriptions and ("subscribe", key) not in self._waiters:
            return
        self._subscriptions[key] = op
        await self._request(("subscribe", key), op)

    async def _unsubscribe(self, key: _Key, op: dict[str, Any]) -> None:
        if self._subscriptions.pop(key, None) is not None:  # a reconnection won't send it
            await self._request(("unsubscribe", key), op)

    async def _request(self, request: _Request, op: dict[str, Any]) -> None:
        """Send `op` (once, however many callers ask) and wait for its answer."""
        if self._failure is not None:
            raise self._failure
        waiter = self._waiters.get(request)
        if waiter is None:
            waiter = self._waiters[request] = asyncio.get_running_loop().create_future()
            self._pending.append(request)
            with contextlib.suppress(ConnectionClosed):  # the reconnection settles it
                await self._connection().send(json.dumps(op))
        what = " ".join((request[0], *request[1]))
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # (Ctrl-C) that arrives together with the answer.
            async with asyncio.timeout(self._reply_timeout_s):
                await asyncio.shield(waiter)
        except TimeoutError:
            raise TransportError(
                self.url,
                f"no answer from {self.url} to {what} within {self._reply_timeout_s:g} s",
            ) from None

    # --- iteration ------------------------------------------------------------

    def __aiter__(self) -> TwapStream:
        return self

    async def __anext__(self) -> StreamMessage:
        item = await self._queue.get()
        if isinstance(item, _Closed) or item is self._failure:
            self._queue.put_nowait(item)  # the end stays the end for every later call
        if isinstance(item, _Closed):
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    async def ping(self) -> None:
        """Round-trip `{"op": "ping"}`; raise `TransportError` without a pong in time."""
        self._pong.clear()
        try:
            await self._connection().send(json.dumps({"op": "ping"}))
            async with asyncio.timeout(self._reply_timeout_s):
                await self._pong.wait()
        except (ConnectionClosed, TimeoutError):
            raise TransportError(self.url, f"no pong from {self.url}") from None

    # --- connection -----------------------------------------------------------

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise TwapClientError("the stream is not connected: use `async with client.stream()`")
        return self._ws

    async def _open(self) -> ClientConnection:
        """Connect, authenticate (refreshing the token once on 4401), re-send subscriptions."""
        for refreshed in (False, True):
            token = await self._token(refreshed)
            ws = await self._connect_socket()
            try:
                await self._authenticate(ws, token)
            except AuthenticationError:
                await ws.close()
                if refreshed:
                    raise
                continue
            try:
                await self._resubscribe(ws)
            except (ConnectionClosed, TimeoutError) as error:
                await ws.close()
                raise TransportError(
                    self.url, f"{self.url} did not answer the re-subscriptions: {error}"
                ) from None
            return ws
        raise AssertionError("unreachable")  # pragma: no cover

    async def _resubscribe(self, ws: ClientConnection) -> None:
        """Send every subscription again, each after the answer to the one before.

        One at a time, so however many there are, the server never holds more than
        one of our requests; what arrives meanwhile (books, orders) is dispatched.
        """
        self._pending.clear()
        for key, op in list(self._subscriptions.items()):
            if key == ("orders",) and self._server_ns is not None:
                op = {**op, "since_ns": max(0, self._server_ns - RESUME_MARGIN_NS)}
            self._pending.append(("subscribe", key))
            await ws.send(json.dumps(op))
            async with asyncio.timeout(self._reply_timeout_s):
                while self._pending:
                    self._dispatch(await ws.recv())
        # An unsubscribe sent into the lost connection: done, as it was not sent again.
        for (kind, _), waiter in list(self._waiters.items()):
            if kind == "unsubscribe" and not waiter.done():
                waiter.set_result(None)

    async def _connect_socket(self) -> ClientConnection:
        try:
            return await connect(
                self.url, open_timeout=self._open_timeout_s, ping_interval=None, max_queue=64
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            raise TransportError(
                self.url, f"cannot open the WebSocket at {self.url}: {error}"
            ) from None

    async def _authenticate(self, ws: ClientConnection, token: str) -> None:
        try:
            await ws.send(json.dumps({"op": "auth", "token": token}))
            async with asyncio.timeout(self._reply_timeout_s):
                while True:
                    reply = json.loads(await ws.recv())
                    if reply.get("type") == "auth" and reply.get("status") == "ok":
                        return
                    if reply.get("type") in ("auth", "error"):
                        detail = reply.get("message") or reply.get("status")
                        raise AuthenticationError(
                            AUTH_FAILED_CLOSE_CODE, f"WebSocket authentication failed: {detail}"
                        )
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            reason = closed.rcvd.reason if closed.rcvd is not None else ""
            if code == AUTH_FAILED_CLOSE_CODE:
                raise AuthenticationError(
                    code, f"WebSocket authentication failed: {reason or 'closed with 4401'}"
                ) from None
            raise TransportError(
                self.url, f"{self.url} closed the WebSocket during authentication ({code})"
            ) from None
        except TimeoutError:
            raise TransportError(
                self.url, f"no answer from {self.url} to auth within {self._reply_timeout_s:g} s"
            ) from None

    async def _read_forever(self) -> None:
        while True:
            with contextlib.suppress(ConnectionClosed):
                async for raw in self._connection():
                    self._dispatch(raw)
            try:
                self._ws = await self._reconnect()
            except TwapClientError as error:
                self._fail(error)
                return

    async def _reconnect(self) -> ClientConnection:
        delay = self._initial_backoff_s
        last: TransportError | None = None
        for _ in range(self._max_reconnects):
            # Jitter, so many clients dropped together do not come back together.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                ws = await self._open()
            except TransportError as error:
                last = error
                delay = min(delay * 2, self._max_backoff_s)
                continue
            self.reconnects += 1
            return ws
        raise TransportError(
            self.url,
            f"lost the WebSocket to {self.url} and {self._max_reconnects} reconnections failed"
            + (f"; last: {last}" if last is not None else ""),
        )

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval_s)
            try:
                await self.ping()
            except TransportError:
                # A silent peer: drop the socket so the reader reconnects.
                if self._ws is not None:
                    await self._ws.close(code=1011, reason="no pong")

    # --- incoming messages ----------------------------------------------------

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            self._queue.put_nowait(StreamError("invalid_json", f"not JSON: {raw[:200]!r}"))
            return
        kind = data.get("type") if isinstance(data, dict) else None
        if kind in ("pong", "subscribed") and isinstance(data.get("now_ns"), int):
            self._server_ns = max(self._server_ns or 0, data["now_ns"])
        if kind == "pong":
            self._pong.set()
        elif kind in ("subscribed", "unsubscribed"):
            self._answer(None)
        elif kind == "error" and self._pending:
            self._answer(StreamError(str(data.get("code")), str(data.get("message"))))
        elif kind in _DATA_TYPES:
            try:
                self._queue.put_nowait(_MESSAGE.validate_python(data))
            except PydanticValidationError as error:
                problem = error.errors()[0]["msg"]
                self._queue.put_nowait(
                    StreamError("invalid_message", f"cannot read a {kind} message: {problem}")
                )
        # Anything else (a repeated auth reply, a future message type) is not for the user.

    def _answer(self, error: StreamError | None) -> None:
        """The oldest pending op was answered: accepted, or refused with `error`."""
        if not self._pending:
            return
        request = self._pending.popleft()
        waiter = self._waiters.pop(request, None)
        if error is not None and request[0] == "subscribe":
            self._subscriptions.pop(request[1], None)
        if waiter is None:
            if error is not None:  # a re-subscription after a reconnect was refused
                self._queue.put_nowait(error)
        elif not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _fail(self, error: BaseException) -> None:
        self._failure = error
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()
        self._queue.put_nowait(error)
