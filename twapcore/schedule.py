"""TWAP slice planning: a pure function from an order's size and timing to slices."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from itertools import accumulate
from typing import overload

from twapcore.errors import InvalidOrder
from twapcore.formatting import format_decimal
from twapcore.models import NS_PER_SECOND

__all__ = [
    "DEFAULT_LOT_SIZE",
    "NO_END_NS",
    "PlannedSlice",
    "SteppedSlices",
    "check_quantity",
    "cumulative_quantities",
    "plan_twap",
    "seconds_to_ns_exact",
    "whole_lots",
]

DEFAULT_LOT_SIZE = Decimal("0.00000001")

# Digits of the lot arithmetic. Every step must be exact (the slices sum exactly
# to the quantity), so a plan that would need rounding is refused instead.
PLAN_PRECISION = 60
# |seconds| >= 10^10 (over 300 years) is beyond 64-bit nanoseconds.
_MAX_SECONDS_EXPONENT = 9
# The end of 64-bit nanosecond time: an open-ended order (pov without duration_s) has no
# end of its own; whoever steps it ends it (the server at its cap, simulate with the recording).
NO_END_NS = 2**63 - 1


@dataclass(frozen=True, slots=True)
class PlannedSlice:
    """Slice `index` should trade `qty` at `due_ns` (ns since the epoch)."""

    index: int
    due_ns: int
    qty: Decimal


@dataclass(frozen=True, slots=True)
class SteppedSlices(Sequence[PlannedSlice]):
    """`steps` slices of planned quantity 0, one every `interval_ns` from `start_ns`.

    Computed on demand, so an open-ended plan (a pov order without an end time,
    stepping until the end of 64-bit time) takes O(1) memory. `first_index` is the
    index of the first step (a slice of the plan keeps its slices' indices).
    """

    start_ns: int
    interval_ns: int
    steps: int
    first_index: int = 0

    def __len__(self) -> int:
        return self.steps

    @overload
    def __getitem__(self, index: int) -> PlannedSlice: ...

    @overload
    def __getitem__(self, index: slice) -> SteppedSlices: ...

    def __getitem__(self, index: int | slice) -> PlannedSlice | SteppedSlices:
        if isinstance(index, slice):
            start, stop, step = index.indices(self.steps)
            if step != 1:
                raise ValueError(f"a plan is sliced with step 1, not {step}")
            return SteppedSlices(
                self.start_ns + start * self.interval_ns,
                self.interval_ns,
                max(0, stop - start),
                self.first_index + start,
            )
        if index < 0:
            index += self.steps
        if not 0 <= index < self.steps:
            raise IndexError(f"step {index} is outside the plan's {self.steps} steps")
        return PlannedSlice(
            self.first_index + index, self.start_ns + index * self.interval_ns, Decimal(0)
        )

    def __iter__(self) -> Iterator[PlannedSlice]:
        return (self[i] for i in range(self.steps))


def cumulative_quantities(plan: Sequence[PlannedSlice]) -> Sequence[Decimal]:
    """Planned quantity of slices 0..i together, for every i of `plan`."""
    if isinstance(plan, SteppedSlices):  # every step plans 0: no list as long as the plan
        return _Zeros(len(plan))
    return list(accumulate(p.qty for p in plan))


@dataclass(frozen=True, slots=True)
class _Zeros(Sequence[Decimal]):
    length: int

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, index: int) -> Decimal: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Decimal]: ...

    def __getitem__(self, index: int | slice) -> Decimal | Sequence[Decimal]:
        if isinstance(index, slice):
            return _Zeros(len(range(*index.indices(self.length))))
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} is outside 0..{self.length - 1}")
        return Decimal(0)


def seconds_to_ns_exact(seconds: Decimal | int | str | None, what: str = "duration_s") -> int:
    """Whole nanoseconds in `seconds`, computed in Decimal (no float rounding).

    A missing value (None) is refused naming `what`.
    """
    if seconds is None:
        raise InvalidOrder(f"{what} is missing", _MISSING_REASONS.get(what, f"invalid_{what}"))
    try:
        value = Decimal(seconds)
    except ArithmeticError as exc:
        raise InvalidOrder(f"{what} {seconds!r} is not a number") from exc
    if not value.is_finite():
        raise InvalidOrder(f"{what} {seconds!r} must be a finite number of seconds")
    if value and value.adjusted() > _MAX_SECONDS_EXPONENT:
        raise InvalidOrder(f"{what} {seconds} is out of range (at most 10^10 seconds)")
    return int(value * NS_PER_SECOND)


_MISSING_REASONS = {"duration_s": "invalid_duration", "interval_s": "invalid_slices"}


def whole_lots(quantity: Decimal, lot_size: Decimal) -> int:
    """How many lots `quantity` is; `InvalidOrder` unless a whole number (>= 1) of them."""
    if quantity < lot_size:
        raise InvalidOrder(
            f"quantity {format_decimal(quantity)} is below the lot size {format_decimal(lot_size)}",
            "below_lot_size",
        )
    with localcontext() as context:
        context.prec = PLAN_PRECISION
        context.traps[Inexact] = True
        try:
            lots = quantity // lot_size
            if quantity % lot_size:
                raise InvalidOrder(
                    f"quantity {format_decimal(quantity)} is not a multiple of the lot size "
                    f"{format_decimal(lot_size)}",
                    "not_lot_multiple",
                )
        except ArithmeticError:  # DivisionImpossible, Inexact: more digits than PLAN_PRECISION
            raise _too_many_digits(quantity, lot_size) from None
    return int(lots)


def _too_many_digits(quantity: Decimal, lot_size: Decimal) -> InvalidOrder:
    return InvalidOrder(
        f"quantity {format_decimal(quantity)} in lots of {format_decimal(lot_size)} needs "
        f"more than {PLAN_PRECISION} digits",
        "invalid_quantity",
    )


def check_quantity(quantity: Decimal, lot_size: Decimal) -> int:
    """The checks of `plan_twap` on the quantity alone: > 0, in whole lots; the lot count."""
    _check_positive(quantity, lot_size)
    return whole_lots(quantity, lot_size)


def _check_positive(quantity: Decimal, lot_size: Decimal) -> None:
    if not quantity.is_finite() or quantity <= 0:
        raise InvalidOrder(f"quantity {quantity} must be greater than 0", "invalid_quantity")
    if not lot_size.is_finite() or lot_size <= 0:
        raise InvalidOrder(f"lot size {lot_size} must be greater than 0")


def plan_twap(
    quantity: Decimal,
    start_ns: int,
    duration_s: Decimal | int,
    *,
    slices: int | None = None,
    interval_s: Decimal | int | None = None,
    lot_size: Decimal = DEFAULT_LOT_SIZE,
) -> tuple[PlannedSlice, ...]:
    """Split `quantity` into equal slices over `duration_s` seconds from `start_ns`.

    Give either `slices` or `interval_s` (then slices = duration // interval).
    Each slice is rounded down to a multiple of `lot_size`; the remainder goes on
    the last slice, so the slices sum exactly to `quantity`. There are never more
    slices than lots. Slice i is due at start + i * duration / slices, so the
    first is due at once and the order's end is `start_ns + duration`.
    """
    _check_positive(quantity, lot_size)
    duration_ns = seconds_to_ns_exact(duration_s)
    if duration_ns <= 0:
        raise InvalidOrder(f"duration_s {duration_s} must be greater than 0", "invalid_duration")
    if (slices is None) == (interval_s is None):
        raise InvalidOrder("give exactly one of slices or interval_s", "invalid_slices")
    if interval_s is not None:
        interval_ns = seconds_to_ns_exact(interval_s, "interval_s")
        if interval_ns <= 0:
            raise InvalidOrder(f"interval_s {interval_s} must be greater than 0", "invalid_slices")
        if interval_ns > duration_ns:
            raise InvalidOrder(
                f"interval_s {interval_s} is longer than duration_s {duration_s}", "invalid_slices"
            )
        slices = duration_ns // interval_ns
    assert slices is not None
    if slices < 1:
        raise InvalidOrder(f"slices {slices} must be at least 1", "invalid_slices")
    lots = whole_lots(quantity, lot_size)
    with localcontext() as context:
        context.prec = PLAN_PRECISION
        context.traps[Inexact] = True
        count = min(slices, lots)
        try:
            per_slice = (lots // count) * lot_size
            last = quantity - per_slice * (count - 1)
        except ArithmeticError:  # Inexact: more digits than PLAN_PRECISION
            raise _too_many_digits(quantity, lot_size) from None
    return tuple(
        PlannedSlice(
            index=i,
            due_ns=start_ns + (i * duration_ns) // count,
            qty=per_slice if i < count - 1 else last,
        )
        for i in range(count)
    )
