"""Kraken (WebSocket API v1, spot).

* Book updates carry a CRC32 of the top 10 levels: cryptofeed checks it when asked, and a
  failure makes it resubscribe (the collectors report it in /health).
* Sizes: ``AssetPairs`` gives ``pair_decimals`` and ``lot_decimals`` (read by the default).
* Candles: cryptofeed 2.4's Kraken REST mixin has no ``candles``, so this file reads Kraken's
  public ``OHLC`` route (on the mixin's ``api`` base, so a redirected feed is followed); it
  answers the 720 most recent 1m entries at most.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from twapcore.models import Candle
from twapserver.venues._net import VenueError, fetch_json
from twapserver.venues._venue import Venue

if TYPE_CHECKING:
    from cryptofeed.feed import Feed

_S_NS = 1_000_000_000


class Kraken(Venue):
    feed_options: ClassVar[dict[str, Any]] = {"checksum_validation": True}
    backfill_max_minutes: ClassVar[int | None] = 720

    @property
    def has_rest_candles(self) -> bool:
        return True

    async def minute_candles(
        self,
        cls: type[Feed],
        symbol: str,
        start_ns: int,
        end_ns: int,
        context: ssl.SSLContext | None = None,
    ) -> list[Candle]:
        # The REST API takes the altname: the ws name without its slash (XBT/USD -> XBTUSD).
        feed = cls()  # REST use only: nothing connects
        native = str(feed.std_symbol_to_exchange_symbol(symbol)).replace("/", "")
        query = {"pair": native, "interval": 1, "since": start_ns // _S_NS - 60}
        base = str(cls.api).rstrip("/")
        url = f"{base}/public/OHLC?{urlencode(query)}"
        body = await asyncio.to_thread(fetch_json, url, context)
        if not isinstance(body, dict):
            raise VenueError(f"kraken OHLC: expected an object, got {str(body)[:120]}")
        if body.get("error"):
            raise VenueError(f"kraken OHLC: {', '.join(map(str, body['error']))}")
        result = body.get("result")
        series = [v for k, v in result.items() if k != "last"] if isinstance(result, dict) else []
        if len(series) != 1 or not isinstance(series[0], list):
            raise VenueError(f"kraken OHLC: no single series in {str(result)[:120]}")
        candles = []
        for row in series[0]:
            # [time s, open, high, low, close, vwap, volume, count]
            if not isinstance(row, list) or len(row) < 8 or not isinstance(row[0], int):
                raise VenueError(f"kraken OHLC entry {str(row)[:120]} is not an OHLC array")
            entry = _Entry(row[0], row[1], row[2], row[3], row[4], row[6], row[7])
            candles.append(self._candle(symbol, entry))
        return [c for c in candles if start_ns <= c.open_ns < end_ns]


class _Entry:
    """A Kraken OHLC row in the shape of cryptofeed's candle (what `Venue._candle` reads)."""

    __slots__ = ("close", "high", "low", "open", "start", "trades", "volume")

    def __init__(
        self, start: int, open_: Any, high: Any, low: Any, close: Any, volume: Any, trades: Any
    ) -> None:
        self.start, self.open, self.high, self.low = start, open_, high, low
        self.close, self.volume, self.trades = close, volume, trades


VENUE = Kraken
