"""Rules of cross-venue orders (`OrderSpec.venues`) and their per-venue breakdown.

* Symbol: a cross-venue order trades one canonical symbol (`BASE-QUOTE`) listed
  on every venue. BTC-USDT on Binance and BTC-USDT on Kraken are the same market;
  BTC-USD on Kraken is another symbol and cannot be mixed with BTC-USDT.
* Lot: the order is sliced in the coarsest lot of its venues, and every lot must
  divide it (e.g. 0.001 and 0.00001), so each fill — a whole number of that lot —
  is a whole number of lots wherever it trades. Lots that do not divide one
  another (0.002 and 0.003) are refused, naming the venues (`common_lot`).
* Report: every fill is tagged with its venue; `ExecutionReport.venues`
  (twapcore.analytics) breaks fills, quantity, average price and slippage down
  by venue.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from twapcore.errors import InvalidOrder

__all__ = ["checked_venues", "common_lot"]

_ZERO = Decimal(0)


def checked_venues(exchange: str, venues: object) -> tuple[str, ...] | None:
    """`venues` as a tuple (None for a single venue), or `InvalidOrder` naming the bad venue.

    `exchange` must be the first venue: a cross-venue order is stored and listed
    under it.
    """
    if venues is None:
        return None
    if isinstance(venues, str) or not isinstance(venues, (list, tuple)):
        raise InvalidOrder(f"venues {venues!r} must be a list of venue names", "invalid_venues")
    seen: list[str] = []
    for venue in venues:
        if not isinstance(venue, str) or not venue:
            raise InvalidOrder(f"venue {venue!r} in venues is not a venue name", "invalid_venues")
        if venue in seen:
            raise InvalidOrder(f"venue {venue!r} is listed twice in venues", "duplicate_venue")
        seen.append(venue)
    if not seen:
        raise InvalidOrder("venues is empty; give at least one venue", "invalid_venues")
    if exchange != seen[0]:
        raise InvalidOrder(
            f"exchange {exchange!r} conflicts with venues {seen}: the exchange of a cross-venue "
            "order is its first venue",
            "invalid_venues",
        )
    return tuple(seen) if len(seen) > 1 else None


def common_lot(lots: Mapping[str, Decimal | None]) -> Decimal | None:
    """The lot a cross-venue order is sliced in: the coarsest of the venues' known lots.

    `lots` maps venue → its lot size (None: unknown, ignored). Raises `InvalidOrder`
    naming two venues whose lots do not divide the coarsest one. None when no lot
    is known.
    """
    known = {venue: lot for venue, lot in lots.items() if lot is not None}
    if not known:
        return None
    coarsest_venue = max(known, key=lambda venue: known[venue])
    coarsest = known[coarsest_venue]
    for venue, lot in known.items():
        if lot <= _ZERO or coarsest % lot != _ZERO:
            raise InvalidOrder(
                f"lot size {lot} of {venue} does not divide lot size {coarsest} of "
                f"{coarsest_venue}; a cross-venue order needs lots that divide one another",
                "incompatible_lot_size",
            )
    return coarsest
