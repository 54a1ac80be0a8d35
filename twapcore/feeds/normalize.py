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
    "BookTops",
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
    delta: Any  # {"bid": [(price, size), ...], "ask": [...]} changed by this update, or None


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
    """twap's canonical symbol for a cryptofeed symbol (`XBT-USD` -> `BTC-USD`).

    `twapcore.symbols.normalize_symbol`, memoized for per-message use: cryptofeed's
    perpetuals, futures and options keep their spelling (`BTC-USDT-PERP`), and
    anything else it emits passes through as type `other`.
    """
    canonical = _canonical_symbols.get(symbol)
    if canonical is None:
        canonical = _canonical_symbols[symbol] = normalize_symbol(symbol)
    return canonical


def _top_levels(side: Any, depth: int) -> tuple[Level, ...]:
    return tuple(Level(price, side[price]) for price in _top_prices(side, depth))


def _top_prices(side: Any, depth: int) -> list[Any]:
    # keys() is the side's prices best first, sorted once per change of the book;
    # index(i) would sort again for every level read after a change.
    return list(side.keys()[:depth])


class BookTops:
    """The top `depth` levels of one cryptofeed book, followed through its deltas.

    Sorting a whole side costs ~0.5 ms on a 10,000-level book, and cryptofeed
    books only grow; most updates change a few prices near the top. So each side
    keeps its best prices (a reserve of 4 x depth) with an edge price: every
    level at or better than the edge is among them. An update merges the prices
    cryptofeed says it changed (`book.delta`) at or better than the edge; the
    side is sorted again only for a snapshot (no delta), a new book object, or
    when deletions leave fewer than `depth` known prices.
    """

    __slots__ = ("_depth", "_levels", "_reserve", "_sides")

    def __init__(self, depth: int) -> None:
        self._depth = depth
        self._reserve = 4 * depth
        # "bid"/"ask" -> (the side object, its best prices best first, the edge
        # price, None when those prices are the whole side)
        self._sides: dict[str, tuple[Any, list[Any], Any]] = {}
        # "bid"/"ask" -> the levels last returned, reused while no change reaches them
        self._levels: dict[str, tuple[Level, ...]] = {}

    def levels(self, book: CryptofeedBook) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """(bids, asks): the top levels of `book`, best first."""
        delta = book.delta
        sides = book.book
        return (
            self._side_levels("bid", sides.bids, None if delta is None else delta.get("bid"), True),
            self._side_levels(
                "ask", sides.asks, None if delta is None else delta.get("ask"), False
            ),
        )

    def _side_levels(
        self, name: str, side: Any, changes: Any, descending: bool
    ) -> tuple[Level, ...]:
        prices = self._top(name, side, changes, descending)
        if prices is None:
            return self._levels[name]
        levels = self._levels[name] = tuple(Level(price, side[price]) for price in prices)
        return levels

    def _sorted(self, name: str, side: Any) -> list[Any]:
        prices = _top_prices(side, self._reserve)
        edge = prices[-1] if len(prices) == self._reserve else None
        self._sides[name] = (side, prices, edge)
        return prices[: self._depth]

    def _top(self, name: str, side: Any, changes: Any, descending: bool) -> list[Any] | None:
        """The top prices of a side, or None when they and their sizes are as last returned."""
        state = self._sides.get(name)
        if state is None or state[0] is not side or changes is None or name not in self._levels:
            return self._sorted(name, side)
        _, prices, edge = state
        touched = [
            change[0]
            for change in changes
            if edge is None or (change[0] >= edge if descending else change[0] <= edge)
        ]
        if not touched:
            return None
        depth = self._depth
        # Changes below the levels last returned leave them as they were.
        unchanged = len(prices) >= depth and all(
            (price < prices[depth - 1] if descending else price > prices[depth - 1])
            for price in touched
        )
        merged = self._merged(side, prices, touched, descending)
        if len(merged) > self._reserve:
            del merged[self._reserve :]
            edge = merged[-1]  # better than the old edge: still all known
        if edge is not None and len(merged) < depth:
            return self._sorted(name, side)  # levels beyond the edge are needed
        self._sides[name] = (side, merged, edge)
        return None if unchanged else merged[:depth]

    @staticmethod
    def _merged(side: Any, prices: list[Any], touched: list[Any], descending: bool) -> list[Any]:
        known = {price for price in prices if price in side}
        known.update(price for price in touched if price in side)
        return sorted(known, reverse=descending)


def book_from_cryptofeed_ns(
    book: CryptofeedBook,
    ts_recv_ns: int,
    depth: int,
    version: int = 0,
    tops: BookTops | None = None,
) -> BookSnapshot:
    """A `BookSnapshot` of the top `depth` levels of a cryptofeed L2 book.

    `ts_recv_ns` is the receive time in ns; `ts_event` is the venue's book time
    (cryptofeed's float seconds) in ns, or `ts_recv_ns` when the venue sends none.
    `tops`: this book's `BookTops(depth)`, when the same book is converted after
    each of its updates (cheaper on deep books).
    """
    timestamp = book.timestamp
    sequence = book.sequence_number
    if tops is None:
        bids, asks = _top_levels(book.book.bids, depth), _top_levels(book.book.asks, depth)
    else:
        bids, asks = tops.levels(book)
    return BookSnapshot(
        exchange=exchange_name(book.exchange),
        symbol=canonical_symbol(book.symbol),
        bids=bids,
        asks=asks,
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
