"""`FakeExchange`: the Binance and Kraken fakes, and a generic fake per other captured venue,
served from a thread of their own."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import trustme
from aiohttp import web

from . import _binance, _kraken
from ._captures import load_binance, load_kraken
from ._generic import GenericVenue, capture_exchanges, load_generic
from ._replay import WebSocketVenue

LOG = logging.getLogger(__name__)

Venue = str  # "binance", "kraken", or the name of a generic venue ("binance_futures")
_DEDICATED = ("binance", "kraken")
_T = TypeVar("_T")

_START_TIMEOUT_S = 30.0  # parsing the captures the first time takes about half a second
_STOP_TIMEOUT_S = 10.0


class FakeExchange:
    """A loopback Binance + Kraken that replays the shared captures in their own wire formats,
    plus any venue of the cryptofeed captures in ``captures`` (see ``_generic``).

    cryptofeed's real ``Binance`` and ``Kraken`` classes connect to it with only their
    endpoints changed (see ``twapserver.feeds.make_feed``): REST on plain http, WebSockets on
    TLS (cryptofeed only accepts ``wss://``) with a certificate from a throwaway CA made at
    start; :attr:`ssl_context` trusts it.

    It runs its own event loop in a daemon thread, because cryptofeed fetches symbols with a
    blocking HTTP call inside the feed constructor: a fake on the client's loop would deadlock.
    Every WebSocket connection replays its capture from the start, paced by ``speed``
    (1.0 = real time by capture timestamps, 50.0 = 50x faster, 0/None = as fast as possible),
    and stays open when the replay ends: closing would make cryptofeed reconnect and replay.

    The control methods may be called from any thread; they return at once and take effect on
    the fake's loop in call order.
    """

    def __init__(
        self,
        data_dir: str | Path,
        speed: float | None = 1.0,
        *,
        host: str = "127.0.0.1",
        rest_port: int = 0,
        ws_port: int = 0,
        captures: Sequence[str | Path] = (),
    ) -> None:
        """``data_dir`` holds ``cryptofeed/`` (required) and ``hftbacktest/spot/`` (optional);
        ``captures``: folders of cryptofeed raw captures (``EXCH.0``, ``EXCH.ws.*``…) whose
        venues other than Binance and Kraken are served by the generic fake; port 0 picks a
        free port."""
        self.data_dir = Path(data_dir).resolve()
        self.capture_dirs = [Path(folder).resolve() for folder in captures]
        self._generic: dict[str, GenericVenue] = {}
        self.speed = speed
        self.host = host
        self._ports = (rest_port, ws_port)
        self._ca = trustme.CA()
        self._binance: _binance.BinanceVenue | None = None
        self._kraken: _kraken.KrakenVenue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: list[socket.socket] = []
        self._drops: set[asyncio.Task[None]] = set()  # strong refs: the loop keeps weak ones

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Load the captures, bind both ports on ``host`` and start serving; returns self.

        Raises ``FileNotFoundError`` when ``data_dir`` lacks the cryptofeed captures.
        """
        if self._thread is not None:
            raise RuntimeError("FakeExchange is already started")
        # Parse in the caller's thread so a missing file raises here, with its name.
        binance, kraken = load_binance(self.data_dir), load_kraken(self.data_dir)
        self._binance = _binance.BinanceVenue(binance, self.speed)
        self._kraken = _kraken.KrakenVenue(kraken, self.speed)
        self._generic = {}
        for folder in self.capture_dirs:
            for exchange_id in capture_exchanges(folder):
                name = exchange_id.lower()
                if name in _DEDICATED or name in self._generic:
                    LOG.info("fake exchange: %s of %s already served", exchange_id, folder)
                    continue
                capture = load_generic(folder, exchange_id)
                self._generic[name] = GenericVenue(name, capture, f"/generic/{name}", self.speed)
        self._sockets = [_listen(self.host, port) for port in self._ports]
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="fake-exchange", daemon=True
        )
        self._thread.start()
        try:
            started.result(timeout=_START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        LOG.info("fake exchange: REST %s, WS %s", self.rest_url, self._ws_base)
        return self

    def stop(self) -> None:
        """Close all connections and the listening sockets and end the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            shutdown = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                shutdown.result(timeout=_STOP_TIMEOUT_S)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=_STOP_TIMEOUT_S)
        for sock in self._sockets:
            sock.close()
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        """Base URL of both venues' REST APIs (plain http), e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self._bound_port(0)}"

    @property
    def binance_ws_url(self) -> str:
        """Binance WebSocket base: cryptofeed appends ``/stream?streams=…`` to it."""
        return self._ws_base + _binance.WS_PATH

    @property
    def kraken_ws_url(self) -> str:
        """Kraken WebSocket API v1 URL."""
        return self._ws_base + _kraken.WS_PATH

    @property
    def venues(self) -> list[str]:
        """Every venue served: ``binance``, ``kraken`` and the generic ones."""
        return [*_DEDICATED, *sorted(self._generic)]

    def ws_url_of(self, venue: Venue) -> str:
        """The WebSocket address to give ``venue``'s cryptofeed class (``FeedEndpoints``)."""
        if venue == "binance":
            return self.binance_ws_url
        if venue == "kraken":
            return self.kraken_ws_url
        return self._ws_base + self._generic_venue(venue).prefix + "/ws"

    def rest_url_of(self, venue: Venue) -> str:
        """The REST base to give ``venue``'s cryptofeed class (``FeedEndpoints``)."""
        if venue in _DEDICATED:
            return self.rest_url
        return self.rest_url + self._generic_venue(venue).prefix + "/rest"

    def venue_endpoints(self) -> dict[str, dict[str, str]]:
        """``Settings.venue_endpoints`` for every venue served (``TWAP_VENUE_ENDPOINTS``)."""
        return {
            v: {"ws_url": self.ws_url_of(v), "rest_url": self.rest_url_of(v)} for v in self.venues
        }

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """A client-side context that trusts the fake's throwaway CA (and nothing else)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self._ca.configure_trust(context)
        return context

    @property
    def ca_pem(self) -> bytes:
        """The throwaway CA certificate (PEM), for clients in another process."""
        return self._ca.cert_pem.bytes()

    # -- observation and faults ------------------------------------------------------------

    def connections(self, venue: Venue) -> int:
        """WebSocket connections ``venue`` accepted since start (reconnects included)."""
        return self._venue(venue).connections

    def depth_requests(self, symbol: str | None = None) -> int:
        """``GET /api/v3/depth`` calls for ``symbol`` (exchange form, e.g. ``NKNUSDT``), or all."""
        # dict() copies in one C call: safe while the fake's thread is adding keys.
        counts = dict(self._require(self._binance).depth_requests)
        return counts.get(symbol.upper(), 0) if symbol else sum(counts.values())

    def messages_sent(self, venue: Venue) -> int:
        """WebSocket messages ``venue`` sent since start, all connections."""
        return self._venue(venue).sent

    def refused(self, venue: Venue) -> int:
        """Requests (WebSocket upgrades and REST) ``venue`` answered 503 while down."""
        return self._venue(venue).refused

    def drop_connections(self, venue: Venue) -> None:
        """Close ``venue``'s WebSockets (1001); each reconnect replays from the start."""
        self._call_soon(self._spawn, self._venue(venue).drop())

    def inject_gap(self, venue: Venue, symbol: str | None = None) -> None:
        """Binance: skip the next depth diff (of ``symbol``, e.g. ``NKNUSDT``; any if None).

        The fake's own book still takes the skipped diff, so a client that detects
        ``U != previous u + 1`` and refetches the snapshot can bridge again. Arm it once the
        client has its book: a diff skipped before the client bridged is not a visible gap.
        """
        if venue != "binance":
            raise ValueError(f"inject_gap needs a sequenced feed: binance, not {venue!r}")
        binance = self._require(self._binance)
        self._call_soon(binance.arm_gap, symbol)

    def corrupt_checksum(self, venue: Venue, pair: str | None = None) -> None:
        """Kraken: send the next book update (of ``pair``, ws name e.g. ``XBT/CHF``; any if
        None) with a wrong CRC32 ``"c"``; the book data itself is untouched."""
        if venue != "kraken":
            raise ValueError(f"corrupt_checksum needs a checksummed feed: kraken, not {venue!r}")
        kraken = self._require(self._kraken)
        self._call_soon(kraken.arm_corruption, pair)

    def duplicate(self, venue: Venue, key: str | None = None) -> None:
        """Send the next book message twice: Binance the next depth diff of ``key`` (a symbol,
        e.g. ``NKNUSDT``), Kraken the next checksummed update of ``key`` (a pair, e.g.
        ``XMR/USD``); of any symbol or pair when None."""
        if venue == "binance":
            self._call_soon(self._require(self._binance).arm_duplicate, key)
        elif venue == "kraken":
            self._call_soon(self._require(self._kraken).arm_duplicate, key)
        else:
            raise ValueError(
                f"duplicate needs a book feed the fake reads: binance or kraken, not {venue!r}"
            )

    def reorder(self, venue: Venue, symbol: str | None = None) -> None:
        """Binance: hold the next depth diff of ``symbol`` (any if None) and send it right
        after the following diff of that symbol, so the client sees them out of order.

        The fake's own book takes them in order: a client that detects the gap and refetches
        the snapshot can bridge again.
        """
        if venue != "binance":
            raise ValueError(f"reorder needs a sequenced feed: binance, not {venue!r}")
        binance = self._require(self._binance)
        self._call_soon(binance.arm_swap, symbol)

    def stall(self, venue: Venue) -> None:
        """Go silent on ``venue``'s WebSockets, open and new, until :meth:`resume`; sockets
        stay open and answer pings, REST still answers."""
        self._call_soon(self._venue(venue).stall)

    def resume(self, venue: Venue) -> None:
        """End a stall: messages due meanwhile go out at once, then the replay goes on."""
        self._call_soon(self._venue(venue).resume)

    def take_down(self, venue: Venue) -> None:
        """``venue`` is down until :meth:`bring_up`: its open WebSockets are closed (1001) and
        every request to it, WebSocket upgrade or REST, is answered 503."""
        self._call_soon(self._take_down, self._venue(venue))

    def bring_up(self, venue: Venue) -> None:
        """Serve ``venue`` again after :meth:`take_down`; new connections replay from the start."""
        self._call_soon(self._venue(venue).bring_up)

    # -- internals -------------------------------------------------------------------------

    @property
    def _ws_base(self) -> str:
        return f"wss://{self.host}:{self._bound_port(1)}"

    def _bound_port(self, index: int) -> int:
        if not self._sockets:
            raise RuntimeError("FakeExchange is not started")
        port: int = self._sockets[index].getsockname()[1]
        return port

    def _venue(self, venue: Venue) -> WebSocketVenue:
        if venue == "binance":
            return self._require(self._binance)
        if venue == "kraken":
            return self._require(self._kraken)
        return self._generic_venue(venue)

    def _generic_venue(self, venue: Venue) -> GenericVenue:
        try:
            return self._generic[venue]
        except KeyError:
            known = ", ".join(repr(v) for v in self.venues)
            raise ValueError(f"unknown venue {venue!r}: expected one of {known}") from None

    @staticmethod
    def _require(venue: _T | None) -> _T:
        if venue is None:
            raise RuntimeError("FakeExchange is not started")
        return venue

    def _take_down(self, venue: WebSocketVenue) -> None:
        venue.take_down()  # at once: a bring_up called next must come after it
        self._spawn(venue.drop())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._drops.add(task)
        task.add_done_callback(self._drops.discard)

    def _call_soon(self, action: Callable[..., object], *args: object) -> None:
        """Run ``action`` on the fake's loop without waiting for it: the caller may be the
        client's loop, which must keep running for a close handshake to finish."""
        if self._loop is None:
            raise RuntimeError("FakeExchange is not started")
        self._loop.call_soon_threadsafe(action, *args)

    def _run(self, started: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self) -> None:
        binance, kraken = self._require(self._binance), self._require(self._kraken)
        app = web.Application()
        app.add_routes(binance.routes() + kraken.routes())
        for generic in self._generic.values():
            app.add_routes(generic.routes())
        # Short shutdown timeout: open WebSockets are closed first, nothing else lingers.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        names = dict.fromkeys((self.host, "127.0.0.1", "localhost"))
        self._ca.issue_cert(*names).configure_cert(server_tls)
        rest_sock, ws_sock = self._sockets
        await web.SockSite(self._runner, rest_sock).start()
        await web.SockSite(self._runner, ws_sock, ssl_context=server_tls).start()

    async def _shutdown(self) -> None:
        venues = [self._require(self._binance), self._require(self._kraken)]
        await asyncio.gather(*(venue.drop() for venue in [*venues, *self._generic.values()]))
        if self._runner is not None:
            await self._runner.cleanup()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket; bound here so the ports are known before the thread starts."""
    sock = socket.create_server((host, port), reuse_port=False)
    sock.setblocking(False)
    return sock
