"""GET /orders/{token_id}/chart.png: the chart `twap simulate --plot` draws, for a stored order.

The same `twapcore.plot.plot_report` on the same `ExecutionReport` as
GET /orders/{token_id} (markouts included). The server stores no mid series
(only the mids at each fill's markout horizons), so the price panel shows the
mids of the books the slices traded on and the interval VWAP as a line.
Rendering runs in a worker thread; without matplotlib (the `twapcore[plot]`
extra) the route answers 501.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response

from twapcore import ExecutionReport
from twapserver.api.deps import UNAUTHORIZED_RESPONSES, CurrentUser, HubDep, SessionDep
from twapserver.api.order_answers import NOT_FOUND, load_order, order_report, order_service
from twapserver.api.strict import TokenId

_RENDERS_AT_ONCE = 2  # charts rendered at once per app (CPU work in the engine's process)

router = APIRouter(prefix="/orders", tags=["orders"])

NO_MATPLOTLIB = (
    "charts need matplotlib on the server: pip install 'twapcore[plot]' (or 'twapserver', "
    "which depends on it)"
)
_PNG_EXAMPLE = "a PNG image: price panel (mid, VWAP, fills, limit) over cumulative filled vs plan"


def matplotlib_available() -> bool:
    """Whether charts can be drawn here (tests swap it to check the 501)."""
    return importlib.util.find_spec("matplotlib") is not None


def _render(report: ExecutionReport) -> bytes:
    from twapcore.plot import plot_report, render_png

    return render_png(plot_report(report))


_CHART_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The order's chart as a PNG image",
        "content": {
            "image/png": {
                "schema": {"type": "string", "format": "binary"},
                "example": _PNG_EXAMPLE,
            }
        },
    },
    **UNAUTHORIZED_RESPONSES,
    **NOT_FOUND,
    501: {
        "description": "matplotlib is not installed on the server",
        "content": {"application/json": {"example": {"detail": NO_MATPLOTLIB}}},
    },
}


@router.get(
    "/{token_id}/chart.png",
    response_class=Response,
    responses=_CHART_RESPONSES,
    summary="Chart of an order (PNG)",
)
async def order_chart(
    token_id: Annotated[TokenId, Path(description="The order's token_id")],
    user: CurrentUser,
    session: SessionDep,
    hub: HubDep,
    request: Request,
) -> Response:
    """Market mid, VWAP, fills (sized by quantity) and limit price over the order's life,
    above its cumulative filled quantity against the planned schedule.

    Drawn from the same report as GET /orders/{token_id}; another user's order is 404.
    """
    if not matplotlib_available():
        raise HTTPException(501, NO_MATPLOTLIB)
    order, execution, slices = await load_order(session, user.id, token_id)
    report = order_report(order, execution, slices, hub, order_service(request).clock())
    await session.close()  # the pooled connection is not held while the chart renders
    renders = getattr(request.app.state, "chart_renders", None)
    if renders is None:
        renders = request.app.state.chart_renders = asyncio.Semaphore(_RENDERS_AT_ONCE)
    async with renders:
        png = await asyncio.to_thread(_render, report)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
