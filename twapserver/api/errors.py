"""Error bodies: every 4xx says what was wrong with which value, never a bare 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
    return f"{location or 'body'}: {error.get('msg', 'invalid')}{shown}"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    body: dict[str, Any] = {
        "detail": jsonable_encoder(errors),
        "message": "; ".join(_describe(e) for e in errors),
    }
    if request.method == "POST" and request.url.path.startswith("/orders"):
        body = {"status": "rejected", "reason": "invalid_request", **body}
    return JSONResponse(body, status_code=422)


class BodySizeLimit:
    """Refuse request bodies over `MAX_BODY_BYTES` with 413 before reading them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
                response = JSONResponse(
                    {"detail": f"request body of {int(length)} bytes exceeds {MAX_BODY_BYTES}"},
                    status_code=413,
                )
                await response(scope, receive, send)
                return
            scope = {**scope}
            receive = _limited(receive)
        await self.app(scope, receive, send)


def _limited(receive: Receive) -> Receive:
    """Also stop chunked bodies (no Content-Length) once they pass the limit."""
    seen = 0

    async def wrapped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise _TooLarge
        return message  # type: ignore[return-value]

    return wrapped  # type: ignore[return-value]


class _TooLarge(Exception):
    pass


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"request body exceeds {MAX_BODY_BYTES} bytes"}, 413)


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
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(_TooLarge, _too_large)
    app.add_middleware(BodySizeLimit)
    _document_validation_errors(app)
