"""The server → client messages of `/ws` other than books (`book_to_record`) and orders.

Order messages are built by whoever commits a change (`twapserver.orders.updates`)
and by the snapshot (`twapserver.ws.snapshot`). Books, orders and errors are plain
dicts here, for speed; their one definition is `twapcore.wire` (`BookMessage`,
`OrderMessage`, `ErrorMessage`, which the SDK parses), and tests hold the dicts to it.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["Message", "ProtocolError", "dumps", "error_message"]

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
