"""`WS /ws`: authenticate, then subscribe to top-10 books and to the user's order updates.

Every message to the client, replies included, goes through the connection's
`Outbox` and is written by one sender task, so messages keep their order and a
slow client never makes the server wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketDisconnected

from twapserver.auth import TokenError, user_for_token
from twapserver.db.models import UserRow
from twapserver.hub import MarketHub
from twapserver.settings import Settings
from twapserver.ws.broadcast import CLOSE_WAIT_S, Broadcaster
from twapserver.ws.messages import Message, ProtocolError, dumps, error_message
from twapserver.ws.outbox import Close, Outbox

__all__ = ["AUTH_REQUIRED", "router"]

log = logging.getLogger("twapserver.ws")

router = APIRouter()

AUTH_REQUIRED = 4401  # close code: no valid access token (the 4000s mirror HTTP statuses)


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    """One client: auth by `?token=` or a first `{"op":"auth","token":…}` message, then ops."""
    broadcaster: Broadcaster = websocket.app.state.ws
    settings: Settings = websocket.app.state.settings
    await websocket.accept()
    peer = websocket.client
    outbox = Outbox(settings.ws_send_queue, name=f"{peer.host}:{peer.port}" if peer else "?")
    sender = asyncio.create_task(_send_all(websocket, outbox))
    broadcaster.connect(outbox, sender)
    try:
        user = await _authenticate(websocket, outbox, settings.ws_auth_timeout_s)
        if user is not None:
            outbox.name = f"{user.username}@{outbox.name}"
            outbox.put(dumps({"type": "auth", "status": "ok", "user": user.username}))
            await _serve(websocket, _Client(user.id, user.username, outbox, broadcaster))
    except WebSocketDisconnect:
        pass
    finally:
        broadcaster.disconnect(outbox)
        if outbox.closing is None:  # the client left: nothing more to send
            sender.cancel()
        await asyncio.wait({sender}, timeout=CLOSE_WAIT_S)
        sender.cancel()


async def _send_all(websocket: WebSocket, outbox: Outbox) -> None:
    with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected):
        while True:
            item = await outbox.get()
            if isinstance(item, Close):
                await websocket.close(item.code, item.reason)
                return
            await websocket.send_text(item)


async def _receive(websocket: WebSocket) -> Mapping[str, Any]:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return message


def _parse(message: Mapping[str, Any]) -> dict[str, Any]:
    raw = message.get("text") or message.get("bytes") or b""
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ProtocolError("bad_request", f"message is not valid JSON: {error}") from None
    if not isinstance(request, dict):
        raise ProtocolError(
            "bad_request", f"message must be a JSON object, not {type(request).__name__}"
        )
    return request


def _string(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if value is None:
        raise ProtocolError("bad_request", f"missing field {name!r}")
    if not isinstance(value, str):
        raise ProtocolError(
            "bad_request", f"field {name!r} must be a string, not {type(value).__name__}"
        )
    return value


# --- authentication -------------------------------------------------------------------------


async def _authenticate(websocket: WebSocket, outbox: Outbox, timeout_s: float) -> UserRow | None:
    """The user of the connection's access token; None after queuing the 4401 close."""
    token = websocket.query_params.get("token")
    if token is None:
        try:
            async with asyncio.timeout(timeout_s):
                message = await _receive(websocket)
        except TimeoutError:
            outbox.close(AUTH_REQUIRED, "authentication required")
            return None
        token = _auth_token(message)
        if token is None:
            _refuse(outbox, "not authenticated")
            return None
    state = websocket.app.state
    try:
        async with state.sessions() as session:
            return await user_for_token(
                session, state.tokens, token, "access", now_s=state.token_clock()
            )
    except TokenError as error:  # the same details as the REST 401s
        _refuse(outbox, str(error))
        return None


def _auth_token(message: Mapping[str, Any]) -> str | None:
    try:
        request = _parse(message)
    except ProtocolError:
        return None
    token = request.get("token")
    return token if request.get("op") == "auth" and isinstance(token, str) else None


def _refuse(outbox: Outbox, detail: str) -> None:
    outbox.put(dumps(error_message("unauthorized", detail)))
    outbox.close(AUTH_REQUIRED, "authentication required")


# --- after authentication ---------------------------------------------------------------------


@dataclass(slots=True)
class _Client:
    """An authenticated connection and what it may do."""

    user_id: int
    username: str
    outbox: Outbox
    broadcaster: Broadcaster

    def handle(self, request: dict[str, Any]) -> Message:
        """The reply to one client message; raises `ProtocolError` for an error reply."""
        op = _string(request, "op")
        if op == "ping":
            return {"type": "pong"}
        if op in ("subscribe", "unsubscribe"):
            return self._subscription(op == "subscribe", request)
        if op == "auth":
            raise ProtocolError("bad_request", f"already authenticated as {self.username!r}")
        raise ProtocolError(
            "bad_request", f"unknown op {op!r}; expected 'subscribe', 'unsubscribe' or 'ping'"
        )

    def _subscription(self, subscribe: bool, request: dict[str, Any]) -> Message:
        channel = _string(request, "channel")
        reply: Message = {"type": "subscribed" if subscribe else "unsubscribed"}
        b = self.broadcaster
        if channel == "orders":
            (b.subscribe_orders if subscribe else b.unsubscribe_orders)(self.outbox, self.user_id)
            return {**reply, "channel": channel}
        if channel == "book":
            exchange, symbol = _string(request, "exchange"), _string(request, "symbol")
            _require_market(b.hub, exchange, symbol)
            (b.subscribe_book if subscribe else b.unsubscribe_book)(self.outbox, (exchange, symbol))
            return {**reply, "channel": channel, "exchange": exchange, "symbol": symbol}
        raise ProtocolError(
            "bad_request", f"unknown channel {channel!r}; expected 'book' or 'orders'"
        )


def _require_market(hub: MarketHub, exchange: str, symbol: str) -> None:
    problem = hub.unknown_market(exchange, symbol)
    if problem is not None:
        raise ProtocolError(*problem)


async def _serve(websocket: WebSocket, client: _Client) -> None:
    while True:
        message = await _receive(websocket)
        try:
            reply = client.handle(_parse(message))
        except ProtocolError as error:
            reply = error_message(error.code, error.message)
        if not client.outbox.put(dumps(reply)):
            log.warning(
                "closing %s (1013 too slow): it does not read its replies", client.outbox.name
            )
