"""What an authenticated `/ws` client may ask: ping, subscribe, unsubscribe.

Replies go through the connection's `Outbox` (`put_reply`); a refused request
raises `ProtocolError`, which the endpoint sends as `{"type":"error",…}`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import State

from twapserver.ws.broadcast import Broadcaster
from twapserver.ws.messages import Message, ProtocolError, dumps
from twapserver.ws.outbox import Outbox
from twapserver.ws.snapshot import snapshot_messages

__all__ = ["Client", "parse"]

log = logging.getLogger("twapserver.ws")

INT64_MAX = 2**63 - 1
Subscription = tuple[str, ...]  # ("orders",) or ("book", exchange, symbol)


def parse(message: Mapping[str, Any]) -> dict[str, Any]:
    """A client message as a JSON object; `ProtocolError` naming what is wrong otherwise."""
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


def _since_ns(request: dict[str, Any]) -> int | None:
    value = request.get("since_ns")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise ProtocolError(
            "bad_request",
            f"field 'since_ns' must be an integer from 0 to {INT64_MAX} (ns since the epoch), "
            f"not {value!r}",
        )
    return value


@dataclass(slots=True)
class Client:
    """An authenticated connection, what it subscribed to and what it may do."""

    user_id: int
    username: str
    outbox: Outbox
    broadcaster: Broadcaster
    state: State  # the app's: database sessions
    subscriptions: set[Subscription] = field(default_factory=set)

    async def handle(self, request: dict[str, Any]) -> None:
        """Answer one client message; raises `ProtocolError` for an error reply."""
        op = _string(request, "op")
        if op == "ping":
            self._reply({"type": "pong", "now_ns": self.broadcaster.clock()})
        elif op in ("subscribe", "unsubscribe"):
            await self._subscription(op == "subscribe", request)
        elif op == "auth":
            raise ProtocolError("bad_request", f"already authenticated as {self.username!r}")
        else:
            raise ProtocolError(
                "bad_request", f"unknown op {op!r}; expected 'subscribe', 'unsubscribe' or 'ping'"
            )

    def _reply(self, message: Message) -> None:
        self.outbox.put_reply(dumps(message))

    async def _subscription(self, subscribe: bool, request: dict[str, Any]) -> None:
        channel = _string(request, "channel")
        reply: Message = {"type": "subscribed" if subscribe else "unsubscribed", "channel": channel}
        since_ns: int | None = None
        if channel == "orders":
            key: Subscription = ("orders",)
            since_ns = _since_ns(request)
        elif channel == "book":
            exchange, symbol = _string(request, "exchange"), _string(request, "symbol")
            problem = self.broadcaster.hub.unknown_market(exchange, symbol)
            if problem is not None:
                raise ProtocolError(*problem)
            key = ("book", exchange, symbol)
            reply.update(exchange=exchange, symbol=symbol)
        else:
            raise ProtocolError(
                "bad_request", f"unknown channel {channel!r}; expected 'book' or 'orders'"
            )
        if not subscribe:
            self._unsubscribe(key)
            self._reply(reply)
            return
        limit = self.broadcaster.settings.ws_max_subscriptions
        if key not in self.subscriptions and len(self.subscriptions) >= limit:
            raise ProtocolError(
                "too_many_subscriptions",
                f"this connection already holds {limit} subscriptions, the limit; "
                "unsubscribe from one first",
            )
        self.subscriptions.add(key)
        if channel == "orders":
            await self._subscribe_orders(reply, since_ns)
        else:
            self.broadcaster.subscribe_book(self.outbox, (key[1], key[2]))
            self._reply(reply)

    def _unsubscribe(self, key: Subscription) -> None:
        self.subscriptions.discard(key)
        if key == ("orders",):
            self.broadcaster.unsubscribe_orders(self.outbox, self.user_id)
        else:
            self.broadcaster.unsubscribe_book(self.outbox, (key[1], key[2]))

    async def _subscribe_orders(self, reply: Message, since_ns: int | None) -> None:
        """Follow live updates, then queue the snapshot (open orders, and those ended since).

        Live updates start first, so nothing committed during the database read is
        missed; `now_ns` (taken before the read) is the `since_ns` that a client
        reconnecting later passes to miss nothing.
        """
        outbox = self.outbox
        self.broadcaster.subscribe_orders(outbox, self.user_id)
        outbox.begin_snapshot()
        try:
            self._reply({**reply, "now_ns": self.broadcaster.clock()})
            async for order_id, payload in snapshot_messages(
                self.state.sessions, self.user_id, since_ns
            ):
                await outbox.put_snapshot(order_id, payload)
        except SQLAlchemyError:
            # Live updates keep coming; the client may subscribe again for the snapshot.
            log.exception("orders snapshot for %s failed", outbox.name)
            raise ProtocolError(
                "snapshot_unavailable",
                "the orders snapshot could not be read; live updates follow, "
                "subscribe again for the snapshot",
            ) from None
        finally:
            outbox.end_snapshot()
