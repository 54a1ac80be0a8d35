"""The market messages the bus carries, and `MarketView`: a hub rebuilt from them.

Messages are JSON objects told apart by `"type"`:

* `book` and `trade`: the recording format (`twapcore.recording`), so a book is
  serialised once by the collector and is the same text a recording would hold;
* `market`: one market's instrument info, feed health and open candles
  (`market_message`), published every second and kept in Redis for late joiners;
* `invalidate`: the collector stopped serving a market's book (a sequence gap or a
  checksum failure) until it is rebuilt.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any, ClassVar

from twapcore import INTERVALS, Candle, Trade
from twapcore.recording import book_from_record, trade_from_record
from twapserver.hub import FeedHealth, InstrumentInfo, MarketHub

__all__ = ["MarketView", "market_message", "open_candle_records"]

Record = dict[str, Any]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def market_message(hub: MarketHub, exchange: str, symbol: str, candles: list[Record]) -> Record:
    """The `market` message of (exchange, symbol) in `hub`, with its open `candles`
    (`open_candle_records`, which the caller may keep while no trade changes them)."""
    info = next(i for i in hub.instruments(exchange) if i.symbol == symbol)
    return {
        "type": "market",
        "exchange": exchange,
        "symbol": symbol,
        "tick_size": _text(info.tick_size),
        "lot_size": _text(info.lot_size),
        "contract_size": _text(info.contract_size),
        "health": dataclasses.asdict(hub.health(exchange, symbol)),
        "candles": candles,
    }


def open_candle_records(hub: MarketHub, exchange: str, symbol: str) -> list[Record]:
    """The open candle of every interval of (exchange, symbol) in `hub`, as records."""
    return [
        _candle_record(candle)
        for interval in INTERVALS
        if (candle := hub.open_candle(exchange, symbol, interval)) is not None
    ]


def _candle_record(candle: Candle) -> Record:
    return {
        "interval": candle.interval,
        "open_ns": candle.open_ns,
        "open": _text(candle.open),
        "high": _text(candle.high),
        "low": _text(candle.low),
        "close": _text(candle.close),
        "volume": _text(candle.volume),
        "trades": candle.trades,
        "partial": candle.partial,
    }


def _candle(exchange: str, symbol: str, record: Record) -> Candle:
    return Candle(
        exchange,
        symbol,
        record["interval"],
        int(record["open_ns"]),
        Decimal(record["open"]),
        Decimal(record["high"]),
        Decimal(record["low"]),
        Decimal(record["close"]),
        Decimal(record["volume"]),
        int(record["trades"]),
        bool(record.get("partial", False)),  # absent from older collectors
    )


class MarketView(MarketHub):
    """A read-only copy of a collector's hub, fed with bus messages by `apply`.

    Books keep their collector's `ts_recv` (staleness is judged on it) and get the
    view's own versions; health is the collector's; the open candles are the ones
    the collector last published (closed candles are the collector's to store).
    """

    ingests: ClassVar[bool] = False

    def __init__(self, max_book_age_s: float = 5.0) -> None:
        super().__init__(max_book_age_s)
        self._open_candles: dict[tuple[str, str], dict[str, Candle]] = {}

    def apply(self, message: Record) -> None:
        """Apply one bus message (see the module docstring); unknown types are ignored."""
        kind = message.get("type")
        if kind == "book":
            self.apply_book(message)
        elif kind == "trade":
            self.on_trade(trade_from_record(message))
        elif kind == "market":
            self._apply_market(message)
        elif kind == "invalidate":
            self.invalidate(message["exchange"], message["symbol"])

    def apply_book(self, record: Record) -> None:
        """Take a book record unless the view already holds it or a newer one.

        The same book again (a resubscription re-reads the latest) keeps its version:
        a new one would offer paper fills the displayed size they already took.
        """
        market = self._markets.get((record["exchange"], record["symbol"]))
        if market is None or (market.provider is not None and market.ts_recv >= record["ts_recv"]):
            return
        # Decimal levels are built only if someone reads this version (as in the hub).
        self.on_book(
            record["exchange"],
            record["symbol"],
            lambda: book_from_record(record),
            int(record["ts_recv"]),
        )

    def _apply_market(self, message: Record) -> None:
        exchange, symbol = message["exchange"], message["symbol"]
        tick, lot = _decimal(message.get("tick_size")), _decimal(message.get("lot_size"))
        contract = _decimal(message.get("contract_size"))
        self.register(InstrumentInfo(exchange, symbol, tick, lot, contract))
        self._markets[(exchange, symbol)].health = FeedHealth(**message["health"])
        self._open_candles[(exchange, symbol)] = {
            record["interval"]: _candle(exchange, symbol, record) for record in message["candles"]
        }

    def on_trade(self, trade: Trade) -> None:
        """Keep the trade and tell the listeners; candles are built by the collector."""
        market = self._markets.get((trade.exchange, trade.symbol))
        if market is None:
            return
        market.trades.append(trade)
        for listener in self.trade_listeners:
            listener(trade)

    def open_candle(self, exchange: str, symbol: str, interval: str) -> Candle | None:
        return self._open_candles.get((exchange, symbol), {}).get(interval)
