"""POV: trade a share (`participation`) of the volume the market trades.

At every step (due every `interval_s`, or `duration_s / slices`) the order may
have traded up to `participation` × the volume observed since it started; the
step targets what that allows beyond what already filled — the volume traded
since the previous step plus what earlier steps could not fill (carry-over) —
capped at `max_slice_qty` and at what remains, in whole lots. A target under
`min_slice_qty` waits (unless it is all that remains). The order completes as
soon as it is filled, or expires at its end (`duration_s`).

Without `duration_s` (no end time) it steps every `interval_s` until filled: its
plan is computed on demand (`SteppedSlices`, O(1) memory) up to the end of 64-bit
time, and whoever steps it bounds it — the server gives it its maximum order life
as duration_s, `simulate` ends it (expired) when the recording ends.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

from twapcore.algorithms.base import (
    MarketActivity,
    Progress,
    Schedule,
    SliceTarget,
    floor_to_lot,
    lot_of,
    twap_plan,
)
from twapcore.errors import InvalidOrder
from twapcore.models import SkipReason
from twapcore.schedule import (
    NO_END_NS,
    PLAN_PRECISION,
    PlannedSlice,
    SteppedSlices,
    check_quantity,
    seconds_to_ns_exact,
)

if TYPE_CHECKING:
    from twapcore.spec import OrderSpec

__all__ = ["Pov"]

_ZERO = Decimal(0)


class Pov:
    """Participation of observed volume; nothing is planned ahead (planned qty 0)."""

    name: str = "pov"
    parameters: tuple[str, ...] = ("participation", "min_slice_qty", "max_slice_qty")

    def validate(self, spec: OrderSpec) -> None:
        """0 < participation <= 1; 0 <= min_slice_qty <= max_slice_qty; max_slice_qty > 0."""
        if spec.participation is None or not 0 < spec.participation <= 1:
            given = (
                "is missing"
                if spec.participation is None
                else f"{spec.participation} is outside it"
            )
            raise InvalidOrder(
                f"pov needs participation in (0, 1]: participation {given}",
                "invalid_participation",
            )
        low, high = spec.min_slice_qty, spec.max_slice_qty
        if low is not None and low < 0:
            raise InvalidOrder(f"min_slice_qty {low} must be >= 0", "invalid_min_slice_qty")
        if high is not None and high <= 0:
            raise InvalidOrder(f"max_slice_qty {high} must be > 0", "invalid_max_slice_qty")
        if low is not None and high is not None and low > high:
            raise InvalidOrder(
                f"min_slice_qty {low} is above max_slice_qty {high}", "invalid_min_slice_qty"
            )

    def plan(self, spec: OrderSpec, start_ns: int) -> Schedule:
        """Steps at equal intervals over the duration (not capped by the lot count); without
        a duration, every `interval_s` from `start_ns` on (computed on demand)."""
        if spec.duration_s is None:
            return Schedule(_open_ended_steps(spec, start_ns))
        twap_plan(spec, start_ns)  # the shared checks of quantity, lot, duration, slices
        duration_ns = seconds_to_ns_exact(spec.duration_s)
        if spec.interval_s is not None:
            steps = duration_ns // seconds_to_ns_exact(spec.interval_s, "interval_s")
        else:
            assert spec.slices is not None  # twap_plan checked exactly one is given
            steps = spec.slices
        return Schedule(
            tuple(
                PlannedSlice(i, start_ns + (i * duration_ns) // steps, _ZERO) for i in range(steps)
            )
        )

    def target(
        self, progress: Progress, planned: PlannedSlice, market: MarketActivity | None
    ) -> SliceTarget:
        """participation × observed volume − filled, capped and rounded down to the lot."""
        spec = progress.spec
        assert spec.participation is not None
        recent = _ZERO if market is None else market.volume
        with localcontext() as context:
            context.prec = PLAN_PRECISION
            allowed = spec.participation * (progress.observed_volume + recent)
        owed = allowed - progress.filled_qty
        cap = progress.remaining_qty
        if spec.max_slice_qty is not None:
            cap = min(cap, spec.max_slice_qty)
        qty = floor_to_lot(min(owed, cap), lot_of(spec))
        if qty == _ZERO and recent == _ZERO:
            return SliceTarget(_ZERO, SkipReason.NO_TRADES.value)
        if qty == _ZERO or (
            spec.min_slice_qty is not None
            and qty < spec.min_slice_qty
            and qty < progress.remaining_qty
        ):
            return SliceTarget(_ZERO, SkipReason.BELOW_MIN_SLICE.value)
        return SliceTarget(qty)


def _open_ended_steps(spec: OrderSpec, start_ns: int) -> SteppedSlices:
    """A step every `interval_s` from `start_ns` to the end of 64-bit nanosecond time."""
    check_quantity(spec.quantity, lot_of(spec))
    interval_ns = seconds_to_ns_exact(spec.interval_s, "interval_s")
    if interval_ns <= 0:
        raise InvalidOrder(f"interval_s {spec.interval_s} must be greater than 0", "invalid_slices")
    return SteppedSlices(start_ns, interval_ns, max(1, (NO_END_NS - start_ns) // interval_ns))
