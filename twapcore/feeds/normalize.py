"""Turn cryptofeed's normalized callback objects into twapcore models.

Called once per message by the live collectors and by the capture converter,
so every function here is cheap: a book copies only its top `depth` levels
(cryptofeed keeps up to 1000 per side) and name normalizations are memoized.

This module reads cryptofeed objects by attribute only and never imports
cryptofeed itself.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Protocol

from twapcore.errors import RecordingError
from twapcore.models import NS_PER_SECOND, BookSnapshot, Level, Side, Trade
from twapcore.symbols import normalize_exchange, normalize_symbol

__all__ = [
    "CryptofeedBook",
    "CryptofeedTrade",
    "book_from_cryptofeed",
    "book_from_cryptofeed_ns",
    "canonical_symbol",
    "exchange_name",
    "seconds_to_ns",
    "trade_from_cryptofeed",
    "trade_from_cryptofeed_ns",
]

_NS_PER_SECOND = Decimal(NS_PER_SECOND)

# Memos: a feed names few exchanges and symbols, each seen on every message.
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_exchange_names: dict[str, str] = {}
_canonical_symbols: dict[str, str] = {}


class CryptofeedBook(Protocol):
    """The attributes twap reads from cryptofeed's `OrderBook` (an L2_BOOK callback)."""

    exchange: str
    symbol: str
    book: Any  # order_book.OrderBook: .bids / .asks are sorted dicts, best first
    timestamp: float | None
    sequence_number: int | None


class CryptofeedTrade(Protocol):
    """The attributes twap reads from cryptofeed's `Trade` (a TRADES callback)."""

    exchange: str
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    timestamp: float
    id: str | None


def seconds_to_ns(ts: float | str | Decimal) -> int:
    """Convert a Unix time in seconds to integer nanoseconds, without float drift.

    A float is read through its shortest repr (`1633998512.068` stays exactly
    1633998512068000000 ns, where `int(ts * 1e9)` would be off by hundreds of ns);
    a string or Decimal keeps every digit it carries. Rounds half-even to the ns.
    """
    if type(ts) is float and math.isfinite(ts):
        # Fast path (per message in the collectors): exact whenever the float is a
        # whole number of microseconds, which cryptofeed's timestamps are.
        micros = round(ts * 1_000_000)
        if micros / 1_000_000 == ts:
            return micros * 1000
    try:
        value = ts if isinstance(ts, Decimal) else Decimal(ts if isinstance(ts, str) else repr(ts))
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise RecordingError(f"timestamp {ts!r} is not a number of seconds") from exc
    if not value.is_finite():
        raise RecordingError(f"timestamp {ts!r} is not a finite number of seconds")
    return int((value * _NS_PER_SECOND).to_integral_value(ROUND_HALF_EVEN))


def exchange_name(exchange_id: str) -> str:
    """twap's exchange name for a cryptofeed exchange id: `BINANCE` -> `binance`.

    `twapcore.symbols.normalize_exchange`, memoized for per-message use.
    """
    name = _exchange_names.get(exchange_id)
    if name is None:
        name = _exchange_names[exchange_id] = normalize_exchange(exchange_id)
    return name


def canonical_symbol(symbol: str) -> str:
    """twap's `BASE-QUOTE` symbol for a cryptofeed symbol (`XBT-USD` -> `BTC-USD`).

    `twapcore.symbols.normalize_symbol`, memoized for per-message use; raises
    `UnknownSymbol` for what is not a spot pair (`BTC-USDT-PERP`).
    """
    canonical = _canonical_symbols.get(symbol)
    if canonical is None:
        canonical = _canonical_symbols[symbol] = normalize_symbol(symbol)
    return canonical


def _top_levels(side: Any, depth: int) -> tuple[Level, ...]:
    # index(i) reads the i-th best level straight from the sorted dict; it avoids
    # materializing all (up to 1000) levels the way to_list() or keys() would.
    return tuple(Level(*side.index(i)) for i in range(min(depth, len(side))))


def book_from_cryptofeed_ns(
    book: CryptofeedBook, ts_recv_ns: int, depth: int, version: int = 0
) -> BookSnapshot:
    """A `BookSnapshot` of the top `depth` levels of a cryptofeed L2 book.

    `ts_recv_ns` is the receive time in ns; `ts_event` is the venue's book time
    (cryptofeed's float seconds) in ns, or `ts_recv_ns` when the venue sends none.
    """
    timestamp = book.timestamp
    sequence = book.sequence_number
    return BookSnapshot(
        exchange=exchange_name(book.exchange),
        symbol=canonical_symbol(book.symbol),
        bids=_top_levels(book.book.bids, depth),
        asks=_top_levels(book.book.asks, depth),
        ts_event=ts_recv_ns if timestamp is None else seconds_to_ns(timestamp),
        ts_recv=ts_recv_ns,
        seq=None if sequence is None else int(sequence),
        version=version,
    )


def book_from_cryptofeed(
    book: CryptofeedBook, receipt_timestamp: float, depth: int, version: int = 0
) -> BookSnapshot:
    """A `BookSnapshot` of the top `depth` levels of a cryptofeed L2 book.

    `receipt_timestamp` is cryptofeed's receive time in float seconds, as passed
    to the L2_BOOK callback.
    """
    return book_from_cryptofeed_ns(book, seconds_to_ns(receipt_timestamp), depth, version)


def trade_from_cryptofeed_ns(trade: CryptofeedTrade, ts_recv_ns: int) -> Trade:
    """A `Trade` from a cryptofeed trade; `ts_recv_ns` is the receive time in ns.

    `side` is the taker's side; `ts_event` is the venue's trade time in ns.
    """
    trade_id = trade.id
    # Positional and with the memo dicts read inline: this runs once per trade.
    return Trade(
        _exchange_names.get(trade.exchange) or exchange_name(trade.exchange),
        _canonical_symbols.get(trade.symbol) or canonical_symbol(trade.symbol),
        _SIDES[trade.side],
        trade.price,
        trade.amount,
        seconds_to_ns(trade.timestamp),
        ts_recv_ns,
        None if trade_id is None else str(trade_id),
    )


def trade_from_cryptofeed(trade: CryptofeedTrade, receipt_timestamp: float) -> Trade:
    """A `Trade` from a cryptofeed trade; `receipt_timestamp` is in float seconds."""
    return trade_from_cryptofeed_ns(trade, seconds_to_ns(receipt_timestamp))
