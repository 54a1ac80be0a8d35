"""An L2 order book rebuilt from a snapshot plus deltas, with integrity checks.

`OrderBook` keeps price → size per side and a sorted price list, so top-N is a
slice, not a sort. Venue integrity rules live beside it:

* Binance: `BinanceDepthSync` follows the documented procedure (buffer diffs,
  wait for the REST snapshot, apply from the diff that bridges `lastUpdateId`,
  then require `U == previous u + 1`). A gap raises `SequenceGap` and leaves the
  book flagged `in_sync = False` until a new snapshot arrives.
* Kraken: `verify_kraken_checksum` recomputes the CRC32 of the top 10 levels;
  a mismatch raises `ChecksumMismatch` and flags the book the same way.

Cross-venue orders see the consolidated book of one symbol on several venues:
`consolidated_mid` is its mid (the best bid across the venues and the best ask
across them); `LiquidityLedger.available_across` (twapcore.fills) walks its
levels best price first.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from decimal import Decimal

from twapcore.errors import ChecksumMismatch, SequenceGap
from twapcore.models import BookSnapshot, Level

__all__ = [
    "BinanceDepthSync",
    "OrderBook",
    "PriceLevels",
    "consolidated_mid",
    "kraken_checksum",
    "verify_kraken_checksum",
]

PriceLevels = Iterable[tuple[Decimal, Decimal]]
_ZERO = Decimal(0)


class _Side:
    """One side of a book: sizes by price plus prices sorted ascending."""

    __slots__ = ("prices", "sizes")

    def __init__(self) -> None:
        self.sizes: dict[Decimal, Decimal] = {}
        self.prices: list[Decimal] = []

    def clear(self) -> None:
        self.sizes.clear()
        self.prices.clear()

    def set(self, price: Decimal, qty: Decimal) -> None:
        if qty == _ZERO:
            if self.sizes.pop(price, None) is not None:
                del self.prices[bisect_left(self.prices, price)]
            return
        if price not in self.sizes:
            insort(self.prices, price)
        self.sizes[price] = qty

    def truncate(self, depth: int, keep_low: bool) -> None:
        """Drop levels beyond `depth`, keeping the lowest prices (asks) or highest (bids)."""
        excess = len(self.prices) - depth
        if excess <= 0:
            return
        dropped = self.prices[depth:] if keep_low else self.prices[:excess]
        for price in dropped:
            del self.sizes[price]
        self.prices = self.prices[:depth] if keep_low else self.prices[excess:]


class OrderBook:
    """A mutable L2 book for one (exchange, symbol); sizes of 0 delete a level.

    `version` increases on every change; `max_depth` (if set) truncates each side
    after every change, as venues with bounded subscriptions (Kraken) do.
    """

    def __init__(self, exchange: str, symbol: str, max_depth: int | None = None) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.max_depth = max_depth
        self._bids = _Side()
        self._asks = _Side()
        self.version = 0
        self.seq: int | None = None
        self.ts_event = 0
        self.ts_recv = 0
        self.in_sync = False

    def __len__(self) -> int:
        return len(self._bids.prices) + len(self._asks.prices)

    def apply_snapshot(
        self,
        bids: PriceLevels,
        asks: PriceLevels,
        *,
        ts_event: int,
        ts_recv: int,
        seq: int | None = None,
    ) -> None:
        """Replace the whole book; the book is in sync afterwards."""
        self._bids.clear()
        self._asks.clear()
        self.in_sync = True
        self.apply_delta(bids, asks, ts_event=ts_event, ts_recv=ts_recv, seq=seq)

    def apply_delta(
        self,
        bids: PriceLevels,
        asks: PriceLevels,
        *,
        ts_event: int,
        ts_recv: int,
        seq: int | None = None,
    ) -> None:
        """Set the given levels (absolute sizes, 0 = remove)."""
        for price, qty in bids:
            self._bids.set(price, qty)
        for price, qty in asks:
            self._asks.set(price, qty)
        if self.max_depth is not None:
            self._bids.truncate(self.max_depth, keep_low=False)
            self._asks.truncate(self.max_depth, keep_low=True)
        self.version += 1
        self.ts_event = ts_event
        self.ts_recv = ts_recv
        if seq is not None:
            self.seq = seq

    def mark_out_of_sync(self) -> None:
        self.in_sync = False

    def bids(self, depth: int | None = None) -> list[Level]:
        """Best (highest) bid first."""
        prices = self._bids.prices
        chosen = prices[::-1] if depth is None else prices[: -depth - 1 : -1]
        return [Level(p, self._bids.sizes[p]) for p in chosen]

    def asks(self, depth: int | None = None) -> list[Level]:
        """Best (lowest) ask first."""
        prices = self._asks.prices
        chosen = prices if depth is None else prices[:depth]
        return [Level(p, self._asks.sizes[p]) for p in chosen]

    def snapshot(self, depth: int | None = 10) -> BookSnapshot:
        """An immutable copy of the top `depth` levels per side (all when None)."""
        return BookSnapshot(
            exchange=self.exchange,
            symbol=self.symbol,
            bids=tuple(self.bids(depth)),
            asks=tuple(self.asks(depth)),
            ts_event=self.ts_event,
            ts_recv=self.ts_recv,
            seq=self.seq,
            version=self.version,
        )

    def age_ns(self, now_ns: int) -> int:
        """Nanoseconds since the last change was received."""
        return max(0, now_ns - self.ts_recv)


def consolidated_mid(books: Sequence[BookSnapshot]) -> Decimal | None:
    """(highest bid of any book + lowest ask of any book) / 2; None when a side is empty.

    With one book it is that book's mid. Crossed venues (a bid above another's ask)
    give a mid between them, as the books show it.
    """
    bids = [b.bids[0].price for b in books if b.bids]
    asks = [b.asks[0].price for b in books if b.asks]
    if not bids or not asks:
        return None
    return (max(bids) + min(asks)) / 2


_Diff = tuple[int, int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]], int, int]


class BinanceDepthSync:
    """Binance's depth-stream procedure around an `OrderBook`.

    Feed every diff to `on_diff` and the REST snapshot to `on_snapshot`, in the
    order they arrive. Diffs seen before the snapshot are buffered, because the
    snapshot usually arrives after the diff that bridges it.
    """

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self._buffer: list[_Diff] = []
        self.last_update_id: int | None = None
        self._bridged = False
        self.gaps = 0

    @property
    def needs_snapshot(self) -> bool:
        return self.last_update_id is None

    def on_snapshot(
        self,
        last_update_id: int,
        bids: PriceLevels,
        asks: PriceLevels,
        *,
        ts_event: int,
        ts_recv: int,
    ) -> None:
        """Install the snapshot, then replay the buffered diffs that follow it."""
        self.book.apply_snapshot(bids, asks, ts_event=ts_event, ts_recv=ts_recv, seq=last_update_id)
        self.last_update_id = last_update_id
        self._bridged = False
        buffered, self._buffer = self._buffer, []
        for first_id, last_id, b, a, t_event, t_recv in buffered:
            self.on_diff(first_id, last_id, b, a, ts_event=t_event, ts_recv=t_recv)

    def on_diff(
        self,
        first_id: int,
        last_id: int,
        bids: list[tuple[Decimal, Decimal]],
        asks: list[tuple[Decimal, Decimal]],
        *,
        ts_event: int,
        ts_recv: int,
    ) -> bool:
        """Apply one `depthUpdate` (`U`=first_id, `u`=last_id); True if it changed the book.

        Raises `SequenceGap` (and flags the book out of sync) when an update was
        missed; diffs are then buffered again until the next `on_snapshot`.
        """
        if self.last_update_id is None:
            self._buffer.append((first_id, last_id, bids, asks, ts_event, ts_recv))
            return False
        if last_id <= self.last_update_id:
            return False  # already contained in the snapshot
        expected = self.last_update_id + 1
        # The first diff after a snapshot only has to straddle it; later ones must be contiguous.
        in_order = first_id <= expected if not self._bridged else first_id == expected
        if not in_order:
            self.gaps += 1
            self.last_update_id = None
            self.book.mark_out_of_sync()
            raise SequenceGap(
                f"{self.book.exchange} {self.book.symbol}: diff starts at update id {first_id}, "
                f"expected {expected}; the book needs a new snapshot"
            )
        self.book.apply_delta(bids, asks, ts_event=ts_event, ts_recv=ts_recv, seq=last_id)
        self.last_update_id = last_id
        self._bridged = True
        return True


def _checksum_digits(value: Decimal) -> str:
    return format(value, "f").replace(".", "").lstrip("0")


def kraken_checksum(book: OrderBook) -> int:
    """Kraken WS v1 CRC32: top 10 asks (low→high) then top 10 bids (high→low),
    each price and size without the decimal point and leading zeros.

    Sizes must be Decimals built from Kraken's strings so their digits match.
    """
    parts = [
        _checksum_digits(level.price) + _checksum_digits(level.qty)
        for level in (*book.asks(10), *book.bids(10))
    ]
    return zlib.crc32("".join(parts).encode())


def verify_kraken_checksum(book: OrderBook, expected: int) -> None:
    """Raise `ChecksumMismatch` (and flag the book out of sync) if the CRC32 differs."""
    actual = kraken_checksum(book)
    if actual != expected:
        book.mark_out_of_sync()
        raise ChecksumMismatch(
            f"{book.exchange} {book.symbol}: checksum {actual} != venue checksum {expected}; "
            "the book needs a new snapshot"
        )
