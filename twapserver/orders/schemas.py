"""Request and response bodies of the orders API (separate Create / Public models).

The response bodies are twapcore's wire models (`twapcore.wire`), the one definition
the SDK parses too; they are re-exported here beside the request bodies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twapcore.wire import FillPublic as FillPublic
from twapcore.wire import OrderAccepted as OrderAccepted
from twapcore.wire import OrderDetail as OrderDetail
from twapcore.wire import OrderList as OrderList
from twapcore.wire import OrderPublic as OrderPublic
from twapcore.wire import PlannedSlicePublic as PlannedSlicePublic
from twapcore.wire import SlicePublic as SlicePublic
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


class OrderRejected(BaseModel):
    """Why an order was not accepted; no order was created and the token_id is still free."""

    status: Literal["rejected"] = "rejected"
    reason: str = Field(examples=["duplicate_token_id", "unknown_symbol", "below_lot_size"])
    message: str = Field(
        examples=["quantity 0.000001 is below the lot size 0.00001 of binance BTC-USDT"]
    )
