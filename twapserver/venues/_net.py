"""Talking to venues: one blocking JSON GET, and failures told in plain words.

A venue that cannot be reached fails deep inside a library (urllib, aiohttp, websockets,
requests), each wrapping the socket error in its own exceptions. :func:`unreachable_reason`
digs the socket's own words out of that chain (``Name or service not known``,
``Connection refused``), so logs and ``/health`` say what a person can act on, not a stack of
library messages.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from typing import Any

__all__ = ["REQUEST_TIMEOUT_S", "VenueError", "fetch_json", "unreachable_reason"]

REQUEST_TIMEOUT_S = 5.0  # per HTTP request to a venue


class VenueError(Exception):
    """A venue answered something unusable (HTTP error, error body, malformed data)."""


def fetch_json(url: str, context: ssl.SSLContext | None = None) -> Any:
    """GET ``url`` and parse its JSON body (blocking: run it in a thread).

    Raises :class:`VenueError` naming the HTTP status and the venue's own words for an HTTP
    error or a body that is not JSON; network failures raise as they come (``OSError``).
    """
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        response = urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S, context=context)
    except urllib.error.HTTPError as exc:
        # The venue's own words (Binance {"code":-1121,"msg":"Invalid symbol."}) name the cause.
        with exc:
            body = exc.read(200).decode("utf-8", "replace").strip()
        raise VenueError(http_error(exc.code, str(exc.reason), body)) from None
    with response:
        try:
            return json.load(response)
        except ValueError as exc:
            raise VenueError(f"malformed JSON from {url}: {exc}") from None


def http_error(status: int, reason: str, body: str) -> str:
    """``HTTP 500 Internal Server Error: boom``: the status and the start of the body."""
    body = body.strip()[:200]
    return f"HTTP {status} {reason}" + (f": {body}" if body else "")


def unreachable_reason(exc: BaseException) -> str | None:
    """The plain reason a connection could not be made (``Connection refused``), or None when
    ``exc`` is not a connection failure (an HTTP error status, a malformed body, a bug)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = _own_reason(current)
        if reason is not None:
            return reason
        current = current.__cause__ or current.__context__
    return None


def _own_reason(exc: BaseException) -> str | None:
    if isinstance(exc, urllib.error.HTTPError | VenueError):
        return None
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return unreachable_reason(reason) if isinstance(reason, BaseException) else str(reason)
    os_error = getattr(exc, "os_error", None)  # aiohttp.ClientConnectorError
    if isinstance(os_error, OSError):
        return _os_reason(os_error)
    if type(exc).__module__.startswith(("aiohttp", "websockets", "requests", "urllib3")):
        # Their connection errors wrap the socket's (requests -> urllib3 -> socket), as a
        # cause, an argument or a `reason`: the socket's words are further down.
        inner = (exc.__cause__, exc.__context__, getattr(exc, "reason", None), *exc.args)
        for candidate in inner:
            found = unreachable_reason(candidate) if isinstance(candidate, BaseException) else None
            if found is not None:
                return found
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({exc.verify_message}): set TWAP_VENUE_CA_FILE?"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return _os_reason(exc)
    return None


def _os_reason(exc: OSError) -> str:
    if isinstance(exc.errno, int) and exc.errno > 0:
        # asyncio's "Connect call failed ('127.0.0.1', 1)" -> "Connection refused"
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__
