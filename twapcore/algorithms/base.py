"""The seam every execution algorithm plugs into.

The state machine (`twapcore.execution.OrderExecution`) owns what all algorithms
share: carry-over, the catch-up cap, the limit price, skips with reasons, the
liquidity ledger and the end states. An `ExecutionAlgorithm` decides only *when*
slices fall due and *how much* each one should trade.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Protocol

from twapcore.schedule import DEFAULT_LOT_SIZE, PLAN_PRECISION, PlannedSlice, plan_twap

if TYPE_CHECKING:
    from twapcore.spec import OrderSpec

__all__ = [
    "ExecutionAlgorithm",
    "MarketActivity",
    "Progress",
    "Schedule",
    "SliceTarget",
    "catch_up_target",
    "floor_to_lot",
    "lot_of",
    "twap_plan",
]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class MarketActivity:
    """What the market traded since the previous step: `volume` in base units, `trades` a count."""

    volume: Decimal = _ZERO
    trades: int = 0


@dataclass(frozen=True, slots=True)
class Schedule:
    """An algorithm's plan: the slices and, when it had to deviate, why (e.g. a fallback).

    `slices` is a tuple, or computed on demand when it is open-ended (`SteppedSlices`).
    """

    slices: Sequence[PlannedSlice]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class SliceTarget:
    """How much a slice should trade now; with `qty == 0`, `reason` says why it waits."""

    qty: Decimal
    reason: str | None = None


class Progress(Protocol):
    """What an algorithm may read of the execution it serves."""

    @property
    def spec(self) -> OrderSpec: ...

    @property
    def filled_qty(self) -> Decimal: ...

    @property
    def remaining_qty(self) -> Decimal: ...

    @property
    def observed_volume(self) -> Decimal: ...

    def planned_cumulative(self, index: int) -> Decimal: ...


class ExecutionAlgorithm(Protocol):
    """Schedule and target logic of one algorithm (TWAP is one implementation)."""

    name: str
    parameters: tuple[str, ...]  # the OrderSpec fields only this algorithm uses

    def validate(self, spec: OrderSpec) -> None:
        """Raise `InvalidOrder` naming the parameter when `spec` breaks this algorithm's rules."""
        ...

    def plan(self, spec: OrderSpec, start_ns: int) -> Schedule:
        """Due times (ns) and planned quantities for an order starting at `start_ns`."""
        ...

    def target(
        self, progress: Progress, planned: PlannedSlice, market: MarketActivity | None
    ) -> SliceTarget:
        """Quantity the due slice `planned` should trade, given progress and recent trading."""
        ...


def lot_of(spec: OrderSpec) -> Decimal:
    """The lot size the order is sliced in."""
    return spec.lot_size or DEFAULT_LOT_SIZE


def floor_to_lot(qty: Decimal, lot: Decimal) -> Decimal:
    """`qty` rounded down to a whole number of lots (never below 0)."""
    if qty <= _ZERO:
        return _ZERO
    with localcontext() as context:
        context.prec = PLAN_PRECISION
        return (qty // lot) * lot


def twap_plan(spec: OrderSpec, start_ns: int) -> tuple[PlannedSlice, ...]:
    """The equal-slice plan of `spec` (also the base every other plan starts from)."""
    assert spec.duration_s is not None  # OrderSpec requires it here (spec.check_end_time)
    return plan_twap(
        spec.quantity,
        start_ns,
        spec.duration_s,
        slices=spec.slices,
        interval_s=spec.interval_s,
        lot_size=lot_of(spec),
    )


def catch_up_target(progress: Progress, planned: PlannedSlice) -> SliceTarget:
    """Planned cumulative − filled, capped at `catch_up_cap` × the slice and what remains."""
    behind = progress.planned_cumulative(planned.index) - progress.filled_qty
    cap = planned.qty * progress.spec.catch_up_cap
    return SliceTarget(max(_ZERO, min(behind, cap, progress.remaining_qty)))
