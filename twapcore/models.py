"""Value types shared by every part of twap.

Prices and quantities are `Decimal` everywhere; times are `int` nanoseconds
since the Unix epoch. The dataclasses are frozen and slotted: they are created
on the hot path and must be cheap and immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from twapcore.symbols import InstrumentType, instrument_type

__all__ = [
    "NS_PER_SECOND",
    "BookSnapshot",
    "Candle",
    "Fill",
    "InstrumentInfo",
    "InstrumentType",
    "Level",
    "OrderStatus",
    "Side",
    "SkipReason",
    "SliceResult",
    "SliceStatus",
    "Trade",
]

NS_PER_SECOND = 1_000_000_000


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"
    WORKING = "working"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {OrderStatus.COMPLETED, OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.REJECTED}
)


class SliceStatus(StrEnum):
    FILLED = "filled"
    PARTIAL = "partial"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    """Why a slice filled nothing (or less than its target)."""

    NO_BOOK = "no_book"
    STALE_BOOK = "stale_book"
    BOOK_OUT_OF_SYNC = "book_out_of_sync"
    LIMIT_PRICE = "limit_price"
    NO_LIQUIDITY = "no_liquidity"
    SERVER_DOWN = "server_down"
    ENGINE_ERROR = "engine_error"  # the server failed to execute the slice (retried first)
    END_OF_RECORDING = "end_of_recording"
    NO_TRADES = "no_trades"  # pov: nothing traded since the previous step; it waits
    BELOW_MIN_SLICE = "below_min_slice"  # pov: what is owed is under min_slice_qty / a lot
    NOTHING_DUE = "nothing_due"  # the schedule asks for nothing at this slice (vwap)


class Level(NamedTuple):
    """One price level. A named tuple, not a dataclass: books are built by the thousand."""

    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Top levels of one book at one moment, best price first on both sides.

    `version` changes whenever the book changes; paper fills use it to know
    whether displayed size was already consumed.
    """

    exchange: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts_event: int
    ts_recv: int
    seq: int | None = None
    version: int = 0

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    def age_ns(self, now_ns: int) -> int:
        """Nanoseconds since this book was received (never negative)."""
        return max(0, now_ns - self.ts_recv)


class Trade(NamedTuple):
    """One public trade. A named tuple, not a dataclass: collectors build one per trade."""

    exchange: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    ts_event: int
    ts_recv: int
    trade_id: str | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    """One paper execution against one displayed level."""

    slice_index: int
    price: Decimal
    qty: Decimal
    ts: int
    venue: str | None = None  # the venue it filled on (None: the order's one exchange)

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


@dataclass(frozen=True, slots=True)
class SliceResult:
    """What happened at one scheduled slice of a TWAP order."""

    index: int
    due_ns: int
    executed_ns: int
    target_qty: Decimal
    filled_qty: Decimal
    status: SliceStatus
    fills: tuple[Fill, ...] = ()
    reason: str | None = None
    book_mid: Decimal | None = None
    book_version: int | None = None
    market_volume: Decimal | None = None  # base units traded since the previous step, if known
    # Cross-venue orders: (venue, reason) of each venue left out of this slice (e.g. stale_book).
    venues_left_out: tuple[tuple[str, str], ...] = ()

    @property
    def notional(self) -> Decimal:
        return sum((f.notional for f in self.fills), Decimal(0))


@dataclass(frozen=True, slots=True)
class Candle:
    """OHLCV of one bucket; `partial` when trades of it may be missing (a feed gap, a stop)."""

    exchange: str
    symbol: str
    interval: str
    open_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int = field(default=0)
    partial: bool = False


@dataclass(frozen=True, slots=True)
class InstrumentInfo:
    """What a venue lists for one (exchange, symbol); sizes are None where it publishes none.

    `tick_size` is the price increment, `lot_size` the quantity increment, both in
    the venue's units; `contract_size` is how much of the underlying one contract
    is (derivatives only, where the venue publishes it). Quantities of non-spot
    instruments are in contracts (`twapcore.symbols.instrument_units`).
    """

    exchange: str
    symbol: str
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None
    contract_size: Decimal | None = None

    @property
    def type(self) -> InstrumentType:
        """The instrument type, read from the symbol (`twapcore.symbols.parse_instrument`)."""
        return instrument_type(self.symbol)
