"""An engine's in-memory orders and the writes they queue for the committer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from twapcore import MarketTotals, SliceResult, TwapExecution
from twapserver.bus import OrderUpdate
from twapserver.db.models import OrderRow
from twapserver.orders.repository import SliceWrite
from twapserver.orders.updates import order_update

__all__ = ["LiveOrder", "PendingWrite"]


@dataclass(slots=True, eq=False)
class LiveOrder:
    """An order this engine leases, possibly ahead of the database by queued writes."""

    order: OrderRow
    execution: TwapExecution
    version: int  # the fencing token as of the last committed write
    window: MarketTotals = field(default_factory=MarketTotals)
    last_totals: MarketTotals | None = None
    # The market's counted (volume, trades) when this order last stepped (or was adopted):
    # the next step is told what traded since (`MarketActivity`).
    market_mark: tuple[Decimal, int] | None = None
    scheduled_ns: int | None = None  # the heap entry that is current for this order
    stale: bool = False  # memory ran ahead of a failed commit: reload from the database
    generation: int = 0  # bumped when memory is thrown away: older queued writes are void
    failures: int = 0  # consecutive failed steps of the due slice

    @property
    def order_id(self) -> int:
        return self.order.id

    @property
    def token_id(self) -> str:
        return self.order.token_id


@dataclass(slots=True)
class PendingWrite:
    """One order's change, stepped and waiting for its transaction.

    Everything is captured when it is queued (progress columns, bus updates),
    because the execution may step on before the commit.
    """

    live: LiveOrder
    generation: int
    results: tuple[SliceResult, ...]
    values: dict[str, Any]
    updates: tuple[OrderUpdate, ...]
    final: bool
    at: int

    @classmethod
    def of(
        cls, live: LiveOrder, results: Sequence[SliceResult], values: dict[str, Any], at: int
    ) -> PendingWrite:
        """The write of `results` (none: a cancel) just applied to `live.execution`."""
        execution = live.execution
        if results:
            # Missed slices are recorded together: each update carries its own slice,
            # with the order's progress after all of them.
            updates = tuple(order_update(live.order, execution, r) for r in results)
        else:
            updates = (order_update(live.order, execution, None),)
        return cls(
            live, live.generation, tuple(results), values, updates,
            execution.status.is_final, at,
        )  # fmt: skip

    def write(self) -> SliceWrite:
        return SliceWrite(self.live.order_id, self.live.version, self.results, self.values)

    def apply_to(self, order: OrderRow) -> None:
        """Mirror the committed columns on the in-memory row."""
        for name, value in self.values.items():
            setattr(order, name, value)
