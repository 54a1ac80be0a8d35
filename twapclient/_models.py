"""Typed views of the server's JSON: prices and sizes are `Decimal`, times int ns since epoch.

These mirror the server's response bodies field for field; unknown fields are
ignored, so a newer server with more fields still parses.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from twapclient._exceptions import TwapClientError
from twapcore import (
    BookSnapshot,
    ExecutionReport,
    InstrumentType,
    Level,
    OrderStatus,
    Side,
    SliceStatus,
    parse_instrument,
)

__all__ = [
    "Backfill",
    "BackfillMarket",
    "BookMessage",
    "ErrorMessage",
    "ExchangeInfo",
    "FeedHealth",
    "Fill",
    "Health",
    "Kline",
    "Order",
    "OrderAccepted",
    "OrderDetail",
    "OrderMessage",
    "OrderPage",
    "PlannedSlice",
    "SliceRecord",
    "StreamMessage",
    "SymbolInfo",
    "TokenResponse",
    "Tokens",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- market data ----------------------------------------------------------


class ExchangeInfo(_Model):
    """An exchange the server collects, with its symbols."""

    name: str
    symbols: list[str]


class SymbolInfo(_Model):
    """A collected symbol; `stale` when its latest book is older than the server's limit.

    `type`, `contract_size` and `quantity_unit` are None from servers older than
    derivatives support; `instrument_type` reads the type from the symbol then.
    """

    symbol: str
    tick_size: Decimal | None
    lot_size: Decimal | None
    has_book: bool
    stale: bool
    type: InstrumentType | None = None
    contract_size: Decimal | None = None
    quantity_unit: str | None = None

    @property
    def instrument_type(self) -> InstrumentType:
        """The instrument type: the server's, else read from the symbol."""
        return self.type if self.type is not None else parse_instrument(self.symbol).type


class Kline(_Model):
    """One OHLCV candle built from trades by exchange time."""

    open_time: datetime
    open_ns: int
    close_ns: int | None = None  # end of the candle (exclusive); None from older servers
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


class FeedHealth(_Model):
    exchange: str
    symbol: str
    connected: bool
    stale: bool
    last_message_age_s: float | None
    messages: int
    reconnects: int
    gaps: int
    checksum_failures: int
    resyncs: int
    last_error: str | None = None


class BackfillMarket(_Model):
    exchange: str
    symbol: str
    stored: int
    error: str | None
    skipped: bool


class Backfill(_Model):
    state: str
    started_ns: int | None
    finished_ns: int | None
    markets: list[BackfillMarket]


class Health(_Model):
    """`ok` when every feed is connected and fresh, else `degraded`."""

    status: str
    feeds: list[FeedHealth]
    backfill: Backfill | None = None


# --- auth -----------------------------------------------------------------


class TokenResponse(_Model):
    """The server's answer to POST /auth/token and /auth/refresh."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class Tokens(_Model):
    """A session: the token pair and when (epoch seconds) to refresh the access token."""

    access_token: str
    refresh_token: str
    expires_at: float
    refresh_at: float

    @classmethod
    def received(cls, response: TokenResponse, now_s: float) -> Tokens:
        """Tokens from a token response received at `now_s`; refresh 30 s (or 10 %) early."""
        lifetime = response.expires_in
        early = min(30.0, lifetime / 10)
        return cls(
            access_token=response.access_token,
            refresh_token=response.refresh_token,
            expires_at=now_s + lifetime,
            refresh_at=now_s + lifetime - early,
        )


# --- orders ---------------------------------------------------------------


class PlannedSlice(_Model):
    index: int
    due_ns: int
    qty: Decimal


class Fill(_Model):
    slice_index: int
    price: Decimal
    qty: Decimal
    ts_ns: int
    venue: str | None = None  # the venue it filled on (servers before cross-venue: None)


class SliceRecord(_Model):
    """One executed slice: what it aimed for, what it filled, and why not more."""

    index: int
    due_ns: int
    executed_ns: int
    target_qty: Decimal
    filled_qty: Decimal
    status: SliceStatus
    reason: str | None
    book_mid: Decimal | None
    market_volume: Decimal | None = None  # traded by the market since the previous slice
    venues_left_out: dict[str, str] | None = None  # cross-venue: venue -> why it was not used


class Order(_Model):
    """An order's status and progress."""

    token_id: str
    exchange: str
    symbol: str
    side: Side
    algorithm: str = "twap"
    status: OrderStatus
    quantity: Decimal
    filled_qty: Decimal
    remaining_qty: Decimal
    average_price: Decimal | None
    limit_price: Decimal
    slices_done: int
    slices_total: int
    next_slice_ns: int | None
    created_ns: int
    updated_ns: int
    venues: list[str] | None = None  # cross-venue orders: the venues traded (exchange first)


class OrderDetail(Order):
    """An order with its fills, per-slice rows (with skip reasons), plan and analytics."""

    parameters: dict[str, Any] = {}  # the algorithm's, as stored (vwap: its profile)
    algorithm_note: str | None = None  # why the plan deviates (e.g. vwap without history)
    fills: list[Fill]
    slices: list[SliceRecord]
    schedule: list[PlannedSlice]
    analytics: dict[str, Any]

    def report(self) -> ExecutionReport:
        """The analytics as twapcore's `ExecutionReport` (the same one `twap simulate` prints)."""
        notional: dict[int, Decimal] = {}
        for fill in self.fills:
            notional[fill.slice_index] = notional.get(fill.slice_index, Decimal(0)) + (
                fill.price * fill.qty
            )
        rows = [
            {
                "index": s.index,
                "due_ns": s.due_ns,
                "executed_ns": s.executed_ns,
                "target_qty": s.target_qty,
                "filled_qty": s.filled_qty,
                "average_price": notional[s.index] / s.filled_qty if s.filled_qty else None,
                "status": s.status.value,
                "reason": s.reason,
            }
            for s in self.slices
        ]
        try:
            return _REPORT.validate_python({**self.analytics, "slices": rows})
        except PydanticValidationError as error:
            problem = error.errors()[0]
            raise TwapClientError(
                f"the analytics of order {self.token_id!r} are not a report: "
                f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
            ) from None


class OrderAccepted(_Model):
    """The answer to a submitted order: the order as accepted and its planned slices."""

    status: Literal["accepted"] = "accepted"
    token_id: str
    order: Order
    schedule: list[PlannedSlice]
    algorithm_note: str | None = None


class OrderPage(_Model):
    """One page of orders, newest first; pass `next_after` as `after` for the next page."""

    orders: list[Order]
    next_after: int | None = None


# --- WebSocket messages ---------------------------------------------------


class BookMessage(_Model):
    """Top of one book (≤10 levels a side, best first), pushed once a second per symbol."""

    type: Literal["book"] = "book"
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    seq: int | None = None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    def snapshot(self) -> BookSnapshot:
        """The same book as twapcore's `BookSnapshot` (for fill models, analytics)."""
        return BookSnapshot(
            self.exchange, self.symbol, self.bids, self.asks, self.ts_event, self.ts_recv, self.seq
        )


class OrderMessage(_Model):
    """A progress update of one of the user's orders; `slice` is the slice just executed."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: Literal["order"] = "order"
    token_id: str
    algorithm: str = "twap"
    status: OrderStatus
    filled_qty: Decimal
    remaining_qty: Decimal
    average_price: Decimal | None
    slices_done: int
    slices_total: int
    next_slice_ns: int | None
    slice: SliceRecord | None = None


class ErrorMessage(_Model):
    """An error the server pushed on the stream (not the answer to one of our ops)."""

    type: Literal["error"] = "error"
    code: str
    message: str


StreamMessage = BookMessage | OrderMessage | ErrorMessage

_REPORT: TypeAdapter[ExecutionReport] = TypeAdapter(ExecutionReport)
