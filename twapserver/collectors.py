"""Collectors: cryptofeed feeds running inside the server's event loop, feeding the hub.

cryptofeed's own exchange classes do the venue work (connections, snapshots,
sequence checks, Kraken checksums); what twap decides per venue (feed options,
instrument sizes) comes from `twapserver.venues`. This module adds what the
product needs on top, each at O(1) per message:

* book callbacks hand the hub a *provider* (cryptofeed's live book object plus
  the receive time); top-N snapshots are built only when someone reads them;
* feed health: connections and reconnects (from `subscribe`, called by
  cryptofeed on every (re)connect), Binance sequence gaps (a reset inside
  `_check_update_id`), Kraken checksum failures (`BadChecksum` out of `_book`).
  After a gap or a checksum failure the hub stops serving the book until
  cryptofeed has rebuilt it, so a wrong book is never served;
* a `ConnectionWatchdog` for what cryptofeed handles poorly: a venue that goes
  silent with the socket open (reported and reconnected after
  `feed_silence_s`), a venue that is down (retried with a back-off capped at
  `feed_reconnect_max_s` instead of cryptofeed's unbounded doubling), and a
  lost connection (the hub stops serving its books at once);
* a venue unreachable at start (offline) is retried with a doubling back-off up
  to `feed_retry_s`. Every failed attempt, at start or reconnecting, is one log
  line per venue naming the reason in plain words and the wait before the next
  (`binance: cannot connect (Name or service not known); retrying in 4 s`); the
  traceback only at debug level. /health shows the same reason per feed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cryptofeed
from cryptofeed import FeedHandler
from cryptofeed.connection import WSAsyncConn
from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed.exceptions import BadChecksum
from cryptofeed.feed import Feed

from twapcore.feeds import book_from_cryptofeed_ns, trade_from_cryptofeed_ns
from twapcore.feeds.normalize import canonical_symbol, exchange_name
from twapcore.models import BookSnapshot
from twapserver.feeds import FeedEndpoints
from twapserver.hub import CANNOT_CONNECT, InstrumentInfo, MarketHub
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait
from twapserver.venues import unreachable_reason, venue_for

__all__ = ["Collectors", "ConnectionWatchdog"]

log = logging.getLogger("twapserver.collectors")

_CRYPTOFEED_DIR = str(Path(cryptofeed.__file__).resolve().parent)
_FIRST_RETRY_S = 0.5  # first wait after a failed connection attempt; doubles up to a cap
_FIRST_START_RETRY_S = 1.0  # first wait after a venue failed to start; doubles up to a cap

Sleep = Callable[[float], Awaitable[None]]


def _seconds(delay: float) -> str:
    """``4 s``, ``0.5 s``: a back-off delay as people read it."""
    return f"{delay:.3g} s"


def _failure(exc: BaseException) -> str:
    """Why a connection or a start failed, in plain words for logs and /health."""
    reason = unreachable_reason(exc)
    if reason is not None:
        return f"{CANNOT_CONNECT} ({reason})"
    return f"cannot start the feed ({type(exc).__name__}: {exc})"


def _runs_cryptofeed_code(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.startswith(_CRYPTOFEED_DIR)


def _symbols_of(feed: Feed, conn: Any) -> list[str]:
    """The canonical symbols a connection of `feed` carries (all of the feed's if unknown)."""
    subscription = getattr(conn, "subscription", None) or {}
    native = {s for symbols in subscription.values() for s in symbols}
    if not native:
        return [canonical_symbol(s) for s in feed.normalized_symbols]
    return sorted(canonical_symbol(feed.exchange_symbol_to_std_symbol(s)) for s in native)


@dataclass(slots=True)
class _Watched:
    feed: Feed
    opened_at: float | None = None  # time.time() of the last (re)subscribe; None = closed


class ConnectionWatchdog:
    """Watches the WebSocket connections of the collectors' feeds.

    * Silence: cryptofeed's own watchdog only starts after a first message and
      waits 120 s; this one closes a connection that has received nothing for
      `silence_s` since its last message or since it opened, so cryptofeed
      reconnects. /health shows why (`last_error`) until the reconnect, which
      it counts (`reconnects`).
    * Down venue: cryptofeed doubles its wait after every failed connection
      attempt without bound (a 2-minute outage can cost 2 more minutes); here a
      connection retries within its own open, waiting 0.5 s doubling up to
      `reconnect_max_s`, and the hub shows the error meanwhile.
    * Lost connection: the books it carried are no longer maintained, so the
      hub stops serving them until the new connection rebuilds them.
    """

    def __init__(
        self,
        hub: MarketHub,
        silence_s: float,
        reconnect_max_s: float,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.silence_s = silence_s
        self.reconnect_max_s = reconnect_max_s
        self._sleep = sleep  # the back-off wait (tests inject one that does not wait)
        self._clock = clock
        self._watched: dict[WSAsyncConn, _Watched] = {}
        # Per venue, when its next "cannot connect" line may be logged: the connections of a
        # venue fail together, and one line per venue per retry is enough.
        self._quiet_until: dict[str, float] = {}

    def adopt(self, feed: Feed, conn: Any) -> None:
        """Watch `conn`, a connection `feed` just made (before cryptofeed opens it)."""
        if not isinstance(conn, WSAsyncConn):
            return  # REST polling connections have no socket to watch
        watched = _Watched(feed)
        self._watched[conn] = watched
        # cryptofeed builds its connections inside Feed.connect() with no hook for the
        # class, so the patient open goes on the instance.
        conn._open = self._patient_open(conn, watched, conn._open)

    def opened(self, conn: Any) -> None:
        """`conn` is (re)subscribing: it counts as alive from now."""
        watched = self._watched.get(conn)
        if watched is not None:
            watched.opened_at = time.time()
            self._quiet_until.pop(exchange_name(watched.feed.id), None)

    async def run(self) -> None:
        """Check every connection for silence until cancelled."""
        interval = min(1.0, self.silence_s / 4)
        while True:
            await asyncio.sleep(interval)
            await self.check(time.time())

    async def check(self, now: float) -> None:
        """Close the connections silent for over `silence_s` at `now` (time.time())."""
        for conn, watched in list(self._watched.items()):
            if watched.opened_at is None or not conn.is_open:
                continue
            silent_s = now - max(conn.last_message or 0.0, watched.opened_at)
            if silent_s <= self.silence_s:
                continue
            exchange = exchange_name(watched.feed.id)
            log.warning("%s: no message for %.1f s, reconnecting %s", exchange, silent_s, conn.id)
            self._lost(watched, conn, f"no message for {silent_s:.1f} s: reconnecting")
            await conn.close()

    def _lost(self, watched: _Watched, conn: Any, why: str | None) -> None:
        """`conn`'s books are no longer maintained; `why` (if given) goes to /health as the
        feed's error. A plain loss has none: cryptofeed reconnects at once."""
        watched.opened_at = None
        exchange = exchange_name(watched.feed.id)
        for symbol in _symbols_of(watched.feed, conn):
            if why is not None:
                self.hub.on_feed_error(exchange, symbol, why)
            self.hub.invalidate(exchange, symbol)

    def _patient_open(
        self, conn: WSAsyncConn, watched: _Watched, open_once: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def open_patiently() -> None:
            if watched.opened_at is not None:
                self._lost(watched, conn, None)
            delay = _FIRST_RETRY_S
            while True:
                try:
                    await open_once()
                    return
                except Exception as exc:
                    if not _still_wanted(watched.feed, conn):
                        raise  # the feed is stopping: let cryptofeed end the connection
                    self._failed(watched, conn, exc, delay)
                await self._sleep(delay)
                delay = min(delay * 2, self.reconnect_max_s)

        return open_patiently

    def _failed(self, watched: _Watched, conn: WSAsyncConn, exc: Exception, delay: float) -> None:
        """One line per venue per retry (the traceback only at debug level); /health shows why."""
        exchange = exchange_name(watched.feed.id)
        why = _failure(exc)
        now = self._clock()
        if now >= self._quiet_until.get(exchange, float("-inf")):
            log.warning("%s: %s; retrying in %s", exchange, why, _seconds(delay))
            self._quiet_until[exchange] = now + delay / 2
        log.debug("%s: connection %s failed", exchange, conn.id, exc_info=exc)
        self._lost(watched, conn, why)


def _still_wanted(feed: Feed, conn: WSAsyncConn) -> bool:
    """Whether cryptofeed still runs the handler of `conn` (false once the feed stops)."""
    return any(handler.running for handler in feed.connection_handlers if handler.conn is conn)


def _observed(
    venue: type[Feed], hub: MarketHub, watchdog: ConnectionWatchdog | None = None
) -> type[Feed]:
    """A subclass of `venue` that reports connection and integrity events to `hub` and has
    its connections watched by `watchdog` (none: offline parsing, no connections)."""

    class Observed(venue):  # type: ignore[misc]
        def connect(self) -> list[tuple[Any, ...]]:
            connections: list[tuple[Any, ...]] = super().connect()
            if watchdog is not None:
                for conn, *_ in connections:
                    watchdog.adopt(self, conn)
            return connections

        async def subscribe(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
            if watchdog is not None:
                watchdog.opened(conn)
            hub.on_connect(exchange_name(self.id), _symbols_of(self, conn))
            return await super().subscribe(conn, *args, **kwargs)

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


class Collectors:
    """One cryptofeed `FeedHandler` with an L2_BOOK + TRADES feed per configured venue."""

    def __init__(
        self,
        settings: Settings,
        hub: MarketHub,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sleep`` is every back-off wait (start retries, reconnects) and ``clock`` the
        monotonic time of the reconnect log pacing: tests inject their own."""
        self.settings = settings
        self.hub = hub
        self.handler: FeedHandler | None = None
        self._sleep = sleep
        self._retry_tasks: list[asyncio.Task[None]] = []
        # Called with (exchange, symbols) when a venue that failed at start comes up.
        self.late_start_listeners: list[Callable[[str, list[str]], None]] = []
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self.watchdog = ConnectionWatchdog(
            hub, settings.feed_silence_s, settings.feed_reconnect_max_s, sleep=sleep, clock=clock
        )
        self._watchdog_task: asyncio.Task[None] | None = None
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
        # Runs in a worker thread: the venue's instruments call is a blocking one.
        from cryptofeed.symbols import Symbols

        venue = venue_for(exchange)
        override = self.settings.venue_endpoints.get(exchange)
        endpoints = FeedEndpoints(override.ws_url, override.rest_url) if override else None
        cls = venue.feed_class(endpoints, self._ssl)
        try:
            body = venue.load_symbols(cls, self._ssl)
        except Exception:
            if not Symbols.populated(cls.id):
                raise  # no symbols, no feed
            body = None  # symbols known from an earlier start: sizes stay unknown
        observed = _observed(cls, self.hub, self.watchdog)
        # timeout=-1: no cryptofeed watchdog; ours covers silence from the first second.
        feed: Feed = observed(
            symbols=symbols,
            channels=[L2_BOOK, TRADES],
            callbacks={L2_BOOK: self._on_book, TRADES: self._on_trade},
            timeout=-1,
            **venue.feed_options,
        )
        natives = {symbol: feed.std_symbol_to_exchange_symbol(symbol) for symbol in symbols}
        for info in venue.instruments(body, natives, Symbols.get(cls.id)[1]):
            self.hub.register(info)
        return feed

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
        self._watchdog_task = asyncio.create_task(self.watchdog.run())
        for exchange, symbols in failed:
            self._retry_tasks.append(asyncio.create_task(self._retry(exchange, symbols)))

    def _start_retry_delay(self, attempt: int) -> float:
        """The wait before start retry ``attempt`` (0 first): 1 s doubling up to
        ``feed_retry_s``."""
        cap: float = self.settings.feed_retry_s
        delay: float = _FIRST_START_RETRY_S * 2.0 ** min(attempt, 32)
        return min(delay, cap)

    async def _add_feed(self, exchange: str, symbols: list[str], attempt: int = 0) -> bool:
        """Build and add one venue's feed; on failure log one line (the traceback at debug
        level) and record why in the hub's health."""
        assert self.handler is not None
        try:
            feed = await asyncio.to_thread(self._build_feed, exchange, symbols)
        except Exception as exc:  # one unreachable venue must not stop the others
            why = _failure(exc)
            delay = _seconds(self._start_retry_delay(attempt))
            log.warning("%s: %s; retrying in %s", exchange, why, delay)
            log.debug("%s: the feed could not start", exchange, exc_info=exc)
            for symbol in symbols:
                self.hub.on_feed_error(exchange, symbol, why)
            return False
        # Before run() the handler starts it with the others; after, add_feed starts it now.
        self.handler.add_feed(feed, loop=asyncio.get_running_loop())
        return True

    async def _retry(self, exchange: str, symbols: list[str]) -> None:
        """Start one venue that failed to, with a doubling back-off, then tell the listeners."""
        attempt = 0
        while True:
            await self._sleep(self._start_retry_delay(attempt))
            attempt += 1
            if await self._add_feed(exchange, symbols, attempt):
                break
        log.info("%s: feed started", exchange)
        for listener in self.late_start_listeners:
            listener(exchange, symbols)

    async def stop(self) -> None:
        retries, self._retry_tasks = self._retry_tasks, []
        watchdog, self._watchdog_task = self._watchdog_task, None
        await cancel_and_wait(*retries, watchdog)
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
