"""Authenticated order routes (submit, list, read, cancel) and the algorithms they take."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Interval as Bounds
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from twapcore import (
    ALGORITHMS,
    ExecutionReport,
    InvalidOrder,
    OrderStatus,
    TwapExecution,
    build_report,
)
from twapcore.analytics import apply_markouts
from twapcore.book import consolidated_mid
from twapserver import metrics
from twapserver.api.deps import (
    UNAUTHORIZED_RESPONSES,
    CurrentUser,
    HubDep,
    OrderingUser,
    SessionDep,
    SettingsDep,
)
from twapserver.api.strict import QUERY_INT, QueryNonNegativeInt, TokenId
from twapserver.db.models import OrderRow, SliceRow
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
from twapserver.orders.markouts import stored_mids
from twapserver.orders.profiles import candle_profile
from twapserver.orders.schemas import (
    CROSS_VENUE_EXAMPLE,
    ORDER_EXAMPLE,
    FillPublic,
    OrderAccepted,
    OrderDetail,
    OrderList,
    OrderPublic,
    OrderRejected,
    PlannedSlicePublic,
    SlicePublic,
    TwapOrderCreate,
)
from twapserver.orders.service import OrderService
from twapserver.orders.validation import (
    Rejection,
    algorithm_params,
    order_venues,
    validate_order,
)

router = APIRouter(prefix="/orders", tags=["orders"])
algorithms_router = APIRouter(tags=["orders"])
_ALGORITHMS = algorithm_infos()  # static: built once

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No order with this token_id for this user",
        "content": {"application/json": {"example": {"detail": "order 'abc' not found"}}},
    }
}


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


def _service(request: Request) -> OrderService:
    service: OrderService = request.app.state.orders
    return service


class CancelRequested(BaseModel):
    """The cancel is recorded; the engine holding the order has not applied it yet."""

    status: str = Field("cancel_requested", examples=["cancel_requested"])
    token_id: str
    message: str


def _public(execution: TwapExecution, created_ns: int, updated_ns: int) -> OrderPublic:
    spec = execution.spec
    assert spec.token_id is not None  # every order of the API has one
    return OrderPublic(
        token_id=spec.token_id,
        exchange=spec.exchange,
        symbol=spec.symbol,
        side=spec.side.value,
        algorithm=spec.algorithm,
        status=execution.status.value,
        quantity=spec.quantity,
        filled_qty=execution.filled_qty,
        remaining_qty=execution.remaining_qty,
        average_price=execution.average_price,
        limit_price=spec.limit_price,
        slices_done=len(execution.results),
        slices_total=len(execution.plan),
        next_slice_ns=execution.next_due_ns,
        created_ns=created_ns,
        updated_ns=updated_ns,
        venues=None if spec.venues is None else list(spec.venues),
    )


def _schedule(execution: TwapExecution) -> list[PlannedSlicePublic]:
    return [PlannedSlicePublic(index=p.index, due_ns=p.due_ns, qty=p.qty) for p in execution.plan]


def _summary(order: OrderRow) -> OrderPublic:
    """List rows come from the order row alone (no per-order history query)."""
    summary = repository.summary_of(order)
    return OrderPublic(
        token_id=order.token_id,
        exchange=order.exchange,
        symbol=order.symbol,
        side=order.side,
        algorithm=summary.algorithm,
        status=order.status,
        quantity=order.quantity,
        filled_qty=order.filled,
        remaining_qty=order.quantity - order.filled,
        average_price=summary.average_price,
        limit_price=summary.limit_price,
        slices_done=summary.slices_done,
        slices_total=summary.slices_total,
        next_slice_ns=order.next_due_ns,
        created_ns=order.created_ns,
        updated_ns=order.updated_ns,
        venues=summary.venues,
    )


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
            return _rejection("invalid_profile_days", message, 422)
        try:
            exchange, venues = order_venues(body)  # cross-venue: every venue's candles
        except Rejection as rejection:
            return _rejection(rejection.reason, rejection.message, rejection.status_code)
        weights = await candle_profile(
            session,
            venues or (exchange,),
            body.symbol,
            _service(request).clock(),
            body.duration_s,
            days,
        )
    await session.close()  # give the connection back before waiting on the group commit
    try:
        params = algorithm_params(body, weights)
    except Rejection as rejection:
        return _rejection(rejection.reason, rejection.message, rejection.status_code)
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
        return _rejection(rejection.reason, rejection.message, rejection.status_code)
    service = _service(request)
    now = service.clock()
    try:
        execution = TwapExecution(spec, now)
    except InvalidOrder as exc:  # validate_order already planned it; this is a safety net
        return _rejection(exc.reason, str(exc), 422)
    values = repository.new_order_values(user_id, execution, now)
    try:
        await service.submit(values)
    except repository.DuplicateTokenId:
        message = f"token_id {body.token_id!r} was already used"
        return _rejection("duplicate_token_id", message, 409)
    metrics.ORDERS_ACCEPTED.labels(spec.algorithm).inc()
    accepted = OrderAccepted(
        token_id=body.token_id,
        order=_public(execution, now, now),
        schedule=_schedule(execution),
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


def _rejection(reason: str, message: str, status_code: int) -> JSONResponse:
    metrics.ORDERS_REJECTED.labels(reason).inc()
    return JSONResponse(
        OrderRejected(reason=reason, message=message).model_dump(), status_code=status_code
    )


@router.get("", response_model=OrderList, responses=UNAUTHORIZED_RESPONSES)
async def list_orders(
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[repository.StatusFilter, Query(description="open, closed or all")] = "all",
    token_id: Annotated[TokenId | None, Query(description="Only this token_id")] = None,
    limit: Annotated[int, Bounds(ge=1, le=500), QUERY_INT, Query(description="1..500 orders")] = 50,
    after: Annotated[
        QueryNonNegativeInt | None, Query(description="Cursor from `next_after`")
    ] = None,
) -> OrderList:
    """The user's orders, newest first, in pages."""
    rows, next_after = await repository.list_orders(
        session, user.id, status, token_id, limit, after
    )
    return OrderList(orders=[_summary(row) for row in rows], next_after=next_after)


async def _load(
    session: SessionDep, user_id: int, token_id: str
) -> tuple[OrderRow, TwapExecution, list[SliceRow]]:
    """The order as committed (never an engine's memory, which may be ahead), with its
    slice rows (they hold the markout mids)."""
    order = await repository.get_order(session, user_id, token_id)
    if order is None:
        raise HTTPException(404, f"order {token_id!r} not found")
    slices, fills = await repository.load_history(session, order.id)
    return order, repository.execution_from_rows(order, slices, fills), slices


def order_report(
    order: OrderRow,
    execution: TwapExecution,
    slices: list[SliceRow],
    hub: HubDep,
    now_ns: int,
) -> ExecutionReport:
    """The analytics of a stored order (GET /orders/{token_id} and its chart).

    Markouts come from the mids the engine stored (`twapserver.orders.markouts`);
    `now_ns` tells a horizon not reached yet from one that was never measured.
    """
    mids = [r.book_mid for r in execution.results if r.book_mid is not None]
    final_mid = mids[-1] if mids else None
    if not execution.status.is_final:
        books = [hub.book(venue, order.symbol) for venue in execution.spec.venue_names]
        mid = consolidated_mid([book for book in books if book is not None])
        final_mid = mid if mid is not None else final_mid
    report = build_report(
        execution, mids[0] if mids else None, final_mid, repository.saved_window(order)
    )
    return apply_markouts(report, stored_mids(slices, now_ns))


@router.get(
    "/{token_id}", response_model=OrderDetail, responses={**UNAUTHORIZED_RESPONSES, **_NOT_FOUND}
)
async def get_order(
    token_id: Annotated[TokenId, Path(description="The order's token_id")],
    user: CurrentUser,
    session: SessionDep,
    hub: HubDep,
    request: Request,
) -> OrderDetail:
    """Status, progress, fills, per-slice rows (with skip reasons) and analytics.

    Everything is read from committed state: a slice shows up once it is stored.
    """
    order, execution, slices = await _load(session, user.id, token_id)
    report = order_report(order, execution, slices, hub, _service(request).clock())
    order_spec = execution.spec
    spec = order_spec.to_dict()
    return OrderDetail(
        **_public(execution, order.created_ns, order.updated_ns).model_dump(),
        parameters={
            name: spec[name] for name in ALGORITHMS[order_spec.algorithm].parameters if name in spec
        },
        algorithm_note=execution.algorithm_note,
        fills=[
            FillPublic(
                slice_index=f.slice_index,
                price=f.price,
                qty=f.qty,
                ts_ns=f.ts,
                venue=f.venue or order_spec.exchange,
            )
            for f in execution.fills
        ],
        slices=[
            SlicePublic(
                index=r.index,
                due_ns=r.due_ns,
                executed_ns=r.executed_ns,
                target_qty=r.target_qty,
                filled_qty=r.filled_qty,
                status=r.status.value,
                reason=r.reason,
                book_mid=r.book_mid,
                market_volume=r.market_volume,
                venues_left_out=dict(r.venues_left_out) if r.venues_left_out else None,
            )
            for r in execution.results
        ],
        schedule=_schedule(execution),
        analytics={k: v for k, v in report.to_dict().items() if k != "slices"},
    )


def _ended_conflict(order: OrderRow, token_id: str) -> HTTPException:
    return HTTPException(409, f"order {token_id!r} is already {order.status}")


@router.delete(
    "/{token_id}",
    response_model=OrderPublic,
    responses={
        **UNAUTHORIZED_RESPONSES,
        **_NOT_FOUND,
        202: {
            "model": CancelRequested,
            "description": "The cancel is recorded but the engine holding the order has not "
            "applied it within TWAP_ORDER_CANCEL_WAIT_S (an engine on another machine, or "
            "none running yet); it applies it when it next sees the order.",
            "content": {
                "application/json": {
                    "example": {
                        "status": "cancel_requested",
                        "token_id": "my-order-0001",
                        "message": "cancel of 'my-order-0001' recorded; the engine applies it",
                    }
                }
            },
        },
        409: {
            "description": "The order already ended (completed or expired)",
            "content": {
                "application/json": {"example": {"detail": "order 'abc' is already completed"}}
            },
        },
    },
)
async def cancel_order(
    token_id: Annotated[TokenId, Path(description="The order's token_id")],
    request: Request,
    user: CurrentUser,
    session: SessionDep,
) -> Any:
    """Cancel a working order; what filled stays filled. Cancelling twice is harmless.

    200 with the order once the cancel is committed: the API cancels an order no
    engine holds itself, and waits (up to TWAP_ORDER_CANCEL_WAIT_S) for the engine
    that holds one. 202 `cancel_requested` if that engine did not apply it in time.
    """
    order = await repository.get_order(session, user.id, token_id)
    if order is None:
        raise HTTPException(404, f"order {token_id!r} not found")
    if order.status == OrderStatus.CANCELLED.value:
        return _summary(order)
    if order.status not in repository.OPEN_STATUSES:
        raise _ended_conflict(order, token_id)
    # Give the connection back first: the engine writes with its own session, and with
    # SQLite's single pooled connection holding this one would deadlock.
    await session.close()
    applied = await _service(request).cancel(order.id)
    async with request.app.state.sessions() as fresh:
        order = await fresh.get(OrderRow, order.id) or order
    if order.status == OrderStatus.CANCELLED.value:
        return _summary(order)
    if order.status not in repository.OPEN_STATUSES:
        raise _ended_conflict(order, token_id)  # it ended before the cancel was applied
    message = (
        f"cancel of {token_id!r} recorded; the engine applies it"
        if not applied
        else f"cancel of {token_id!r} recorded"
    )
    return JSONResponse(
        CancelRequested(status="cancel_requested", token_id=token_id, message=message).model_dump(),
        status_code=202,
    )
