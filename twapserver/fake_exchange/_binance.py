"""Fake Binance spot: combined-stream WebSocket replay plus the REST calls cryptofeed makes."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Coroutine, Mapping
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from ._captures import BinanceCapture, BinanceSource
from ._klines import CapturedTrade, MinuteBar, fixed, minute_bars
from ._replay import OneShotFaults, Pacer, WebSocketVenue

LOG = logging.getLogger(__name__)

WS_PATH = "/binance"  # cryptofeed appends "/stream?streams=a@x/b@y" to its endpoint address
_DEFAULT_DEPTH_LIMIT = 100  # what Binance answers without a limit
_MAX_DEPTH_LIMIT = 5000
_DEFAULT_KLINES_LIMIT = 500
_MAX_KLINES_LIMIT = 1000
_MS = 1_000_000  # ns per ms


class DepthBook:
    """The fake's true order book of one symbol for one connection.

    It starts as the captured REST snapshot and takes every diff the replay sends (or skips on
    purpose), so ``/api/v3/depth`` answers what Binance would at that moment: a client that
    refetches after a gap can bridge again, exactly as against the real exchange.
    """

    def __init__(self, snapshot: Mapping[str, Any]) -> None:
        self.last_update_id: int = snapshot["lastUpdateId"]
        # price -> (price text, quantity text): the texts are served back unchanged.
        self._bids = {Decimal(p): (p, q) for p, q in snapshot["bids"]}
        self._asks = {Decimal(p): (p, q) for p, q in snapshot["asks"]}

    def apply(self, diff: Mapping[str, Any]) -> None:
        """Apply a ``depthUpdate`` unless the book already contains it (``u <= lastUpdateId``).

        Diffs that straddle the snapshot are applied whole: levels are absolute quantities, so
        re-applying the part the snapshot already has changes nothing.
        """
        if diff["u"] <= self.last_update_id:
            return
        for levels, side in ((diff["b"], self._bids), (diff["a"], self._asks)):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = (price, qty)
        self.last_update_id = diff["u"]

    def body(self, limit: int) -> bytes:
        """The ``/api/v3/depth`` response body with at most ``limit`` levels a side."""
        bids = [self._bids[p] for p in sorted(self._bids, reverse=True)[:limit]]
        asks = [self._asks[p] for p in sorted(self._asks)[:limit]]
        return orjson.dumps({"lastUpdateId": self.last_update_id, "bids": bids, "asks": asks})


def _symbol(stream: str) -> str:
    return stream.split("@", 1)[0].upper()


def _as_agg_trade(stream: str, trade: Mapping[str, Any]) -> str:
    """A raw ``@trade`` event re-labelled as the ``aggTrade`` cryptofeed parses.

    One trade is an aggregate of one: the trade id fills the aggregate, first and last ids.
    """
    data = {
        "e": "aggTrade",
        "E": trade["E"],
        "s": trade["s"],
        "a": trade["t"],
        "p": trade["p"],
        "q": trade["q"],
        "f": trade["t"],
        "l": trade["t"],
        "T": trade["T"],
        "m": trade["m"],
        "M": trade.get("M", True),
    }
    return orjson.dumps({"stream": stream, "data": data}).decode()


class BinanceVenue(WebSocketVenue):
    """Replays every capture source that has a requested stream, each paced from its origin."""

    name = "binance"

    def __init__(self, capture: BinanceCapture, speed: float | None) -> None:
        super().__init__(speed)
        self.capture = capture
        self.depth_requests: Counter[str] = Counter()  # symbol -> /api/v3/depth calls
        self._served: dict[str, DepthBook] = {}  # symbol -> book of the latest connection
        self._gaps = OneShotFaults()  # by symbol: depth diffs to skip
        self._duplicates = OneShotFaults()  # by symbol: depth diffs to send twice
        self._swaps = OneShotFaults()  # by symbol: depth diffs to send after the next one
        self._bars: dict[str, list[MinuteBar]] | None = None  # symbol -> 1m candles, lazily
        self._symbols: frozenset[str] | None = None  # symbols of exchangeInfo, lazily

    def routes(self) -> list[web.RouteDef]:
        """The WebSocket and REST routes of this venue."""
        return [
            self.route(WS_PATH + "/stream", self.handle),
            self.route("/api/v3/exchangeInfo", self._exchange_info),
            self.route("/api/v3/depth", self._depth),
            self.route("/api/v3/klines", self._klines),
        ]

    def arm_gap(self, symbol: str | None) -> None:
        """Skip the next depth diff of ``symbol`` (any symbol if None) on any connection."""
        self._gaps.arm(symbol.upper() if symbol else None)

    def arm_duplicate(self, symbol: str | None) -> None:
        """Send the next depth diff of ``symbol`` (any if None) twice in a row."""
        self._duplicates.arm(symbol.upper() if symbol else None)

    def arm_swap(self, symbol: str | None) -> None:
        """Hold the next depth diff of ``symbol`` (any if None) and send it after the next
        diff of the same symbol: two diffs out of order."""
        self._swaps.arm(symbol.upper() if symbol else None)

    def on_open(
        self, ws: web.WebSocketResponse, request: web.Request
    ) -> list[Coroutine[Any, Any, None]]:
        requested = [s for s in request.query.get("streams", "").split("/") if s]
        replays = []
        served: set[str] = set()
        for source in self.capture.sources:
            routes = _routes(source, requested)
            if not routes:
                continue
            served.update(out for out, _ in routes.values())
            books = {
                _symbol(s): DepthBook(self.capture.snapshots[_symbol(s)])
                for s in routes
                if "@depth" in s and _symbol(s) in self.capture.snapshots
            }
            # The newest connection's books answer REST: the replay starts over for it.
            self._served.update(books)
            replays.append(self._replay(ws, source, routes, books))
        missing = set(requested) - served
        if missing:
            LOG.warning("binance: no capture for streams %s", sorted(missing))
        return replays

    async def _replay(
        self,
        ws: web.WebSocketResponse,
        source: BinanceSource,
        routes: Mapping[str, tuple[str, bool]],
        books: Mapping[str, DepthBook],
    ) -> None:
        pacer = Pacer(self.speed, source.origin)
        held: dict[str, str] = {}  # symbol -> a diff held back by a swap fault
        for message in source.messages:
            route = routes.get(message.stream)
            if route is None:
                continue
            await pacer.wait(message.ts)
            stream, adapt_trade = route
            texts = [message.raw]
            if message.data is not None and message.data["e"] == "depthUpdate":
                symbol = message.data["s"]
                if symbol in books:
                    books[symbol].apply(message.data)
                texts = self._faulty_diff(symbol, message.data["U"], message.raw, held)
            elif adapt_trade and message.data is not None:
                texts = [_as_agg_trade(stream, message.data)]
            for text in texts:
                await self.send(ws, text)

    def _faulty_diff(self, symbol: str, first_id: int, raw: str, held: dict[str, str]) -> list[str]:
        """What to send for one depth diff of ``symbol`` given the armed faults, in order."""
        if self._gaps.take(symbol):
            LOG.info("binance: skipped %s diff U=%s", symbol, first_id)
            return []
        if symbol not in held and self._swaps.take(symbol):
            LOG.info("binance: holding %s diff U=%s for after the next one", symbol, first_id)
            held[symbol] = raw
            return []
        texts = [raw, raw] if self._duplicates.take(symbol) else [raw]
        if symbol in held:
            texts.append(held.pop(symbol))
        return texts

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.Response(body=self.capture.exchange_info, content_type="application/json")

    async def _depth(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "").upper()
        try:
            limit = min(int(request.query.get("limit", _DEFAULT_DEPTH_LIMIT)), _MAX_DEPTH_LIMIT)
        except ValueError:
            return _error(-1100, "Illegal characters found in parameter 'limit'.")
        self.depth_requests[symbol] += 1
        book = self._served.get(symbol)
        if book is None and symbol in self.capture.snapshots:
            book = DepthBook(self.capture.snapshots[symbol])
        if book is None:
            return _error(-1121, "Invalid symbol.")
        return web.Response(body=book.body(limit), content_type="application/json")

    async def _klines(self, request: web.Request) -> web.Response:
        """``GET /api/v3/klines?symbol=&interval=1m[&startTime=][&endTime=][&limit=]``: the
        captured trades' 1m candles in Binance's array format (only ``1m`` is offered).

        With ``startTime`` the first ``limit`` candles opening in [startTime, endTime], else the
        last ``limit`` opening at or before ``endTime``; times in ms, as Binance does.
        """
        query = request.query
        symbol = query.get("symbol", "").upper()
        if not symbol:
            return _error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null.")
        if query.get("interval") != "1m":
            return _error(-1120, "Invalid interval.")
        try:
            limit = int(query.get("limit", _DEFAULT_KLINES_LIMIT))
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            return _error(-1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= _MAX_KLINES_LIMIT:
            return _error(-1130, "Invalid data sent for a parameter: limit.")
        if symbol not in self._listed_symbols():
            return _error(-1121, "Invalid symbol.")
        bars = self._minute_bars().get(symbol, [])
        if end is not None:
            bars = [b for b in bars if b.open_ns // _MS <= end]
        if start is not None:
            bars = [b for b in bars if b.open_ns // _MS >= start][:limit]
        else:
            bars = bars[-limit:]
        return web.Response(
            body=orjson.dumps([_kline(b) for b in bars]), content_type="application/json"
        )

    def _listed_symbols(self) -> frozenset[str]:
        if self._symbols is None:
            info = orjson.loads(self.capture.exchange_info)
            self._symbols = frozenset(s["symbol"] for s in info.get("symbols", []))
        return self._symbols

    def _minute_bars(self) -> dict[str, list[MinuteBar]]:
        if self._bars is None:
            self._bars = {
                symbol: minute_bars(trades) for symbol, trades in _captured_trades(self.capture)
            }
        return self._bars


def _captured_trades(capture: BinanceCapture) -> list[tuple[str, list[CapturedTrade]]]:
    """Per symbol, its captured trades: ``aggTrade`` events, else raw ``trade`` events (a
    source with both streams of a symbol counts the aggregates only)."""
    trades: dict[str, list[CapturedTrade]] = {}
    for source in capture.sources:
        aggregated = {_symbol(s) for s in source.streams if s.endswith("@aggTrade")}
        for message in source.messages:
            if message.stream.endswith("@aggTrade"):
                data = orjson.loads(message.raw)["data"]
            elif message.data is not None and message.data["e"] == "trade":
                data = message.data
                if data["s"] in aggregated:
                    continue
            else:
                continue
            trade = CapturedTrade(
                ts_ns=int(data["T"]) * _MS,
                price=Decimal(data["p"]),
                qty=Decimal(data["q"]),
                taker_buy=not data["m"],  # "m": the buyer is the maker
            )
            trades.setdefault(data["s"], []).append(trade)
    return sorted(trades.items())


def _kline(bar: MinuteBar) -> list[Any]:
    """One Binance kline array: open time, OHLCV, close time, quote volume, trades, taker buys."""
    open_ms = bar.open_ns // _MS
    return [
        open_ms,
        fixed(bar.open),
        fixed(bar.high),
        fixed(bar.low),
        fixed(bar.close),
        fixed(bar.volume),
        open_ms + 60_000 - 1,
        fixed(bar.quote_volume),
        bar.trades,
        fixed(bar.taker_buy_volume),
        fixed(bar.taker_buy_quote_volume),
        "0",
    ]


def _routes(source: BinanceSource, requested: list[str]) -> dict[str, tuple[str, bool]]:
    """Captured stream -> (stream name to send under, adapt ``@trade`` to ``aggTrade``?)."""
    routes = {}
    for stream in requested:
        if stream in source.streams:
            routes[stream] = (stream, False)
        elif stream.endswith("@aggTrade"):
            # The hftbacktest capture recorded raw trades; cryptofeed only parses aggTrade.
            raw_trades = stream.removesuffix("@aggTrade") + "@trade"
            if raw_trades in source.streams:
                routes[raw_trades] = (stream, True)
    return routes


def _error(code: int, msg: str) -> web.Response:
    return web.Response(
        status=400, body=orjson.dumps({"code": code, "msg": msg}), content_type="application/json"
    )
