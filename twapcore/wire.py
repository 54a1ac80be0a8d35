"""The JSON shapes twap puts on the wire, defined once.

Orders, slices, fills and planned slices (REST and `/ws`), symbols, exchanges and
klines (REST), and book, trade and instrument lines (`/ws` and recordings). The
server answers with these models, the SDK (`twapclient`) parses into them and
the recorder writes lines of their shape; the hot paths that build plain dicts
instead (`twapcore.recording.book_to_record`, the server's order updates) are
held to these models by tests.

Each model reads what it writes: decimals are serialized as JSON strings, never
floats, and parsed back to the same `Decimal`. `Amount` is the rule of
`twapcore.formatting` (`format_decimal`: plain digits, no trailing-zero noise),
`Average` rounds a computed average (`format_average`), and `VenueDecimal`
keeps the digits a venue sent (`"64000.10"`: book levels, trades, sizes).
Times are `int` nanoseconds since the epoch. The models are frozen and ignore
fields they do not know, so a reader parses what a newer writer adds; fields
that older writers lacked have defaults.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_serializer

from twapcore import _wire_examples as examples
from twapcore.candles import interval_ns
from twapcore.formatting import format_average, format_decimal
from twapcore.models import (
    NS_PER_SECOND,
    BookSnapshot,
    Candle,
    Level,
    OrderStatus,
    Side,
    SliceStatus,
)
from twapcore.symbols import InstrumentType

__all__ = [
    "Amount",
    "Average",
    "BookMessage",
    "ErrorMessage",
    "ExchangePublic",
    "FillPublic",
    "InstrumentMessage",
    "KlinePublic",
    "OrderAccepted",
    "OrderDetail",
    "OrderList",
    "OrderMessage",
    "OrderPublic",
    "PlannedSlicePublic",
    "SlicePublic",
    "SymbolPublic",
    "TradeMessage",
    "VenueDecimal",
    "WireModel",
]


def _venue_digits(value: Decimal) -> str:
    # Positional like format_decimal, but the venue's trailing zeros stay ("64000.10"):
    # the rule of recording lines and `/ws` books (twapcore.recording writes the same).
    return format(value, "f")


# A stored price or size: exact, plain digits, no trailing zeros ("0.5", "61831.89").
Amount = Annotated[Decimal, PlainSerializer(format_decimal, return_type=str, when_used="json")]
# A computed average (average fill price): `AVERAGE_DIGITS` significant digits.
Average = Annotated[Decimal, PlainSerializer(format_average, return_type=str, when_used="json")]
# A price or size as the venue wrote it: exact, plain digits, its trailing zeros kept.
VenueDecimal = Annotated[Decimal, PlainSerializer(_venue_digits, return_type=str, when_used="json")]


class WireModel(BaseModel):
    """Base of the wire models: frozen; unknown fields are ignored when parsing."""

    model_config = ConfigDict(frozen=True)


# --- orders (REST) --------------------------------------------------------------------

_ALGORITHM_NOTE = "Why the plan deviates from the algorithm (e.g. vwap without history)."


class PlannedSlicePublic(WireModel):
    """One slice of an order's plan: when it is due and how much it should trade."""

    index: int
    due_ns: int
    qty: Amount


class FillPublic(WireModel):
    """One paper fill of an order."""

    slice_index: int
    price: Amount
    qty: Amount
    ts_ns: int
    venue: str | None = Field(None, description="The venue it filled on (else the exchange).")


class SlicePublic(WireModel):
    """One executed slice: what it aimed for, what it filled, and why not more."""

    index: int
    due_ns: int
    executed_ns: int
    target_qty: Amount
    filled_qty: Amount
    status: SliceStatus
    reason: str | None
    book_mid: Amount | None
    market_volume: Amount | None = Field(
        None, description="What the market traded since the previous slice (null: not counted)."
    )
    venues_left_out: dict[str, str] | None = Field(
        None,
        description="Cross-venue orders: venue -> why this slice did not use it (stale_book, "
        "no_book); null when every venue was used.",
    )


class OrderPublic(WireModel):
    """An order's status and progress."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.ORDER]})

    token_id: str
    exchange: str
    symbol: str
    side: Side
    algorithm: str = Field("twap", examples=["twap", "twap_random", "vwap", "pov"])
    status: OrderStatus = Field(
        examples=["accepted", "working", "completed", "expired", "cancelled"]
    )
    quantity: Amount
    filled_qty: Amount
    remaining_qty: Amount
    average_price: Average | None
    limit_price: Amount
    slices_done: int
    slices_total: int
    next_slice_ns: int | None
    created_ns: int
    updated_ns: int
    venues: list[str] | None = Field(
        None, description="Cross-venue orders: the venues traded (exchange is the first)."
    )


class OrderDetail(OrderPublic):
    """An order with its fills, slices (with skip reasons) and analytics."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.ORDER_DETAIL})

    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="The algorithm's parameters as stored (vwap: profile and its weights).",
    )
    algorithm_note: str | None = Field(None, description=_ALGORITHM_NOTE)
    fills: list[FillPublic]
    slices: list[SlicePublic]
    schedule: list[PlannedSlicePublic]
    analytics: dict[str, Any]


class OrderAccepted(WireModel):
    """The answer to a submitted order: the order as accepted and its planned slices."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.ORDER_ACCEPTED})

    status: Literal["accepted"] = "accepted"
    token_id: str
    order: OrderPublic
    schedule: list[PlannedSlicePublic]
    algorithm_note: str | None = Field(None, description=_ALGORITHM_NOTE)


class OrderList(WireModel):
    """One page of orders, newest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"orders": [examples.ORDER], "next_after": 41}]}
    )

    orders: list[OrderPublic]
    next_after: int | None = Field(
        None, description="Pass as `after` to get the next (older) page; null on the last page."
    )


# --- market data (REST) ---------------------------------------------------------------


class ExchangePublic(WireModel):
    """An exchange the server collects, with its symbols."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "binance", "symbols": ["BTC-USDT", "ETH-USDT"]}]}
    )

    name: str = Field(examples=["binance"])
    symbols: list[str] = Field(examples=[["BTC-USDT", "ETH-USDT"]])


class SymbolPublic(WireModel):
    """A collected symbol; `stale` when its latest book is older than the server's limit."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.SYMBOLS})

    symbol: str = Field(examples=["BTC-USDT", "BTC-USDT-PERP", "BTC-USD-22K27"])
    type: InstrumentType = Field(description="Read from the symbol (cryptofeed's grammar)")
    tick_size: Amount | None = Field(None, examples=["0.01"])
    lot_size: Amount | None = Field(None, examples=["0.00001"])
    contract_size: Amount | None = Field(
        None, description="Underlying per contract, where the venue publishes it", examples=["1"]
    )
    quantity_unit: str = Field(
        description="Unit of order quantities: the base asset for spot, else contracts",
        examples=["BTC", "contracts"],
    )
    has_book: bool
    stale: bool


class KlinePublic(WireModel):
    """One OHLCV candle built from trades by exchange time."""

    model_config = ConfigDict(json_schema_extra={"examples": examples.KLINES})

    open_time: datetime = Field(description="open_ns as ISO-8601 UTC (kept for older clients)")
    open_ns: int = Field(description="Start of the candle, ns since the epoch (inclusive)")
    close_ns: int = Field(description="End of the candle, ns since the epoch (exclusive)")
    open: Amount
    high: Amount
    low: Amount
    close: Amount
    volume: Amount
    trades: int
    partial: bool = Field(
        False,
        description="Trades of this candle may be missing (the server stopped, started or "
        "reconnected inside it); a backfill from the venue replaces it. False from older servers",
    )

    @classmethod
    def from_candle(cls, candle: Candle) -> KlinePublic:
        """The kline of `candle`; `close_ns` is its open plus the interval."""
        seconds, ns = divmod(candle.open_ns, NS_PER_SECOND)
        open_time = datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=ns // 1000)
        return cls(
            open_time=open_time,
            open_ns=candle.open_ns,
            close_ns=candle.open_ns + interval_ns(candle.interval),
            open=candle.open,
            high=candle.high,
            low=candle.low,
            close=candle.close,
            volume=candle.volume,
            trades=candle.trades,
            partial=candle.partial,
        )


# --- books, trades and instruments (`/ws` and recording lines) -------------------------


class BookMessage(WireModel):
    """Top of one book, best levels first (≤10 a side on `/ws`): a `/ws` book message and
    a recording's book line (`twapcore.recording.book_to_record` builds it)."""

    type: Literal["book"] = "book"
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    seq: int | None = None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @field_serializer("bids", "asks", when_used="json")
    def _levels(self, levels: tuple[Level, ...]) -> list[list[str]]:
        return [[_venue_digits(price), _venue_digits(qty)] for price, qty in levels]

    def snapshot(self) -> BookSnapshot:
        """The same book as twapcore's `BookSnapshot` (for fill models, analytics)."""
        return BookSnapshot(
            self.exchange, self.symbol, self.bids, self.asks, self.ts_event, self.ts_recv, self.seq
        )


class TradeMessage(WireModel):
    """A recording's trade line (`twapcore.recording.trade_to_record` builds it)."""

    type: Literal["trade"] = "trade"
    exchange: str
    symbol: str
    side: Side
    price: VenueDecimal
    qty: VenueDecimal
    ts_event: int
    ts_recv: int
    trade_id: str | None


class InstrumentMessage(WireModel):
    """A recording's instrument line, first for each symbol; unknown sizes are null.

    Lines written before `instrument_type` and `contract_size` existed lack them.
    """

    type: Literal["instrument"] = "instrument"
    exchange: str
    symbol: str
    instrument_type: InstrumentType | None = None
    tick_size: VenueDecimal | None
    lot_size: VenueDecimal | None
    contract_size: VenueDecimal | None = None


# --- order updates and errors (`/ws`) ---------------------------------------------------


class OrderMessage(WireModel):
    """A progress update of one order on `/ws`; `slice` is the slice just executed (null in
    the subscribe snapshot and after a cancel). A slice used every venue when it has no
    `venues_left_out`. Fields a newer server adds are kept (`extra="allow"`)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["order"] = "order"
    token_id: str
    exchange: str | None = None  # exchange, symbol, side: None from older servers
    symbol: str | None = None
    side: Side | None = None
    venues: list[str] | None = None  # cross-venue orders only (exchange first)
    algorithm: str = "twap"
    status: OrderStatus
    filled_qty: Amount
    remaining_qty: Amount
    average_price: Average | None
    slices_done: int
    slices_total: int
    next_slice_ns: int | None
    slice: SlicePublic | None = None


class ErrorMessage(WireModel):
    """An error the server sends on `/ws` (`{"type":"error","code":…,"message":…}`)."""

    type: Literal["error"] = "error"
    code: str
    message: str
