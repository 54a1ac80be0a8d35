"""`WS /ws`: live top-10 books and order updates (protocol in DESIGN.md, "WS /ws")."""

from __future__ import annotations

from twapserver.ws.broadcast import BOOK_DEPTH, IDLE, Broadcaster
from twapserver.ws.endpoint import AUTH_REQUIRED, MESSAGE_TOO_BIG, TRY_AGAIN_LATER, router
from twapserver.ws.outbox import Close, Outbox

__all__ = [
    "AUTH_REQUIRED",
    "BOOK_DEPTH",
    "IDLE",
    "MESSAGE_TOO_BIG",
    "TRY_AGAIN_LATER",
    "Broadcaster",
    "Close",
    "Outbox",
    "router",
]
