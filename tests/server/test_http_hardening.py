"""HTTP details against a real uvicorn server: 413, rejection format, HEAD, Allow, redirects,
security headers, the catch-all 500, and the bounds OpenAPI states."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.server.test_input_hardening import Live, live_server
from twapcore import INTERVALS
from twapserver.api.http import MAX_BODY_BYTES, MAX_JSON_DEPTH

FAILING_PATH = "/test-only/fails"


def _add_failing_route(app: FastAPI) -> None:
    async def fails() -> None:
        raise RuntimeError("a bug the catch-all must hide")

    app.add_api_route(FAILING_PATH, fails, include_in_schema=False)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("http") / "twap.db"
    with live_server(f"sqlite+aiosqlite:///{database}", setup=_add_failing_route) as running:
        yield running


@pytest.fixture(scope="module")
def auth(live: Live) -> dict[str, str]:
    return live.auth("alice")


def _chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    """A body without Content-Length: httpx sends it chunked."""
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


# --- bodies -------------------------------------------------------------------------


def test_chunked_body_over_the_limit_is_a_413(live: Live, auth: dict[str, str]) -> None:
    headers = {**auth, "Content-Type": "application/json"}

    response = httpx.post(
        live.base + "/orders/twap", content=_chunks(MAX_BODY_BYTES + 8192), headers=headers
    )

    body = response.json()
    assert response.status_code == 413
    assert (body["status"], body["reason"]) == ("rejected", "body_too_large")
    assert f"exceeds the limit of {MAX_BODY_BYTES} bytes" in body["message"]


def test_declared_body_over_the_limit_is_a_413(live: Live) -> None:
    response = httpx.post(live.base + "/auth/refresh", content=b"x" * (MAX_BODY_BYTES + 1))

    assert response.status_code == 413
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_chunked_body_at_the_limit_is_read(live: Live) -> None:
    prefix, suffix = b'{"refresh_token": "', b'"}'
    token = b"a" * (MAX_BODY_BYTES - len(prefix) - len(suffix))

    response = httpx.post(
        live.base + "/auth/refresh",
        content=iter([prefix, token, suffix]),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, f"deeper than {MAX_JSON_DEPTH}"),
        (
            b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
            f"deeper than {MAX_JSON_DEPTH}",
        ),
        (b"{not json", "invalid JSON"),
        (b'{"quantity": 1' + b"0" * 5000 + b"}", "invalid JSON"),
    ],
)
def test_malformed_json_is_a_422_in_the_rejection_format(
    live: Live, auth: dict[str, str], content: bytes, says: str
) -> None:
    headers = {**auth, "Content-Type": "application/json"}

    response = httpx.post(live.base + "/orders/twap", content=content, headers=headers)

    body = response.json()
    assert response.status_code == 422
    assert (body["status"], body["reason"]) == ("rejected", "invalid_request")
    assert body["detail"][0]["type"] == "json_invalid" and says in body["message"]


def test_unparsable_form_is_a_400_in_the_rejection_format(live: Live) -> None:
    fields = "&".join(f"f{i}=x" for i in range(1001))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    response = httpx.post(live.base + "/auth/token", content=fields, headers=headers)

    body = response.json()
    assert response.status_code == 400
    assert body["detail"][0]["loc"] == ["body"] and "Too many fields" in body["message"]


# --- methods and paths --------------------------------------------------------------


def test_head_is_served_wherever_get_is(live: Live) -> None:
    get = httpx.get(live.base + "/exchanges")

    head = httpx.head(live.base + "/exchanges")
    health = httpx.head(live.base + "/health")

    assert (head.status_code, health.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/orders/x", "DELETE, GET, HEAD"),
        ("PUT", "/orders/x", "DELETE, GET, HEAD"),
        ("DELETE", "/health", "GET, HEAD"),
        ("GET", "/auth/token", "POST"),
    ],
)
def test_405_lists_every_method_of_the_path(
    live: Live, method: str, path: str, allowed: str
) -> None:
    response = httpx.request(method, live.base + path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert f"method {method} is not allowed" in response.json()["message"]


@pytest.mark.parametrize("path", ["/orders/", "/health/", "/exchanges/"])
def test_a_trailing_slash_is_a_404_never_a_redirect_to_the_host_header(
    live: Live, path: str
) -> None:
    response = httpx.get(live.base + path, headers={"Host": "evil.example"})

    assert response.status_code == 404
    assert "location" not in response.headers


# --- headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/no-such-route", 404),
        ("POST", "/orders/twap", 401),
        ("GET", "/klines/binance/BTC-USDT?limit=0", 422),
        ("DELETE", "/health", 405),
    ],
)
def test_every_response_carries_the_security_headers(
    live: Live, method: str, path: str, status: int
) -> None:
    response = httpx.request(method, live.base + path)

    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_no_server_banner(live: Live) -> None:
    """The server runs with the production uvicorn options (twapserver.ws.serving)."""
    response = httpx.get(live.base + "/health")

    assert "server" not in response.headers, "uvicorn_options() must pass server_header=False"


def test_request_ids_differ(live: Live) -> None:
    first, second = httpx.get(live.base + "/exchanges"), httpx.get(live.base + "/exchanges")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_docs_page_csp_allows_exactly_its_inline_script_and_own_assets(live: Live) -> None:
    response = httpx.get(live.base + "/docs")

    policy = response.headers["content-security-policy"]
    inline = re.findall(rb"<script>(.*?)</script>", response.content, re.S)
    digest = base64.b64encode(hashlib.sha256(inline[0]).digest()).decode()
    assert response.status_code == 200 and len(inline) == 1
    assert b'src="/ui/static/vendor/swagger-ui/swagger-ui-bundle.js"' in response.content
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_redoc_page_gets_a_csp_with_its_worker(live: Live) -> None:
    response = httpx.get(live.base + "/redoc")

    assert response.status_code == 200
    assert "worker-src blob:" in response.headers["content-security-policy"]


# --- the catch-all ------------------------------------------------------------------


def test_unexpected_error_is_a_json_500_with_a_logged_request_id(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="twapserver.http"):
        response = httpx.get(live.base + FAILING_PATH)

    body = response.json()
    request_id = response.headers["x-request-id"]
    assert response.status_code == 500
    assert body == {
        "detail": "internal error",
        "message": f"internal error (request id {request_id})",
        "request_id": request_id,
    }
    assert "a bug" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "a bug the catch-all must hide" in str(logged[0].exc_info[1])


# --- OpenAPI ------------------------------------------------------------------------


def _parameters(spec: dict[str, Any], method: str, path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p["schema"] for p in spec["paths"][path][method]["parameters"]}


def _integer(schema: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "integer")


def test_openapi_states_every_bound_the_server_enforces(live: Live) -> None:
    spec = httpx.get(live.base + "/openapi.json").json()

    klines = _parameters(spec, "get", "/klines/{exchange}/{symbol}")
    orders = _parameters(spec, "get", "/orders")
    order = _parameters(spec, "get", "/orders/{token_id}")
    create = spec["components"]["schemas"]["TwapOrderCreate"]["properties"]
    number = {
        name: next(s for s in create[name]["anyOf"] if s["type"] == "number")
        for name in ("duration_s", "interval_s", "catch_up_cap")
    }

    assert klines["interval"]["enum"] == list(INTERVALS)
    assert (klines["limit"]["minimum"], klines["limit"]["maximum"]) == (1, 1000)
    assert _integer(klines["start"])["maximum"] == _integer(klines["end"])["maximum"] == 2**63 - 1
    assert (orders["limit"]["minimum"], orders["limit"]["maximum"]) == (1, 500)
    assert (_integer(orders["after"])["minimum"], _integer(orders["after"])["maximum"]) == (
        0,
        2**63 - 1,
    )
    assert order["token_id"]["pattern"] == create["token_id"]["pattern"]
    assert (number["duration_s"]["minimum"], number["duration_s"]["maximum"]) == (1, 604800)
    assert number["interval_s"]["minimum"] == 0.1
    assert (number["catch_up_cap"]["minimum"], number["catch_up_cap"]["maximum"]) == (1, 100)
    assert (_integer(create["slices"])["minimum"], _integer(create["slices"])["maximum"]) == (
        1,
        1000,
    )
    assert create["quantity"]["type"] == "string" and create["quantity"]["maxLength"] == 40
    exchange = next(s for s in create["exchange"]["anyOf"] if s["type"] == "string")
    assert "pattern" in create["quantity"] and "pattern" in exchange
