"""A home per venue: what twap knows of each exchange beyond cryptofeed's class for it.

Every cryptofeed exchange works with the defaults of `Venue` (symbols and sizes from the
venue's instruments call, candle backfill through cryptofeed's REST candles where its class
has them). A venue with facts of its own (feed options such as checksums, how its sizes are
read, a candle window limit) is one module of this package defining ``VENUE``, a `Venue`
subclass; it is found by name, nothing else to register::

    # twapserver/venues/kraken.py
    class Kraken(Venue):
        feed_options = {"checksum_validation": True}

    VENUE = Kraken

The module is named after the exchange (``binance_futures.py``; a dot in the name is written
``__``: ``bit__com.py`` for ``bit.com``). Adding a venue is that file (if it needs one) plus
configuration: ``TWAP_EXCHANGES`` (and ``TWAP_VENUE_ENDPOINTS`` to point it at a fake).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from twapserver.venues._net import REQUEST_TIMEOUT_S, VenueError, fetch_json, unreachable_reason
from twapserver.venues._venue import Venue

__all__ = [
    "REQUEST_TIMEOUT_S",
    "Venue",
    "VenueError",
    "fetch_json",
    "unreachable_reason",
    "venue_for",
    "venue_modules",
]


@cache
def venue_modules() -> dict[str, type[Venue]]:
    """The venues with a module of their own: exchange name -> its `Venue` class."""
    found: dict[str, type[Venue]] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_"):
            continue
        venue = getattr(importlib.import_module(f"{__name__}.{module.name}"), "VENUE", None)
        if isinstance(venue, type) and issubclass(venue, Venue):
            found[module.name.replace("__", ".")] = venue  # bit__com.py -> bit.com
    return found


def venue_for(exchange: str) -> Venue:
    """The `Venue` of ``exchange`` (twap's lowercase name): its own module's, else the plain
    one. Raises ``ValueError`` naming the known exchanges when cryptofeed has no such one."""
    venue = venue_modules().get(exchange, Venue)(exchange)
    venue.feed_class()  # ValueError for an exchange cryptofeed does not know
    return venue
