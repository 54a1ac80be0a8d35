"""The order routes: submission (`twapserver.api.order_submission`), then list, read, cancel.

`router` serves every /orders route, in that order: the read and cancel routes are
added here to the router the submission routes were added to. `algorithms_router`
serves GET /algorithms.
"""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Interval as Bounds
from fastapi import HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from twapcore import ALGORITHMS, OrderStatus
from twapserver.api.deps import UNAUTHORIZED_RESPONSES, CurrentUser, HubDep, SessionDep
from twapserver.api.order_answers import (
    NOT_FOUND,
    load_order,
    order_public,
    order_report,
    order_service,
    order_summary,
    planned_slices,
)
from twapserver.api.order_submission import algorithms_router, router
from twapserver.api.strict import QUERY_INT, QueryNonNegativeInt, TokenId
from twapserver.db.models import OrderRow
from twapserver.orders import repository
from twapserver.orders.schemas import FillPublic, OrderDetail, OrderList, OrderPublic, SlicePublic

__all__ = ["CancelRequested", "algorithms_router", "order_report", "router"]


class CancelRequested(BaseModel):
    """The cancel is recorded; the engine holding the order has not applied it yet."""

    status: str = Field("cancel_requested", examples=["cancel_requested"])
    token_id: str
    message: str


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
    return OrderList(orders=[order_summary(row) for row in rows], next_after=next_after)


@router.get(
    "/{token_id}", response_model=OrderDetail, responses={**UNAUTHORIZED_RESPONSES, **NOT_FOUND}
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
    order, execution, slices = await load_order(session, user.id, token_id)
    report = order_report(order, execution, slices, hub, order_service(request).clock())
    order_spec = execution.spec
    spec = order_spec.to_dict()
    return OrderDetail(
        **order_public(execution, order.created_ns, order.updated_ns).model_dump(),
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
        schedule=planned_slices(execution),
        analytics={k: v for k, v in report.to_dict().items() if k != "slices"},
    )


def _ended_conflict(order: OrderRow, token_id: str) -> HTTPException:
    return HTTPException(409, f"order {token_id!r} is already {order.status}")


@router.delete(
    "/{token_id}",
    response_model=OrderPublic,
    responses={
        **UNAUTHORIZED_RESPONSES,
        **NOT_FOUND,
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
        return order_summary(order)
    if order.status not in repository.OPEN_STATUSES:
        raise _ended_conflict(order, token_id)
    # Give the connection back first: the engine writes with its own session, and with
    # SQLite's single pooled connection holding this one would deadlock.
    await session.close()
    applied = await order_service(request).cancel(order.id)
    async with request.app.state.sessions() as fresh:
        order = await fresh.get(OrderRow, order.id) or order
    if order.status == OrderStatus.CANCELLED.value:
        return order_summary(order)
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
