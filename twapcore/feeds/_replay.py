"""Run cryptofeed's own exchange classes over captured messages, offline.

No sockets, no clock and no event loop of its own: each exchange object is set
up the way cryptofeed sets it up for a live feed, with every network read
answered from the capture:

- its symbol mapping is cryptofeed's own `symbol_mapping`, whose blocking REST
  reads get the bodies the capture recorded in `EXCH.0`;
- each captured websocket connection goes through the exchange's
  `authenticate` and `subscribe` when the capture shows it (re)connecting, which
  is where cryptofeed resets per-connection parser state (sequence numbers,
  last update ids) and where some venues fetch their book snapshots;
- each captured payload goes through its `message_handler`, whose REST snapshot
  reads are answered from the capture's `EXCH.http.*` responses.

A coroutine that reads a response the capture has not received yet waits for it:
a connection's subscribe resumes when it arrives (the live connection also read
nothing until its subscribe was done); a message that needed it is held back,
in order, and replayed when it arrives (the buffering Binance documents for
syncing a book).
"""

from __future__ import annotations

import atexit
import json
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptofeed.connection import WSAsyncConn
from cryptofeed.defines import BINANCE, L2_BOOK, TRADES
from cryptofeed.exceptions import BadChecksum
from cryptofeed.exchanges import EXCHANGE_MAP
from cryptofeed.symbols import Symbols

from twapcore.errors import RecordingError, TwapError, UnknownExchange
from twapcore.feeds._captures import (
    CapturedMessage,
    CryptofeedCapture,
    HftbacktestCapture,
    MessageKind,
    snapshot_key,
)
from twapcore.feeds._instruments import (
    InstrumentSizes,
    binance_exchange_info,
    sizes_by_exchange_symbol,
    sizes_from_symbol_info,
)
from twapcore.feeds._offline import (
    AwaitResponse,
    NotCaptured,
    ReplaySource,
    VenueSymbols,
    advance,
    load_symbols,
    quiet_cryptofeed,
    symbol_cache,
)
from twapcore.feeds.normalize import CryptofeedBook, CryptofeedTrade, exchange_name

__all__ = [
    "CONVERTED_CHANNELS",
    "FeedReplay",
    "ReplaySource",
    "Skipped",
    "VenueSymbols",
    "exchange_ids",
    "load_symbols",
    "source_for",
]

BookSink = Callable[[CryptofeedBook, int], None]
TradeSink = Callable[[CryptofeedTrade, int], None]

# What a recording holds; the other channels of a capture are parsed and dropped.
CONVERTED_CHANNELS = (L2_BOOK, TRADES)

# An explicit config keeps a CRYPTOFEED_CONFIG file in the environment from
# changing how a capture is parsed.
_FEED_CONFIG: dict[str, Any] = {"uvloop": False}


def exchange_ids() -> frozenset[str]:
    """cryptofeed's exchange ids (`BINANCE`, `BIT.COM`, ...): what a capture may be of."""
    return frozenset(EXCHANGE_MAP)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Part of a capture that was not converted, and why.

    `symbol` is None when the whole venue (or, with `messages` > 0 and a
    `reason` naming a line, part of its stream) was skipped; `messages` counts
    the captured messages or converted lines lost, 0 when nothing was read.
    """

    venue: str  # cryptofeed's exchange id, e.g. "BIT.COM"
    symbol: str | None  # cryptofeed's symbol, e.g. "AKRO-USDT-PERP"
    reason: str
    messages: int = 0

    def describe(self) -> str:
        """One line for people: `BITSTAMP BTC-USD: reason (12 messages)`."""
        name = self.venue if self.symbol is None else f"{self.venue} {self.symbol}"
        lost = f" ({self.messages} messages)" if self.messages else ""
        return f"{name}: {self.reason}{lost}"


def source_for(capture: CryptofeedCapture | HftbacktestCapture) -> ReplaySource:
    """The `ReplaySource` of a capture: its exchange info, subscription and connections."""
    if isinstance(capture, CryptofeedCapture):
        info, configuration = capture.read_info()
        responses, _ = capture.read_rest()
        return ReplaySource(
            capture.exchange_id,
            str(capture.info_path),
            info,
            tuple(responses),
            configuration,
            capture.connections,
        )
    # hftbacktest's collector captures Binance spot, and no exchangeInfo.
    return ReplaySource(
        BINANCE,
        str(capture.paths[0]),
        binance_exchange_info(capture.symbol),
        connections=(capture.symbol,),
    )


def _forget(connection: Any) -> None:
    # cryptofeed registers every connection object it makes to be closed at
    # exit; offline nothing opens, and a long-lived process converting many
    # captures would keep each one alive.
    atexit.unregister(connection.__del__)


class _ReplayConnection:
    """Stands in for one captured websocket connection.

    cryptofeed subscribes on it (writes go nowhere offline) and handlers read its
    id, address and subscription.
    """

    def __init__(self, uuid: str, address: str, subscription: dict[str, list[str]]) -> None:
        self.uuid = uuid
        self.id = uuid
        self.address = address
        self.subscription = subscription
        self.opened = False
        self.opening: Coroutine[Any, Any, Any] | None = None  # subscribe waiting for a response
        self.backlog: deque[CapturedMessage] = deque()  # received while subscribing

    @property
    def is_open(self) -> bool:
        return True

    async def write(self, msg: str) -> None:
        return None


class _SinkFailed(Exception):
    """Our own callback failed: not a parser failure, so never reported as one."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class FeedReplay:
    """One cryptofeed exchange object fed with a capture's messages.

    Books and trades go to `on_book(book, ts_recv_ns)` / `on_trade(trade,
    ts_recv_ns)`, ts_recv_ns being the replay clock given to `handle`. Symbols
    cryptofeed cannot subscribe (not in the captured exchange info) are left out
    and listed in `skipped`; books and trades twap cannot convert (the sinks
    raise a `TwapError`) are counted per symbol in `refused`; a message
    cryptofeed's parser fails on is counted in `failed_messages` and the replay
    goes on. A failure while setting up (or subscribing again where the capture
    reconnected) raises `RecordingError` or `UnknownExchange`.
    """

    def __init__(self, source: ReplaySource, on_book: BookSink, on_trade: TradeSink) -> None:
        self.exchange_id = source.exchange_id
        self._origin = source.origin
        self.venue_symbols = load_symbols(source)
        try:
            self.exchange = exchange_name(source.exchange_id)
        except UnknownExchange as exc:
            raise UnknownExchange(f"{source.origin}: {exc}") from exc
        self._on_book = on_book
        self._on_trade = on_trade
        self.now_ns = 0
        self.skipped: list[Skipped] = []
        subscription = self._subscription(source.configuration)
        self.subscribed = tuple(
            sorted({s for channel in CONVERTED_CHANNELS for s in subscription.get(channel, ())})
        )
        if not self.subscribed:
            reasons = "; ".join(s.reason for s in self.skipped) or "no l2_book or trades subscribed"
            raise RecordingError(f"{source.origin}: nothing to convert ({reasons})")
        self._feed = self._build_feed(self.venue_symbols.feed_class, subscription)
        self._handler = self._feed.message_handler
        self._sizes = sizes_by_exchange_symbol(source.exchange_info)
        self._info_sizes = sizes_from_symbol_info(self.venue_symbols.info)
        self._responses: defaultdict[str, deque[str]] = defaultdict(deque)
        self._waiting: dict[str, list[_ReplayConnection]] = {}  # subscribes waiting, by key
        self._held: dict[str, list[tuple[_ReplayConnection, CapturedMessage]]] = {}
        self._connections = self._connect(source.connections)
        self.failed_messages = 0
        self.first_failure: str | None = None
        self._refused: dict[str, tuple[str, int]] = {}

    def _subscription(
        self, configuration: Mapping[str, Sequence[str]] | None
    ) -> dict[str, list[str]]:
        """The capture's subscription, less what this cryptofeed cannot subscribe offline."""
        feed_class = self.venue_symbols.feed_class
        mapping = self.venue_symbols.mapping
        if configuration is None:
            every = sorted(mapping)
            return {channel: every for channel in CONVERTED_CHANNELS}
        subscription: dict[str, list[str]] = {}
        missing: set[str] = set()
        for channel, symbols in configuration.items():
            converted = channel in CONVERTED_CHANNELS
            if channel not in feed_class.websocket_channels:
                if converted:
                    self.skipped.append(
                        Skipped(
                            self.exchange_id, None, f"cryptofeed has no {channel} channel for it"
                        )
                    )
                continue
            if feed_class.is_authenticated_channel(channel):
                if converted:
                    self.skipped.append(
                        Skipped(
                            self.exchange_id, None, f"cryptofeed needs API keys for its {channel}"
                        )
                    )
                continue
            subscription[channel] = sorted(s for s in symbols if s in mapping)
            missing.update(s for s in symbols if s not in mapping)
        for symbol in sorted(missing):
            self.skipped.append(
                Skipped(self.exchange_id, symbol, "not in the capture's exchange info")
            )
        return {channel: symbols for channel, symbols in subscription.items() if symbols}

    def _build_feed(self, feed_class: Any, subscription: dict[str, list[str]]) -> Any:
        with symbol_cache(feed_class.id):
            Symbols.set(feed_class.id, self.venue_symbols.mapping, self.venue_symbols.info)
            try:
                feed = feed_class(
                    subscription=subscription,
                    callbacks={L2_BOOK: self._book, TRADES: self._trade},
                    checksum_validation=True,
                    config=_FEED_CONFIG,
                )
            except NotCaptured as exc:
                raise RecordingError(f"{self._origin}: {exc}") from exc
            except Exception as exc:
                raise RecordingError(
                    f"{self._origin}: cryptofeed rejects the capture ({exc!r})"
                ) from exc
        # Sorted lists, not sets: the order cryptofeed subscribes and snapshots in
        # must not depend on the process's hash seed.
        feed.subscription = defaultdict(
            list, {channel: sorted(symbols) for channel, symbols in feed.subscription.items()}
        )
        _forget(feed.http_conn)
        feed.http_conn.read = self._read_response
        return feed

    def _connect(self, names: Sequence[str]) -> dict[str, _ReplayConnection]:
        """One stand-in per captured connection, with the subscription cryptofeed gave it.

        When cryptofeed today splits the subscription into as many connections as
        the capture has, the capture's connections are taken to be these, in
        order; otherwise (a capture of another cryptofeed version) each one is
        given the whole subscription.
        """
        try:
            with quiet_cryptofeed():
                laid_out = [connection for connection, *_ in self._feed.connect()]
        except Exception as exc:
            raise RecordingError(
                f"{self._origin}: cryptofeed cannot lay out its connections ({exc!r})"
            ) from exc
        for connection in laid_out:
            _forget(connection)
        live = [c for c in laid_out if isinstance(c, WSAsyncConn)]
        whole = {channel: list(symbols) for channel, symbols in self._feed.subscription.items()}
        if len(live) == len(names):
            return {
                name: _ReplayConnection(name, str(conn.address), dict(conn.subscription))
                for name, conn in zip(names, live, strict=True)
            }
        return {name: _ReplayConnection(name, "", whole) for name in names}

    def sizes_of(self, symbol: str) -> InstrumentSizes:
        """Tick/lot sizes of a cryptofeed symbol (`BTC-USDT`); unknown sizes are None."""
        native = self.venue_symbols.mapping.get(symbol)
        sizes = self._sizes.get(native) if native else None
        if sizes is None:  # no body shape twap reads: what cryptofeed's parser kept
            sizes = self._info_sizes.get(symbol)
        return InstrumentSizes() if sizes is None else sizes

    @property
    def awaited(self) -> list[str]:
        """The REST requests (see `snapshot_key`) still awaited: the capture never answered them."""
        return sorted({*self._held, *self._waiting})

    @property
    def held_count(self) -> int:
        """Messages still waiting for a REST response the capture never received."""
        held = sum(len(messages) for messages in self._held.values())
        waiting = {id(c): c for conns in self._waiting.values() for c in conns}
        return held + sum(len(c.backlog) for c in waiting.values())

    def handle(self, message: CapturedMessage, now_ns: int) -> None:
        """Replay one captured message; `now_ns` (ns) becomes the receive time of its output."""
        self.now_ns = now_ns
        kind = message.kind
        if kind is MessageKind.WS:
            connection = self._connection(message.connection)
            if not connection.opened:  # a capture without connect lines (hftbacktest)
                self._open(connection)
            if connection.opening is not None:
                connection.backlog.append(message)
            else:
                self._dispatch(connection, message)
        elif kind is MessageKind.SNAPSHOT:
            text = message.text
            self._responses[message.key].append(text if isinstance(text, str) else text.decode())
            for connection in self._waiting.pop(message.key, ()):
                self._resume_opening(connection)
            for connection, held in self._held.pop(message.key, ()):
                self._dispatch(connection, held)
        elif kind is MessageKind.CONNECT:
            connection = self._connection(message.connection)
            if not connection.address:
                connection.address = str(message.text)
            self._open(connection)

    def _connection(self, name: str) -> _ReplayConnection:
        connection = self._connections.get(name)
        if connection is None:
            whole = {c: list(s) for c, s in self._feed.subscription.items()}
            connection = self._connections[name] = _ReplayConnection(name, "", whole)
        return connection

    async def _subscribe(self, connection: _ReplayConnection) -> None:
        await self._feed.authenticate(connection)
        await self._feed.subscribe(connection)

    def _open(self, connection: _ReplayConnection) -> None:
        """Set the connection up as cryptofeed does on each (re)connect: authenticate, subscribe."""
        if connection.opening is not None:  # reconnected while subscribing: start over
            connection.opening.close()
            for key, waiting in list(self._waiting.items()):
                others = [c for c in waiting if c is not connection]
                if others:
                    self._waiting[key] = others
                else:
                    del self._waiting[key]
        connection.opened = True
        connection.opening = self._subscribe(connection)
        self._resume_opening(connection)

    def _resume_opening(self, connection: _ReplayConnection) -> None:
        opening = connection.opening
        assert opening is not None
        try:
            key = advance(opening)
        except NotCaptured as exc:
            raise RecordingError(f"{self._origin}: {exc}") from exc
        except RecordingError:
            raise
        except Exception as exc:
            raise RecordingError(
                f"{self._origin}: cryptofeed cannot subscribe {connection.uuid} ({exc!r})"
            ) from exc
        if key is not None:
            self._waiting.setdefault(key, []).append(connection)
            return
        connection.opening = None
        while connection.backlog and connection.opening is None:
            self._dispatch(connection, connection.backlog.popleft())

    def _dispatch(self, connection: _ReplayConnection, message: CapturedMessage) -> None:
        step = self._handler(message.text, connection, self.now_ns / 1e9)
        try:
            key = advance(step)
        except _SinkFailed as failed:
            raise failed.error from None
        except BadChecksum:
            self._failed(message, "book checksum does not match cryptofeed's book")
            return
        except Exception as exc:
            self._failed(message, f"cryptofeed's parser failed ({exc!r})")
            return
        if key is not None:
            # Replayed whole once the response is captured: the handler had only
            # asked for it, nothing was applied yet.
            step.close()
            self._held.setdefault(key, []).append((connection, message))

    def _failed(self, message: CapturedMessage, reason: str) -> None:
        # Live, cryptofeed would reconnect and get fresh snapshots; a capture has
        # none to give, so resetting the connection would stop every symbol on
        # it. The message is counted and the others go on.
        self.failed_messages += 1
        if self.first_failure is None:
            self.first_failure = f"{message.origin}: {reason}"

    async def _read_response(self, address: str, *args: Any, **kwargs: Any) -> Any:
        key = snapshot_key(address)
        while not (responses := self._responses.get(key)):
            await AwaitResponse(key)
        body = responses.popleft()
        if kwargs.get("return_headers"):
            text, _, header = body.partition(" header: ")
            return text, (json.loads(header) if header else {})
        return body

    def refuse(self, symbol: str, error: TwapError, lost: int = 1) -> None:
        """Record that `lost` books or trades of `symbol` could not be converted."""
        reason, count = self._refused.get(symbol, (str(error), 0))
        self._refused[symbol] = (reason, count + lost)

    @property
    def refused(self) -> list[Skipped]:
        """Symbols whose books or trades could not be converted, with the reason and count."""
        return [
            Skipped(self.exchange_id, symbol, reason, lost)
            for symbol, (reason, lost) in sorted(self._refused.items())
        ]

    async def _book(self, book: CryptofeedBook, receipt_timestamp: float) -> None:
        # cryptofeed stamps snapshot books with the wall clock; the replay clock
        # is the capture's receive time, so it is used for every book.
        try:
            self._on_book(book, self.now_ns)
        except TwapError as exc:  # a symbol (or a name in it) twap cannot convert
            self.refuse(book.symbol, exc)
        except Exception as exc:
            raise _SinkFailed(exc) from exc

    async def _trade(self, trade: CryptofeedTrade, receipt_timestamp: float) -> None:
        try:
            self._on_trade(trade, self.now_ns)
        except TwapError as exc:
            self.refuse(trade.symbol, exc)
        except Exception as exc:
            raise _SinkFailed(exc) from exc
