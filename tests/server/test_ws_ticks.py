"""Book ticks fall on the wall clock's grid, so every API process ticks at the same instants."""

from __future__ import annotations

import pytest

from twapserver.ws.broadcast import tick_delay_s


@pytest.mark.parametrize(
    ("now_s", "interval_s", "tick_at"),
    [
        (1_700_000_000.25, 1.0, 1_700_000_001.0),
        (1_700_000_000.999, 1.0, 1_700_000_001.0),
        (1_700_000_000.0, 1.0, 1_700_000_001.0),  # on a tick: the next one, never 0 s
        (1_700_000_000.3, 0.5, 1_700_000_000.5),
    ],
)
def test_the_next_tick_is_the_next_multiple_of_the_interval(
    now_s: float, interval_s: float, tick_at: float
) -> None:
    assert now_s + tick_delay_s(now_s, interval_s) == pytest.approx(tick_at, abs=1e-6)


def test_two_processes_started_apart_tick_at_the_same_instant() -> None:
    first, second = 1_700_000_000.12, 1_700_000_000.87

    assert first + tick_delay_s(first, 1.0) == pytest.approx(second + tick_delay_s(second, 1.0))
