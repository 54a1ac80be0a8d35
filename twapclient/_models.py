"""Typed views of the server's JSON: prices and sizes are `Decimal`, times int ns since epoch.

Orders, slices, fills, planned slices, exchanges, symbols, klines and the `/ws` book,
order and error messages are twapcore's wire models (`twapcore.wire`): the same
classes the server answers with. Here they get the SDK's names, and subclasses
where the SDK adds something (`OrderDetail.report()`) or reads older servers
(`Kline`, `SymbolInfo`). Every model is frozen; unknown fields are ignored, so a
newer server with more fields still parses.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from twapclient._exceptions import TwapClientError
from twapcore import ExecutionReport, InstrumentType, parse_instrument
from twapcore.wire import (
    BookMessage,
    ErrorMessage,
    ExchangePublic,
    FillPublic,
    KlinePublic,
    OrderAccepted,
    OrderList,
    OrderMessage,
    OrderPublic,
    PlannedSlicePublic,
    SlicePublic,
    SymbolPublic,
)
from twapcore.wire import OrderDetail as _OrderDetail

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


ExchangeInfo = ExchangePublic  # an exchange the server collects, with its symbols


class SymbolInfo(SymbolPublic):
    """A collected symbol; `stale` when its latest book is older than the server's limit.

    `type`, `contract_size` and `quantity_unit` are None from servers older than
    derivatives support; `instrument_type` reads the type from the symbol then.
    """

    type: InstrumentType | None = None
    quantity_unit: str | None = None

    @property
    def instrument_type(self) -> InstrumentType:
        """The instrument type: the server's, else read from the symbol."""
        return self.type if self.type is not None else parse_instrument(self.symbol).type


class Kline(KlinePublic):
    """One OHLCV candle built from trades by exchange time."""

    close_ns: int | None = None  # end of the candle (exclusive); None from older servers


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


PlannedSlice = PlannedSlicePublic  # one slice of the plan: when it is due, how much
Fill = FillPublic  # `venue` is None from servers before cross-venue execution
SliceRecord = SlicePublic  # one executed slice: what it aimed for, filled, and why not more
Order = OrderPublic  # an order's status and progress
OrderPage = OrderList  # a page of orders, newest first; `next_after` is the next `after`


class OrderDetail(_OrderDetail):
    """An order with its fills, per-slice rows (with skip reasons), plan and analytics."""

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


# --- WebSocket messages ---------------------------------------------------


StreamMessage = BookMessage | OrderMessage | ErrorMessage

_REPORT: TypeAdapter[ExecutionReport] = TypeAdapter(ExecutionReport)
