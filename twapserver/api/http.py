"""HTTP middlewares: body limits and well-formed JSON, a JSON catch-all 500, HEAD, headers.

Pure ASGI (WebSocket scopes pass straight through). From the outside in:
`HeadAsGet` → `SecurityHeaders` (request id, nosniff, CSP…) → `CatchAll` →
`BodyGuard` (413 over `MAX_BODY_BYTES`, chunked too; 422 for malformed JSON) → app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twapserver.api.errors import rejection

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "REQUEST_ID_HEADER",
    "install_http_middlewares",
    "json_problem",
    "request_id",
]

log = logging.getLogger("twapserver.http")

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
REQUEST_ID_HEADER = "X-Request-ID"

# JSON answers are never rendered: forbid everything. The HTML pages (/docs, /redoc,
# /ui) load only the server's own assets (twapserver/ui/static, vendored): nothing from
# another origin. Their inline scripts are allowed by hash, computed from the page
# actually sent; inline styles are allowed because Swagger UI, ReDoc and the charts set
# them. connect-src 'self' also covers the dashboard's ws:// socket to this host.
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_HTML_CSP = (
    "default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; "
    "worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def request_id(scope: Scope) -> str:
    """The id `SecurityHeaders` gave this request (also sent as the X-Request-ID header)."""
    state = scope.get("state") or {}
    return str(state.get("request_id", "-"))


def json_problem(body: bytes) -> str | None:
    """Why `body` is not acceptable JSON (not UTF-8, malformed, NaN/Infinity, too deep), or None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"the body is not UTF-8 (byte {error.start} is {body[error.start]:#04x})"
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError as error:  # JSONDecodeError, the hooks below, over-long integers
        return f"invalid JSON: {error}"
    if _depth(document) > MAX_JSON_DEPTH:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _is_json(content_type: str | None) -> bool:
    """The media types FastAPI parses as JSON."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class BodyGuard:
    """Read the whole body first: 413 past `MAX_BODY_BYTES` (declared or chunked), 422 for
    a JSON body that is not UTF-8, malformed, holds NaN/Infinity/1e999 or nests too deep."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _too_large(scope, f"request body of {int(declared)} bytes")(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _too_large(scope, "request body")(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type")):
            problem = json_problem(body)
            if problem is not None:
                error = {"type": "json_invalid", "loc": ["body"], "msg": problem}
                await rejection(scope, 422, [error])(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)


def _too_large(scope: Scope, what: str) -> JSONResponse:
    error = {
        "type": "too_large",
        "loc": ["body"],
        "msg": f"{what} exceeds the limit of {MAX_BODY_BYTES} bytes",
    }
    # The rest of the body is not read: the connection cannot be reused.
    return rejection(scope, 413, [error], "body_too_large", {"Connection": "close"})


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the buffered body to the app once; later calls wait for the disconnect."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class CatchAll:
    """Any unexpected exception: logged with the request id and its traceback, answered as
    JSON `{"detail": "internal error", "request_id": …}` with status 500, never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            rid = request_id(scope)
            # The path only: a query string may carry a token.
            log.exception("request %s failed: %s %s", rid, scope["method"], scope["path"])
            if started:  # too late for a clean answer; the server closes the connection
                raise
            body = {
                "detail": "internal error",
                "message": f"internal error (request id {rid})",
                "request_id": rid,
            }
            await JSONResponse(body, status_code=500)(scope, receive, send)


class SecurityHeaders:
    """A request id and security headers on every response; a CSP fit for each HTML page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope["state"] = {**(scope.get("state") or {}), "request_id": rid}
        held: Message | None = None  # an HTML response start, until its body is known
        chunks: list[bytes] = []

        async def secured(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = rid
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if headers.get("content-type", "").startswith("text/html"):
                    held = message
                    return
                headers.setdefault("Content-Security-Policy", _API_CSP)
            elif held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(chunks)
                MutableHeaders(scope=held).setdefault("Content-Security-Policy", _html_csp(page))
                await send(held)
                held = None
                message = {"type": "http.response.body", "body": page}
            await send(message)

        await self.app(scope, receive, secured)


def _html_csp(page: bytes) -> str:
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    ]
    return _HTML_CSP.format(scripts=" ".join(["'self'", *hashes]))


class HeadAsGet:
    """HEAD wherever GET exists: served as GET, answered with the headers and no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def bodiless(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, bodiless)


def install_http_middlewares(app: FastAPI) -> None:
    """Install the middlewares above, and answer 404 (never a redirect built from the
    request's Host header) for a path with a trailing slash."""
    app.router.redirect_slashes = False
    # add_middleware puts each one outside the ones added before it.
    for middleware in (BodyGuard, CatchAll, SecurityHeaders, HeadAsGet):
        app.add_middleware(middleware)
