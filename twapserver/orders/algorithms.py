"""Request bodies of `POST /orders` (every algorithm) and the `GET /algorithms` listing.

The TWAP fields and their bounds are `TwapOrderCreate`'s (twapserver.orders.schemas);
here are `algorithm` and each algorithm's parameters, described once: `/docs`,
`GET /algorithms` and the dashboard's form all read these definitions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twapserver.api.strict import DECIMAL_RULE, DecimalNumber, DecimalString, Int64
from twapserver.orders.schemas import ORDER_EXAMPLE, TwapOrderCreate, bounds

__all__ = [
    "ALGORITHM_EXAMPLES",
    "ALGORITHM_PARAMETERS",
    "DEFAULT_PROFILE_DAYS",
    "MAX_PROFILE_DAYS",
    "AlgorithmInfo",
    "OrderCreate",
    "ParameterInfo",
    "algorithm_infos",
]

MAX_PROFILE_DAYS = 30
DEFAULT_PROFILE_DAYS = 7

# Each algorithm: (its parameters in an example order, what it does).
_ALGORITHM_EXAMPLES: dict[str, tuple[dict[str, Any], str]] = {
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
        json_schema_extra=bounds(Decimal(0), Decimal(1), nullable=True),
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
        json_schema_extra=bounds(Decimal(0), Decimal(1), nullable=True),
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
