"""`twap simulate` as a user runs it: a real process, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.client.cli_process import TWAP
from tests.core.builders import write_rising_asks


def _twap(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TWAP, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rising_asks(tmp_path_factory.mktemp("rec") / "market.jsonl.gz")


def test_json_report_is_byte_identical_across_runs(recording: Path) -> None:
    args = ("simulate", str(recording), "--quantity", "1", "--limit-price", "102", "--json")

    first, second = _twap(*args), _twap(*args)

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["status"] == "completed"


def test_table_report_shows_status_and_slices(recording: Path) -> None:
    result = _twap("simulate", str(recording), "--quantity", "1", "--slices", "4")

    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout
    assert "slices" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--quantity", "-2"), "quantity -2 must be greater than 0"),
        (("--quantity", "abc"), "--quantity 'abc' is not a decimal number"),
        (("--symbol", "ETH-USDT"), "no book for binance ETH-USDT"),
        (("--quantity", "NaN"), "--quantity 'NaN' must be a finite number"),
        (("--participation", "0.1"), "participation applies to pov orders, not twap"),
        (("--algorithm", "pov"), "pov needs participation in (0, 1]"),
        (("--algorithm", "twap_random", "--jitter", "0.2"), "twap_random needs seed"),
        (("--algorithm", "iceberg"), "algorithm 'iceberg' is not one of"),
        (("--compare", "twap"), "--compare 'twap' needs two or more different algorithms"),
        (("--algorithm", "vwap", "--profile", "missing.json"), "profile 'missing.json' cannot"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(
    recording: Path, args: tuple[str, ...], message: str
) -> None:
    result = _twap("simulate", str(recording), *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_recording_is_named(tmp_path: Path) -> None:
    result = _twap("simulate", str(tmp_path / "nope.jsonl"))

    assert result.returncode == 2
    assert "nope.jsonl' does not exist" in result.stderr


def test_pov_json_lists_its_fills_and_keeps_to_its_share() -> None:
    result = _twap("simulate", "--demo", "--algorithm", "pov", "--participation", "0.1", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["algorithm"] == "pov"
    assert sum(Decimal(f["qty"]) for f in report["fills"]) == Decimal(report["filled_qty"])
    assert Decimal(report["filled_qty"]) <= Decimal("0.1") * Decimal(report["market_volume"])
    assert {"ts_ns", "price", "qty", "slice_index"} <= set(report["fills"][0])
    assert {"book_mid", "slippage_bps"} <= set(report["slices"][0])


def test_twap_random_is_reproducible_by_seed() -> None:
    def run(seed: str) -> str:
        args = ("--algorithm", "twap_random", "--seed", seed, "--jitter", "0.3", "--json")
        result = _twap("simulate", "--demo", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    first, again, other = run("7"), run("7"), run("8")

    assert first == again
    assert json.loads(first)["slices"] != json.loads(other)["slices"]


def test_compare_runs_each_algorithm_on_the_same_books() -> None:
    args = ("--compare", "twap,vwap,pov", "--participation", "0.1")

    table = _twap("simulate", "--demo", *args)
    as_json = _twap("simulate", "--demo", *args, "--json")
    alone = _twap("simulate", "--demo", "--json")

    assert table.returncode == 0, table.stderr
    assert all(name in table.stdout for name in ("twap", "vwap", "pov", "average price"))
    reports = json.loads(as_json.stdout)
    assert [r["algorithm"] for r in reports] == ["twap", "vwap", "pov"]
    assert reports[0] == json.loads(alone.stdout)  # each trades as if alone
