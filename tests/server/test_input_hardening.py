"""Strict input, reproduced against a real uvicorn server: no body, path or query is a 500.

`live_server` (also used by test_http_hardening.py and test_schemathesis.py)
runs `create_app` under uvicorn, with the production uvicorn options, in a
thread of its own, so tests talk to it over a real socket with a sync client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.server.test_orders_api import SECRET
from tests.server.test_orders_api import order as api_order
from twapserver.api.errors import MAX_SHOWN_ERRORS, rejection
from twapserver.app import create_app
from twapserver.auth.users import create_user
from twapserver.hub import InstrumentInfo
from twapserver.settings import Settings
from twapserver.ws.serving import uvicorn_options

T = TypeVar("T")
WAIT_S = 15.0
PASSWORD = "correct horse battery"
# BTC-USDT has its instrument info; ETH-USDT has none (its lot size is unknown).
MARKETS = {"binance": ["BTC-USDT", "ETH-USDT"]}


@dataclass
class Live:
    app: FastAPI
    base: str
    loop: asyncio.AbstractEventLoop

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the server's event loop (the app's state lives there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT_S)

    def auth(self, username: str) -> dict[str, str]:
        """A new user's `Authorization` header."""

        async def add() -> None:
            async with self.app.state.sessions() as session, session.begin():
                await create_user(session, username, PASSWORD, now_ns=0)

        self.call(add())
        response = httpx.post(
            self.base + "/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextlib.contextmanager
def live_server(
    database_url: str, setup: Callable[[FastAPI], None] | None = None
) -> Iterator[Live]:
    """The app under uvicorn in a thread, BTC-USDT (lot 0.001) and ETH-USDT (no info) known."""
    settings = Settings(
        collect=False, exchanges=MARKETS, database_url=database_url, jwt_secret=SECRET
    )
    app = create_app(settings, run_engine=False)
    if setup is not None:
        setup(app)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),))
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        live = Live(app, f"http://{host}:{port}", loop)

        async def register() -> None:
            app.state.hub.register(
                InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.001"))
            )
            app.state.hub.register(InstrumentInfo("binance", "ETH-USDT"))

        live.call(register())
        yield live
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("input") / "twap.db"
    with live_server(f"sqlite+aiosqlite:///{database}") as running:
        yield running


@pytest.fixture(scope="module")
def auth(live: Live) -> dict[str, str]:
    return live.auth("alice")


_ids = iter(range(10**9))


def order(**changes: Any) -> dict[str, Any]:
    """A valid order (with a fresh token_id) with `changes` applied; a None is sent as null."""
    return api_order(token_id=f"t-{next(_ids)}") | changes


def post_text(live: Live, path: str, text: str, headers: dict[str, str]) -> httpx.Response:
    json_headers = {**headers, "Content-Type": "application/json"}
    return httpx.post(live.base + path, content=text.encode(), headers=json_headers)


# --- JSON literals that are no numbers ----------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_number_in_an_order_is_a_422(
    live: Live, auth: dict[str, str], literal: str
) -> None:
    text = json.dumps(order(quantity="@")).replace('"@"', literal)

    response = post_text(live, "/orders/twap", text, auth)

    body = response.json()
    assert response.status_code == 422
    assert (body["status"], body["reason"]) == ("rejected", "invalid_request")
    assert literal in body["message"]


def test_non_finite_json_number_on_an_anonymous_route_is_a_422(live: Live) -> None:
    response = post_text(live, "/auth/refresh", '{"refresh_token": NaN}', {})

    assert response.status_code == 422
    assert "NaN" in response.json()["message"]


# --- one field at a time ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("quantity", "1e30", "too large"),
        ("quantity", "1E+5000", "too large"),
        ("quantity", "1" * 1000, "1000 characters"),
        ("quantity", "0.0000000000000000001", "more than 18 decimal places"),
        ("quantity", "1_000", "not a decimal string"),
        ("quantity", "  0.01  ", "not a decimal string"),
        ("quantity", 0.5, "give a decimal string"),
        ("quantity", True, "boolean"),
        ("limit_price", "1e999", "too large"),
        ("limit_price", "9" * 1000, "1000 characters"),
        ("duration_s", True, "boolean"),
        ("duration_s", "1E+5000", "too large"),
        ("slices", True, "valid integer"),
        ("slices", "10", "valid integer"),
        ("slices", 10.0, "valid integer"),
        ("slices", 2**64, "less than or equal to 9223372036854775807"),
        ("token_id", ".", "not 1-64 of"),
        ("token_id", "..", "not 1-64 of"),
        ("token_id", "a/b", "not 1-64 of"),
        ("token_id", "x" * 65, "not 1-64 of"),
        ("exchange", "bin\x00ance", "control character"),
        ("symbol", "BTC\nUSDT", "control character"),
    ],
)
def test_malformed_field_is_rejected_naming_field_and_value(
    live: Live, auth: dict[str, str], field: str, value: Any, says: str
) -> None:
    response = httpx.post(live.base + "/orders/twap", json=order(**{field: value}), headers=auth)

    body = response.json()
    assert response.status_code == 422, body
    assert (body["status"], body["reason"]) == ("rejected", "invalid_request")
    assert body["detail"][0]["loc"] == ["body", field]
    assert body["message"].startswith(f"{field}: ") and says in body["message"]


@pytest.mark.parametrize(
    "changes",
    [
        {"duration_s": "60"},
        {"duration_s": 60.5},
        {"slices": None, "interval_s": 7.5},
        {"slices": None, "interval_s": "7.5"},
        {"catch_up_cap": "2"},
        {"quantity": "6E-1", "limit_price": "1e3"},
        {"token_id": "..."},
        {"token_id": ".a:b_c-d.e"},
    ],
)
def test_well_formed_variants_are_accepted(
    live: Live, auth: dict[str, str], changes: dict[str, Any]
) -> None:
    body = {k: v for k, v in order(**changes).items() if v is not None}

    response = httpx.post(live.base + "/orders/twap", json=body, headers=auth)

    assert response.status_code == 201, response.text


def test_market_without_instrument_info_is_unavailable(live: Live, auth: dict[str, str]) -> None:
    response = httpx.post(live.base + "/orders/twap", json=order(symbol="ETH-USDT"), headers=auth)

    body = response.json()
    assert response.status_code == 422
    assert (body["status"], body["reason"]) == ("rejected", "market_unavailable")
    assert "binance ETH-USDT" in body["message"] and "lot size" in body["message"]


# --- query integers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("start=99999999999999999999", "start"),
        ("start=-1", "start"),
        ("end=9223372036854775808", "end"),
        ("limit=1_0", "limit"),
        ("limit=%205", "limit"),
        ("limit=5.0", "limit"),
        ("interval=2m", "interval"),
    ],
)
def test_bad_klines_query_is_a_422_naming_it(live: Live, query: str, name: str) -> None:
    response = httpx.get(f"{live.base}/klines/binance/BTC-USDT?{query}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", name]


@pytest.mark.parametrize(
    "query", ["after=-9223372036854775809", "after=9223372036854775808", "limit=true"]
)
def test_bad_orders_query_is_a_422(live: Live, auth: dict[str, str], query: str) -> None:
    response = httpx.get(f"{live.base}/orders?{query}", headers=auth)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


# --- NUL bytes reach no database ----------------------------------------------------


def test_nul_in_a_token_id_is_a_422_on_every_backend(database_url: str) -> None:
    with live_server(database_url) as server:
        auth = server.auth("alice")

        answers = [
            httpx.get(server.base + "/orders/a%00b", headers=auth),
            httpx.delete(server.base + "/orders/a%00b", headers=auth),
            httpx.get(server.base + "/orders?token_id=a%00b", headers=auth),
            httpx.post(server.base + "/orders/twap", json=order(token_id="a\x00b"), headers=auth),
        ]

    assert [a.status_code for a in answers] == [422] * 4
    assert all("token_id" in a.json()["message"] for a in answers)


# --- what a rejection may echo ------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"password": "hunter2-hunter2"},  # refresh_token missing: the input is the whole body
        {"refresh_token": ["hunter2-hunter2"]},  # not a string: the input is the value
    ],
)
def test_a_422_never_echoes_secrets(live: Live, body: dict[str, Any]) -> None:
    response = httpx.post(live.base + "/auth/refresh", json=body)

    assert response.status_code == 422
    assert "refresh_token" in response.json()["message"]
    assert "hunter2" not in response.text


def test_a_non_json_body_is_not_echoed(live: Live) -> None:
    # A form sent where JSON is expected: the raw body (here holding a password) is the input.
    response = httpx.post(
        live.base + "/auth/refresh",
        content=b"refresh_token=hunter2-hunter2&password=hunter2",
        headers={"content-type": "text/plain"},
    )

    assert response.status_code in (400, 422)
    assert "hunter2" not in response.text


def test_rejection_body_is_strict_json_without_secrets_or_non_finite_numbers() -> None:
    problems = [
        {"type": "t", "loc": ("body", "quantity"), "msg": "bad", "input": float("nan")},
        {"type": "t", "loc": ("body", "password"), "msg": "bad", "input": "hunter2"},
        {"type": "t", "loc": ("body",), "msg": "bad", "input": {"secret": "s3", "x": float("inf")}},
        {"type": "t", "loc": ("body", "n"), "msg": "bad", "input": 10**40},
    ]

    response = rejection({"method": "POST", "path": "/auth/token"}, 422, problems)

    text = bytes(response.body).decode()
    parsed = json.loads(text, parse_constant=_refuse)
    assert "hunter2" not in text and "s3" not in text
    assert [p.get("input") for p in parsed["detail"]] == [
        "nan",
        None,
        {"secret": "[redacted]", "x": "inf"},
        str(10**40),
    ]


def _refuse(name: str) -> Any:
    raise AssertionError(f"{name} in a response body")


def test_many_problems_get_a_bounded_answer(live: Live, auth: dict[str, str]) -> None:
    body = order(**{f"unknown_{i}": i for i in range(50)})

    response = httpx.post(live.base + "/orders/twap", json=body, headers=auth)

    answer = response.json()
    assert response.status_code == 422
    assert len(answer["detail"]) == MAX_SHOWN_ERRORS
    assert answer["message"].endswith(f"; and {50 - MAX_SHOWN_ERRORS} more")
