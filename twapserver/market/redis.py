"""Market data over Redis: a collector's hub published, and views subscribed to it.

Layout (prefix `P`, `TWAP_BUS_PREFIX`):

* channel `P:market`: every message of `twapserver.market.view` (book, trade,
  market, invalidate), in publication order;
* key `P:book:<exchange>:<symbol>`: the market's latest book message;
* hash `P:markets`: field `<exchange>:<symbol>` -> the market's latest `market` message.

A new subscriber subscribes first, then reads the hash and the book keys, so it
starts with every market and its latest book and misses nothing published since.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

import orjson
from redis.asyncio import Redis

from twapcore import BookSnapshot, Trade
from twapcore.recording import book_to_record, trade_to_record
from twapserver.bus.redis import RedisLink
from twapserver.hub import MarketHub
from twapserver.market.view import MarketView, Record, market_message, open_candle_records
from twapserver.tasks import cancel_and_wait

__all__ = ["RedisMarketPublisher", "RedisMarketSubscriber"]

log = logging.getLogger("twapserver.market")

_UNSENT: Final = object()
STATE_EVERY_S = 1.0  # market messages (health, instruments, open candles)
READY_TIMEOUT_S = 5.0  # how long a subscriber's start waits for its first snapshot


def _book_key(prefix: str, exchange: str, symbol: str) -> str:
    return f"{prefix}:book:{exchange}:{symbol}"


class RedisMarketPublisher:
    """Publishes `hub`: each market's latest book at most every `every_ms` (only when it
    changed, serialised once), every trade, and every second each market's state."""

    def __init__(self, hub: MarketHub, url: str, prefix: str = "twap", every_ms: int = 100) -> None:
        self.hub = hub
        self.prefix = prefix
        self.every_s = every_ms / 1000
        self.channel = f"{prefix}:market"
        self.link = RedisLink(url, f"{prefix}-market-publisher")
        self.books_published = 0
        self._sent: dict[tuple[str, str], BookSnapshot | None] = {}
        # Per market: its trade count when its open candles were last built, and them.
        self._candles: dict[tuple[str, str], tuple[int, list[Record]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Publish every market's state now, then books, trades and states as they change."""
        await self.link.start()
        self.publish_states()
        self.hub.trade_listeners.append(self._on_trade)
        self._task = asyncio.create_task(self._run_forever())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        with contextlib.suppress(ValueError):
            self.hub.trade_listeners.remove(self._on_trade)
        await self.link.stop()

    async def _run_forever(self) -> None:
        next_state = time.monotonic() + STATE_EVERY_S
        while True:
            await asyncio.sleep(self.every_s)
            try:
                self.publish_books()
                if time.monotonic() >= next_state:
                    next_state += STATE_EVERY_S
                    self.publish_states()
            except Exception:  # one bad market must not end publishing
                log.exception("publishing market data failed")

    def publish_books(self) -> int:
        """Publish the book of every market that changed since its last publication."""
        published = 0
        for market in self.hub.markets():
            book = self.hub.book(*market)
            if book is self._sent.get(market, _UNSENT):
                continue
            self._sent[market] = book
            key = _book_key(self.prefix, *market)
            if book is None:  # a gap or checksum failure: views must stop serving it too
                exchange, symbol = market
                gone = {"type": "invalidate", "exchange": exchange, "symbol": symbol}
                self.link.send("DEL", key)
                self.link.send("PUBLISH", self.channel, orjson.dumps(gone))
                continue
            payload = orjson.dumps(book_to_record(book))
            self.link.send("SET", key, payload)
            self.link.send("PUBLISH", self.channel, payload)
            published += 1
        self.books_published += published
        return published

    def publish_states(self) -> None:
        """Publish (and store) each market's instrument info, health and open candles."""
        for market in self.hub.markets():
            trades = self.hub.health(*market).trades
            # Open candles are rebuilt (up to a day of minutes merged) only after a trade.
            built = self._candles.get(market)
            if built is None or built[0] != trades:
                built = (trades, open_candle_records(self.hub, *market))
                self._candles[market] = built
            payload = orjson.dumps(market_message(self.hub, *market, built[1]))
            self.link.send("HSET", f"{self.prefix}:markets", ":".join(market), payload)
            self.link.send("PUBLISH", self.channel, payload)

    def _on_trade(self, trade: Trade) -> None:
        self.link.send("PUBLISH", self.channel, orjson.dumps(trade_to_record(trade)))


class RedisMarketSubscriber:
    """Keeps `view` (a `MarketView`) up to date from a publisher's Redis messages."""

    def __init__(self, view: MarketView, url: str, prefix: str = "twap") -> None:
        self.view = view
        self.prefix = prefix
        self.link = RedisLink(
            url,
            f"{prefix}-market-subscriber",
            {f"{prefix}:market": self._on_message},
            on_subscribed=self._load_snapshot,
        )

    async def start(self) -> None:
        """Subscribe; returns once the first snapshot is loaded (or after 5 s, logged)."""
        await self.link.start()
        try:
            await asyncio.wait_for(self.link.subscribed.wait(), READY_TIMEOUT_S)
        except TimeoutError:
            log.warning("no market data from the bus yet; serving none until it arrives")

    async def stop(self) -> None:
        await self.link.stop()

    def _on_message(self, data: bytes) -> None:
        self.view.apply(orjson.loads(data))

    async def _load_snapshot(self, client: Redis) -> None:
        states = await client.hgetall(f"{self.prefix}:markets")
        for payload in states.values():
            self.view.apply(orjson.loads(payload))
        markets = self.view.markets()
        if not markets:
            return
        books = await client.mget([_book_key(self.prefix, *market) for market in markets])
        for book in books:
            if book is not None:
                self.view.apply(orjson.loads(book))
