"""The `{"type":"order",…}` update of an order: built once by whoever commits a change.

Engines (after each committed slice or cancel) and the API (after a cancel it
applies itself) publish it on the bus as an `OrderUpdate`; `/ws` sends its text
as is to the order owner's subscribers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from twapcore import SliceResult, TwapExecution
from twapserver.bus import OrderUpdate
from twapserver.db.models import OrderRow

__all__ = ["order_message", "order_update"]


def _decimal(value: Decimal | None) -> str | None:
    # "f": never exponent notation, like the book levels.
    return None if value is None else format(value, "f")


def order_message(
    order: OrderRow, execution: TwapExecution, result: SliceResult | None
) -> dict[str, Any]:
    """An order's progress after a committed slice (`result`) or a cancel (None)."""
    return {
        "type": "order",
        "token_id": order.token_id,
        "exchange": order.exchange,
        "symbol": order.symbol,
        "side": order.side,
        "status": execution.status.value,
        "filled_qty": _decimal(execution.filled_qty),
        "remaining_qty": _decimal(execution.remaining_qty),
        "average_price": _decimal(execution.average_price),
        "slices_done": len(execution.results),
        "slices_total": len(execution.plan),
        "next_slice_ns": execution.next_due_ns,
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
        },
    }


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
