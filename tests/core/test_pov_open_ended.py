"""pov without an end time: `duration_s` left out, a step every `interval_s` until filled."""

from __future__ import annotations

import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.builders import S, book
from twapcore import (
    InvalidOrder,
    MarketActivity,
    OrderExecution,
    OrderSpec,
    OrderStatus,
    RecordingWriter,
    Side,
    SkipReason,
    Trade,
    simulate,
)
from twapcore.schedule import NO_END_NS

D = Decimal


def _open_pov(quantity: str = "1", **extra: object) -> OrderSpec:
    values: dict[str, object] = {
        "participation": D("0.25"),
        "interval_s": D(10),
        "lot_size": D("0.001"),
        **extra,
    }
    return OrderSpec(
        "binance", "BTC-USDT", Side.BUY, D(quantity), D(1000), algorithm="pov", **values
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("algorithm", "params"),
    [("twap", {}), ("twap_random", {"seed": 1, "jitter": D("0.1")}), ("vwap", {})],
)
def test_every_other_algorithm_still_needs_duration_s(
    algorithm: str, params: dict[str, object]
) -> None:
    with pytest.raises(InvalidOrder, match="duration_s is required for " + algorithm) as raised:
        OrderSpec(
            "binance", "BTC-USDT", Side.BUY, D(1), D(1000), slices=5, algorithm=algorithm, **params
        )  # type: ignore[arg-type]

    assert raised.value.reason == "invalid_duration"


def test_open_ended_pov_needs_interval_s() -> None:
    with pytest.raises(InvalidOrder, match="needs interval_s") as raised:
        _open_pov(interval_s=None)

    assert raised.value.reason == "invalid_slices"


def test_open_ended_pov_refuses_slices_naming_duration_s() -> None:
    with pytest.raises(InvalidOrder, match="slices 5 needs duration_s"):
        _open_pov(interval_s=None, slices=5)


def test_open_ended_pov_steps_every_interval_without_a_list_of_steps() -> None:
    tracemalloc.start()
    execution = OrderExecution(_open_pov(), 7 * S)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert [(p.index, p.due_ns, p.qty) for p in execution.plan[:3]] == [
        (0, 7 * S, D(0)),
        (1, 17 * S, D(0)),
        (2, 27 * S, D(0)),
    ]
    assert len(execution.plan) == (NO_END_NS - 7 * S) // (10 * S)  # steps to the end of time
    assert execution.end_ns == NO_END_NS
    assert peak < 200_000  # bytes: nothing as long as the plan is materialized


def test_open_ended_pov_completes_once_filled_and_its_plan_is_the_steps_taken() -> None:
    execution = OrderExecution(_open_pov(quantity="0.5"), 0)

    execution.step(0, book(ts=0), market=MarketActivity(D(1), 1))  # 0.25 of 1
    execution.step(10 * S, book(ts=10 * S, version=2), market=MarketActivity(D(1), 1))

    assert execution.status is OrderStatus.COMPLETED
    assert execution.filled_qty == D("0.5")
    assert [p.index for p in execution.plan] == [0, 1]
    assert execution.ended_ns == 10 * S


def test_cancelling_an_open_ended_pov_ends_its_plan_where_it_stopped() -> None:
    execution = OrderExecution(_open_pov(), 0)
    execution.step(0, book(ts=0), market=MarketActivity(D(0), 0))

    execution.cancel(5 * S)
    restored = OrderExecution.from_state(execution.to_state())

    assert len(execution.plan) == len(restored.plan) == 1
    assert restored.status is OrderStatus.CANCELLED and restored.ended_ns == 5 * S


def test_open_ended_spec_round_trips_without_duration() -> None:
    spec = _open_pov()

    data = spec.to_dict()

    assert data["duration_s"] is None
    assert OrderSpec.from_dict(data) == spec


def _write(path: Path, seconds: int, trade_qty: str = "0.1") -> None:
    """Ask 101 (5) / 103 (5) every second; a trade of `trade_qty` every second after the first."""
    with RecordingWriter(path) as writer:
        for i in range(seconds):
            writer.write(book(asks=(("101", "5"), ("103", "5")), ts=i * S, version=i + 1))
            if i:
                writer.write(
                    Trade("binance", "BTC-USDT", Side.BUY, D(101), D(trade_qty), i * S, i * S)
                )


def test_offline_open_ended_pov_fills_and_completes(tmp_path: Path) -> None:
    _write(tmp_path / "m.jsonl", seconds=120, trade_qty="1")

    report = simulate(tmp_path / "m.jsonl", [_open_pov(quantity="5")]).reports[0]

    assert report.status == "completed"
    assert report.filled_qty == D(5)
    assert report.filled_qty <= D("0.25") * report.market_volume
    assert report.slices_total == report.slices_done == len(report.schedule)


def test_offline_open_ended_pov_expires_at_the_recording_end_without_a_row_per_step(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "m.jsonl", seconds=60)

    report = simulate(tmp_path / "m.jsonl", [_open_pov(quantity="100")]).reports[0]

    assert report.status == "expired"
    assert report.end_ns == 59 * S  # the recording's last message
    assert report.slices_done == report.slices_total == 6  # steps at 0, 10, …, 50 s
    assert SkipReason.END_OF_RECORDING.value not in {row.reason for row in report.slices}
    assert report.filled_qty == D("0.25") * D("5.0")  # its share of the trades up to 50 s


def test_a_bounded_pov_still_records_end_of_recording_for_each_missed_step(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "m.jsonl", seconds=30)

    spec = _open_pov(quantity="100", duration_s=D(60))
    report = simulate(tmp_path / "m.jsonl", [spec]).reports[0]

    reasons = [row.reason for row in report.slices]
    assert reasons[-3:] == [SkipReason.END_OF_RECORDING.value] * 3  # 30, 40, 50 s
    assert report.slices_total == 6
