"""Error bodies: every refusal is JSON naming the offending value, never a traceback.

The one rejection format: `{"detail": …, "message": "<one line>"}`, where
`detail` is the list of problems of a 400/413/422 (each `{type, loc, msg}` and,
when safe to show, `input`) or the string of any other error. An order
submission (POST /orders…) also carries `"status": "rejected"` and a `reason`.
Inputs are echoed only when harmless: never for fields named like a password,
secret or token, never as a non-finite float, and cut to a short length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

__all__ = ["MAX_SHOWN_ERRORS", "install_error_handlers", "is_secret_field", "rejection"]

MAX_SHOWN_ERRORS = 20
_MAX_SHOWN_CHARS = 100  # of an echoed input or name
_MAX_MESSAGE_CHARS = 300  # of a problem's description
_MAX_SHOWN_DEPTH = 4
_REDACTED = "[redacted]"


def is_secret_field(name: object) -> bool:
    """A field whose value must never be echoed: password, secret, token (not token_id)."""
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return lowered in ("password", "secret", "token") or lowered.endswith(
        ("password", "_secret", "_token")
    )


def _shown(value: Any, depth: int = 0) -> Any:
    """`value` made safe to echo: JSON-compliant, short, with secrets redacted."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # beyond 64 bits as text: no client loses digits
        return value if -(2**63) <= value < 2**63 else _cut(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, bytes):
        return _cut(value.decode("utf-8", "replace"))
    if isinstance(value, Decimal):
        return _cut(str(value))
    if depth >= _MAX_SHOWN_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        return {
            _cut(str(k)): _REDACTED if is_secret_field(k) else _shown(v, depth + 1)
            for k, v in list(value.items())[:MAX_SHOWN_ERRORS]
        }
    if isinstance(value, Iterable):
        return [_shown(v, depth + 1) for v in list(value)[:MAX_SHOWN_ERRORS]]
    return _cut(str(value))


def _cut(text: str, limit: int = _MAX_SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _public_error(error: Mapping[str, Any]) -> dict[str, Any]:
    """One problem as sent to the client (pydantic's error without its url or raw context)."""
    loc = [part if isinstance(part, int) else _cut(str(part)) for part in error.get("loc", ())]
    public: dict[str, Any] = {
        "type": str(error.get("type", "invalid")),
        "loc": loc,
        "msg": _cut(str(error.get("msg", "invalid")), _MAX_MESSAGE_CHARS),
    }
    # A whole raw body (a form or text where JSON was expected) may hold a password.
    raw_body = loc == ["body"] and isinstance(error.get("input"), str | bytes)
    secret = raw_body or any(is_secret_field(part) for part in loc)
    if "input" in error and not secret:
        public["input"] = _shown(error["input"])
    # ctx["error"] is the raising exception, whose text `msg` already holds.
    context = {k: v for k, v in (error.get("ctx") or {}).items() if k != "error"}
    if context and not secret:
        public["ctx"] = {str(k): _shown(v) for k, v in context.items()}
    return public


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"] if part != "body")
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
    return f"{location or 'body'}: {error['msg']}{shown}"


def rejection(
    scope: Scope,
    status_code: int,
    problems: Iterable[Mapping[str, Any]],
    reason: str = "invalid_request",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The rejection of a request (400/413/422) for `problems` (pydantic-style errors)."""
    everything = list(problems)
    errors = [_public_error(p) for p in everything[:MAX_SHOWN_ERRORS]]
    message = "; ".join(_describe(e) for e in errors)
    if len(everything) > len(errors):
        message += f"; and {len(everything) - len(errors)} more"
    body: dict[str, Any] = {"detail": errors, "message": message}
    if scope.get("method") == "POST" and str(scope.get("path", "")).startswith("/orders"):
        body = {"status": "rejected", "reason": reason, **body}
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return rejection(request.scope, 422, exc.errors())


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (HEAD wherever GET is served)."""
    routes = request.app.router.routes
    allowed = {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    }
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


async def _http_error(request: Request, exc: Exception) -> Response:
    """HTTPException bodies with `message` (a 400 as a rejection); a 405 lists every method
    of the path in `Allow`."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    detail = exc.detail
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = (
            f"method {request.method} is not allowed on {_cut(request.url.path)}; "
            f"allowed: {', '.join(allowed)}"
        )
    if exc.status_code == 400:  # FastAPI could not parse a form body: a rejection like any
        problem = {"type": "body_invalid", "loc": ["body"], "msg": str(detail)}
        return rejection(request.scope, 400, [problem], headers=headers)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    body = {"detail": detail, "message": detail if isinstance(detail, str) else str(detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


_VALIDATION_EXAMPLE = {
    "detail": [
        {
            "type": "greater_than_equal",
            "loc": ["query", "limit"],
            "msg": "Input should be greater than or equal to 1",
            "input": "0",
        }
    ],
    "message": "query.limit: Input should be greater than or equal to 1 (got '0')",
}


def _document_validation_errors(app: FastAPI) -> None:
    """Show the 422 body this app really sends (with `message`) on every route of /docs."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
            if error is not None:
                error["properties"]["message"] = {
                    "type": "string",
                    "title": "Message",
                    "description": "Every problem in one line, naming the offending values.",
                }
                error["examples"] = [_VALIDATION_EXAMPLE]
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Validation and HTTP errors in the rejection format (see twapserver.api.http too)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    _document_validation_errors(app)
