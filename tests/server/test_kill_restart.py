"""kill -9 in the middle of an order, restart on the same database: the order resumes intact."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.server_process import start_twapserver, stop_twapserver

SECRET = "kill-test-secret-0123456789-0123456789"
PASSWORD = "correct horse battery"


def _poll(url: str, headers: dict[str, str], done: Any, timeout_s: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = httpx.get(url, headers=headers, timeout=5).json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout_s} s; last body: {body}")
        time.sleep(0.05)


def _login(base: str) -> dict[str, str]:
    token = httpx.post(base + "/auth/token", data={"username": "alice", "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.mark.slow
def test_order_survives_kill_9_without_duplicate_or_lost_fills(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"
    subprocess.run(
        [sys.executable, "-c", "from twapserver.cli import main; main()", "users", "add", "alice",
         "--password-stdin", "--database-url", database],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    args = ("--demo", "--database-url", database)
    env = {"TWAP_JWT_SECRET": SECRET}
    order = {
        "token_id": "survivor", "exchange": "binance", "symbol": "BTC-USDT", "side": "buy",
        "quantity": "0.01", "limit_price": "70000", "duration_s": 20, "slices": 10,
    }  # fmt: skip

    process, base = start_twapserver(*args, cwd=tmp_path, env=env)
    try:
        auth = _login(base)
        assert httpx.post(base + "/orders/twap", json=order, headers=auth).status_code == 201
        before = _poll(base + "/orders/survivor", auth, lambda b: b["slices_done"] >= 3)
        process.kill()  # SIGKILL: no shutdown hooks run
        process.wait()
    finally:
        if process.poll() is None:
            stop_twapserver(process)

    process, base = start_twapserver(*args, cwd=tmp_path, env=env)
    try:
        auth = _login(base)
        after = _poll(
            base + "/orders/survivor", auth, lambda b: b["status"] in ("completed", "expired")
        )
    finally:
        stop_twapserver(process)

    indexes = [s["index"] for s in after["slices"]]
    assert indexes == list(range(10))
    assert Decimal(after["filled_qty"]) <= Decimal("0.01")
    assert sum(Decimal(f["qty"]) for f in after["fills"]) == Decimal(after["filled_qty"])
    kept = {(f["slice_index"], f["price"], f["qty"], f["ts_ns"]) for f in after["fills"]}
    assert {(f["slice_index"], f["price"], f["qty"], f["ts_ns"]) for f in before["fills"]} <= kept
    assert after["slices"][: before["slices_done"]] == before["slices"]
