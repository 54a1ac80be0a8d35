"""Fake Kraken WebSocket API v1: answers each subscribe with that channel's recorded traffic."""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from ._captures import KrakenCapture, KrakenChannel
from ._klines import CapturedTrade, MinuteBar, fixed, minute_bars
from ._replay import OneShotFaults, Pacer, WebSocketVenue

LOG = logging.getLogger(__name__)

WS_PATH = "/kraken"
_OHLC_ENTRIES = 720  # Kraken answers at most this many of the most recent OHLC entries
_NS_PER_S = 1_000_000_000


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
        self._bars: dict[str, list[MinuteBar]] | None = None  # ws pair -> 1m candles, lazily
        self._pairs: dict[str, tuple[str, str]] | None = None  # any name -> (key, ws name)

    def routes(self) -> list[web.RouteDef]:
        """The WebSocket and REST routes of this venue."""
        return [
            self.route(WS_PATH, self.handle),
            self.route("/0/public/AssetPairs", self._asset_pairs),
            self.route("/0/public/OHLC", self._ohlc),
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

    async def _ohlc(self, request: web.Request) -> web.Response:
        """``GET /0/public/OHLC?pair=&interval=1[&since=]``: the captured trades' 1m candles in
        Kraken's format, keyed by the pair's AssetPairs key (only ``interval=1`` is offered).

        ``pair`` may be the key (``XXMRZUSD``), the altname (``XMRUSD``) or the ws name
        (``XMR/USD``); entries opening after ``since`` (s), at most the last 720. Errors are
        HTTP 200 with a non-empty ``error`` list, as Kraken does.
        """
        query = request.query
        if query.get("interval", "1") != "1":
            return _kraken_error("EGeneral:Invalid arguments")
        try:
            since = int(Decimal(query["since"])) if "since" in query else None
        except ArithmeticError:
            return _kraken_error("EGeneral:Invalid arguments:since")
        found = self._pair_names().get(query.get("pair", ""))
        if found is None:
            return _kraken_error("EQuery:Unknown asset pair")
        key, wsname = found
        bars = self._minute_bars().get(wsname, [])
        if since is not None:
            bars = [b for b in bars if b.open_ns // _NS_PER_S > since]
        rows = [_ohlc_row(b) for b in bars[-_OHLC_ENTRIES:]]
        last = rows[-1][0] if rows else (since or 0)
        body = {"error": [], "result": {key: rows, "last": last}}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    def _pair_names(self) -> dict[str, tuple[str, str]]:
        if self._pairs is None:
            pairs = orjson.loads(self.capture.asset_pairs).get("result", {})
            self._pairs = {}
            for key, info in pairs.items():
                wsname = info.get("wsname")
                if wsname:
                    for name in (key, info.get("altname"), wsname):
                        if name:
                            self._pairs[name] = (key, wsname)
        return self._pairs

    def _minute_bars(self) -> dict[str, list[MinuteBar]]:
        if self._bars is None:
            trades: dict[str, list[CapturedTrade]] = {}
            channel = self.capture.channels.get("trade")
            for message in channel.messages if channel is not None else ():
                # [channelID, [[price, volume, time, side, orderType, misc], ...], "trade", pair]
                for price, volume, time, side, *_ in orjson.loads(message.raw)[1]:
                    trade = CapturedTrade(
                        ts_ns=int(Decimal(time) * _NS_PER_S),
                        price=Decimal(price),
                        qty=Decimal(volume),
                        taker_buy=side == "b",
                    )
                    trades.setdefault(message.pair, []).append(trade)
            self._bars = {pair: minute_bars(t) for pair, t in trades.items()}
        return self._bars


def _ohlc_row(bar: MinuteBar) -> list[Any]:
    """``[time, open, high, low, close, vwap, volume, count]``, time in s, decimals as text."""
    return [
        bar.open_ns // _NS_PER_S,
        f"{bar.open:f}",
        f"{bar.high:f}",
        f"{bar.low:f}",
        f"{bar.close:f}",
        fixed(bar.quote_volume / bar.volume) if bar.volume else "0",
        f"{bar.volume:f}",
        bar.trades,
    ]


def _kraken_error(message: str) -> web.Response:
    return web.Response(body=orjson.dumps({"error": [message]}), content_type="application/json")
