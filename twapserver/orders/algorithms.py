"""Request bodies of `POST /orders` (every algorithm) and the `GET /algorithms` listing.

The TWAP fields and their bounds are `TwapOrderCreate`'s (twapserver.orders.schemas);
here are `algorithm` and each algorithm's parameters, described once: `/docs`,
`GET /algorithms` and the dashboard's form all read these definitions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from twapcore import InvalidOrder
from twapcore.spec import OPEN_ENDED_ALGORITHMS, check_end_time
from twapserver.api.strict import DECIMAL_RULE, DecimalNumber, DecimalString, Int64
from twapserver.orders.schemas import (
    MAX_DURATION_S,
    MAX_SLICES,
    MIN_DURATION_S,
    ORDER_EXAMPLE,
    TwapOrderCreate,
    bounds,
)

__all__ = [
    "ALGORITHM_EXAMPLES",
    "ALGORITHM_PARAMETERS",
    "DEFAULT_PROFILE_DAYS",
    "MAX_PROFILE_DAYS",
    "OPEN_ENDED_POV_EXAMPLE",
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
        "interval; nothing is planned ahead. Ends when filled or at duration_s (expired); "
        "without duration_s it steps every interval_s until filled, for at most the "
        "maximum order life (see duration_s).",
    ),
}
ALGORITHM_EXAMPLES: dict[str, dict[str, Any]] = {
    name: {**ORDER_EXAMPLE, "token_id": f"my-{name}-0001", "algorithm": name, **params}
    for name, (params, _) in _ALGORITHM_EXAMPLES.items()
}
# A pov order without an end time: no duration_s, a step every interval_s until filled.
OPEN_ENDED_POV_EXAMPLE: dict[str, Any] = {
    **{k: v for k, v in ALGORITHM_EXAMPLES["pov"].items() if k not in ("duration_s", "slices")},
    "token_id": "my-pov-until-filled-0001",
    "interval_s": 5,
}
ALGORITHM_DESCRIPTIONS = {name: text for name, (_, text) in _ALGORITHM_EXAMPLES.items()}


class OrderCreate(TwapOrderCreate):
    """An order of any algorithm: the TWAP fields, `algorithm` and that algorithm's parameters.

    A parameter of another algorithm is rejected (422 naming it).
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [*ALGORITHM_EXAMPLES.values(), OPEN_ENDED_POV_EXAMPLE],
        },
    )

    duration_s: DecimalNumber | None = Field(  # type: ignore[assignment]
        None,
        description=f"Seconds, {MIN_DURATION_S}..{MAX_DURATION_S} (a number or a decimal "
        "string). Required, except for pov: a pov order without it steps every interval_s "
        "until filled, and expires at its last step within the maximum order life, "
        f"min({MAX_DURATION_S} s, {MAX_SLICES} × interval_s), which its slices_total and "
        "schedule show.",
        json_schema_extra=bounds(MIN_DURATION_S, MAX_DURATION_S, nullable=True),
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

    @model_validator(mode="after")
    def _end_time(self) -> Self:
        """duration_s is required unless the algorithm runs until filled (pov, then with
        interval_s): refused here, naming the field, before anything is planned for it."""
        try:
            check_end_time(self.algorithm, self.duration_s, self.slices, self.interval_s)
        except InvalidOrder as exc:
            if exc.reason == "invalid_duration":
                field = "duration_s"
            else:  # pov without an end time: slices given, or interval_s missing
                field = "slices" if self.slices is not None else "interval_s"
            error = PydanticCustomError(exc.reason, "{message}", {"message": str(exc)})
            detail = InitErrorDetails(type=error, loc=(field,), input=getattr(self, field))
            raise ValidationError.from_exception_data(type(self).__name__, [detail]) from None
        return self


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
    required_fields: list[str] = Field(
        description="Every body field an order of this algorithm must give (pov may leave "
        "out duration_s to run until filled)."
    )
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
    body = OrderCreate.model_json_schema()
    properties = body["properties"]
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
                required_fields=[
                    *body["required"],
                    *([] if name in OPEN_ENDED_ALGORITHMS else ["duration_s"]),
                    *(field for field, required in params if required),
                ],
                example=ALGORITHM_EXAMPLES[name],
            )
        )
    return out
