"""The server → client messages of `/ws` other than the book (see `book_to_record`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from twapcore import SliceResult
from twapserver.orders.engine import LiveOrder

__all__ = ["ProtocolError", "dumps", "error_message", "order_message"]

Message = dict[str, Any]


class ProtocolError(Exception):
    """A client message refused with `{"type":"error","code":…,"message":…}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def dumps(message: Message) -> str:
    """The JSON text of a message (compact, as sent)."""
    return orjson.dumps(message).decode()


def error_message(code: str, message: str) -> Message:
    return {"type": "error", "code": code, "message": message}


def _decimal(value: Decimal | None) -> str | None:
    # "f": never exponent notation, like the book levels.
    return None if value is None else format(value, "f")


def order_message(live: LiveOrder, result: SliceResult | None) -> Message:
    """An order's progress after a committed slice (`result`) or a cancel (None)."""
    order, execution = live.order, live.execution
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
