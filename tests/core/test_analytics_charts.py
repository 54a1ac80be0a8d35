"""Charts, CSV and DataFrames of reports: what they show, checked from the objects drawn."""

from __future__ import annotations

import csv
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.builders import S, book, spec
from twapcore import RecordingWriter, Side, Trade, simulate
from twapcore.analytics import ExecutionReport
from twapcore.export import write_csv
from twapcore.plot import market_series, plot_report, plot_sweep

D = Decimal
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s: a book every second (ask 101+i/100 x 0.05, then 110 x 5; bid 99), a trade every 2 s."""
    path = tmp_path_factory.mktemp("rec") / "m.jsonl"
    with RecordingWriter(path) as writer:
        for i in range(60):
            ask = str(D(101) + D(i) / 100)
            writer.write(book(asks=((ask, "0.05"), ("110", "5")), ts=i * S, version=i + 1))
            if i % 2:
                writer.write(Trade("binance", "BTC-USDT", Side.BUY, D(ask), D("0.5"), i * S, i * S))
    return path


@pytest.fixture(scope="module")
def report(recording: Path) -> ExecutionReport:
    # 6 slices of 0.1 with only 0.05 at the best ask: each fill pair is 0.05 + 0.05 (at 110)
    return simulate(recording, [spec(quantity="0.6", duration=60, slices=6, limit="120")]).reports[
        0
    ]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_chart_shows_mid_vwap_fills_limit_and_progress(
    recording: Path, report: ExecutionReport, tmp_path: Path
) -> None:
    market = market_series(recording, "binance", "BTC-USDT", report.start_ns, report.end_ns)
    path = tmp_path / "chart.png"

    fig = plot_report(report, path, market=market)

    price_ax, qty_ax = fig.axes
    labels = [line.get_label() for line in price_ax.lines]
    assert labels == ["market mid", "market VWAP since start", "limit"]
    (fills,) = price_ax.collections  # one scatter: the fills
    offsets = fills.get_offsets()
    assert len(offsets) == len(report.fills) == 12
    assert [y for _, y in offsets] == [float(f.price) for f in report.fills]
    assert price_ax.lines[2].get_ydata()[0] == 120.0  # the limit price
    assert [line.get_label() for line in qty_ax.lines][:2] == ["filled", "planned"]
    filled = qty_ax.lines[0].get_ydata()
    assert filled[-1] == pytest.approx(float(report.filled_qty))
    planned = qty_ax.lines[1].get_ydata()
    assert planned[-1] == pytest.approx(0.6)
    assert _png_size(path) == (1000, 650)
    assert path.stat().st_size > 20_000  # a drawn chart, not an empty canvas


def test_chart_without_market_series_uses_the_slices_mids_and_the_interval_vwap(
    report: ExecutionReport,
) -> None:
    fig = plot_report(report)  # what the server draws: no mid history

    price_ax, _ = fig.axes
    assert [line.get_label() for line in price_ax.lines] == ["mid of the books traded", "limit"]
    assert len(price_ax.collections) == 2  # the fills, and the VWAP line (hlines)
    assert len(price_ax.lines[0].get_xdata()) == len(report.slices)


def test_sweep_chart_has_one_line_per_value_of_the_second_parameter(
    recording: Path, tmp_path: Path
) -> None:
    grid = [(slices, duration) for slices in (2, 3, 6) for duration in (30, 60)]
    specs = [spec(quantity="0.6", duration=d, slices=n, limit="120") for n, d in grid]
    reports = simulate(recording, specs, independent=True).reports
    runs = [
        ({"slices": str(n), "duration": str(d)}, r) for (n, d), r in zip(grid, reports, strict=True)
    ]

    fig = plot_sweep(runs, tmp_path / "sweep.png")

    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["duration=30", "duration=60"]
    assert list(ax.lines[0].get_xdata()) == [2.0, 3.0, 6.0]
    expected = [
        float(r.implementation_shortfall_bps or 0)
        for (n, d), r in zip(grid, reports, strict=True)
        if d == 30
    ]
    assert list(ax.lines[0].get_ydata()) == expected
    assert _png_size(tmp_path / "sweep.png") == (800, 500)


def test_csv_files_hold_every_fill_and_slice_with_exact_decimals(
    report: ExecutionReport, tmp_path: Path
) -> None:
    written = write_csv({"twap": report}, tmp_path / "out")

    assert [p.name for p in written] == ["fills.csv", "slices.csv", "venues.csv", "summary.csv"]
    with (tmp_path / "out" / "fills.csv").open() as handle:
        fills = list(csv.DictReader(handle))
    assert [(D(r["price"]), D(r["qty"])) for r in fills] == [(f.price, f.qty) for f in report.fills]
    assert fills[0]["run"] == "twap"
    assert fills[0]["ts_utc"] == "1970-01-01T00:00:00.000Z"
    with (tmp_path / "out" / "summary.csv").open() as handle:
        (summary,) = list(csv.DictReader(handle))
    assert D(summary["implementation_shortfall"]) == report.implementation_shortfall
    assert summary["markouts_note"] == (report.markouts_note or "")


def test_to_pandas_gives_frames_with_datetime_columns(report: ExecutionReport) -> None:
    frames = report.to_pandas()

    assert len(frames.fills) == len(report.fills)
    assert str(frames.fills["ts"].dtype) == "datetime64[ns, UTC]"
    assert list(frames.fills["price"]) == [f.price for f in report.fills]  # exact Decimals
    assert str(frames.slices["due"].dtype) == "datetime64[ns, UTC]"
    assert frames.summary.loc[0, "timing_cost"] == report.timing_cost
    assert list(frames.venues["venue"]) == ["binance"]


def test_plot_and_export_modules_import_matplotlib_and_pandas_only_when_used() -> None:
    code = (
        "import sys, twapcore, twapcore.plot, twapcore.export, twapcore.analytics; "
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = {name.split(".")[0] for name in out.stdout.split()}

    assert loaded.isdisjoint({"matplotlib", "pandas", "numpy"})
