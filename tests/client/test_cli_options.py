"""`twap submit` and `twap simulate` share one definition of each order flag."""

from __future__ import annotations

import itertools
import json
import subprocess
from decimal import Decimal
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption

from tests.client.cli_process import TWAP
from twapclient.cli import app

SHARED = (
    "exchange", "venues", "symbol", "side", "quantity", "limit_price", "duration", "slices",
    "interval", "fill_model", "catch_up_cap", "algorithm", "participation", "min_slice_qty",
    "max_slice_qty", "seed", "jitter",
)  # fmt: skip


def _options(command: str) -> dict[str, Any]:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    found = group.commands[command]
    return {p.name: p for p in found.params if isinstance(p, TyperOption) and p.name}


def test_the_shared_flags_have_one_spelling_and_help_in_both_commands() -> None:
    submit, simulate = _options("submit"), _options("simulate")

    for name in SHARED:
        assert submit[name].opts == simulate[name].opts, name
        assert submit[name].help == simulate[name].help, name


def test_only_simulate_has_defaults_for_what_the_order_trades() -> None:
    submit, simulate = _options("submit"), _options("simulate")

    assert [n for n in ("symbol", "side", "quantity", "limit_price") if submit[n].required] == [
        "symbol",
        "side",
        "quantity",
        "limit_price",
    ]
    assert not any(simulate[n].required for n in SHARED)
    assert not submit["duration"].required  # pov may run until filled


def _simulate(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [*TWAP, "simulate", "--demo", "--algorithm", "pov", "--participation", "0.1", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_simulate_pov_without_duration_steps_every_interval_until_the_recording_ends() -> None:
    report = _simulate("--quantity", "1000", "--interval", "5", "--json")

    assert report["status"] == "expired"
    assert report["slices_done"] == report["slices_total"]
    slices = report["slices"]
    assert isinstance(slices, list)
    assert "end_of_recording" not in {row["reason"] for row in slices}
    dues = [row["due_ns"] for row in slices]
    assert {b - a for a, b in itertools.pairwise(dues)} == {5_000_000_000}


def test_simulate_pov_without_duration_completes_once_filled() -> None:
    report = _simulate("--quantity", "0.01", "--interval", "1", "--json")

    assert report["status"] == "completed"
    assert Decimal(str(report["filled_qty"])) == Decimal("0.01")


def test_simulate_pov_without_duration_or_interval_keeps_its_60_s_default() -> None:
    report = _simulate("--quantity", "1000", "--json")

    assert report["slices_total"] == 10
    assert int(str(report["end_ns"])) - int(str(report["start_ns"])) <= 60_000_000_000
