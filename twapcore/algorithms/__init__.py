"""Execution algorithms: the `ExecutionAlgorithm` seam and its implementations.

`ALGORITHMS` maps each name (`OrderSpec.algorithm`) to its implementation.
"""

from __future__ import annotations

from twapcore.algorithms.base import (
    ExecutionAlgorithm,
    MarketActivity,
    Progress,
    Schedule,
    SliceTarget,
)
from twapcore.algorithms.pov import Pov
from twapcore.algorithms.twap import Twap, TwapRandom
from twapcore.algorithms.vwap import (
    PROFILE_TRADES,
    Vwap,
    allocate_lots,
    load_profile,
    profile_from_trades,
)
from twapcore.errors import InvalidOrder

__all__ = [
    "ALGORITHMS",
    "PROFILE_TRADES",
    "ExecutionAlgorithm",
    "MarketActivity",
    "Pov",
    "Progress",
    "Schedule",
    "SliceTarget",
    "Twap",
    "TwapRandom",
    "Vwap",
    "algorithm_named",
    "allocate_lots",
    "load_profile",
    "profile_from_trades",
]

ALGORITHMS: dict[str, ExecutionAlgorithm] = {
    a.name: a for a in (Twap(), TwapRandom(), Vwap(), Pov())
}


def algorithm_named(name: str) -> ExecutionAlgorithm:
    """The algorithm called `name`, or `InvalidOrder` listing the known ones."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        allowed = ", ".join(sorted(ALGORITHMS))
        raise InvalidOrder(
            f"algorithm {name!r} is not one of: {allowed}", "invalid_algorithm"
        ) from None
