"""Market data between the roles: the `MarketSource` seam and its two implementations.

* `memory://` (default): the `MarketHub` the collectors (or the demo replay) feed
  in this process is the source; nothing is copied or serialised.
* `redis://…`: the collect role publishes its hub (`RedisMarketPublisher`); API and
  engine processes read a `MarketView` that a `RedisMarketSubscriber` keeps current.
"""

from twapserver.hub import MarketHub, MarketSource
from twapserver.market.view import MarketView

__all__ = ["MarketHub", "MarketSource", "MarketView"]
