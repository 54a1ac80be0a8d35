"""A loopback fake of Binance spot and Kraken (WebSocket v1) replaying the shared captures, and
of any other venue cryptofeed has captured (``captures=``: WS sessions per connection, HTTP
responses by URL, see ``_generic``).

cryptofeed's real exchange classes connect to it with only their endpoints changed (see
``twapserver.feeds.make_feed``)::

    with FakeExchange(shared_data_dir(), speed=20.0) as fake:
        endpoints = FeedEndpoints(ws_url=fake.binance_ws_url, rest_url=fake.rest_url)
        feed = make_feed("binance", ["NKN-USDT"], {L2_BOOK: on_book},
                         endpoints=endpoints, ssl_context=fake.ssl_context)

Any venue: ``FakeExchange(data_dir, captures=[folder])``, then
``FeedEndpoints(fake.ws_url_of("binance_futures"), fake.rest_url_of("binance_futures"))``, or
``Settings(venue_endpoints=fake.venue_endpoints(), ...)`` for the server.

For demos: ``python -m twapserver.fake_exchange --data-dir ../shared/data --speed 1
[--captures DIR]`` (it prints the ``TWAP_VENUE_ENDPOINTS`` to use).
"""

from ._server import FakeExchange, Venue

__all__ = ["FakeExchange", "Venue"]
