"""`twap simulate --sweep / --plot / --csv` and the report's "no limit", in-process (fast)."""

from __future__ import annotations

import csv
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.core.builders import write_rising_asks
from twapclient.cli import CliError, app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 s of books, the ask rising 0.01 a second (0.5 displayed)."""
    return write_rising_asks(tmp_path_factory.mktemp("rec") / "market.jsonl")


def _run(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(app, ["simulate", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_sweep_runs_every_combination_into_one_table(recording: Path) -> None:
    out, _ = _run(str(recording), "--sweep", "slices=2,3", "--sweep", "duration=30,60")

    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [row.split("│")[1:3] for row in rows] == [
        [f" {n:<6} ", f" {d:<8} "] for n in (2, 3) for d in (30, 60)
    ]
    assert "IS = exec + timing + opport" in out


def test_sweep_json_pairs_parameters_with_reports(recording: Path) -> None:
    out, _ = _run(str(recording), "--sweep", "slices=2,4", "--duration", "20", "--json")

    runs = json.loads(out)
    assert [run["parameters"] for run in runs] == [{"slices": "2"}, {"slices": "4"}]
    assert [run["report"]["slices_total"] for run in runs] == [2, 4]


def test_sweep_of_an_unknown_name_is_refused_by_name(recording: Path) -> None:
    with pytest.raises(CliError, match="'speed=1'"):
        _run(str(recording), "--sweep", "speed=1")


def test_plot_and_csv_write_their_files(recording: Path, tmp_path: Path) -> None:
    png, folder = tmp_path / "out.png", tmp_path / "csv"

    out, err = _run(
        str(recording), "--quantity", "1", "--slices", "4", "--plot", str(png), "--csv", str(folder)
    )

    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 20_000
    assert f"wrote {png}" in err.replace("\n", "")
    with (folder / "fills.csv").open() as handle:
        fills = list(csv.DictReader(handle))
    assert sum(Decimal(row["qty"]) for row in fills) == Decimal(1)
    assert {row["run"] for row in fills} == {"twap"}
    assert "│ limit price" in out and "none" in out.split("│ limit price")[1].split("\n")[0]


def test_sweep_plot_draws_cost_against_the_parameter(recording: Path, tmp_path: Path) -> None:
    png = tmp_path / "sweep.png"

    _run(str(recording), "--sweep", "slices=2,3,4", "--duration", "30", "--plot", str(png))

    assert png.read_bytes()[:8] == PNG_MAGIC


def test_a_given_limit_price_is_shown(recording: Path) -> None:
    out, _ = _run(str(recording), "--quantity", "0.5", "--limit-price", "102")

    assert "none" not in out.split("│ limit price")[1].split("\n")[0]
    assert "102" in out.split("│ limit price")[1].split("\n")[0]


def test_plot_without_matplotlib_is_a_clear_error_before_the_run(
    recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails

    with pytest.raises(CliError, match=r"twapcore\[plot\]"):
        _run(str(recording), "--plot", str(tmp_path / "x.png"))

    assert not (tmp_path / "x.png").exists()


def test_sweep_and_compare_do_not_combine(recording: Path) -> None:
    with pytest.raises(CliError, match="--sweep and --compare"):
        _run(str(recording), "--sweep", "slices=2,3", "--compare", "twap,pov")
