"""Request and response bodies of the orders API (separate Create / Public models)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
MAX_PROFILE_DAYS = 30
DEFAULT_PROFILE_DAYS = 7

ORDER_EXAMPLE = {
    "token_id": "my-order-0001",
    "exchange": "binance",
    "symbol": "BTC-USDT",
    "side": "buy",
    "quantity": "0.5",
    "limit_price": "70000",
    "duration_s": 600,
    "slices": 20,
}


def _bounds(minimum: Decimal, maximum: Decimal, *, nullable: bool = False) -> dict[str, Any]:
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
    exchange: MarketName = Field(description="A collected exchange, e.g. binance.")
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
        json_schema_extra=_bounds(MIN_DURATION_S, MAX_DURATION_S),
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
        json_schema_extra=_bounds(MIN_SLICE_INTERVAL_S, MAX_DURATION_S, nullable=True),
    )
    fill_model: Literal["walk_book", "top_of_book"] = "walk_book"
    catch_up_cap: DecimalNumber = Field(
        Decimal(3),
        description=f"A slice trades at most this many planned slices (1..{MAX_CATCH_UP_CAP}).",
        json_schema_extra=_bounds(Decimal(1), MAX_CATCH_UP_CAP),
    )


_ALGORITHM_EXAMPLES = {
    "twap": ({}, "Equal slices at equal intervals; a slice catches up what earlier ones missed."),
    "twap_random": (
        {"seed": 42, "jitter": "0.2"},
        "TWAP with seeded jitter: due times and sizes move by up to ± jitter (same seed, "
        "same plan).",
    ),
    "vwap": (
        {"profile_days": 7},
        "Slice sizes follow the market's traded volume by time of day: 1m candles of the last "
        "profile_days days. Without candles for the window it is planned as TWAP and the "
        "order's algorithm_note says why.",
    ),
    "pov": (
        {"participation": "0.1", "max_slice_qty": "0.05"},
        "Trade a share (participation) of the volume the market trades, checked every slice "
        "interval; nothing is planned ahead. Ends when filled or at duration_s (expired).",
    ),
}
ALGORITHM_EXAMPLES: dict[str, dict[str, Any]] = {
    name: {**ORDER_EXAMPLE, "token_id": f"my-{name}-0001", "algorithm": name, **params}
    for name, (params, _) in _ALGORITHM_EXAMPLES.items()
}
ALGORITHM_DESCRIPTIONS = {name: text for name, (_, text) in _ALGORITHM_EXAMPLES.items()}


class OrderCreate(TwapOrderCreate):
    """An order of any algorithm: the TWAP fields, `algorithm` and that algorithm's parameters.

    A parameter of another algorithm is rejected (422 naming it).
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": list(ALGORITHM_EXAMPLES.values())}
    )

    algorithm: Literal["twap", "twap_random", "vwap", "pov"] = Field(
        "twap", description="twap, twap_random, vwap or pov (see GET /algorithms)."
    )
    seed: Int64 | None = Field(
        None,
        description="twap_random: the jitter's seed, an integer >= 0 (required).",
        json_schema_extra={"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
    )
    jitter: DecimalNumber | None = Field(
        None,
        description="twap_random: ± share of the interval and of each slice's size, 0..1 "
        "(required).",
        json_schema_extra=_bounds(Decimal(0), Decimal(1), nullable=True),
    )
    profile_days: Int64 | None = Field(
        None,
        description=f"vwap: days of 1m candles the volume profile is built from, "
        f"1..{MAX_PROFILE_DAYS} (default {DEFAULT_PROFILE_DAYS}).",
        json_schema_extra={
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_PROFILE_DAYS},
                {"type": "null"},
            ]
        },
    )
    participation: DecimalNumber | None = Field(
        None,
        description="pov: share of the traded volume to take, > 0 and <= 1 (required).",
        json_schema_extra=_bounds(Decimal(0), Decimal(1), nullable=True),
    )
    min_slice_qty: DecimalString | None = Field(
        None,
        description=f"pov: wait rather than trade less than this (base units, >= 0); "
        f"{DECIMAL_RULE}.",
    )
    max_slice_qty: DecimalString | None = Field(
        None,
        description=f"pov: trade at most this much per step (base units, > 0); {DECIMAL_RULE}.",
    )


class ParameterInfo(BaseModel):
    """One request field an algorithm takes."""

    name: str
    type: Literal["integer", "decimal"]
    required: bool
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    exclusive_minimum: bool = False
    default: Any = None
    description: str


class AlgorithmInfo(BaseModel):
    """An execution algorithm and the parameters `POST /orders` takes for it."""

    name: str
    description: str
    parameters: list[ParameterInfo]
    example: dict[str, Any]


# The request fields of each algorithm and which of them it requires. twapcore names the
# spec fields; vwap's on the server are candles (profile_days), not profile/profile_weights.
ALGORITHM_PARAMETERS: dict[str, tuple[tuple[str, bool], ...]] = {
    "twap": (),
    "twap_random": (("seed", True), ("jitter", True)),
    "vwap": (("profile_days", False),),
    "pov": (("participation", True), ("min_slice_qty", False), ("max_slice_qty", False)),
}


def _schema_decimal(value: float | int | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(int(value)) if value == int(value) else Decimal(str(value))


def algorithm_infos() -> list[AlgorithmInfo]:
    """Every algorithm with its parameters, bounds and descriptions (from `OrderCreate`)."""
    properties = OrderCreate.model_json_schema()["properties"]
    out = []
    for name, params in ALGORITHM_PARAMETERS.items():
        infos = []
        for field, required in params:
            schema = properties[field]
            first = schema["anyOf"][0]
            infos.append(
                ParameterInfo(
                    name=field,
                    type="integer" if first.get("type") == "integer" else "decimal",
                    required=required,
                    minimum=_schema_decimal(first.get("minimum")),
                    maximum=_schema_decimal(first.get("maximum")),
                    exclusive_minimum=field == "participation",
                    default=DEFAULT_PROFILE_DAYS if field == "profile_days" else None,
                    description=schema["description"],
                )
            )
        out.append(
            AlgorithmInfo(
                name=name,
                description=ALGORITHM_DESCRIPTIONS[name],
                parameters=infos,
                example=ALGORITHM_EXAMPLES[name],
            )
        )
    return out


class PlannedSlicePublic(BaseModel):
    index: int
    due_ns: int
    qty: Decimal


class FillPublic(BaseModel):
    slice_index: int
    price: Decimal
    qty: Decimal
    ts_ns: int


class SlicePublic(BaseModel):
    index: int
    due_ns: int
    executed_ns: int
    target_qty: Decimal
    filled_qty: Decimal
    status: str
    reason: str | None
    book_mid: Decimal | None
    market_volume: Decimal | None = Field(
        None, description="What the market traded since the previous slice (null: not counted)."
    )


_ORDER_PUBLIC_EXAMPLE = {
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
