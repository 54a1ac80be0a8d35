"""`simulate` with every algorithm, and the report's per-slice and per-fill rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.builders import S, book, spec
from twapcore import (
    MarketActivity,
    MarketCounters,
    OrderExecution,
    OrderSpec,
    RecordingWriter,
    Side,
    SkipReason,
    Trade,
    build_report,
    simulate,
)

D = Decimal


def _write(path: Path, seconds: int = 60, trade_qty: str = "0.1") -> None:
    """Ask 101 (0.5) / 103 (5), bid 99; a trade of `trade_qty` every second after the first."""
    with RecordingWriter(path) as writer:
        for i in range(seconds):
            writer.write(book(asks=(("101", "0.5"), ("103", "5")), ts=i * S, version=i + 1))
            if i and trade_qty != "0":
                writer.write(
                    Trade("binance", "BTC-USDT", Side.BUY, D(101), D(trade_qty), i * S, i * S)
                )


def test_report_rows_carry_mid_slippage_and_fills() -> None:
    execution = OrderExecution(spec(quantity="0.4", slices=2, limit="105"), 0)
    execution.step(0, book(asks=(("101", "0.1"), ("102", "2"))))

    report = build_report(execution, D(100), D(100), MarketCounters().totals(0))

    row = report.slices[0]
    assert (row.book_mid, row.average_price, row.slippage_bps) == (D(100), D("101.5"), D(150))
    assert [(f.price, f.qty, f.mid, f.slippage_bps) for f in report.fills] == [
        (D(101), D("0.1"), D(100), D(100)),
        (D(102), D("0.1"), D(100), D(200)),
    ]
    assert report.to_dict()["units"]["fills.slippage_bps"] == "bps (+ = cost)"
    assert report.to_dict()["units"]["implementation_shortfall"] == "USDT (+ = cost)"


def test_selling_below_the_mid_is_a_positive_cost() -> None:
    execution = OrderExecution(spec(side=Side.SELL, quantity="0.2", slices=1, limit="90"), 0)
    execution.step(0, book())

    report = build_report(execution, D(100), D(100), MarketCounters().totals(0))

    assert report.slices[0].slippage_bps == D(100)  # sold at 99 against a mid of 100


def test_each_step_is_told_the_volume_since_the_previous_one(tmp_path: Path) -> None:
    _write(tmp_path / "m.jsonl")
    order = spec(quantity="0.6", duration=60, slices=6)

    report = simulate(tmp_path / "m.jsonl", [order]).reports[0]

    # slice 0 at 0 s sees nothing yet; each later one the ten trades of 0.1 since the last
    assert [row.market_volume for row in report.slices] == [D(0)] + [D("1.0")] * 5


def test_pov_over_a_recording_takes_its_share(tmp_path: Path) -> None:
    _write(tmp_path / "m.jsonl")
    order = spec(quantity="5", duration=60, slices=6, algorithm="pov", participation="0.25")

    report = simulate(tmp_path / "m.jsonl", [order]).reports[0]

    assert report.slices[0].reason == SkipReason.NO_TRADES
    assert [row.filled_qty for row in report.slices[1:]] == [D("0.25")] * 5
    assert report.status == "expired"


def test_pov_without_trades_waits_and_says_so(tmp_path: Path) -> None:
    _write(tmp_path / "m.jsonl", trade_qty="0")
    order = spec(quantity="1", duration=30, slices=3, algorithm="pov", participation="0.5")

    report = simulate(tmp_path / "m.jsonl", [order]).reports[0]

    assert {row.reason for row in report.slices} == {SkipReason.NO_TRADES}
    assert report.filled_qty == 0


def test_vwap_trades_profile_follows_the_recorded_volume(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with RecordingWriter(path) as writer:
        for i in range(40):
            writer.write(book(asks=(("101", "5"),), ts=i * S, version=i + 1))
            qty = D("0.3") if i >= 20 else D("0.1")  # three times the volume in the second half
            writer.write(Trade("binance", "BTC-USDT", Side.BUY, D(101), qty, i * S, i * S))
    order = spec(quantity="0.8", duration=40, slices=2, algorithm="vwap", profile="trades")

    report = simulate(path, [order]).reports[0]

    assert [row.target_qty for row in report.slices] == [D("0.2"), D("0.6")]
    assert report.algorithm == "vwap"
    assert report.algorithm_note is None


def test_vwap_without_trades_falls_back_with_a_note(tmp_path: Path) -> None:
    _write(tmp_path / "m.jsonl", trade_qty="0")
    order = spec(quantity="0.6", duration=60, slices=6, algorithm="vwap", profile="trades")

    report = simulate(tmp_path / "m.jsonl", [order]).reports[0]

    assert [row.target_qty for row in report.slices] == [D("0.1")] * 6
    assert report.algorithm_note is not None
    assert "planned as TWAP" in report.algorithm_note


def test_twap_random_with_a_late_first_slice_runs_to_the_end(tmp_path: Path) -> None:
    _write(tmp_path / "m.jsonl")

    def order(seed: int) -> OrderSpec:
        return spec(
            quantity="0.6", duration=60, slices=6, algorithm="twap_random", seed=seed, jitter="1"
        )

    late = next(seed for seed in range(100) if OrderExecution(order(seed), 0).plan[0].due_ns > 0)
    plan = OrderExecution(order(late), 0).plan

    report = simulate(tmp_path / "m.jsonl", [order(late)]).reports[0]

    assert [row.due_ns for row in report.slices] == [p.due_ns for p in plan]
    assert report.filled_qty == D("0.6")


@pytest.mark.parametrize("independent", [False, True])
def test_independent_orders_do_not_share_displayed_size(tmp_path: Path, independent: bool) -> None:
    _write(tmp_path / "m.jsonl", seconds=2)
    orders = [spec(quantity="0.5", duration=1, slices=1, limit="101")] * 2

    reports = simulate(tmp_path / "m.jsonl", orders, independent=independent).reports

    # one ask of 0.5 at 101: shared, the second order finds it taken; independent, both fill
    assert [r.filled_qty for r in reports] == [D("0.5"), D("0.5") if independent else D(0)]


def test_market_activity_defaults_to_nothing_traded() -> None:
    assert MarketActivity() == MarketActivity(D(0), 0)
