"""OHLCV candles from trades, bucketed by the exchange's own timestamps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TypeVar

from twapcore.errors import UnknownInterval
from twapcore.models import NS_PER_SECOND, Candle, Trade

__all__ = [
    "INTERVALS",
    "CandleBuilder",
    "CandleSeries",
    "candles_from_trades",
    "interval_ns",
    "merge_candles",
]

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
    """A candle being built; open and close follow exchange time, not arrival order."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    open_ts: int
    close_ts: int

    def add(self, price: Decimal, qty: Decimal, ts: int) -> None:
        # Plain comparisons: this runs once per trade in the live collectors.
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        if ts >= self.close_ts:
            self.close, self.close_ts = price, ts
        elif ts < self.open_ts:
            self.open, self.open_ts = price, ts
        self.volume += qty
        self.trades += 1


def _add_trade(bars: dict[_K, _Bar], key: _K, trade: Trade) -> None:
    bar = bars.get(key)
    price, ts = trade.price, trade.ts_event
    if bar is None:
        bars[key] = _Bar(price, price, price, price, trade.qty, 1, ts, ts)
    else:
        bar.add(price, trade.qty, ts)


class CandleBuilder:
    """Aggregates one (exchange, symbol)'s trades into candles of one interval.

    Trades are bucketed by `ts_event` (exchange time). `add` returns the candles
    that a trade closed (a newer bucket started) and, for a trade that arrives
    late for an already closed bucket, that bucket again with the trade included
    (consumers upsert by `open_ns`). Closed buckets are kept for `retain`
    intervals to absorb late trades; older late trades are counted in
    `dropped_late` rather than creating a wrong one-trade candle.

    A bucket marked by `mark_partial` (or seeded from a partial candle) comes
    out with `partial=True`: trades of it may be missing.
    """

    def __init__(self, exchange: str, symbol: str, interval: str, retain: int = 2) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.interval = interval
        self._length = interval_ns(interval)
        self._retain_ns = retain * self._length
        self._bars: dict[int, _Bar] = {}
        self._current: int | None = None
        self._partial: set[int] = set()  # buckets whose trades may be missing
        self.dropped_late = 0

    def mark_partial(self, ts_ns: int) -> None:
        """Trades of the bucket holding `ts_ns` (exchange time, ns) may be missing."""
        self._partial.add(ts_ns - ts_ns % self._length)

    def add(self, trade: Trade) -> list[Candle]:
        bucket = trade.ts_event - trade.ts_event % self._length
        current = self._current
        if bucket == current:  # the common case: one more trade in the open candle
            self._bars[bucket].add(trade.price, trade.qty, trade.ts_event)
            return []
        if current is not None and bucket < current - self._retain_ns:
            self.dropped_late += 1
            return []
        _add_trade(self._bars, bucket, trade)
        if current is not None and bucket < current:
            return [self._candle(bucket)]
        self._current = bucket
        closed = [self._candle(b) for b in sorted(self._bars) if b < bucket and b >= (current or 0)]
        for old in [b for b in self._bars if b < bucket - self._retain_ns]:
            del self._bars[old]
            self._partial.discard(old)
        return closed

    def seed(self, candles: Iterable[Candle]) -> None:
        """Continue from stored candles of this interval (a restart): call before any trade.

        The newest becomes the open candle, so trades of its bucket add to it
        instead of starting it again; the others absorb late trades like closed
        buckets. A stored candle's trade times are unknown: its open stays, and
        the next trade of its bucket becomes its close. A partial candle stays partial.
        """
        for candle in candles:
            bucket = candle.open_ns
            if candle.partial:
                self._partial.add(bucket)
            self._bars[bucket] = _Bar(
                candle.open,
                candle.high,
                candle.low,
                candle.close,
                candle.volume,
                candle.trades,
                bucket,
                bucket,
            )
            if self._current is None or bucket > self._current:
                self._current = bucket

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
            partial=bucket in self._partial,
        )

    @property
    def open_bucket(self) -> int | None:
        """`open_ns` of the candle still open (None before the first trade)."""
        return self._current

    def current(self) -> Candle | None:
        """The candle still open (None before the first trade)."""
        return None if self._current is None else self._candle(self._current)


def merge_candles(
    interval: str, open_ns: int, minutes: Iterable[Candle], partial: bool = False
) -> Candle:
    """One candle of `interval` opening at `open_ns` from the smaller candles inside it:
    open of the earliest, highest high, lowest low, close of the latest, summed volume;
    partial when `partial` or any of them is."""
    ordered = sorted(minutes, key=lambda c: c.open_ns)
    first = ordered[0]
    return Candle(
        exchange=first.exchange,
        symbol=first.symbol,
        interval=interval,
        open_ns=open_ns,
        open=first.open,
        high=max(c.high for c in ordered),
        low=min(c.low for c in ordered),
        close=ordered[-1].close,
        volume=sum((c.volume for c in ordered), Decimal(0)),
        trades=sum(c.trades for c in ordered),
        partial=partial or any(c.partial for c in ordered),
    )


class CandleSeries:
    """Candles of every interval for one (exchange, symbol), at the cost of one per trade.

    Trades go into a 1m `CandleBuilder` only; each other interval is rolled up
    from the 1m candles of its bucket when one of them closes (or is amended by
    a late trade), so an amendment replaces its minute instead of adding twice.
    `add` returns every candle that changed (1m and rolled up, to upsert);
    `current(interval)` includes the still-open minute.

    `partial` (trades of the candle may be missing) follows `gap`, partial seeded
    minutes, and, for a rolled-up candle handed out by `add`, its bucket being
    still open: a crash must not leave it stored as if whole.
    """

    def __init__(self, exchange: str, symbol: str, intervals: Iterable[str] = INTERVALS) -> None:
        self._minute = CandleBuilder(exchange, symbol, "1m")
        self._higher = {i: interval_ns(i) for i in intervals if i != "1m"}
        # interval -> bucket open -> minute open -> closed 1m candle
        self._minutes: dict[str, dict[int, dict[int, Candle]]] = {i: {} for i in self._higher}
        # interval -> bucket opens whose trades may be missing (a gap inside them)
        self._partial: dict[str, set[int]] = {i: set() for i in self._higher}
        # The newest seeded minute while no trade changed it: handed out again it could
        # overwrite what a backfill stored for it meanwhile.
        self._seeded: Candle | None = None

    @property
    def dropped_late(self) -> int:
        return self._minute.dropped_late

    def gap(self, ts_ns: int) -> None:
        """Trades before `ts_ns` (exchange time, ns) may be missing: the feed (re)connected
        or the series starts then. The candles of every interval holding `ts_ns` are partial."""
        self._minute.mark_partial(ts_ns)
        for interval, length in self._higher.items():
            self._partial[interval].add(ts_ns - ts_ns % length)

    def add(self, trade: Trade) -> list[Candle]:
        closed = self._minute.add(trade)
        if not closed:
            return closed
        changed = [c for c in closed if c != self._seeded]
        building = self._minute.open_bucket
        for interval, length in self._higher.items():
            buckets = self._minutes[interval]
            touched = set()
            for minute in closed:
                bucket = minute.open_ns - minute.open_ns % length
                buckets.setdefault(bucket, {})[minute.open_ns] = minute
                if minute != self._seeded:  # nor the roll-ups it alone would change
                    touched.add(bucket)
            partial = self._partial[interval]
            changed.extend(
                merge_candles(
                    interval,
                    b,
                    buckets[b].values(),
                    # A bucket still open is not whole yet.
                    b in partial or (building is not None and b <= building < b + length),
                )
                for b in sorted(touched)
            )
            # Keep the newest two buckets: enough for amendments of the previous one.
            for old in sorted(buckets)[:-2]:
                del buckets[old]
            oldest = min(buckets)
            partial.difference_update([b for b in partial if b < oldest])
        return changed

    def seed(self, minutes: Iterable[Candle]) -> None:
        """Continue from the stored 1m candles of the current buckets (a restart).

        Call before the first trade. The newest minute is the open one (trades
        of that minute add to it); the others count in the higher intervals'
        candles as closed minutes, so a 5m bar keeps the volume traded before
        the restart. Closed by a later minute's trade without one of its own, the newest
        is not handed out again (it is stored as it is), nor are roll-ups it alone changes.
        """
        ordered = sorted(minutes, key=lambda c: c.open_ns)
        if not ordered:
            return
        self._minute.seed(ordered)
        self._seeded = self._minute.current()
        for interval, length in self._higher.items():
            buckets = self._minutes[interval]
            for minute in ordered[:-1]:
                bucket = minute.open_ns - minute.open_ns % length
                buckets.setdefault(bucket, {})[minute.open_ns] = minute
            for old in sorted(buckets)[:-2]:
                del buckets[old]

    def unfinished(self) -> list[Candle]:
        """The open candle of every interval, marked partial: what a stop stores (the rest
        of their trades go unseen). None while the open minute is the seeded one no trade
        changed: stored as it is, and a backfill may have replaced it meanwhile."""
        minute = self._minute.current()
        if minute is None or minute == self._seeded:
            return []
        return [
            replace(candle, partial=True)
            for interval in ("1m", *self._higher)
            if (candle := self.current(interval)) is not None
        ]

    def current(self, interval: str) -> Candle | None:
        """The open candle of `interval` (None before the first trade)."""
        minute = self._minute.current()
        if minute is None or interval == "1m":
            return minute
        length = self._higher[interval]
        bucket = minute.open_ns - minute.open_ns % length
        closed = self._minutes[interval].get(bucket, {})
        partial = bucket in self._partial[interval]
        return merge_candles(interval, bucket, [*closed.values(), minute], partial)


def candles_from_trades(trades: Iterable[Trade], interval: str) -> list[Candle]:
    """All candles of `interval`, ordered by (exchange, symbol, open time).

    Open and close are the prices of the earliest and latest trade by exchange
    time; among trades with equal times, the earlier one in `trades` opens and
    the later one closes.
    """
    length = interval_ns(interval)
    bars: dict[tuple[str, str, int], _Bar] = {}
    for trade in trades:
        key = (trade.exchange, trade.symbol, trade.ts_event - trade.ts_event % length)
        _add_trade(bars, key, trade)
    return [
        Candle(e, s, interval, t, b.open, b.high, b.low, b.close, b.volume, b.trades)
        for (e, s, t), b in sorted(bars.items(), key=lambda kv: kv[0])
    ]
