"""`submit(algorithm=…)` on both SDK clients and `twap submit --algorithm …` / `twap order`."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from tests.client.cli_process import one_error_line, run_submit, run_twap
from tests.client.test_sdk import FakeApi, _order, _tokens
from twapcore import Side

_ACCEPTED = {
    "status": "accepted",
    "token_id": "p1",
    "order": {**_order("p1", "accepted"), "algorithm": "pov"},
    "schedule": [{"index": 0, "due_ns": 1, "qty": "0"}],
}


def test_submit_posts_the_algorithm_and_its_parameters_to_orders() -> None:
    api = FakeApi(lambda request: httpx.Response(201, json=_ACCEPTED))

    result = api.client(tokens=_tokens()).submit(
        "p1", "binance", "BTC-USDT", Side.BUY, Decimal("0.50"), "70000", 60,
        algorithm="pov", slices=6, participation=Decimal("0.10"), max_slice_qty="0.2",
        min_slice_qty=None,
    )  # fmt: skip

    assert api.seen[0][:2] == ("POST", "/orders")
    assert orjson.loads(api.bodies[0]) == {
        "token_id": "p1", "exchange": "binance", "symbol": "BTC-USDT", "side": "buy",
        "quantity": "0.50", "limit_price": "70000", "duration_s": "60", "algorithm": "pov",
        "slices": 6, "participation": "0.10", "max_slice_qty": "0.2",
    }  # fmt: skip
    assert result.order.algorithm == "pov"


async def test_the_async_client_submits_the_same_body() -> None:
    api = FakeApi(lambda request: httpx.Response(201, json=_ACCEPTED))
    async with api.async_client(tokens=_tokens()) as client:
        await client.submit(
            "p1", "binance", "BTC-USDT", "buy", "1", "70000", 60,
            algorithm="twap_random", slices=6, seed=3, jitter="0.5",
        )  # fmt: skip
        await client.submit_twap("t1", "binance", "BTC-USDT", "buy", "1", "70000", 60, slices=6)

    (random_body, twap_body) = [orjson.loads(body) for body in api.bodies]
    assert (random_body["algorithm"], random_body["seed"], random_body["jitter"]) == (
        "twap_random",
        3,
        "0.5",
    )
    assert [path for _, path, _, _ in api.seen] == ["/orders", "/orders/twap"]
    assert "algorithm" not in twap_body


@pytest.mark.slow
def test_cli_submits_a_pov_order_and_order_shows_its_algorithm(config: Path) -> None:
    token_id = f"pov-{time.time_ns()}"

    submitted = run_submit(
        config, token_id, "--quantity", "0.001", "--duration", "4", "--slices", "4",
        "--algorithm", "pov", "--participation", "0.1", "--max-slice-qty", "0.0005",
    )  # fmt: skip
    detail = run_twap("order", token_id, config=config)
    detail_json = json.loads(run_twap("order", token_id, "--json", config=config).stdout)

    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.startswith(f"accepted {token_id}: buy 0.001 BTC-USDT")
    assert "4 slices, pov" in submitted.stdout
    assert detail.returncode == 0, detail.stderr
    assert "pov: participation 0.1, max_slice_qty 0.0005" in detail.stdout
    assert (detail_json["algorithm"], detail_json["parameters"]) == (
        "pov",
        {"participation": "0.1", "max_slice_qty": "0.0005"},
    )


@pytest.mark.slow
def test_cli_a_parameter_of_another_algorithm_exits_2_naming_it(config: Path) -> None:
    rejected = run_submit(
        config, "wrong-param", "--quantity", "0.001", "--duration", "4", "--slices", "4",
        "--algorithm", "twap", "--jitter", "0.5",
    )  # fmt: skip

    line = one_error_line(rejected)
    assert line.startswith("error: order rejected (invalid_jitter): jitter applies to twap_random")


def test_submit_without_duration_leaves_it_out_of_the_body() -> None:
    api = FakeApi(lambda request: httpx.Response(201, json=_ACCEPTED))

    api.client(tokens=_tokens()).submit(
        "p1", "binance", "BTC-USDT", "buy", "0.5", "70000",
        algorithm="pov", interval_s=5, participation="0.1",
    )  # fmt: skip

    body = orjson.loads(api.bodies[0])
    assert "duration_s" not in body
    assert (body["interval_s"], body["algorithm"]) == (5, "pov")


@pytest.mark.slow
def test_cli_submits_a_pov_order_without_an_end_time(config: Path) -> None:
    token_id = f"pov-open-{time.time_ns()}"

    submitted = run_submit(
        config, token_id, "--quantity", "0.001", "--interval", "1",
        "--algorithm", "pov", "--participation", "0.1", "--json",
    )  # fmt: skip

    assert submitted.returncode == 0, submitted.stderr
    order = json.loads(submitted.stdout)["order"]
    assert (order["algorithm"], order["slices_total"]) == ("pov", 1000)  # the server's cap


@pytest.mark.slow
def test_cli_a_twap_order_without_duration_exits_2_naming_it(config: Path) -> None:
    rejected = run_submit(config, "no-end", "--quantity", "0.001", "--slices", "4")

    line = one_error_line(rejected)
    assert "duration_s is required for twap orders" in line
