"""Build cryptofeed feeds, optionally pointed at other endpoints (a local fake exchange).

cryptofeed keeps each venue's URLs in class attributes (``websocket_endpoints``,
``rest_endpoints``); pointing a feed elsewhere means a subclass that replaces them and changes
nothing else, so the venue's real parsing, sequencing and checksum code is what runs.

Gotcha: cryptofeed caches symbol mappings process-wide in ``cryptofeed.symbols.Symbols``, keyed
by exchange id, and a subclass shares its venue's id. The first feed of a venue built in a
process fetches the symbols (a *blocking* HTTP call inside the constructor) and every later
feed of that venue reuses them, whatever endpoints it has. Call ``Symbols.clear()`` between
tests, or whenever the symbol source changes.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cryptofeed.connection import WebsocketEndpoint
from cryptofeed.exchanges import EXCHANGE_MAP
from cryptofeed.feed import Feed

FeedCallback = Callable[[Any, float], Awaitable[None]]  # (normalized object, receipt ts in s)


@dataclasses.dataclass(frozen=True, slots=True)
class FeedEndpoints:
    """Where a feed connects instead of the venue's production URLs.

    ``ws_url`` must be ``wss://`` (cryptofeed refuses anything else) and replaces the address
    of every WebSocket endpoint of the venue; ``rest_url`` (scheme, host, port, optionally a
    path prefix) replaces the base of every REST endpoint, whose routes (``/api/v3/depth?…``)
    are kept, and the scheme and host of the REST API mixin's ``api`` (candles, trades), whose
    path (``/api/v3/``) is kept.
    """

    ws_url: str
    rest_url: str


def feed_class(
    exchange: str,
    endpoints: FeedEndpoints | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> type[Feed]:
    """The cryptofeed class of ``exchange`` (``binance``, ``KRAKEN``, …), or a subclass of it
    connecting to ``endpoints`` with ``ssl_context`` for its WebSockets.

    Raises ``ValueError`` naming the known exchanges when ``exchange`` is not one of them.
    """
    try:
        venue: type[Feed] = EXCHANGE_MAP[exchange.upper()]
    except KeyError:
        known = ", ".join(sorted(name.lower() for name in EXCHANGE_MAP))
        raise ValueError(f"unknown exchange {exchange!r}: cryptofeed knows {known}") from None
    if endpoints is None:
        return venue
    options = {"ssl": ssl_context} if ssl_context is not None else {}
    websocket_endpoints = [
        _replace_ws(endpoint, endpoints.ws_url, options) for endpoint in venue.websocket_endpoints
    ]
    rest_endpoints = [
        dataclasses.replace(endpoint, address=endpoints.rest_url.rstrip("/"), sandbox=None)
        for endpoint in venue.rest_endpoints
    ]
    attributes: dict[str, Any] = {
        "websocket_endpoints": websocket_endpoints,
        "rest_endpoints": rest_endpoints,
    }
    api = getattr(venue, "api", None)
    if isinstance(api, str):  # cryptofeed's REST mixins build their URLs on it
        attributes["api"] = attributes["sandbox_api"] = _rebase(api, endpoints.rest_url)
    # Same `id` as the venue: normalization, symbol cache and callbacks treat it as the venue.
    return type(f"{venue.__name__}At{_tag(endpoints.ws_url)}", (venue,), attributes)


def make_feed(
    exchange: str,
    symbols: Sequence[str],
    callbacks: Mapping[str, FeedCallback],
    *,
    channels: Sequence[str] | None = None,
    endpoints: FeedEndpoints | None = None,
    ssl_context: ssl.SSLContext | None = None,
    **kwargs: Any,
) -> Feed:
    """A cryptofeed feed of ``exchange`` for ``symbols`` (normalized, e.g. ``BTC-USDT``).

    ``callbacks`` maps cryptofeed channels (``L2_BOOK``, ``TRADES``, …) to async callbacks;
    ``channels`` defaults to its keys. ``endpoints``/``ssl_context`` redirect the feed (see
    :func:`feed_class`); ``kwargs`` go to the feed's constructor (``checksum_validation``,
    ``max_depth``, ``config``, …).

    The constructor fetches the venue's symbols with a blocking HTTP call unless the process
    already has them cached (see the module docstring).
    """
    cls = feed_class(exchange, endpoints, ssl_context)
    return cls(
        symbols=list(symbols),
        channels=list(channels if channels is not None else callbacks),
        callbacks=dict(callbacks),
        **kwargs,
    )


def _replace_ws(
    endpoint: WebsocketEndpoint, address: str, options: Mapping[str, Any]
) -> WebsocketEndpoint:
    # Keep the venue's options (ping interval, subscription limit, filters); add the TLS
    # context; drop the sandbox address so sandbox=True cannot escape the redirect either.
    merged = {**(endpoint.options or {}), **options}
    replaced: WebsocketEndpoint = dataclasses.replace(
        endpoint, address=address, sandbox=None, options=merged
    )
    return replaced


def _rebase(url: str, base: str) -> str:
    """``url`` with its scheme and host replaced by ``base``: the path is kept."""
    path = urlsplit(url).path
    return base.rstrip("/") + path


def _tag(url: str) -> str:
    """A class-name-safe trace of the URL, for readable reprs and logs."""
    return "".join(c if c.isalnum() else "_" for c in url.split("://", 1)[-1])


__all__ = ["FeedCallback", "FeedEndpoints", "feed_class", "make_feed"]
