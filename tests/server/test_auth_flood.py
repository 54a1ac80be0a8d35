"""A login flood does not stall trading (issue 8, item 1), on a real `twapserver run --demo`.

250 concurrent wrong-password logins used to make an authenticated GET /orders take
30 s and a running order's slices start 32 s late: each login held SQLite's one pooled
connection while argon2 ran. The per-IP and per-username limits are opened wide here,
so every login reaches the password check and the fix itself is what is measured.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.server_process import twapserver

SECRET = "flood-test-secret-0123456789-abcdefghijkl"
PASSWORD = "correct horse battery"
FLOOD = 250
ORDER_SLICES = 8
# The bound: under the flood, slices start and GET /orders answers within 1 s.
BOUND_S = 1.0
WIDE_OPEN = '{"burst": 100000, "per_minute": 6000000}'


def _add_alice(database_url: str, cwd: Path) -> None:
    command = [sys.executable, "-c", "from twapserver.cli import main; main()", "users", "add"]
    subprocess.run(
        [*command, "alice", "--password-stdin", "--database-url", database_url],
        input=PASSWORD + "\n", cwd=cwd, text=True, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


async def _flood(base: str) -> list[int]:
    """FLOOD concurrent logins of distinct unknown users with wrong passwords; their statuses."""
    limits = httpx.Limits(max_connections=FLOOD)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post("/auth/token", data={"username": f"nobody{i}", "password": "guess"})
                for i in range(FLOOD)
            )
        )
    return [response.status_code for response in responses]


def _watch_orders(base: str, headers: dict[str, str], stop: threading.Event) -> list[float]:
    """Seconds each authenticated GET /orders took, one after another until `stop`.

    A thread with its own connection, so that the flood's client (an event loop
    busy with 250 connections) does not add its own delays to what is measured.
    """
    latencies: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        while not stop.is_set():
            started = time.monotonic()
            response = client.get("/orders")
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
            stop.wait(0.05)
    return latencies


def _flood_while_watching(base: str, headers: dict[str, str]) -> tuple[list[int], list[float]]:
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        watcher = pool.submit(_watch_orders, base, headers, stop)
        try:
            statuses = asyncio.run(_flood(base))
        finally:
            stop.set()
        return statuses, watcher.result()


def _wait_until_final(base: str, headers: dict[str, str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        order: dict[str, Any] = httpx.get(base + "/orders/flood", headers=headers).json()
        if order["status"] in ("completed", "expired", "cancelled"):
            return order
        if time.monotonic() > deadline:
            pytest.fail(f"order not final within {timeout_s} s: {order}")
        time.sleep(0.2)


@pytest.mark.slow
def test_login_flood_neither_delays_slices_nor_authenticated_reads(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"
    _add_alice(database_url, tmp_path)
    env = {
        "TWAP_JWT_SECRET": SECRET,
        "TWAP_AUTH_IP_LIMIT": WIDE_OPEN,
        "TWAP_AUTH_USERNAME_LIMIT": WIDE_OPEN,
    }
    order = {
        "token_id": "flood", "exchange": "binance", "symbol": "BTC-USDT", "side": "buy",
        "quantity": "0.008", "limit_price": "70000", "duration_s": ORDER_SLICES,
        "slices": ORDER_SLICES,
    }  # fmt: skip

    with twapserver("--demo", "--database-url", database_url, cwd=tmp_path, env=env) as base:
        login = httpx.post(base + "/auth/token", data={"username": "alice", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        submitted = httpx.post(base + "/orders/twap", json=order, headers=headers)
        assert submitted.status_code == 201, submitted.text

        statuses, latencies = _flood_while_watching(base, headers)
        final = _wait_until_final(base, headers, timeout_s=ORDER_SLICES + 30)

    lateness_s = [(s["executed_ns"] - s["due_ns"]) / 1e9 for s in final["slices"]]
    # Every login was checked (401) or waited its full queue timeout (503): none was let in.
    assert set(statuses) <= {401, 503}, sorted(set(statuses))
    # The flood really hashed passwords meanwhile (how many depends on the CPU: a
    # loaded 2-core box manages a few per second).
    assert statuses.count(401) >= 2
    assert len(latencies) >= 5, latencies
    assert max(latencies) < BOUND_S, f"GET /orders took up to {max(latencies):.2f} s"
    assert len(lateness_s) == ORDER_SLICES
    assert max(lateness_s) < BOUND_S, f"slices started up to {max(lateness_s):.2f} s late"
