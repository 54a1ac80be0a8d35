"""TWAP and its seeded-jitter variant `twap_random`."""

from __future__ import annotations

import random
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

from twapcore.algorithms.base import (
    MarketActivity,
    Progress,
    Schedule,
    SliceTarget,
    catch_up_target,
    lot_of,
    twap_plan,
)
from twapcore.errors import InvalidOrder
from twapcore.schedule import PLAN_PRECISION, PlannedSlice, seconds_to_ns_exact

if TYPE_CHECKING:
    from twapcore.spec import OrderSpec

__all__ = ["Twap", "TwapRandom"]

# Time jitter is drawn as an integer in ±_DRAW_STEPS and scaled exactly in Decimal,
# so no float ever decides a due time.
_DRAW_STEPS = 1_000_000


class Twap:
    """Equal slices at equal intervals; a slice catches up what earlier ones missed."""

    name: str = "twap"
    parameters: tuple[str, ...] = ()

    def validate(self, spec: OrderSpec) -> None:
        """TWAP has no parameters of its own."""

    def plan(self, spec: OrderSpec, start_ns: int) -> Schedule:
        """`plan_twap` of the spec."""
        return Schedule(twap_plan(spec, start_ns))

    def target(
        self, progress: Progress, planned: PlannedSlice, market: MarketActivity | None
    ) -> SliceTarget:
        """Catch up to the planned cumulative quantity (market activity is not used)."""
        return catch_up_target(progress, planned)


class TwapRandom(Twap):
    """TWAP with seeded jitter: each due time moves by up to ± `jitter` × the interval,
    each size by up to ± `jitter` × its size (whole lots, moved between pairs of
    slices so the total stays exact). The same seed gives the same plan."""

    name: str = "twap_random"
    parameters: tuple[str, ...] = ("seed", "jitter")

    def validate(self, spec: OrderSpec) -> None:
        """`seed` (an int >= 0) and `jitter` (0..1) are required."""
        if spec.seed is None or spec.seed < 0:
            given = "is missing" if spec.seed is None else f"{spec.seed} is negative"
            raise InvalidOrder(
                f"twap_random needs seed (an integer >= 0): seed {given}", "invalid_seed"
            )
        if spec.jitter is None or not 0 <= spec.jitter <= 1:
            given = "is missing" if spec.jitter is None else f"{spec.jitter} is outside 0..1"
            raise InvalidOrder(
                f"twap_random needs jitter (0..1 of the interval and the slice size): "
                f"jitter {given}",
                "invalid_jitter",
            )

    def plan(self, spec: OrderSpec, start_ns: int) -> Schedule:
        """Jitter the TWAP plan: times first, then sizes, from one `random.Random(seed)`."""
        base = twap_plan(spec, start_ns)
        assert spec.seed is not None  # validated at construction
        assert spec.jitter is not None
        rng = random.Random(spec.seed)
        end_ns = start_ns + seconds_to_ns_exact(spec.duration_s)
        times = sorted(
            _jittered_times(
                [s.due_ns for s in base], spec.jitter, (end_ns - start_ns) // len(base), rng
            )
        )
        times = [min(max(t, start_ns), max(start_ns, end_ns - 1)) for t in times]
        sizes = _jittered_sizes([s.qty for s in base], spec.jitter, lot_of(spec), rng)
        return Schedule(
            tuple(PlannedSlice(i, t, q) for i, (t, q) in enumerate(zip(times, sizes, strict=True)))
        )


def _jittered_times(
    dues_ns: list[int], jitter: Decimal, interval_ns: int, rng: random.Random
) -> list[int]:
    """Each due time moved by a draw of up to ± jitter × the interval (one context for all:
    entering one per slice was most of the cost of planning)."""
    with localcontext() as context:
        context.prec = PLAN_PRECISION
        return [
            due_ns
            + int(jitter * interval_ns * rng.randint(-_DRAW_STEPS, _DRAW_STEPS) / _DRAW_STEPS)
            for due_ns in dues_ns
        ]


def _jittered_sizes(
    sizes: list[Decimal], jitter: Decimal, lot: Decimal, rng: random.Random
) -> list[Decimal]:
    """Move whole lots between randomly paired slices: the sum is unchanged and each
    slice stays within ± jitter of its own size (and >= 0)."""
    with localcontext() as context:
        context.prec = PLAN_PRECISION
        lots = [int(size // lot) for size in sizes]
        order = list(range(len(lots)))
        rng.shuffle(order)
        for a, b in zip(order[0::2], order[1::2], strict=False):
            bound = int(jitter * min(lots[a], lots[b]))
            shift = rng.randint(-bound, bound)
            lots[a] += shift
            lots[b] -= shift
        return [lot * n for n in lots]
