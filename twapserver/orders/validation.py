"""Turn a `TwapOrderCreate` into a `TwapOrderSpec`, or reject it with a reason code."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from twapcore import (
    InvalidOrder,
    PlannedSlice,
    Side,
    TwapOrderSpec,
    plan_twap,
)
from twapserver.hub import MarketHub
from twapserver.orders.schemas import (
    MAX_CATCH_UP_CAP,
    MAX_DURATION_S,
    MAX_SLICES,
    MIN_DURATION_S,
    MIN_SLICE_INTERVAL_S,
    TwapOrderCreate,
)


@dataclass(frozen=True, slots=True)
class Rejection(Exception):
    """A rejected order: HTTP status, machine-readable reason, human message naming the value."""

    status_code: int
    reason: str
    message: str


def _reject(reason: str, message: str, status_code: int = 422) -> Rejection:
    return Rejection(status_code, reason, message)


def validate_order(
    request: TwapOrderCreate, hub: MarketHub, max_book_age_s: float
) -> tuple[TwapOrderSpec, tuple[PlannedSlice, ...]]:
    """The spec to execute and its schedule (planned from time 0), or raise `Rejection`."""
    exchange, symbol = request.exchange, request.symbol
    problem = hub.unknown_market(exchange, symbol)
    if problem is not None:
        raise _reject(*problem)
    if request.quantity <= 0:
        raise _reject("invalid_quantity", f"quantity {request.quantity} must be greater than 0")
    if request.limit_price <= 0:
        raise _reject(
            "invalid_limit_price", f"limit_price {request.limit_price} must be greater than 0"
        )
    if not MIN_DURATION_S <= request.duration_s <= MAX_DURATION_S:
        raise _reject(
            "invalid_duration",
            f"duration_s {request.duration_s} is outside {MIN_DURATION_S}..{MAX_DURATION_S}",
        )
    if (request.slices is None) == (request.interval_s is None):
        raise _reject("invalid_slices", "give exactly one of slices or interval_s")
    if request.slices is not None and not 1 <= request.slices <= MAX_SLICES:
        raise _reject("invalid_slices", f"slices {request.slices} is outside 1..{MAX_SLICES}")
    if request.interval_s is not None and request.interval_s < MIN_SLICE_INTERVAL_S:
        raise _reject(
            "invalid_slices",
            f"interval_s {request.interval_s} is below the minimum {MIN_SLICE_INTERVAL_S}",
        )
    if not 1 <= request.catch_up_cap <= MAX_CATCH_UP_CAP:
        raise _reject(
            "invalid_catch_up_cap",
            f"catch_up_cap {request.catch_up_cap} is outside 1..{MAX_CATCH_UP_CAP}",
        )
    info = next(i for i in hub.instruments(exchange) if i.symbol == symbol)
    if info.lot_size is None:
        # Without the lot size the quantity cannot be checked or sliced into whole lots.
        raise _reject(
            "market_unavailable",
            f"{exchange} {symbol} is not tradable yet: its instrument info (lot size) is not "
            "known; try again once its feed is up (see /health)",
        )
    lot = info.lot_size
    spec = TwapOrderSpec(
        exchange=exchange,
        symbol=symbol,
        side=Side(request.side),
        quantity=request.quantity,
        limit_price=request.limit_price,
        duration_s=request.duration_s,
        slices=request.slices,
        interval_s=request.interval_s,
        fill_model=request.fill_model,
        catch_up_cap=request.catch_up_cap,
        max_book_age_s=Decimal(str(max_book_age_s)),
        lot_size=lot,
        token_id=request.token_id,
    )
    try:
        plan = plan_twap(
            spec.quantity,
            0,
            spec.duration_s,
            slices=spec.slices,
            interval_s=spec.interval_s,
            lot_size=lot,
        )
    except InvalidOrder as exc:
        raise _reject(exc.reason, f"{exc} of {exchange} {symbol}") from None
    if len(plan) > MAX_SLICES:
        raise _reject("invalid_slices", f"{len(plan)} slices is more than {MAX_SLICES}")
    if spec.duration_s / len(plan) < MIN_SLICE_INTERVAL_S:
        raise _reject(
            "invalid_slices",
            f"{len(plan)} slices over {spec.duration_s} s are closer than {MIN_SLICE_INTERVAL_S} s",
        )
    return spec, plan
