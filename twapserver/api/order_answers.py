"""How the order routes answer: an order's public shapes, its report, a rejection.

Shared by submission (`twapserver.api.order_submission`), the read and cancel routes
(`twapserver.api.orders`) and the order chart (`twapserver.api.charts`).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from twapcore import ExecutionReport, TwapExecution, build_report
from twapcore.analytics import apply_markouts
from twapcore.book import consolidated_mid
from twapserver import metrics
from twapserver.api.deps import HubDep, SessionDep
from twapserver.db.models import OrderRow, SliceRow
from twapserver.orders import repository
from twapserver.orders.markouts import stored_mids
from twapserver.orders.schemas import OrderPublic, OrderRejected, PlannedSlicePublic
from twapserver.orders.service import OrderService

__all__ = [
    "NOT_FOUND",
    "load_order",
    "order_public",
    "order_report",
    "order_service",
    "order_summary",
    "planned_slices",
    "rejection_response",
]

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No order with this token_id for this user",
        "content": {"application/json": {"example": {"detail": "order 'abc' not found"}}},
    }
}


def order_service(request: Request) -> OrderService:
    """The app's order service (submission, cancel, the clock)."""
    service: OrderService = request.app.state.orders
    return service


def order_public(execution: TwapExecution, created_ns: int, updated_ns: int) -> OrderPublic:
    """An order as its execution stands (times in ns)."""
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


def planned_slices(execution: TwapExecution) -> list[PlannedSlicePublic]:
    """The order's schedule: every planned slice, due time in ns."""
    return [PlannedSlicePublic(index=p.index, due_ns=p.due_ns, qty=p.qty) for p in execution.plan]


def order_summary(order: OrderRow) -> OrderPublic:
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


def rejection_response(reason: str, message: str, status_code: int) -> JSONResponse:
    """A rejected order's answer (`OrderRejected`), counted in ORDERS_REJECTED."""
    metrics.ORDERS_REJECTED.labels(reason).inc()
    return JSONResponse(
        OrderRejected(reason=reason, message=message).model_dump(), status_code=status_code
    )


async def load_order(
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
