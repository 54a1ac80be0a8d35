"""TWAP slice planning: a pure function from an order's size and timing to slices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext

from twapcore.errors import InvalidOrder
from twapcore.formatting import format_decimal
from twapcore.models import NS_PER_SECOND

__all__ = ["DEFAULT_LOT_SIZE", "PlannedSlice", "plan_twap", "seconds_to_ns_exact"]

DEFAULT_LOT_SIZE = Decimal("0.00000001")

# Digits of the lot arithmetic. Every step must be exact (the slices sum exactly
# to the quantity), so a plan that would need rounding is refused instead.
PLAN_PRECISION = 60
# |seconds| >= 10^10 (over 300 years) is beyond 64-bit nanoseconds.
_MAX_SECONDS_EXPONENT = 9


@dataclass(frozen=True, slots=True)
class PlannedSlice:
    """Slice `index` should trade `qty` at `due_ns` (ns since the epoch)."""

    index: int
    due_ns: int
    qty: Decimal


def seconds_to_ns_exact(seconds: Decimal | int | str, what: str = "duration_s") -> int:
    """Whole nanoseconds in `seconds`, computed in Decimal (no float rounding)."""
    try:
        value = Decimal(seconds)
    except ArithmeticError as exc:
        raise InvalidOrder(f"{what} {seconds!r} is not a number") from exc
    if not value.is_finite():
        raise InvalidOrder(f"{what} {seconds!r} must be a finite number of seconds")
    if value and value.adjusted() > _MAX_SECONDS_EXPONENT:
        raise InvalidOrder(f"{what} {seconds} is out of range (at most 10^10 seconds)")
    return int(value * NS_PER_SECOND)


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
    if not quantity.is_finite() or quantity <= 0:
        raise InvalidOrder(f"quantity {quantity} must be greater than 0", "invalid_quantity")
    if not lot_size.is_finite() or lot_size <= 0:
        raise InvalidOrder(f"lot size {lot_size} must be greater than 0")
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
            count = min(slices, int(lots))
            per_slice = (lots // count) * lot_size
            last = quantity - per_slice * (count - 1)
        except ArithmeticError:  # DivisionImpossible, Inexact: more digits than PLAN_PRECISION
            raise InvalidOrder(
                f"quantity {format_decimal(quantity)} in lots of {format_decimal(lot_size)} needs "
                f"more than {PLAN_PRECISION} digits",
                "invalid_quantity",
            ) from None
    return tuple(
        PlannedSlice(
            index=i,
            due_ns=start_ns + (i * duration_ns) // count,
            qty=per_slice if i < count - 1 else last,
        )
        for i in range(count)
    )
