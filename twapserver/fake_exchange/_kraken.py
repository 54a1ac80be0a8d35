"""Fake Kraken WebSocket API v1: answers each subscribe with that channel's recorded traffic."""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from typing import Any

import orjson
from aiohttp import web

from ._captures import KrakenCapture, KrakenChannel
from ._replay import OneShotFaults, Pacer, WebSocketVenue

LOG = logging.getLogger(__name__)

WS_PATH = "/kraken"


def _corrupted(raw: str) -> str:
    """The book update ``raw`` with its CRC32 ``"c"`` changed to a different valid number."""
    message = orjson.loads(raw)
    for part in message:
        if isinstance(part, dict) and "c" in part:
            part["c"] = str((int(part["c"]) + 1) % 2**32)
    return orjson.dumps(message).decode()


def _status_error(pair: str, subscription: Mapping[str, Any], reason: str) -> str:
    return orjson.dumps(
        {
            "errorMessage": reason,
            "event": "subscriptionStatus",
            "pair": pair,
            "status": "error",
            "subscription": subscription,
        }
    ).decode()


class KrakenVenue(WebSocketVenue):
    """Each subscribe starts its own replay of that channel, paced from the recorded subscribe.

    Dispatch is on the subscription name, not on the recorded connection: cryptofeed packs at
    most 20 channel x pair subscriptions per connection, which groups them differently than the
    capture (one connection per channel). A book subscription of any depth gets the recorded
    depth-1000 stream: its updates and checksums only add up for a depth-1000 book.
    """

    name = "kraken"

    def __init__(self, capture: KrakenCapture, speed: float | None) -> None:
        super().__init__(speed)
        self.capture = capture
        self._corruptions = OneShotFaults()  # by pair: book updates to send with a wrong "c"
        self._duplicates = OneShotFaults()  # by pair: book updates to send twice

    def routes(self) -> list[web.RouteDef]:
        """The WebSocket and REST routes of this venue."""
        return [
            self.route(WS_PATH, self.handle),
            self.route("/0/public/AssetPairs", self._asset_pairs),
        ]

    def arm_corruption(self, pair: str | None) -> None:
        """Send the next checksummed book update of ``pair`` (any if None) with a wrong ``"c"``."""
        self._corruptions.arm(pair)

    def arm_duplicate(self, pair: str | None) -> None:
        """Send the next checksummed book update of ``pair`` (any if None) twice in a row."""
        self._duplicates.arm(pair)

    def on_open(
        self, ws: web.WebSocketResponse, request: web.Request
    ) -> list[Coroutine[Any, Any, None]]:
        # Kraken greets every connection before any subscribe.
        return [self.send(ws, self.capture.system_status)]

    def on_text(self, ws: web.WebSocketResponse, text: str) -> list[Coroutine[Any, Any, None]]:
        try:
            request = orjson.loads(text)
            event = request.get("event")
        except (orjson.JSONDecodeError, AttributeError):
            return [self.send(ws, '{"errorMessage":"Malformed request","event":"error"}')]
        if event == "ping":
            pong = orjson.dumps({"event": "pong", "reqid": request.get("reqid")}).decode()
            return [self.send(ws, pong)]
        if event == "subscribe":
            return [self._subscribe(ws, request)]
        LOG.warning("kraken: ignoring client event %r", event)
        return []

    async def _subscribe(self, ws: web.WebSocketResponse, request: Mapping[str, Any]) -> None:
        subscription = request.get("subscription") or {}
        channel = self.capture.channels.get(subscription.get("name", ""))
        pairs = set()
        for pair in request.get("pair") or []:
            if channel is None:
                await self.send(ws, _status_error(pair, subscription, "Subscription name invalid"))
            elif pair not in channel.statuses:
                reason = f"Currency pair not supported {pair}"
                await self.send(ws, _status_error(pair, subscription, reason))
            else:
                await self.send(ws, channel.statuses[pair])
                pairs.add(pair)
        if channel is None or not pairs:
            return
        recorded_depth = channel.subscription.get("depth")
        if recorded_depth is not None and subscription.get("depth") != recorded_depth:
            LOG.warning(
                "kraken: book depth %s requested, replaying the recorded depth %s",
                subscription.get("depth"),
                recorded_depth,
            )
        await self._replay(ws, channel, pairs)

    async def _replay(
        self, ws: web.WebSocketResponse, channel: KrakenChannel, pairs: set[str]
    ) -> None:
        pacer = Pacer(self.speed, channel.origin)
        for message in channel.messages:
            if message.pair not in pairs:
                continue
            await pacer.wait(message.ts)
            texts = [message.raw]
            if message.has_checksum and self._corruptions.take(message.pair):
                LOG.info("kraken: sending %s update with a wrong checksum", message.pair)
                texts = [_corrupted(message.raw)]
            elif message.has_checksum and self._duplicates.take(message.pair):
                texts = [message.raw, message.raw]
            for text in texts:
                await self.send(ws, text)

    async def _asset_pairs(self, request: web.Request) -> web.Response:
        return web.Response(body=self.capture.asset_pairs, content_type="application/json")
