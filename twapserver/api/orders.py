"""Authenticated TWAP order routes: submit, list, read, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from twapcore import InvalidOrder, TwapExecution, build_report
from twapserver.api.deps import (
    UNAUTHORIZED_RESPONSES,
    CurrentUser,
    HubDep,
    SessionDep,
    SettingsDep,
)
from twapserver.db.models import OrderRow
from twapserver.orders import repository
from twapserver.orders.engine import Engine
from twapserver.orders.schemas import (
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
from twapserver.orders.validation import Rejection, validate_order

router = APIRouter(prefix="/orders", tags=["orders"])

_NOT_FOUND = {
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


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _public(order: OrderRow, execution: TwapExecution) -> OrderPublic:
    return OrderPublic(
        token_id=order.token_id,
        exchange=order.exchange,
        symbol=order.symbol,
        side=order.side,
        status=execution.status.value,
        quantity=execution.spec.quantity,
        filled_qty=execution.filled_qty,
        remaining_qty=execution.remaining_qty,
        average_price=execution.average_price,
        limit_price=execution.spec.limit_price,
        slices_done=len(execution.results),
        slices_total=len(execution.plan),
        next_slice_ns=execution.next_due_ns,
        created_ns=order.created_ns,
        updated_ns=order.updated_ns,
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
    )


@router.post(
    "/twap",
    status_code=201,
    response_model=OrderAccepted,
    openapi_extra={"requestBody": {"content": {"application/json": {"example": ORDER_EXAMPLE}}}},
    responses={
        **UNAUTHORIZED_RESPONSES,
        409: _rejected("duplicate_token_id", "token_id 'my-order-0001' was already used"),
        413: {"description": "Request body larger than 64 KiB"},
        422: _rejected(
            "below_lot_size",
            "quantity 0.000001 is below the lot size 0.00001 of binance BTC-USDT",
        ),
    },
)
async def submit_twap(
    body: TwapOrderCreate,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    hub: HubDep,
    settings: SettingsDep,
) -> Any:
    """Accept or reject a TWAP order at once; execution starts in the background.

    Bounds: duration_s 1..604800, slices 1..1000 (or interval_s >= 0.1), at least
    0.1 s between slices, catch_up_cap 1..100, quantity a positive multiple of
    the symbol's lot size, limit_price > 0. A rejected order uses up no token_id.
    """
    try:
        spec, _ = validate_order(body, hub, settings.max_book_age_s)
    except Rejection as rejection:
        return JSONResponse(
            OrderRejected(reason=rejection.reason, message=rejection.message).model_dump(),
            status_code=rejection.status_code,
        )
    engine = _engine(request)
    duplicate = OrderRejected(
        reason="duplicate_token_id", message=f"token_id {body.token_id!r} was already used"
    )
    now = engine.clock()
    try:
        execution = TwapExecution(spec, now)
    except InvalidOrder as exc:  # validate_order already planned it; this is a safety net
        rejected = OrderRejected(reason=exc.reason, message=str(exc))
        return JSONResponse(rejected.model_dump(), status_code=422)
    try:
        order = await repository.insert_order(session, user.id, execution, now)
        await session.commit()
    except repository.DuplicateTokenId:
        await session.rollback()
        return JSONResponse(duplicate.model_dump(), status_code=409)
    engine.submit(order, execution)
    return OrderAccepted(
        token_id=order.token_id,
        order=_public(order, execution),
        schedule=[
            PlannedSlicePublic(index=p.index, due_ns=p.due_ns, qty=p.qty) for p in execution.plan
        ],
    )


@router.get("", response_model=OrderList, responses=UNAUTHORIZED_RESPONSES)
async def list_orders(
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[repository.StatusFilter, Query(description="open, closed or all")] = "all",
    token_id: Annotated[str | None, Query(description="Only this token_id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(description="Cursor from `next_after`")] = None,
) -> OrderList:
    """The user's orders, newest first, in pages."""
    rows, next_after = await repository.list_orders(
        session, user.id, status, token_id, limit, after
    )
    return OrderList(orders=[_summary(row) for row in rows], next_after=next_after)


async def _load(
    request: Request, session: SessionDep, user_id: int, token_id: str
) -> tuple[OrderRow, TwapExecution]:
    order = await repository.get_order(session, user_id, token_id)
    if order is None:
        raise HTTPException(404, f"order {token_id!r} not found")
    live = _engine(request).live(order.id)
    if live is not None:
        return live.order, live.execution
    slices, fills = await repository.load_history(session, order.id)
    return order, repository.execution_from_rows(order, slices, fills)


@router.get(
    "/{token_id}", response_model=OrderDetail, responses={**UNAUTHORIZED_RESPONSES, **_NOT_FOUND}
)
async def get_order(
    token_id: str, request: Request, user: CurrentUser, session: SessionDep, hub: HubDep
) -> OrderDetail:
    """Status, progress, fills, per-slice rows (with skip reasons) and analytics."""
    order, execution = await _load(request, session, user.id, token_id)
    engine = _engine(request)
    live = engine.live(order.id)
    window = engine.market_window(live) if live is not None else repository.saved_window(order)
    mids = [r.book_mid for r in execution.results if r.book_mid is not None]
    final_mid = mids[-1] if mids else None
    if live is not None:
        book = hub.book(order.exchange, order.symbol)
        final_mid = book.mid if book is not None and book.mid is not None else final_mid
    report = build_report(execution, mids[0] if mids else None, final_mid, window)
    return OrderDetail(
        **_public(order, execution).model_dump(),
        fills=[
            FillPublic(slice_index=f.slice_index, price=f.price, qty=f.qty, ts_ns=f.ts)
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
            )
            for r in execution.results
        ],
        schedule=[
            PlannedSlicePublic(index=p.index, due_ns=p.due_ns, qty=p.qty) for p in execution.plan
        ],
        analytics={k: v for k, v in report.to_dict().items() if k != "slices"},
    )


@router.delete(
    "/{token_id}",
    response_model=OrderPublic,
    responses={
        **UNAUTHORIZED_RESPONSES,
        **_NOT_FOUND,
        409: {
            "description": "The order already ended (completed or expired)",
            "content": {
                "application/json": {"example": {"detail": "order 'abc' is already completed"}}
            },
        },
    },
)
async def cancel_order(
    token_id: str, request: Request, user: CurrentUser, session: SessionDep
) -> OrderPublic:
    """Cancel a working order; what filled stays filled. Cancelling twice is harmless."""
    order, execution = await _load(request, session, user.id, token_id)
    if execution.status.value == "cancelled":
        return _public(order, execution)
    if execution.status.is_final:
        raise HTTPException(409, f"order {token_id!r} is already {execution.status.value}")
    # Give the connection back first: the engine writes with its own session, and with
    # SQLite's single pooled connection holding this one would deadlock.
    await session.close()
    try:
        execution = await _engine(request).cancel(order)
    except InvalidOrder as ended:  # it ended while the request waited for the engine
        raise HTTPException(409, f"order {token_id!r} has ended: {ended}") from None
    return _public(order, execution)
