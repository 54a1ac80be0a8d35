"""Request and response bodies of the orders API (separate Create / Public models)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twapserver.api.amounts import Amount, Average
from twapserver.api.strict import (
    DECIMAL_PATTERN,
    DECIMAL_RULE,
    MAX_DECIMAL_CHARS,
    DecimalNumber,
    DecimalString,
    Int64,
    MarketName,
    TokenId,
)

# Documented bounds of an order (see README and /docs); twapserver.orders.validation
# enforces them with reason codes, twapserver.api.strict the shape of each value.
MAX_DURATION_S = Decimal(7 * 86400)
MIN_DURATION_S = Decimal(1)
MAX_SLICES = 1000
MIN_SLICE_INTERVAL_S = Decimal("0.1")
MAX_CATCH_UP_CAP = Decimal(100)
MAX_VENUES = 8

ORDER_EXAMPLE: dict[str, Any] = {
    "token_id": "my-order-0001",
    "exchange": "binance",
    "symbol": "BTC-USDT",
    "side": "buy",
    "quantity": "0.5",
    "limit_price": "70000",
    "duration_s": 600,
    "slices": 20,
}


# A cross-venue order: `venues` instead of `exchange` (see twapcore.venues for the rules).
CROSS_VENUE_EXAMPLE: dict[str, Any] = {
    **{k: v for k, v in ORDER_EXAMPLE.items() if k != "exchange"},
    "token_id": "my-cross-venue-0001",
    "venues": ["binance", "kraken"],
}


def bounds(minimum: Decimal, maximum: Decimal, *, nullable: bool = False) -> dict[str, Any]:
    """OpenAPI bounds of a number-or-decimal-string field (stated on its number form)."""
    number = {"type": "number", "minimum": float(minimum), "maximum": float(maximum)}
    text = {"type": "string", "pattern": DECIMAL_PATTERN, "maxLength": MAX_DECIMAL_CHARS}
    return {"anyOf": [number, text, *([{"type": "null"}] if nullable else [])]}


class TwapOrderCreate(BaseModel):
    """A TWAP order: `quantity` split over `duration_s` seconds in `slices` (or `interval_s`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ORDER_EXAMPLE]})

    token_id: TokenId = Field(
        description="Client-chosen id, unique per user forever: 1-64 of A-Z a-z 0-9 . _ : - "
        'and not "." or "..".'
    )
    exchange: MarketName | None = Field(
        None, description="A collected exchange, e.g. binance (required unless venues is given)."
    )
    venues: list[MarketName] | None = Field(
        None,
        max_length=MAX_VENUES,
        description=f"Cross-venue execution: up to {MAX_VENUES} collected exchanges, e.g. "
        '["binance", "kraken"], each listing the same symbol; every slice walks their '
        "consolidated book, best price first. Give exchange too only as the first venue.",
    )
    symbol: MarketName = Field(description="A collected symbol, e.g. BTC-USDT.")
    side: Literal["buy", "sell"]
    quantity: DecimalString = Field(
        description=f"Base quantity as a decimal string, > 0, a multiple of the lot size; "
        f"{DECIMAL_RULE}."
    )
    limit_price: DecimalString = Field(
        description="Worst price as a decimal string, > 0: buys never above, sells never "
        f"below; {DECIMAL_RULE}."
    )
    duration_s: DecimalNumber = Field(
        description=f"Seconds, {MIN_DURATION_S}..{MAX_DURATION_S} (a number or a decimal string).",
        json_schema_extra=bounds(MIN_DURATION_S, MAX_DURATION_S),
    )
    slices: Int64 | None = Field(
        None,
        description=f"1..{MAX_SLICES} slices (a JSON integer); or give interval_s.",
        json_schema_extra={
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_SLICES}, {"type": "null"}]
        },
    )
    interval_s: DecimalNumber | None = Field(
        None,
        description=f"Seconds between slices, at least {MIN_SLICE_INTERVAL_S} and at most "
        f"duration_s; or give slices.",
        json_schema_extra=bounds(MIN_SLICE_INTERVAL_S, MAX_DURATION_S, nullable=True),
    )
    fill_model: Literal["walk_book", "top_of_book"] = "walk_book"
    catch_up_cap: DecimalNumber = Field(
        Decimal(3),
        description=f"A slice trades at most this many planned slices (1..{MAX_CATCH_UP_CAP}).",
        json_schema_extra=bounds(Decimal(1), MAX_CATCH_UP_CAP),
    )


class PlannedSlicePublic(BaseModel):
    index: int
    due_ns: int
    qty: Amount


class FillPublic(BaseModel):
    slice_index: int
    price: Amount
    qty: Amount
    ts_ns: int
    venue: str | None = Field(None, description="The venue it filled on (else the exchange).")


class SlicePublic(BaseModel):
    index: int
    due_ns: int
    executed_ns: int
    target_qty: Amount
    filled_qty: Amount
    status: str
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


_ORDER_PUBLIC_EXAMPLE: dict[str, Any] = {
    "token_id": "my-order-0001",
    "exchange": "binance",
    "symbol": "BTC-USDT",
    "side": "buy",
    "algorithm": "twap",
    "status": "working",
    "quantity": "0.5",
    "filled_qty": "0.125",
    "remaining_qty": "0.375",
    "average_price": "61840.12",
    "limit_price": "70000",
    "slices_done": 5,
    "slices_total": 20,
    "next_slice_ns": 1723161450000000000,
    "created_ns": 1723161300000000000,
    "updated_ns": 1723161420000000000,
}


class OrderPublic(BaseModel):
    """An order's status and progress."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ORDER_PUBLIC_EXAMPLE]})

    token_id: str
    exchange: str
    symbol: str
    side: str
    algorithm: str = Field("twap", examples=["twap", "twap_random", "vwap", "pov"])
    status: str = Field(examples=["accepted", "working", "completed", "expired", "cancelled"])
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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_ORDER_PUBLIC_EXAMPLE,
                    "fills": [
                        {
                            "slice_index": 0,
                            "price": "61840.12",
                            "qty": "0.025",
                            "ts_ns": 1723161300000000000,
                        }
                    ],
                    "slices": [
                        {
                            "index": 0,
                            "due_ns": 1723161300000000000,
                            "executed_ns": 1723161300000210000,
                            "target_qty": "0.025",
                            "filled_qty": "0.025",
                            "status": "filled",
                            "reason": None,
                            "book_mid": "61840.115",
                        },
                        {
                            "index": 1,
                            "due_ns": 1723161330000000000,
                            "executed_ns": 1723161330000180000,
                            "target_qty": "0.025",
                            "filled_qty": "0",
                            "status": "skipped",
                            "reason": "stale_book",
                            "book_mid": None,
                        },
                    ],
                    "schedule": [{"index": 0, "due_ns": 1723161300000000000, "qty": "0.025"}],
                    "analytics": {"average_price": "61840.12", "slippage_bps": "0.000081"},
                }
            ]
        }
    )

    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="The algorithm's parameters as stored (vwap: profile and its weights).",
    )
    algorithm_note: str | None = Field(
        None, description="Why the plan deviates from the algorithm (e.g. vwap without history)."
    )
    fills: list[FillPublic]
    slices: list[SlicePublic]
    schedule: list[PlannedSlicePublic]
    analytics: dict[str, object]


class OrderAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "accepted",
                    "token_id": "my-order-0001",
                    "order": {**_ORDER_PUBLIC_EXAMPLE, "status": "accepted", "slices_done": 0},
                    "schedule": [
                        {"index": 0, "due_ns": 1723161300000000000, "qty": "0.025"},
                        {"index": 1, "due_ns": 1723161330000000000, "qty": "0.025"},
                    ],
                }
            ]
        }
    )

    status: Literal["accepted"] = "accepted"
    token_id: str
    order: OrderPublic
    schedule: list[PlannedSlicePublic]
    algorithm_note: str | None = Field(
        None, description="Why the plan deviates from the algorithm (e.g. vwap without history)."
    )


class OrderRejected(BaseModel):
    """Why an order was not accepted; no order was created and the token_id is still free."""

    status: Literal["rejected"] = "rejected"
    reason: str = Field(examples=["duplicate_token_id", "unknown_symbol", "below_lot_size"])
    message: str = Field(
        examples=["quantity 0.000001 is below the lot size 0.00001 of binance BTC-USDT"]
    )


class OrderList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"orders": [_ORDER_PUBLIC_EXAMPLE], "next_after": 41}]}
    )

    orders: list[OrderPublic]
    next_after: int | None = Field(
        None, description="Pass as `after` to get the next (older) page; null on the last page."
    )
