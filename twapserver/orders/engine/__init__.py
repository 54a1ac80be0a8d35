"""The paper-trading engine: executes the due slices of the orders it leases.

Any number of engines may share one database: each works only the orders it
holds a lease on (`twapserver.orders.leases`), renews them by heartbeat, and
takes over orders whose lease ran out (a dead engine's). Every write is fenced
by the order's `version`, so an engine that lost a lease never writes and never
announces anything for that order.

Two halves, so a backlog of commits never changes which book a slice sees:

* stepping — a heap holds (next due time, order id); when slices fall due the
  engine reads each market's book once, at that instant, and runs
  `TwapExecution.step` (the same code as `twap simulate`) for every due order
  against it. All orders share one `LiquidityLedger`, so two orders never take
  the same displayed size of one book version. A step that raises is retried
  with backoff, then recorded as skipped (`engine_error`): one bad order never
  strands the others.
* committing — the stepped slices queue, in order, for the committer, which
  writes many orders per transaction (their slice rows, fills and O(1) progress
  columns), fenced per order, then publishes each committed change as an
  `OrderUpdate` on the bus. A failed transaction sends its orders back to the
  database state (reload) and retries.

On claiming an order back (a restart or takeover: it was claimed before), slices
that fell due more than `CLAIM_GRACE_NS` before are recorded as skipped
(`server_down`) and their quantity carries over; an order whose end passed ends
`expired` with what it had filled. The first claim of an order that never
executed skips nothing while the order's end is ahead: the claim was merely
late, so its due slices execute late (SLICE_LATENESS shows by how much); one
first claimed after its end (no engine ran all along) expires as before.

Each step is told what its market traded since the order's previous step
(`MarketActivity`, from the same per-market counters as the order's market
window): pov trades a share of it, and slices store it so pov resumes after a
restart.

Markouts (`twapserver.orders.markouts`): the engine keeps a short mid history of
the markets it steps on, and stores the mid 1 s, 10 s and 60 s after each
committed fill — also after the order ended, while it holds the order.

Where each part lives, each class building on the one before: `_core` (the state,
the due heap, the market counters), `_commits` (queueing writes, cancels, committing,
reloads, markouts), `_claims` (heartbeat, claims, missed slices), `_stepping`, and
`_engine` (`Engine`: the loops that run it all); `_tuning` holds the timings and
retry limits.
"""

from twapserver.orders.engine._core import MarketView, default_engine_id
from twapserver.orders.engine._engine import Engine, engine_for
from twapserver.orders.engine._tuning import CLAIM_GRACE_NS, DEFAULT_LEASE_S
from twapserver.orders.live import LiveOrder

__all__ = [
    "CLAIM_GRACE_NS",
    "DEFAULT_LEASE_S",
    "Engine",
    "LiveOrder",
    "MarketView",
    "default_engine_id",
    "engine_for",
]
