"""Collectors: cryptofeed feeds running inside the server's event loop, feeding the hub.

cryptofeed's own exchange classes do the venue work (connections, snapshots,
sequence checks, Kraken checksums); this module adds what the product needs
on top, each at O(1) per message:

* book callbacks hand the hub a *provider* (cryptofeed's live book object plus
  the receive time); top-N snapshots are built only when someone reads them;
* feed health: connections and reconnects (from `subscribe`, called by
  cryptofeed on every (re)connect), Binance sequence gaps (a reset inside
  `_check_update_id`), Kraken checksum failures (`BadChecksum` out of `_book`).
  After a gap or a checksum failure the hub stops serving the book until
  cryptofeed has rebuilt it, so a wrong book is never served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cryptofeed
from cryptofeed import FeedHandler
from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed.exceptions import BadChecksum
from cryptofeed.feed import Feed

from twapcore.feeds import book_from_cryptofeed_ns, trade_from_cryptofeed_ns
from twapcore.feeds.normalize import canonical_symbol, exchange_name
from twapcore.models import BookSnapshot
from twapserver.feeds import FeedEndpoints, feed_class
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait

__all__ = ["Collectors"]

log = logging.getLogger("twapserver.collectors")

_CRYPTOFEED_DIR = str(Path(cryptofeed.__file__).resolve().parent)


def _runs_cryptofeed_code(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.startswith(_CRYPTOFEED_DIR)


def _observed(venue: type[Feed], hub: MarketHub) -> type[Feed]:
    """A subclass of `venue` that reports connection and integrity events to `hub`."""

    class Observed(venue):  # type: ignore[valid-type,misc]
        async def subscribe(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
            hub.on_connect(exchange_name(self.id), self._twap_symbols(conn))
            return await super().subscribe(conn, *args, **kwargs)

        def _twap_symbols(self, conn: Any) -> list[str]:
            subscription = getattr(conn, "subscription", None) or {}
            native = {s for symbols in subscription.values() for s in symbols}
            if not native:
                return list(self.normalized_symbols)
            return [self.exchange_symbol_to_std_symbol(s) for s in native]

        def _check_update_id(self, std_pair: str, msg: dict[str, Any]) -> bool:
            skip: bool = super()._check_update_id(std_pair, msg)
            if std_pair not in self.last_update_id:
                # A gap: cryptofeed has reset the books of *every* symbol of this feed.
                exchange = exchange_name(self.id)
                hub.on_integrity_failure(exchange, canonical_symbol(std_pair), "gap")
                for other in self.normalized_symbols:
                    hub.invalidate(exchange, canonical_symbol(other))
            return skip

        async def _book(self, msg: Any, pair: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super()._book(msg, pair, *args, **kwargs)
            except BadChecksum:
                # Kraken passes the normalized pair; cryptofeed reconnects and resubscribes.
                hub.on_integrity_failure(exchange_name(self.id), canonical_symbol(pair), "checksum")
                raise

    Observed.__name__ = f"Observed{venue.__name__}"
    return Observed


def _receipt_ns(receipt_timestamp: float) -> int:
    # cryptofeed's receive time is time.time(): a float only good to ~0.2 us at
    # today's epoch, so plain rounding loses nothing (exchange times, which are
    # exact milliseconds, go through seconds_to_ns instead).
    return round(receipt_timestamp * 1e9)


def _fetch_json(url: str, context: ssl.SSLContext | None) -> Any:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return json.load(response)


class Collectors:
    """One cryptofeed `FeedHandler` with an L2_BOOK + TRADES feed per configured venue."""

    def __init__(
        self,
        settings: Settings,
        hub: MarketHub,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.handler: FeedHandler | None = None
        self._retry_task: asyncio.Task[None] | None = None
        # Called with (exchange, symbols) when a venue that failed at start comes up.
        self.late_start_listeners: list[Callable[[str, list[str]], None]] = []
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self._ssl = (
            ssl.create_default_context(cafile=str(settings.venue_ca_file))
            if settings.venue_ca_file
            else None
        )

    async def _on_book(self, book: Any, receipt_timestamp: float) -> None:
        depth = self.settings.book_depth

        ts_recv = _receipt_ns(receipt_timestamp)

        def provider(book: Any = book, ts: int = ts_recv) -> BookSnapshot:
            return book_from_cryptofeed_ns(book, ts, depth)

        exchange = exchange_name(book.exchange)
        symbol = canonical_symbol(book.symbol)
        self.hub.on_book(exchange, symbol, provider, ts_recv)

    async def _on_trade(self, trade: Any, receipt_timestamp: float) -> None:
        self.hub.on_trade(trade_from_cryptofeed_ns(trade, _receipt_ns(receipt_timestamp)))

    def _build_feed(self, exchange: str, symbols: list[str]) -> Feed:
        # Runs in a worker thread: cryptofeed fetches symbol info with a blocking call.
        override = self.settings.venue_endpoints.get(exchange)
        endpoints = FeedEndpoints(override.ws_url, override.rest_url) if override else None
        venue = _observed(feed_class(exchange, endpoints, self._ssl), self.hub)
        options: dict[str, Any] = {}
        if exchange == "kraken":
            options["checksum_validation"] = True
        feed: Feed = venue(
            symbols=symbols,
            channels=[L2_BOOK, TRADES],
            callbacks={L2_BOOK: self._on_book, TRADES: self._on_trade},
            **options,
        )
        self._register_instruments(exchange, symbols, feed)
        return feed

    def _register_instruments(self, exchange: str, symbols: list[str], feed: Feed) -> None:
        from twapcore.feeds._instruments import sizes_by_exchange_symbol

        sizes: dict[str, Any] = {}
        with contextlib.suppress(Exception):  # sizes are informative; never block collection
            sizes = sizes_by_exchange_symbol(
                _fetch_json(feed.rest_endpoints[0].route("instruments"), self._ssl)
            )
        for symbol in symbols:
            native = feed.std_symbol_to_exchange_symbol(symbol)
            size = sizes.get(native)
            self.hub.register(
                InstrumentInfo(
                    exchange,
                    symbol,
                    None if size is None else size.tick_size,
                    None if size is None else size.lot_size,
                )
            )

    async def start(self) -> None:
        """Build every feed (symbol lookups in threads) and start them in this loop."""
        for exchange, symbols in self.settings.exchanges.items():
            for symbol in symbols:
                self.hub.register(InstrumentInfo(exchange, symbol))
        self._tasks_before = asyncio.all_tasks()
        # A config dict replaces cryptofeed's defaults; disabled log = no feedhandler.log in cwd.
        self.handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        failed = [
            (exchange, symbols)
            for exchange, symbols in self.settings.exchanges.items()
            if not await self._add_feed(exchange, symbols)
        ]
        self.handler.run(start_loop=False, install_signal_handlers=False)
        if failed:
            self._retry_task = asyncio.create_task(self._retry(failed))

    async def _add_feed(self, exchange: str, symbols: list[str]) -> bool:
        """Build and add one venue's feed; on failure record the error in the hub's health."""
        assert self.handler is not None
        try:
            feed = await asyncio.to_thread(self._build_feed, exchange, symbols)
        except Exception as exc:  # one unreachable venue must not stop the others
            log.error("cannot start the %s feed (retrying): %s", exchange, exc)
            for symbol in symbols:
                self.hub.on_feed_error(exchange, symbol, f"cannot start the feed: {exc}")
            return False
        # Before run() the handler starts it with the others; after, add_feed starts it now.
        self.handler.add_feed(feed, loop=asyncio.get_running_loop())
        return True

    async def _retry(self, failed: list[tuple[str, list[str]]]) -> None:
        while failed:
            await asyncio.sleep(self.settings.feed_retry_s)
            still_failed = []
            for exchange, symbols in failed:
                if not await self._add_feed(exchange, symbols):
                    still_failed.append((exchange, symbols))
                    continue
                for listener in self.late_start_listeners:
                    listener(exchange, symbols)
            failed = still_failed

    async def stop(self) -> None:
        retry, self._retry_task = self._retry_task, None
        await cancel_and_wait(retry)
        if self.handler is None:
            return
        await self.handler.stop_async()
        # cryptofeed leaves watchdog sleeps and reconnect back-offs behind. Only its own
        # tasks: others started since (the server's, a caller's shutdown) are not ours to end.
        leftovers = {
            task
            for task in asyncio.all_tasks() - self._tasks_before - {asyncio.current_task()}
            if _runs_cryptofeed_code(task)
        }
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        self.handler = None
