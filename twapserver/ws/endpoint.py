"""`WS /ws`: authenticate, then subscribe to top-10 books and to the user's order updates.

Each connection runs two tasks: a reader (authentication, then the client's
requests, see `twapserver.ws.requests`) and a sender that writes everything the
connection's `Outbox` holds, replies included, so messages keep their order and
a slow client never makes the server wait. The connection ends when either does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketDisconnected

from twapserver.auth import TokenError, user_for_token
from twapserver.db.models import UserRow
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait
from twapserver.ws.broadcast import Broadcaster
from twapserver.ws.messages import ProtocolError, dumps, error_message
from twapserver.ws.outbox import Close, Outbox
from twapserver.ws.requests import Client, parse

__all__ = ["AUTH_REQUIRED", "MESSAGE_TOO_BIG", "TRY_AGAIN_LATER", "router"]

log = logging.getLogger("twapserver.ws")

router = APIRouter()

AUTH_REQUIRED = 4401  # close code: no valid access token (the 4000s mirror HTTP statuses)
MESSAGE_TOO_BIG = 1009  # a client message over ws_max_message_bytes (RFC 6455)
TRY_AGAIN_LATER = 1013  # too many connections are waiting to authenticate (RFC 6455)


class _MessageTooBig(Exception):
    pass


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    """One client: auth by `?token=` or a first `{"op":"auth","token":…}` message, then ops."""
    broadcaster: Broadcaster = websocket.app.state.ws
    await websocket.accept()
    peer = websocket.client
    outbox = broadcaster.outbox(f"{peer.host}:{peer.port}" if peer else "?")
    sender = asyncio.create_task(_send_all(websocket, outbox))
    reader = asyncio.create_task(_read_all(websocket, outbox, broadcaster))
    broadcaster.connect(outbox, sender)
    try:
        await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        if outbox.closing is not None and not sender.done():  # let the queued close go out
            await asyncio.wait({sender}, timeout=broadcaster.close_wait_s)
        elif outbox.closing is not None and sender.cancelled():
            # The idle watchdog stopped a write the client never took: the close frame
            # goes out only if the client reads again soon.
            with contextlib.suppress(TimeoutError, WebSocketDisconnected, RuntimeError):
                close = websocket.close(outbox.closing.code, outbox.closing.reason)
                await asyncio.wait_for(close, broadcaster.close_wait_s)
    finally:
        broadcaster.disconnect(outbox)
        await cancel_and_wait(reader, sender)


async def _send_all(websocket: WebSocket, outbox: Outbox) -> None:
    with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected):
        while True:
            item = await outbox.get()
            if isinstance(item, Close):
                await websocket.close(item.code, item.reason)
                return
            await websocket.send_text(item)


async def _read_all(websocket: WebSocket, outbox: Outbox, broadcaster: Broadcaster) -> None:
    """Authenticate, then answer the client's requests until it leaves or breaks a limit."""
    settings: Settings = websocket.app.state.settings
    limit = settings.ws_max_message_bytes
    # Counted here, where the matching `authenticated()` is sure to run.
    if not broadcaster.admit():
        outbox.close(TRY_AGAIN_LATER, "try again later: too many connections are authenticating")
        return
    with contextlib.suppress(WebSocketDisconnect):
        try:
            try:
                user = await _authenticate(websocket, outbox, settings)
            finally:
                broadcaster.authenticated()
            if user is None:
                return
            outbox.name = f"{user.username}@{outbox.name}"
            outbox.put_reply(dumps({"type": "auth", "status": "ok", "user": user.username}))
            client = Client(user.id, user.username, outbox, broadcaster, websocket.app.state)
            while True:
                # Replies wait unread: read no more requests until the client takes them.
                await outbox.wait_for_reply_room()
                message = await _receive(websocket, limit)
                try:
                    await client.handle(parse(message))
                except ProtocolError as error:
                    outbox.put_reply(dumps(error_message(error.code, error.message)))
        except _MessageTooBig as error:
            outbox.close(MESSAGE_TOO_BIG, str(error))


async def _receive(websocket: WebSocket, limit: int) -> Mapping[str, Any]:
    """The next client message; `_MessageTooBig` if over `limit` bytes (UTF-8 for text)."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    size = len(message.get("bytes") or b"") if text is None else len(text.encode())
    if size > limit:
        raise _MessageTooBig(f"message of {size} bytes is over the limit of {limit}")
    return message


# --- authentication -------------------------------------------------------------------------


async def _authenticate(websocket: WebSocket, outbox: Outbox, settings: Settings) -> UserRow | None:
    """The user of the connection's access token; None after queuing the 4401 close."""
    token = websocket.query_params.get("token")
    if token is None:
        try:
            async with asyncio.timeout(settings.ws_auth_timeout_s):
                message = await _receive(websocket, settings.ws_max_message_bytes)
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
        request = parse(message)
    except ProtocolError:
        return None
    token = request.get("token")
    return token if request.get("op") == "auth" and isinstance(token, str) else None


def _refuse(outbox: Outbox, detail: str) -> None:
    outbox.put_reply(dumps(error_message("unauthorized", detail)))
    outbox.close(AUTH_REQUIRED, "authentication required")
