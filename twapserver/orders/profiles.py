"""vwap's volume profile on the server: the market's 1m candles by time of day.

Computed once, when the order is submitted, and stored in its spec
(`profile_weights`): the engine, a restart and a takeover all plan the same
slices. The order's window is cut into buckets of whole minutes (at most
`MAX_BUCKETS`); each bucket weighs the volume the market traded at the same
times of day over the last N days. Without any candle there the weights are
None and vwap plans the order as TWAP, saying why (`algorithm_note`). A
cross-venue order's profile is the volume of all its venues together.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from twapcore import INTERVALS
from twapcore.schedule import seconds_to_ns_exact
from twapserver.db.candles import fetch_candles
from twapserver.orders.schemas import MAX_SLICES

__all__ = ["CANDLES_PROFILE", "MAX_BUCKETS", "candle_profile", "profile_weights"]

CANDLES_PROFILE = "candles"
MAX_BUCKETS = MAX_SLICES  # no finer than the finest plan: a stored spec stays small
MINUTE_NS = INTERVALS["1m"]
DAY_NS = 86_400 * 1_000_000_000


def profile_weights(
    candles: list[tuple[int, Decimal]], start_ns: int, duration_s: Decimal
) -> tuple[Decimal, ...] | None:
    """Weights of equal buckets of [start_ns, start_ns + duration) from (open_ns, volume)
    of past 1m candles, each counted at its time of day; None when they weigh nothing."""
    duration_ns = seconds_to_ns_exact(duration_s)
    minutes = -(-duration_ns // MINUTE_NS)
    per_bucket = -(-minutes // MAX_BUCKETS)  # minutes per bucket
    buckets = -(-minutes // per_bucket)
    weights = [Decimal(0)] * buckets
    for open_ns, volume in candles:
        offset = (open_ns - start_ns) % DAY_NS  # where that time of day falls in the window
        while offset < duration_ns:  # windows over a day see each time of day again
            weights[offset // MINUTE_NS // per_bucket] += volume
            offset += DAY_NS
    if not any(weights):
        return None
    return tuple(weights)


async def candle_profile(
    session: AsyncSession,
    venues: Sequence[str],
    symbol: str,
    start_ns: int,
    duration_s: Decimal,
    days: int,
) -> tuple[Decimal, ...] | None:
    """`profile_weights` from the market's 1m candles of the `days` days before `start_ns`.

    A cross-venue order's profile adds up the candles of all its venues.
    """
    rows: list[tuple[int, Decimal]] = []
    for venue in venues:
        candles = await fetch_candles(
            session, venue, symbol, "1m", days * 1440, start_ns - days * DAY_NS, start_ns
        )
        rows += [(c.open_ns, c.volume) for c in candles]
    return profile_weights(rows, start_ns, duration_s)
