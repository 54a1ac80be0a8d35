"""The `{"type":"order",…}` update of an order: built once by whoever commits a change.

Engines (after each committed slice or cancel) and the API (after a cancel it
applies itself) publish it on the bus as an `OrderUpdate`; `/ws` sends its text
as is to the order owner's subscribers. The (re)subscribe snapshot builds the
same message from the order row (`order_row_message`): one field list for both.
A plain dict rather than a model, for speed; its shape is `twapcore.wire.OrderMessage`
(the SDK parses it with that model), held to it by tests/server/test_wire_shared.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from twapcore import SliceResult, TwapExecution
from twapcore.formatting import format_average, format_decimal
from twapserver.bus import OrderUpdate
from twapserver.db.models import OrderRow
from twapserver.orders.repository import summary_of

__all__ = ["order_message", "order_row_message", "order_update"]


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


def _message(
    order: OrderRow,
    *,
    algorithm: str,
    status: str,
    filled: Decimal,
    average_price: Decimal | None,
    slices_done: int,
    slices_total: int,
    next_slice_ns: int | None,
    result: SliceResult | None,
    venues: list[str] | None,
) -> dict[str, Any]:
    """The one field list of `{"type":"order",…}`, whether read from memory or a row."""
    return {
        "type": "order",
        "token_id": order.token_id,
        "exchange": order.exchange,
        "symbol": order.symbol,
        "side": order.side,
        "venues": venues,  # cross-venue orders: the venues traded (exchange first); else null
        "algorithm": algorithm,
        "status": status,
        "filled_qty": _decimal(filled),
        "remaining_qty": _decimal(order.quantity - filled),
        "average_price": None if average_price is None else format_average(average_price),
        "slices_done": slices_done,
        "slices_total": slices_total,
        "next_slice_ns": next_slice_ns,
        "slice": None
        if result is None
        else {
            "index": result.index,
            "due_ns": result.due_ns,
            "executed_ns": result.executed_ns,
            "target_qty": _decimal(result.target_qty),
            "filled_qty": _decimal(result.filled_qty),
            "status": result.status.value,
            "reason": result.reason,
            "book_mid": _decimal(result.book_mid),
            "market_volume": _decimal(result.market_volume),
            # cross-venue orders only: venue -> why this slice did not use it
            **({"venues_left_out": dict(result.venues_left_out)} if result.venues_left_out else {}),
        },
    }


def order_message(
    order: OrderRow, execution: TwapExecution, result: SliceResult | None
) -> dict[str, Any]:
    """An order's progress after a committed slice (`result`) or a cancel (None)."""
    return _message(
        order,
        algorithm=execution.spec.algorithm,
        status=execution.status.value,
        filled=execution.filled_qty,
        average_price=execution.average_price,
        slices_done=len(execution.results),
        slices_total=len(execution.plan),
        next_slice_ns=execution.next_due_ns,
        result=result,
        venues=None if execution.spec.venues is None else list(execution.spec.venues),
    )


def order_row_message(order: OrderRow) -> dict[str, Any]:
    """An order's committed state from its row alone (no history read), with `slice` None:
    what `order_message` said after that commit."""
    summary = summary_of(order)
    return _message(
        order,
        algorithm=summary.algorithm,
        status=order.status,
        filled=order.filled,
        average_price=summary.average_price,
        slices_done=summary.slices_done,
        slices_total=summary.slices_total,
        next_slice_ns=order.next_due_ns,
        result=None,
        venues=summary.venues,
    )


def order_update(
    order: OrderRow, execution: TwapExecution, result: SliceResult | None
) -> OrderUpdate:
    """The bus event of `order_message`, serialized once."""
    return OrderUpdate(
        user_id=order.user_id,
        order_id=order.id,
        token_id=order.token_id,
        final=execution.status.is_final,
        payload=orjson.dumps(order_message(order, execution, result)).decode(),
    )
