"""Hand-computed cases of each algorithm's plan and targets, with exact Decimals."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from tests.core.builders import S, book, spec
from twapcore import (
    MarketActivity,
    OrderExecution,
    OrderSpec,
    OrderStatus,
    SkipReason,
    load_profile,
    plan_twap,
    profile_from_trades,
)
from twapcore.algorithms import allocate_lots

D = Decimal


def _pov(**extra: object) -> OrderExecution:
    # quantity 1 in lots of 0.001, steps at 0, 10, 20, 30 s
    return OrderExecution(
        spec(quantity="1", duration=40, slices=4, algorithm="pov", participation="0.2", **extra),
        0,
    )


def _deep_book(ts: int) -> object:
    return book(asks=(("101", "5"),), ts=ts, version=ts)


def _run_pov(execution: OrderExecution, volumes: list[str]) -> list[tuple[Decimal, str | None]]:
    out = []
    for volume in volumes:
        due = execution.next_due_ns
        assert due is not None
        result = execution.step(due, _deep_book(due), None, MarketActivity(D(volume), 1))  # type: ignore[arg-type]
        out.append((result.filled_qty, result.reason))
    return out


def test_pov_waits_without_trades_then_takes_its_share_with_carry_over() -> None:
    execution = _pov()

    steps = _run_pov(execution, ["0", "2", "1.3", "10"])

    # 0.2 of 0 | of 2 = 0.4 | of 3.3 = 0.66 - 0.4 = 0.26 | of 13.3 = 2.66 - 0.66, capped at 0.4 left
    assert steps == [
        (D(0), SkipReason.NO_TRADES),
        (D("0.4"), None),
        (D("0.26"), None),
        (D("0.34"), None),
    ]
    assert execution.status is OrderStatus.COMPLETED


def test_pov_caps_each_step_at_max_slice_qty_and_expires() -> None:
    execution = _pov(max_slice_qty="0.3")

    steps = _run_pov(execution, ["0", "2", "1.3", "10"])

    assert [qty for qty, _ in steps] == [D(0), D("0.3"), D("0.3"), D("0.3")]
    assert execution.status is OrderStatus.EXPIRED
    assert execution.filled_qty == D("0.9")


def test_pov_waits_below_min_slice_qty() -> None:
    execution = _pov(min_slice_qty="0.5")

    steps = _run_pov(execution, ["0", "2", "1.3", "10"])

    assert steps[1:3] == [(D(0), SkipReason.BELOW_MIN_SLICE), (D("0.66"), None)]
    assert steps[3] == (D("0.34"), None)  # under the minimum but all that remains


def test_pov_completes_as_soon_as_it_is_filled() -> None:
    execution = _pov()

    _run_pov(execution, ["0", "100"])

    assert execution.status is OrderStatus.COMPLETED
    assert execution.next_due_ns is None
    assert len(execution.results) == 2


def test_twap_random_plan_is_seeded_and_sums_exactly() -> None:
    def plan(seed: int) -> tuple[object, ...]:
        order = spec(quantity="12.345", slices=9, algorithm="twap_random", seed=seed, jitter="0.3")
        return OrderExecution(order, 0).plan

    first, again, other = plan(7), plan(7), plan(8)

    assert first == again
    assert first != other
    assert sum((s.qty for s in first), D(0)) == D("12.345")  # type: ignore[attr-defined]


def test_twap_random_stays_within_its_jitter() -> None:
    order = spec(quantity="12.345", slices=9, algorithm="twap_random", seed=3, jitter="0.3")
    base = plan_twap(D("12.345"), 0, 60, slices=9, lot_size=D("0.001"))
    interval = 60 * S // 9

    jittered = OrderExecution(order, 0).plan

    for planned, nominal in zip(jittered, base, strict=True):
        assert abs(planned.due_ns - nominal.due_ns) <= D("0.3") * interval
        assert abs(planned.qty - nominal.qty) <= D("0.3") * nominal.qty
        assert planned.qty % D("0.001") == 0
        assert 0 <= planned.due_ns < 60 * S


def test_twap_random_without_jitter_is_twap() -> None:
    order = spec(quantity="1", slices=6, algorithm="twap_random", seed=1, jitter="0")

    assert OrderExecution(order, 5).plan == OrderExecution(spec(quantity="1", slices=6), 5).plan


def test_allocate_lots_gives_ties_to_the_earlier_slice() -> None:
    assert allocate_lots(10, [Fraction(1), Fraction(3)]) == [3, 7]
    assert allocate_lots(7, [Fraction(1)] * 3) == [3, 2, 2]


def test_vwap_resamples_the_profile_onto_the_slices() -> None:
    # two buckets [1, 3] over four slices -> weights 1:1:3:3 of 16 lots
    order = spec(quantity="1.6", slices=4, algorithm="vwap", profile_weights=(D(1), D(3)))

    execution = OrderExecution(order, 0)

    assert [s.qty for s in execution.plan] == [D("0.2"), D("0.2"), D("0.6"), D("0.6")]
    assert execution.algorithm_note is None


def test_vwap_without_history_falls_back_to_twap_and_says_so() -> None:
    order = spec(quantity="1.2", slices=4, algorithm="vwap", profile="trades")

    execution = OrderExecution(order, 0)

    assert [s.qty for s in execution.plan] == [D("0.3")] * 4
    assert execution.algorithm_note is not None
    assert "no volume history" in execution.algorithm_note
    assert "planned as TWAP" in execution.algorithm_note


def test_vwap_waits_on_a_slice_planned_at_zero() -> None:
    order = spec(quantity="1", slices=2, algorithm="vwap", profile_weights=(D(0), D(1)))
    execution = OrderExecution(order, 0)

    result = execution.step(0, book())

    assert (result.target_qty, result.reason) == (D(0), SkipReason.NOTHING_DUE)


def test_profile_from_trades_buckets_the_window() -> None:
    times = [0, 5 * S, 20 * S, 25 * S, 30 * S]
    volumes = [D("1"), D("2"), D("4"), D("8"), D("16")]

    profile = profile_from_trades(times, volumes, 5 * S, 25 * S, 2)

    assert profile == (D("2"), D("4"))  # [5, 15) and [15, 25); 25 s is past the end


def test_load_profile_reads_exact_weights(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text('{"weights": [0.1, "2", 3]}')

    assert load_profile(path) == (D("0.1"), D(2), D(3))


def test_load_profile_refuses_a_non_list(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text('{"weights": "flat"}')

    with pytest.raises(ValueError, match="non-empty list of weights"):
        load_profile(path)


def test_a_twap_random_slice_jittered_to_zero_waits_with_a_reason() -> None:
    def order(seed: int) -> OrderSpec:
        return spec(quantity="0.004", slices=4, algorithm="twap_random", seed=seed, jitter="1")

    seed = next(s for s in range(200) if OrderExecution(order(s), 0).plan[0].qty == 0)
    execution = OrderExecution(order(seed), 0)

    result = execution.step(execution.plan[0].due_ns, book(ts=execution.plan[0].due_ns))

    assert (result.target_qty, result.reason) == (D(0), SkipReason.NOTHING_DUE)
