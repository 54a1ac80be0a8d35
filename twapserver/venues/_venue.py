"""`Venue`: what twap needs to know of one exchange beyond cryptofeed's class for it.

cryptofeed's exchange class does the venue's wire work (connections, parsing, snapshots,
sequence checks). A `Venue` adds the facts twap decides per venue, with defaults that work for
any cryptofeed exchange:

* ``feed_options``: keyword arguments for the feed (``checksum_validation`` where the venue
  sends checksums);
* :meth:`instruments`: tick, lot and contract sizes read from the venue's instruments body
  (the one cryptofeed reads its symbols from, fetched once by :meth:`load_symbols`);
* :meth:`minute_candles`: closed 1m candles from the venue's REST, through cryptofeed's own
  REST candle support (``candles`` of its ``*RestMixin``): only venues whose class has one can
  be backfilled (:attr:`has_rest_candles`).

A venue with facts of its own is a subclass in a module of this package (see
``twapserver/venues/kraken.py``); every other cryptofeed exchange gets the plain `Venue`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from twapcore import InstrumentInfo
from twapcore.candles import INTERVALS
from twapcore.feeds.normalize import seconds_to_ns
from twapcore.models import Candle
from twapserver.venues._net import REQUEST_TIMEOUT_S, VenueError, fetch_json, http_error

if TYPE_CHECKING:
    from cryptofeed.feed import Feed

    from twapserver.feeds import FeedEndpoints

__all__ = ["Venue"]

MINUTE_NS = INTERVALS["1m"]
_S_NS = 1_000_000_000


class Venue:
    """One exchange (a cryptofeed exchange id, lowercase: ``binance``, ``bit.com``)."""

    # Keyword arguments of the cryptofeed feed (on top of twap's own: channels, callbacks).
    feed_options: ClassVar[Mapping[str, Any]] = {}
    # The most recent minutes the venue's candle REST can answer; None: any.
    backfill_max_minutes: ClassVar[int | None] = None
    # How much of the underlying one contract of a derivative is, where the venue's
    # instruments body does not say and the venue documents one value for all.
    contract_size: ClassVar[Decimal | None] = None

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.exchange!r})"

    # -- the feed --------------------------------------------------------------------------

    def feed_class(
        self, endpoints: FeedEndpoints | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> type[Feed]:
        """cryptofeed's class of this venue, redirected to ``endpoints`` when given."""
        from twapserver.feeds import feed_class

        return feed_class(self.exchange, endpoints, ssl_context)

    def load_symbols(self, cls: type[Feed], context: ssl.SSLContext | None) -> Any:
        """Fetch the venue's instruments body(ies) as cryptofeed would, and fill cryptofeed's
        symbol cache from it unless already filled; returns the body (a list when the venue
        has several instruments calls). Blocking: run it in a thread.

        Done here rather than by cryptofeed's constructor so the request has a timeout and
        the CA of ``TWAP_VENUE_CA_FILE``, and a failure is one exception, not a logged
        traceback per attempt. Raises ``OSError`` when the venue is unreachable and
        `VenueError` for an unusable answer.
        """
        from cryptofeed.symbols import Symbols

        urls: list[str] = []
        for endpoint in cls.rest_endpoints:
            prepared = cls._symbol_endpoint_prepare(endpoint)
            urls.extend(prepared if isinstance(prepared, list) else [prepared])
        bodies = [fetch_json(url, context) for url in urls]
        body = bodies if len(bodies) > 1 else bodies[0]
        if not Symbols.populated(cls.id):
            try:
                mapping, info = cls._parse_symbol_data(body)
            except Exception as exc:  # cryptofeed's parsers raise whatever a bad body triggers
                raise VenueError(f"unusable instruments list: {exc!r}") from None
            Symbols.set(cls.id, mapping, info)
        return body

    # -- instruments -----------------------------------------------------------------------

    def instruments(
        self,
        body: Any,
        natives: Mapping[str, str],
        symbol_info: Mapping[str, Any] | None = None,
    ) -> list[InstrumentInfo]:
        """Sizes of each symbol of ``natives`` (canonical -> the venue's own spelling): read
        from the instruments ``body`` where twap knows its shape, else from what cryptofeed's
        symbol parsing kept (``symbol_info``, keyed by cryptofeed's symbol); a derivative's
        contract size falls back to the venue's documented :attr:`contract_size`. Unknown
        sizes are None. Never raises: sizes inform, they must not stop collection."""
        from twapcore.feeds._instruments import sizes_by_exchange_symbol, sizes_from_symbol_info

        by_native: Mapping[str, Any] = {}
        by_symbol: Mapping[str, Any] = {}
        with contextlib.suppress(Exception):
            by_native = sizes_by_exchange_symbol(body)
        with contextlib.suppress(Exception):
            by_symbol = sizes_from_symbol_info(symbol_info or {})
        infos = []
        for symbol, native in natives.items():
            sizes = [by_native.get(native), by_symbol.get(symbol)]

            def first(name: str, sizes: list[Any] = sizes) -> Decimal | None:
                found = (getattr(size, name, None) for size in sizes)
                return next((value for value in found if value is not None), None)

            contract = first("contract_size") or self._contract_size(symbol)
            tick, lot = first("tick_size"), first("lot_size")
            infos.append(InstrumentInfo(self.exchange, symbol, tick, lot, contract))
        return infos

    def _contract_size(self, symbol: str) -> Decimal | None:
        from twapcore.symbols import InstrumentType, instrument_type

        if instrument_type(symbol) is InstrumentType.SPOT:
            return None
        return self.contract_size

    # -- candles ---------------------------------------------------------------------------

    @property
    def has_rest_candles(self) -> bool:
        """Whether cryptofeed's class of this venue can fetch candles over REST."""
        from cryptofeed.exchange import RestExchange

        candles = getattr(self.feed_class(), "candles", RestExchange.candles)
        return candles is not RestExchange.candles

    async def minute_candles(
        self,
        cls: type[Feed],
        symbol: str,
        start_ns: int,
        end_ns: int,
        context: ssl.SSLContext | None = None,
    ) -> list[Candle]:
        """The venue's 1m candles of ``symbol`` (canonical) opening in [start_ns, end_ns),
        fetched by cryptofeed's ``cls.candles`` (``cls`` may be redirected; its symbols must
        be loaded, see :meth:`load_symbols`).

        Each page has ``REQUEST_TIMEOUT_S``. Raises `VenueError` for an HTTP error (status and
        the venue's words) or malformed candles; network failures raise as they come.
        """
        feed = cls()  # REST use only: no symbols, no channels, nothing connects
        http = feed.http_conn
        last_body: list[str] = []

        async def keep_body(data: Any, *args: Any, **kwargs: Any) -> None:
            last_body[:] = [
                data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
            ]

        def raise_for_status(response: Any, data: Any) -> None:
            # Replaces cryptofeed's, which logs three error lines before raising.
            if response.status != 200:
                raise VenueError(http_error(response.status, response.reason or "", _text(data)))

        http.raw_data_callback = keep_body
        http._handle_error = raise_for_status
        if context is not None:
            import aiohttp

            http.conn = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        pages = feed.candles(
            symbol, start=start_ns // _S_NS, end=end_ns // _S_NS, interval="1m", retry_count=0
        )
        candles: list[Candle] = []
        try:
            while True:
                try:
                    page = await asyncio.wait_for(anext(pages), REQUEST_TIMEOUT_S)
                except StopAsyncIteration:
                    break
                except VenueError:
                    raise
                except (IndexError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
                    if isinstance(exc, IndexError) and last_body and _is_empty_list(last_body[0]):
                        break  # cryptofeed reads the last entry of an empty page: no more candles
                    excerpt = _excerpt(last_body[0]) if last_body else "?"
                    raise VenueError(
                        f"malformed candles from {self.exchange}: {exc!r} in {excerpt}"
                    ) from None
                candles.extend(self._candle(symbol, c) for c in page)
        finally:
            await pages.aclose()
            await http.close()
        return candles

    def _candle(self, symbol: str, candle: Any) -> Candle:
        """A twapcore 1m candle from cryptofeed's (times in float seconds)."""
        open_ns = seconds_to_ns(candle.start)
        if open_ns % MINUTE_NS:
            raise VenueError(f"{self.exchange} candle opens at {open_ns} ns, not on a minute")
        values = {}
        for name in ("open", "high", "low", "close", "volume"):
            value = getattr(candle, name)
            try:
                number = Decimal(value)
            except (InvalidOperation, TypeError, ValueError):
                raise VenueError(
                    f"{self.exchange} candle {name} {value!r} is not a decimal"
                ) from None
            if not number.is_finite():
                raise VenueError(f"{self.exchange} candle {name} {value!r} is not finite")
            values[name] = number
        trades = candle.trades if isinstance(candle.trades, int) else 0  # None: not published
        return Candle(self.exchange, symbol, "1m", open_ns, trades=trades, **values)


def _text(data: Any) -> str:
    return data if isinstance(data, str) else bytes(data or b"").decode("utf-8", "replace")


def _is_empty_list(body: str) -> bool:
    return body.strip().replace(" ", "") == "[]"


def _excerpt(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."
