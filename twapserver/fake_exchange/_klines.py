"""One-minute candles of the captured trades, for the venues' REST kline / OHLC routes.

Every captured trade event counts once (a Binance ``aggTrade`` is one trade here, as it is for
cryptofeed and so for the server's own candles), bucketed by the venue's trade time. Minutes
without trades have no candle. Open and close are the earliest and latest trade by venue time;
among equal times the earlier captured one opens and the later one closes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

NS_PER_MINUTE = 60 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class CapturedTrade:
    ts_ns: int  # venue trade time
    price: Decimal
    qty: Decimal
    taker_buy: bool


@dataclass(frozen=True, slots=True)
class MinuteBar:
    open_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal  # sum of price x quantity
    trades: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal


def minute_bars(trades: Iterable[CapturedTrade]) -> list[MinuteBar]:
    """The minute candles of ``trades`` (in capture order), oldest first."""
    ordered = sorted(trades, key=lambda t: t.ts_ns)  # stable: capture order breaks ties
    bars: list[MinuteBar] = []
    group: list[CapturedTrade] = []
    for trade in ordered:
        if group and trade.ts_ns // NS_PER_MINUTE != group[0].ts_ns // NS_PER_MINUTE:
            bars.append(_bar(group))
            group = []
        group.append(trade)
    if group:
        bars.append(_bar(group))
    return bars


def _bar(group: list[CapturedTrade]) -> MinuteBar:
    zero = Decimal(0)
    buys = [t for t in group if t.taker_buy]
    return MinuteBar(
        open_ns=group[0].ts_ns - group[0].ts_ns % NS_PER_MINUTE,
        open=group[0].price,
        high=max(t.price for t in group),
        low=min(t.price for t in group),
        close=group[-1].price,
        volume=sum((t.qty for t in group), zero),
        quote_volume=sum((t.price * t.qty for t in group), zero),
        trades=len(group),
        taker_buy_volume=sum((t.qty for t in buys), zero),
        taker_buy_quote_volume=sum((t.price * t.qty for t in buys), zero),
    )


def fixed(value: Decimal, places: int = 8) -> str:
    """``value`` as venues print it: fixed-point, ``places`` decimals (rounded half-even)."""
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


__all__ = ["NS_PER_MINUTE", "CapturedTrade", "MinuteBar", "fixed", "minute_bars"]
