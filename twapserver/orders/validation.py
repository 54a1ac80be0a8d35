"""Turn an order request into an `OrderSpec`, or reject it with a reason code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from twapcore import (
    InvalidOrder,
    OrderSpec,
    PlannedSlice,
    Side,
    TwapOrderSpec,
    algorithm_named,
)
from twapcore.formatting import format_decimal
from twapcore.spec import check_end_time
from twapcore.venues import checked_venues, common_lot
from twapserver.hub import MarketHub
from twapserver.orders.algorithms import OrderCreate
from twapserver.orders.profiles import CANDLES_PROFILE
from twapserver.orders.schemas import (
    MAX_CATCH_UP_CAP,
    MAX_DURATION_S,
    MAX_SLICES,
    MIN_DURATION_S,
    MIN_SLICE_INTERVAL_S,
    TwapOrderCreate,
)


def open_ended_life_s(interval_s: Decimal) -> Decimal:
    """The life of a pov order without an end time: a step every `interval_s` until filled,
    for at most `MAX_SLICES` steps and `MAX_DURATION_S` seconds (then it expires). A whole
    number of intervals, so the steps fall exactly `interval_s` apart."""
    return min(Decimal(MAX_SLICES), MAX_DURATION_S // interval_s) * interval_s


@dataclass(frozen=True, slots=True)
class Rejection(Exception):
    """A rejected order: HTTP status, machine-readable reason, human message naming the value."""

    status_code: int
    reason: str
    message: str


def _reject(reason: str, message: str, status_code: int = 422) -> Rejection:
    return Rejection(status_code, reason, message)


def algorithm_params(
    request: OrderCreate, profile_weights: tuple[Decimal, ...] | None = None
) -> dict[str, Any]:
    """The spec fields of `request`'s algorithm parameters (those given), vwap's profile added.

    A parameter of another algorithm is kept: the spec rejects it, naming it.
    """
    params: dict[str, Any] = {"algorithm": request.algorithm}
    for name in ("seed", "jitter", "participation", "min_slice_qty", "max_slice_qty"):
        value = getattr(request, name)
        if value is not None:
            params[name] = value
    if request.profile_days is not None and request.algorithm != "vwap":
        raise _reject(
            "invalid_profile_days",
            f"profile_days applies to vwap orders, not {request.algorithm}",
        )
    if request.algorithm == "vwap":
        params["profile"] = CANDLES_PROFILE
        params["profile_weights"] = profile_weights
    return params


def order_venues(request: TwapOrderCreate) -> tuple[str, tuple[str, ...] | None]:
    """The order's exchange and (cross-venue orders) venues, or raise `Rejection`.

    Give `exchange`, or `venues` (then `exchange` may be omitted, or must be the
    first venue). A one-venue list is that exchange alone.
    """
    if request.venues is None:
        if request.exchange is None:
            raise _reject("invalid_venues", "give exchange (or venues for a cross-venue order)")
        return request.exchange, None
    exchange = request.exchange if request.exchange is not None else next(iter(request.venues), "")
    try:
        return exchange, checked_venues(exchange, request.venues)
    except InvalidOrder as exc:
        raise _reject(exc.reason, str(exc)) from None


def validate_order(
    request: TwapOrderCreate,
    hub: MarketHub,
    max_book_age_s: float,
    params: dict[str, Any] | None = None,
) -> tuple[TwapOrderSpec, Sequence[PlannedSlice]]:
    """The spec to execute and its schedule (planned from time 0), or raise `Rejection`.

    `params` are the algorithm and its parameters (`algorithm_params`); none: TWAP.
    """
    exchange, venues = order_venues(request)
    symbol = request.symbol
    for venue in venues or (exchange,):  # the same canonical symbol on every venue
        problem = hub.unknown_market(venue, symbol)
        if problem is not None:
            raise _reject(*problem)
    if request.quantity <= 0:
        raise _reject(
            "invalid_quantity",
            f"quantity {format_decimal(request.quantity)} must be greater than 0",
        )
    if request.limit_price <= 0:
        raise _reject(
            "invalid_limit_price",
            f"limit_price {format_decimal(request.limit_price)} must be greater than 0",
        )
    algorithm = str((params or {}).get("algorithm", "twap"))
    try:
        check_end_time(algorithm, request.duration_s, request.slices, request.interval_s)
    except InvalidOrder as exc:
        raise _reject(exc.reason, str(exc)) from None
    if request.duration_s is not None and not (
        MIN_DURATION_S <= request.duration_s <= MAX_DURATION_S
    ):
        raise _reject(
            "invalid_duration",
            f"duration_s {format_decimal(request.duration_s)} is outside "
            f"{MIN_DURATION_S}..{MAX_DURATION_S}",
        )
    if (request.slices is None) == (request.interval_s is None):
        raise _reject("invalid_slices", "give exactly one of slices or interval_s")
    if request.slices is not None and not 1 <= request.slices <= MAX_SLICES:
        raise _reject("invalid_slices", f"slices {request.slices} is outside 1..{MAX_SLICES}")
    if request.interval_s is not None and request.interval_s < MIN_SLICE_INTERVAL_S:
        raise _reject(
            "invalid_slices",
            f"interval_s {format_decimal(request.interval_s)} is below the minimum "
            f"{MIN_SLICE_INTERVAL_S}",
        )
    duration_s = request.duration_s
    if duration_s is None:  # pov without an end time: it lives up to the documented cap
        assert request.interval_s is not None  # check_end_time
        if request.interval_s > MAX_DURATION_S:
            raise _reject(
                "invalid_slices",
                f"interval_s {format_decimal(request.interval_s)} is longer than the maximum "
                f"order life {MAX_DURATION_S} s",
            )
        duration_s = open_ended_life_s(request.interval_s)
    if not 1 <= request.catch_up_cap <= MAX_CATCH_UP_CAP:
        raise _reject(
            "invalid_catch_up_cap",
            f"catch_up_cap {format_decimal(request.catch_up_cap)} is outside 1..{MAX_CATCH_UP_CAP}",
        )
    lots: dict[str, Decimal | None] = {}
    for venue in venues or (exchange,):
        info = next(i for i in hub.instruments(venue) if i.symbol == symbol)
        if info.lot_size is None:
            # Without the lot size the quantity cannot be checked or sliced into whole lots.
            raise _reject(
                "market_unavailable",
                f"{venue} {symbol} is not tradable yet: its instrument info (lot size) is not "
                "known; try again once its feed is up (see /health)",
            )
        lots[venue] = info.lot_size
    try:
        lot = common_lot(lots)  # one venue: its lot; several: the coarsest, all dividing it
    except InvalidOrder as exc:
        raise _reject(exc.reason, f"{exc} ({symbol})") from None
    try:
        spec = OrderSpec(
            exchange=exchange,
            symbol=symbol,
            side=Side(request.side),
            quantity=request.quantity,
            limit_price=request.limit_price,
            duration_s=duration_s,
            slices=request.slices,
            interval_s=request.interval_s,
            fill_model=request.fill_model,
            catch_up_cap=request.catch_up_cap,
            max_book_age_s=Decimal(str(max_book_age_s)),
            lot_size=lot,
            token_id=request.token_id,
            venues=venues,
            **(params or {}),
        )
    except InvalidOrder as exc:  # an algorithm parameter: the message names it
        raise _reject(exc.reason, str(exc)) from None
    try:
        plan = algorithm_named(spec.algorithm).plan(spec, 0).slices
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
