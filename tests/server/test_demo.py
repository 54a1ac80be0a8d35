"""`twapserver run --demo`: a real server process replaying the bundled recording, no network."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.server_process import twapserver


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("demo")
    url = f"sqlite+aiosqlite:///{workdir / 'twap.db'}"
    with twapserver("--demo", "--demo-speed", "5", "--database-url", url, cwd=workdir) as base:
        yield base


def _eventually(base: str, path: str, ready: object) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        response = httpx.get(base + path, timeout=5)
        if ready(response) or time.monotonic() > deadline:  # type: ignore[operator]
            return response
        time.sleep(0.05)


def test_demo_lists_both_replayed_venues(demo_server: str) -> None:
    response = httpx.get(demo_server + "/exchanges")

    exchanges = {e["name"]: e["symbols"] for e in response.json()}
    assert response.status_code == 200
    assert exchanges["binance"] == ["BTC-USDT"]
    assert {"BTC-CHF", "ETH-CHF", "XMR-USD"} <= set(exchanges["kraken"])
    assert len(exchanges) == 2


def test_demo_health_is_ok_with_a_fresh_book(demo_server: str) -> None:
    response = _eventually(demo_server, "/health", lambda r: r.json()["status"] == "ok")

    feed = response.json()["feeds"][0]
    assert response.json()["status"] == "ok"
    assert (feed["connected"], feed["stale"]) == (True, False)


def test_demo_klines_come_from_replayed_trades(demo_server: str) -> None:
    response = _eventually(demo_server, "/klines/binance/BTC-USDT?interval=1m", lambda r: r.json())

    candles = response.json()
    assert response.status_code == 200
    assert candles
    assert all(c["low"] <= c["open"] <= c["high"] and c["trades"] > 0 for c in candles)


def test_demo_symbols_carry_lot_and_tick(demo_server: str) -> None:
    response = httpx.get(demo_server + "/exchanges/binance/symbols")

    assert response.json()[0] | {"has_book": True, "stale": False} == {
        "symbol": "BTC-USDT",
        "type": "spot",
        "tick_size": "0.01",
        "lot_size": "0.00001",
        "contract_size": None,
        "quantity_unit": "BTC",
        "has_book": True,
        "stale": False,
    }


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/klines/ftx/BTC-USDT", 404, "exchange 'ftx' is not collected by this server"),
        ("/klines/binance/DOGE-USDT", 404, "symbol 'DOGE-USDT' is not collected on binance"),
        ("/klines/binance/BTC-USDT?interval=2m", 422, "interval '2m' is not one of: 1m, 3m"),
        ("/exchanges/ftx/symbols", 404, "exchange 'ftx' is not collected"),
    ],
)
def test_bad_requests_name_the_offending_value(
    demo_server: str, path: str, status: int, detail: str
) -> None:
    response = httpx.get(demo_server + path)

    assert response.status_code == status
    assert detail in response.json()["message"]


def test_limit_out_of_range_is_rejected(demo_server: str) -> None:
    response = httpx.get(demo_server + "/klines/binance/BTC-USDT?limit=5000")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_openapi_documents_the_public_routes(demo_server: str) -> None:
    paths = httpx.get(demo_server + "/openapi.json").json()["paths"]

    assert {"/exchanges", "/exchanges/{exchange}/symbols", "/klines/{exchange}/{symbol}"} <= set(
        paths
    )
    assert "/health" in paths
