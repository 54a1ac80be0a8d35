"""OHLCV candles from trades, bucketed by the exchange's own timestamps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from twapcore.errors import UnknownInterval
from twapcore.models import NS_PER_SECOND, Candle, Trade

__all__ = ["INTERVALS", "CandleBuilder", "candles_from_trades", "interval_ns"]

INTERVALS: dict[str, int] = {
    "1m": 60 * NS_PER_SECOND,
    "3m": 3 * 60 * NS_PER_SECOND,
    "5m": 5 * 60 * NS_PER_SECOND,
    "15m": 15 * 60 * NS_PER_SECOND,
    "30m": 30 * 60 * NS_PER_SECOND,
    "1h": 3600 * NS_PER_SECOND,
    "4h": 4 * 3600 * NS_PER_SECOND,
    "1d": 86400 * NS_PER_SECOND,
}


def interval_ns(interval: str) -> int:
    """Length of a candle interval such as `"5m"` in nanoseconds."""
    try:
        return INTERVALS[interval]
    except KeyError:
        allowed = ", ".join(INTERVALS)
        raise UnknownInterval(f"interval {interval!r} is not one of: {allowed}") from None


_K = TypeVar("_K", int, tuple[str, str, int])


@dataclass(slots=True)
class _Bar:
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int

    def add(self, price: Decimal, qty: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += qty
        self.trades += 1


def _add_trade(bars: dict[_K, _Bar], key: _K, trade: Trade) -> None:
    bar = bars.get(key)
    if bar is None:
        price = trade.price
        bars[key] = _Bar(price, price, price, price, trade.qty, 1)
    else:
        bar.add(trade.price, trade.qty)


class CandleBuilder:
    """Aggregates one (exchange, symbol)'s trades into candles of one interval.

    Trades are bucketed by `ts_event` (exchange time). `add` returns the candles
    that a trade closed (a newer bucket started) and, for a trade that arrives
    late for an already closed bucket, that bucket again with the trade included
    (consumers upsert by `open_ns`). Closed buckets are kept for `retain`
    intervals to absorb late trades; older late trades are counted in
    `dropped_late` rather than creating a wrong one-trade candle.
    """

    def __init__(self, exchange: str, symbol: str, interval: str, retain: int = 2) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.interval = interval
        self._length = interval_ns(interval)
        self._retain_ns = retain * self._length
        self._bars: dict[int, _Bar] = {}
        self._current: int | None = None
        self.dropped_late = 0

    def add(self, trade: Trade) -> list[Candle]:
        bucket = trade.ts_event - trade.ts_event % self._length
        current = self._current
        if current is not None and bucket < current - self._retain_ns:
            self.dropped_late += 1
            return []
        _add_trade(self._bars, bucket, trade)
        if current is not None and bucket < current:
            return [self._candle(bucket)]
        if current is not None and bucket == current:
            return []
        self._current = bucket
        closed = [self._candle(b) for b in sorted(self._bars) if b < bucket and b >= (current or 0)]
        for old in [b for b in self._bars if b < bucket - self._retain_ns]:
            del self._bars[old]
        return closed

    def _candle(self, bucket: int) -> Candle:
        bar = self._bars[bucket]
        return Candle(
            exchange=self.exchange,
            symbol=self.symbol,
            interval=self.interval,
            open_ns=bucket,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            trades=bar.trades,
        )

    def current(self) -> Candle | None:
        """The candle still open (None before the first trade)."""
        return None if self._current is None else self._candle(self._current)


def candles_from_trades(trades: Iterable[Trade], interval: str) -> list[Candle]:
    """All candles of `interval`, ordered by (exchange, symbol, open time)."""
    length = interval_ns(interval)
    bars: dict[tuple[str, str, int], _Bar] = {}
    for trade in sorted(trades, key=lambda t: t.ts_event):
        key = (trade.exchange, trade.symbol, trade.ts_event - trade.ts_event % length)
        _add_trade(bars, key, trade)
    return [
        Candle(e, s, interval, t, b.open, b.high, b.low, b.close, b.volume, b.trades)
        for (e, s, t), b in sorted(bars.items(), key=lambda kv: kv[0])
    ]
