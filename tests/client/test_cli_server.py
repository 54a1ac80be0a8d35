"""The `twap` server commands as a user runs them: real processes against a demo server."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.client.cli_process import TWAP, one_error_line, run_submit, run_twap
from tests.client.demo_server import DemoServer
from tests.server.server_process import free_port

pytestmark = pytest.mark.slow


def test_login_saves_the_session_readable_by_its_owner_only(
    server: DemoServer, tmp_path: Path
) -> None:
    folder = tmp_path / "config"

    login = run_twap(
        "login", server.url, server.username, "--password-stdin",
        config=folder, stdin=server.password + "\n",
    )  # fmt: skip

    saved = folder / "credentials.json"
    assert login.returncode == 0, login.stderr
    assert login.stdout.startswith(f"logged in to {server.url} as alice")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["url"] == server.url


def test_a_wrong_password_exits_2_with_one_line(server: DemoServer, tmp_path: Path) -> None:
    login = run_twap(
        "login", server.url, server.username, "--password-stdin",
        config=tmp_path, stdin="not the password\n",
    )  # fmt: skip

    assert one_error_line(login) == "error: incorrect username or password (HTTP 401)"
    assert not (tmp_path / "credentials.json").exists()


def test_submitted_order_shows_in_orders_json_and_order(config: Path) -> None:
    token_id = f"cli-{time.time_ns()}"

    submitted = run_submit(
        config, token_id, "--quantity", "0.001", "--duration", "4", "--slices", "4"
    )
    listed = run_twap("orders", "--json", config=config)
    detail = run_twap("order", token_id, config=config)
    detail_json = run_twap("order", token_id, "--json", config=config)

    assert submitted.returncode == 0, submitted.stderr
    assert f"accepted {token_id}: buy 0.001 BTC-USDT on binance" in submitted.stdout
    assert "schedule" in submitted.stdout
    assert listed.returncode == 0, listed.stderr
    assert token_id in [order["token_id"] for order in json.loads(listed.stdout)]
    assert detail.returncode == 0, detail.stderr
    assert token_id in detail.stdout and "slices" in detail.stdout
    order = json.loads(detail_json.stdout)
    assert (order["token_id"], order["quantity"], len(order["schedule"])) == (token_id, "0.001", 4)


def test_watch_json_prints_one_line_per_update_until_the_order_ends(config: Path) -> None:
    token_id = f"watch-{time.time_ns()}"
    run_submit(config, token_id, "--quantity", "0.001", "--duration", "4", "--slices", "4")

    watched = run_twap("watch", token_id, "--json", config=config, timeout=30)

    assert watched.returncode == 0, watched.stderr
    assert "polling" not in watched.stderr  # the WebSocket carried the updates
    *updates, final = [json.loads(line) for line in watched.stdout.splitlines()]
    assert (final["status"], Decimal(final["filled_qty"])) == ("completed", Decimal("0.001"))
    assert len(final["fills"]) >= 1  # the last line is the order in full
    assert updates, "no update before the final state"
    assert {u["token_id"] for u in updates} == {token_id}
    assert all(u["status"] == "working" for u in updates)
    filled = [Decimal(u["filled_qty"]) for u in updates]
    assert filled == sorted(filled)
    states = [(Decimal(u["filled_qty"]), u["slices_done"]) for u in updates]
    assert len(set(states)) == len(states)  # each line a new state


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_on_watch_says_the_order_keeps_working_and_exits_130(config: Path) -> None:
    token_id = f"watch-int-{time.time_ns()}"
    run_submit(config, token_id, "--quantity", "0.001", "--duration", "120", "--slices", "4")
    env = {k: v for k, v in os.environ.items() if k != "TWAP_URL"} | {
        "TWAP_CONFIG_DIR": str(config)
    }
    watch = subprocess.Popen(
        [*TWAP, "watch", token_id, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As a terminal starts it: a suite launched in the background (`make test &`)
        # ignores SIGINT, and children inherit an ignored signal.
        preexec_fn=_default_sigint,
    )
    assert watch.stdout is not None
    try:
        ready, _, _ = select.select([watch.stdout], [], [], 30)
        assert ready, "no first update within 30 s"
        first = json.loads(watch.stdout.readline())
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=30)
    finally:
        watch.kill()
    status = run_twap("order", token_id, "--json", config=config)
    run_twap("cancel", token_id, config=config)

    assert first["status"] == "working"
    assert watch.returncode == 130
    assert err == (
        f"stopped watching: {token_id} keeps working on the server; "
        f"cancel it with `twap cancel {token_id}`\n"
    )
    assert out == ""  # no final state was printed: the order had not ended
    assert json.loads(status.stdout)["status"] == "working"


def test_orders_says_so_when_there_are_none(config: Path) -> None:
    listed = run_twap("orders", "--token-id", "never-submitted", config=config)
    listed_json = run_twap("orders", "--token-id", "never-submitted", "--json", config=config)

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "no orders with token_id never-submitted\n"
    assert json.loads(listed_json.stdout) == []


def test_a_rejected_order_exits_2_with_one_line_naming_the_reason(config: Path) -> None:
    rejected = run_submit(
        config, "too-small", "--quantity", "0.0000001", "--duration", "4", "--slices", "4"
    )

    line = one_error_line(rejected)
    assert line.startswith("error: order rejected (below_lot_size): quantity ")
    assert "lot size 0.00001 of binance BTC-USDT" in line


def test_venues_reach_the_server_which_names_the_venue_missing_the_symbol(config: Path) -> None:
    # The demo's Kraken recording has no BTC-USDT: the server must have seen both venues.
    rejected = run_twap(
        "submit", "--token-id", "xv-cli", "--venues", "binance,KRAKEN", "--symbol", "BTC-USDT",
        "--side", "buy", "--limit-price", "1000000", "--quantity", "0.001", "--duration", "4",
        config=config,
    )  # fmt: skip

    line = one_error_line(rejected)
    assert line.startswith("error: order rejected (unknown_symbol): ")
    assert "kraken" in line


def test_book_count_stops_after_that_many_updates(config: Path) -> None:
    book = run_twap("book", "binance", "btc-usdt", "--count", "2", "--json", config=config)

    assert book.returncode == 0, book.stderr
    messages = [json.loads(line) for line in book.stdout.splitlines()]
    assert [(m["type"], m["symbol"]) for m in messages] == [("book", "BTC-USDT")] * 2
    assert Decimal(messages[0]["bids"][0][0]) < Decimal(messages[0]["asks"][0][0])


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (
            ("exchanges", "--json"),
            lambda out: (
                out[0] == {"name": "binance", "symbols": ["BTC-USDT"]}
                and [e["name"] for e in out] == ["binance", "kraken"]
            ),
        ),
        (("symbols", "binance", "--json"), lambda out: out[0]["lot_size"] == "0.00001"),
        (("health", "--json"), lambda out: out["feeds"][0]["exchange"] == "binance"),
    ],
)
def test_public_market_data_commands_print_json(
    config: Path, args: tuple[str, ...], check: Callable[[Any], bool]
) -> None:
    result = run_twap(*args, config=config)

    assert result.returncode == 0, result.stderr
    assert check(json.loads(result.stdout))


def test_klines_print_a_table_of_candles(config: Path) -> None:
    result = run_twap("klines", "binance", "BTC-USDT", "--limit", "3", config=config)

    assert result.returncode == 0, result.stderr
    assert "binance BTC-USDT 1m" in result.stdout
    assert "partial" in result.stdout  # candles whose trades may be missing say so


def test_logout_forgets_the_session(config: Path, server: DemoServer) -> None:
    logout = run_twap("logout", config=config)
    orders = run_twap("orders", config=config)

    assert logout.stdout == f"logged out of {server.url} (alice)\n"
    assert not (config / "credentials.json").exists()
    assert one_error_line(orders).startswith("error: not logged in: run `twap login URL USERNAME`")


def test_an_unreachable_server_exits_2_with_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = run_twap("exchanges", "--url", url, config=tmp_path)

    assert one_error_line(result).startswith(f"error: cannot reach the twap server at {url}: ")


def test_a_damaged_credentials_file_exits_2_asking_to_log_in_again(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text("{not json")

    result = run_twap("orders", config=tmp_path)

    line = one_error_line(result)
    assert line.startswith(f"error: credentials file {tmp_path / 'credentials.json'} is damaged")
    assert line.endswith("log in again with `twap login URL USERNAME`")


ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def test_tables_show_iso_times_and_tick_and_lot_precision(config: Path) -> None:
    token_id = f"cli-format-{time.time_ns()}"
    symbols = json.loads(run_twap("symbols", "binance", "--json", config=config).stdout)
    btc = next(s for s in symbols if s["symbol"] == "BTC-USDT")
    lot_places = len(btc["lot_size"].partition(".")[2])
    tick_places = len(btc["tick_size"].partition(".")[2])

    submitted = run_submit(
        config, token_id, "--quantity", "0.001", "--duration", "60", "--slices", "2"
    )
    orders = run_twap("orders", "--token-id", token_id, config=config)
    klines = run_twap("klines", "binance", "BTC-USDT", "--limit", "2", config=config)
    order_json = run_twap("order", token_id, "--json", config=config)
    run_twap("cancel", token_id, config=config)

    assert submitted.returncode == 0, submitted.stderr
    schedule_rows = [line for line in submitted.stdout.splitlines() if re.search(ISO_UTC, line)]
    assert len(schedule_rows) == 2  # due times as ISO-8601 UTC
    assert all(f" {Decimal('0.0005'):.{lot_places}f} " in row for row in schedule_rows)
    row = next(line for line in orders.stdout.splitlines() if token_id in line)
    assert re.search(ISO_UTC, row)  # created
    assert f"{Decimal('1000000'):.{tick_places}f}" in row  # limit, in the tick's decimals
    assert f"/ {Decimal('0.001'):.{lot_places}f}" in row  # quantity, in the lot's decimals
    kline_rows = [line for line in klines.stdout.splitlines() if re.search(ISO_UTC, line)]
    assert kline_rows, klines.stdout
    prices = re.findall(r"\d+\.\d+", kline_rows[-1].split("Z", 1)[1])
    assert prices and all(len(p.partition(".")[2]) >= tick_places for p in prices[:4])
    body = json.loads(order_json.stdout)
    assert "E" not in body["remaining_qty"] and body["quantity"] == "0.001"
