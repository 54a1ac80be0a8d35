"""Kraken (WebSocket API v1, spot).

* Book updates carry a CRC32 of the top 10 levels: cryptofeed checks it when asked, and a
  failure makes it resubscribe (the collectors report it in /health).
* Sizes: ``AssetPairs`` gives ``pair_decimals`` and ``lot_decimals`` (read by the default).
* Candles: cryptofeed 2.4's Kraken REST mixin has no ``candles``, so Kraken has no backfill.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twapserver.venues._venue import Venue


class Kraken(Venue):
    feed_options: ClassVar[dict[str, Any]] = {"checksum_validation": True}


VENUE = Kraken
