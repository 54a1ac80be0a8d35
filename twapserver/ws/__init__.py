"""`WS /ws`: live top-10 books and order updates (protocol in DESIGN.md, "WS /ws")."""

from __future__ import annotations

from twapserver.ws.broadcast import BOOK_DEPTH, Broadcaster
from twapserver.ws.endpoint import AUTH_REQUIRED, router
from twapserver.ws.outbox import Close, Outbox

__all__ = ["AUTH_REQUIRED", "BOOK_DEPTH", "Broadcaster", "Close", "Outbox", "router"]
