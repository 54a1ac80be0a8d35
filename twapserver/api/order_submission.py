"""Order submission (POST /orders, POST /orders/twap) and GET /algorithms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from twapcore import InvalidOrder, TwapExecution
from twapserver import metrics
from twapserver.api.deps import (
    UNAUTHORIZED_RESPONSES,
    HubDep,
    OrderingUser,
    SessionDep,
    SettingsDep,
)
from twapserver.api.order_answers import (
    order_public,
    order_service,
    planned_slices,
    rejection_response,
)
from twapserver.orders import repository
from twapserver.orders.algorithms import (
    ALGORITHM_EXAMPLES,
    DEFAULT_PROFILE_DAYS,
    MAX_PROFILE_DAYS,
    OPEN_ENDED_POV_EXAMPLE,
    AlgorithmInfo,
    OrderCreate,
    algorithm_infos,
)
from twapserver.orders.profiles import candle_profile
from twapserver.orders.schemas import (
    CROSS_VENUE_EXAMPLE,
    ORDER_EXAMPLE,
    OrderAccepted,
    OrderRejected,
    TwapOrderCreate,
)
from twapserver.orders.validation import (
    Rejection,
    algorithm_params,
    order_venues,
    validate_order,
)

__all__ = ["algorithms_router", "router"]

router = APIRouter(prefix="/orders", tags=["orders"])
algorithms_router = APIRouter(tags=["orders"])
_ALGORITHMS = algorithm_infos()  # static: built once


def _rejected(example_reason: str, example_message: str) -> dict[str, Any]:
    return {
        "model": OrderRejected,
        "content": {
            "application/json": {
                "example": {
                    "status": "rejected",
                    "reason": example_reason,
                    "message": example_message,
                }
            }
        },
    }


_SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **UNAUTHORIZED_RESPONSES,
    409: _rejected("duplicate_token_id", "token_id 'my-order-0001' was already used"),
    413: {"description": "Request body larger than 64 KiB"},
    422: _rejected(
        "below_lot_size",
        "quantity 0.000001 is below the lot size 0.00001 of binance BTC-USDT",
    ),
}


@router.post(
    "/twap",
    status_code=201,
    response_model=OrderAccepted,
    openapi_extra={"requestBody": {"content": {"application/json": {"example": ORDER_EXAMPLE}}}},
    responses=_SUBMIT_RESPONSES,
)
async def submit_twap(
    body: TwapOrderCreate,
    request: Request,
    user: OrderingUser,  # CurrentUser, limited to TWAP_ORDER_LIMIT submissions
    hub: HubDep,
    settings: SettingsDep,
) -> Any:
    """Accept or reject a TWAP order at once; execution starts in the background.

    201 is answered once the order is durably stored (concurrent submissions share
    one transaction); an engine then claims it.

    Bounds: duration_s 1..604800, slices 1..1000 (or interval_s >= 0.1), at least
    0.1 s between slices, catch_up_cap 1..100, quantity a positive multiple of
    the symbol's lot size, limit_price > 0. A rejected order uses up no token_id.
    """
    return await _accept(body, None, request, user.id, hub, settings.max_book_age_s)


@router.post(
    "",
    status_code=201,
    response_model=OrderAccepted,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        **{
                            name: {"summary": f"a {name} order", "value": example}
                            for name, example in ALGORITHM_EXAMPLES.items()
                        },
                        "cross_venue": {
                            "summary": "a twap order on the consolidated book of two venues",
                            "value": CROSS_VENUE_EXAMPLE,
                        },
                        "pov_until_filled": {
                            "summary": "a pov order without an end time (no duration_s)",
                            "value": OPEN_ENDED_POV_EXAMPLE,
                        },
                    }
                }
            }
        }
    },
    responses=_SUBMIT_RESPONSES,
)
async def submit_order(
    body: OrderCreate,
    request: Request,
    user: OrderingUser,
    hub: HubDep,
    settings: SettingsDep,
    session: SessionDep,
) -> Any:
    """Accept or reject an order of any algorithm (twap, twap_random, vwap, pov).

    The TWAP fields and bounds of `POST /orders/twap`, plus `algorithm` and its
    parameters (see `GET /algorithms`); a parameter of another algorithm is a 422
    naming it. pov may leave out duration_s: it then steps every interval_s until
    filled, for at most min(604800 s, 1000 × interval_s), which its schedule and
    slices_total show (see the `pov_until_filled` example). vwap sizes its slices
    from the market's 1m candles of the last `profile_days` days at the same times
    of day, computed now and stored with the order; without candles it is planned
    as TWAP and `algorithm_note` says why.
    """
    weights = None
    if body.algorithm == "vwap":
        days = DEFAULT_PROFILE_DAYS if body.profile_days is None else body.profile_days
        if not 1 <= days <= MAX_PROFILE_DAYS:
            message = f"profile_days {days} is outside 1..{MAX_PROFILE_DAYS}"
            return rejection_response("invalid_profile_days", message, 422)
        try:
            exchange, venues = order_venues(body)  # cross-venue: every venue's candles
        except Rejection as rejection:
            return rejection_response(rejection.reason, rejection.message, rejection.status_code)
        weights = await candle_profile(
            session,
            venues or (exchange,),
            body.symbol,
            order_service(request).clock(),
            body.duration_s,
            days,
        )
    await session.close()  # give the connection back before waiting on the group commit
    try:
        params = algorithm_params(body, weights)
    except Rejection as rejection:
        return rejection_response(rejection.reason, rejection.message, rejection.status_code)
    return await _accept(body, params, request, user.id, hub, settings.max_book_age_s)


async def _accept(
    body: TwapOrderCreate,
    params: dict[str, Any] | None,
    request: Request,
    user_id: int,
    hub: HubDep,
    max_book_age_s: float,
) -> Response:
    """Validate, store (group commit) and answer 201 — or the rejection."""
    try:
        spec, _ = validate_order(body, hub, max_book_age_s, params)
    except Rejection as rejection:
        return rejection_response(rejection.reason, rejection.message, rejection.status_code)
    service = order_service(request)
    now = service.clock()
    try:
        execution = TwapExecution(spec, now)
    except InvalidOrder as exc:  # validate_order already planned it; this is a safety net
        return rejection_response(exc.reason, str(exc), 422)
    values = repository.new_order_values(user_id, execution, now)
    try:
        await service.submit(values)
    except repository.DuplicateTokenId:
        message = f"token_id {body.token_id!r} was already used"
        return rejection_response("duplicate_token_id", message, 409)
    metrics.ORDERS_ACCEPTED.labels(spec.algorithm).inc()
    accepted = OrderAccepted(
        token_id=body.token_id,
        order=order_public(execution, now, now),
        schedule=planned_slices(execution),
        algorithm_note=execution.algorithm_note,
    )
    # Serialized here once: FastAPI would validate the model again against response_model.
    return Response(accepted.model_dump_json(), status_code=201, media_type="application/json")


@algorithms_router.get(
    "/algorithms",
    response_model=list[AlgorithmInfo],
    responses={
        200: {
            "content": {
                "application/json": {"example": [a.model_dump(mode="json") for a in _ALGORITHMS]}
            }
        }
    },
)
async def list_algorithms() -> list[AlgorithmInfo]:
    """The execution algorithms `POST /orders` takes, with their parameters and bounds."""
    return _ALGORITHMS
