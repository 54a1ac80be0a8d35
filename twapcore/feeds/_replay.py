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

import asyncio
import json
import logging
from asyncio import events
from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptofeed.connection import WSAsyncConn
from cryptofeed.defines import BINANCE, L2_BOOK, TRADES
from cryptofeed.exceptions import BadChecksum
from cryptofeed.exchanges import EXCHANGE_MAP
from cryptofeed.symbols import Symbols, str_to_symbol

from twapcore.errors import RecordingError, TwapError, UnknownExchange
from twapcore.feeds._captures import (
    Capture,
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

_LOG = logging.getLogger("feedhandler")  # cryptofeed's logger


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


@dataclass(frozen=True, slots=True)
class ReplaySource:
    """What a replay of one venue is built from."""

    exchange_id: str  # cryptofeed's id, e.g. "BINANCE"
    origin: str  # names the capture in messages
    exchange_info: Any  # parsed exchange-info body (a list when several), for instrument sizes
    # Captured REST responses (URL, body) answering cryptofeed's symbol reads;
    # empty: `exchange_info` is given to the parser directly (hftbacktest).
    responses: tuple[tuple[str, str], ...] = ()
    # Channel -> cryptofeed symbols subscribed; None: every symbol, books and trades.
    configuration: Mapping[str, Sequence[str]] | None = None
    connections: tuple[str, ...] = ()  # the capture's websocket connections, in order


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


class _NotCaptured(RecordingError):
    pass


class _CapturedRest:
    """Answers cryptofeed's blocking REST calls (`http_sync`) with the capture's responses."""

    def __init__(self, exchange_id: str, responses: Sequence[tuple[str, str]]) -> None:
        self._exchange_id = exchange_id
        self._bodies: dict[str, str] = {}
        for url, body in responses:
            self._bodies.setdefault(url, body)

    def read(self, address: str, *args: Any, json: bool = False, **kwargs: Any) -> Any:
        return self._answer(address, json)

    def write(self, address: str, *args: Any, json: bool = False, **kwargs: Any) -> Any:
        return self._answer(address, json)

    def _answer(self, address: str, as_json: bool) -> Any:
        body = self._bodies.get(address)
        if body is None:
            raise _NotCaptured(
                f"cryptofeed's {self._exchange_id} requests {address}, which the capture does"
                " not hold (captured by another cryptofeed version?)"
            )
        # As cryptofeed parses them: numbers with a fraction become Decimals.
        return json.loads(body, parse_float=Decimal) if as_json else body


@contextmanager
def _quiet_cryptofeed() -> Iterator[None]:
    # cryptofeed logs a traceback before re-raising a symbol-mapping failure;
    # the replay reports that failure itself, in one line.
    disabled = _LOG.disabled
    _LOG.disabled = True
    try:
        yield
    finally:
        _LOG.disabled = disabled


@dataclass(frozen=True, slots=True)
class VenueSymbols:
    """cryptofeed's view of a captured venue: its class (REST answered offline) and symbols."""

    feed_class: Any
    mapping: dict[str, str]  # cryptofeed symbol -> exchange symbol
    info: dict[str, Any]  # cryptofeed's symbol info (`instrument_type`, `tick_size`...)

    def instrument_type(self, symbol: str) -> str:
        """cryptofeed's instrument type of a symbol: `spot`, `perpetual`, `futures`, `option`..."""
        known = self.info.get("instrument_type", {}).get(symbol)
        if known is not None:
            return str(known)
        try:
            return str(str_to_symbol(symbol).type)
        except Exception:  # cryptofeed cannot parse its own name: say so, do not fail
            return "unknown"


def load_symbols(source: ReplaySource) -> VenueSymbols:
    """Run cryptofeed's symbol mapping of the venue on the capture's REST responses.

    Leaves cryptofeed's process-wide symbol cache as it was; raises
    `UnknownExchange` or `RecordingError` naming the capture when it cannot.
    """
    feed_class = EXCHANGE_MAP.get(source.exchange_id)
    if feed_class is None:
        raise UnknownExchange(
            f"{source.origin}: {source.exchange_id!r} is not an exchange cryptofeed knows"
        )
    # A subclass, so this replay's REST answers reach no other feed.
    offline = type(
        feed_class.__name__,
        (feed_class,),
        {"http_sync": _CapturedRest(source.exchange_id, source.responses)},
    )
    with _symbol_cache(feed_class.id):
        try:
            if source.responses:
                mapping, info = _symbol_mapping(offline, source.exchange_info)
            else:
                mapping, info = feed_class._parse_symbol_data(source.exchange_info)
        except _NotCaptured as exc:
            raise RecordingError(f"{source.origin}: {exc}") from exc
        except Exception as exc:
            raise RecordingError(
                f"{source.origin}: cryptofeed cannot read its exchange info ({exc!r}; captured"
                " by another cryptofeed version?)"
            ) from exc
    return VenueSymbols(offline, dict(mapping), dict(info))


def _symbol_mapping(offline: Any, exchange_info: Any) -> tuple[Any, Any]:
    """cryptofeed's `symbol_mapping`, its REST reads answered from the capture.

    When it asks for a response the capture lacks (a capture by a cryptofeed
    version that read other endpoints), its parser gets the bodies the capture
    holds, as the offline replay always did; if that fails too, the missing
    response is the reason reported.
    """
    try:
        with _quiet_cryptofeed():
            mapping = offline.symbol_mapping(refresh=True)
        return mapping, Symbols.get(offline.id)[1]
    except _NotCaptured as missing:
        try:
            parsed: tuple[Any, Any] = offline._parse_symbol_data(exchange_info)
        except Exception:
            raise missing from None
        return parsed


@contextmanager
def _symbol_cache(exchange_id: str) -> Iterator[None]:
    # cryptofeed reads symbols from a process-wide cache (and fills it with what
    # it fetched). Put back what was there, so live feeds built later see live symbols.
    previous = Symbols.data.get(exchange_id)
    try:
        yield
    finally:
        if previous is None:
            Symbols.data.pop(exchange_id, None)
        else:
            Symbols.data[exchange_id] = previous


class _AwaitResponse:
    """Yielded by an offline REST read whose response the capture has not received yet."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __await__(self) -> Generator[_AwaitResponse, None, None]:
        yield self


def _nothing() -> None:
    return None


class _ReplayLoop:
    """The running loop cryptofeed's coroutines see while replayed: every timer fires at once.

    cryptofeed sleeps before some snapshot reads (Bitstamp 5 s, Crypto.com 1 s);
    offline, the capture's receive times already hold those waits. Only what
    `asyncio.sleep` and `asyncio.Future` use is here: anything else cryptofeed
    would ask of a loop offline (tasks, sockets) fails, and is reported.
    """

    def get_debug(self) -> bool:
        return False

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)  # type: ignore[arg-type]

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        callback(*args)
        return asyncio.TimerHandle(0.0, _nothing, (), self)  # type: ignore[arg-type]

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        return None


_REPLAY_LOOP = _ReplayLoop()


def _advance(step: Coroutine[Any, Any, Any]) -> str | None:
    """Run a cryptofeed coroutine until it ends (None) or waits for a response (its key).

    Offline, nothing else waits: callbacks and captured reads answer at once, and
    sleeps end at once. The replay loop stands in for any running loop only
    while the coroutine runs, so a replay also works inside a server's loop.
    """
    outer = events._get_running_loop()
    events._set_running_loop(_REPLAY_LOOP)  # type: ignore[arg-type]
    try:
        while True:
            awaited = step.send(None)
            if type(awaited) is _AwaitResponse:
                return awaited.key
            if awaited is not None:
                step.close()
                raise RecordingError(
                    "cryptofeed's handler waited on real I/O during an offline replay"
                )
    except StopIteration:
        return None
    finally:
        events._set_running_loop(outer)


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
    cryptofeed's parser fails on is counted in `failed_messages`, and its
    connection is reset the way cryptofeed resets a failed connection (subscribed
    again). A failure while setting up raises
    `RecordingError` or `UnknownExchange`.
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
        with _symbol_cache(feed_class.id):
            Symbols.set(feed_class.id, self.venue_symbols.mapping, self.venue_symbols.info)
            try:
                feed = feed_class(
                    subscription=subscription,
                    callbacks={L2_BOOK: self._book, TRADES: self._trade},
                    checksum_validation=True,
                    config=_FEED_CONFIG,
                )
            except _NotCaptured as exc:
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
            with _quiet_cryptofeed():
                live = [c for c, *_ in self._feed.connect() if isinstance(c, WSAsyncConn)]
        except Exception as exc:
            raise RecordingError(
                f"{self._origin}: cryptofeed cannot lay out its connections ({exc!r})"
            ) from exc
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
        # The venue's own body when twap knows its shape, else what cryptofeed kept.
        return sizes or self._info_sizes.get(symbol) or InstrumentSizes()

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
        if connection.opening is not None:
            connection.opening.close()
            for waiting in self._waiting.values():
                if connection in waiting:
                    waiting.remove(connection)
        connection.opened = True
        connection.opening = self._subscribe(connection)
        self._resume_opening(connection)

    def _resume_opening(self, connection: _ReplayConnection) -> None:
        opening = connection.opening
        assert opening is not None
        try:
            key = _advance(opening)
        except _NotCaptured as exc:
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
            key = _advance(step)
        except _SinkFailed as failed:
            raise failed.error from None
        except BadChecksum:
            self._failed(connection, message, "book checksum does not match cryptofeed's book")
            return
        except Exception as exc:
            self._failed(connection, message, f"cryptofeed's parser failed ({exc!r})")
            return
        if key is not None:
            # Replayed whole once the response is captured: the handler had only
            # asked for it, nothing was applied yet.
            step.close()
            self._held.setdefault(key, []).append((connection, message))

    def _failed(self, connection: _ReplayConnection, message: CapturedMessage, reason: str) -> None:
        self.failed_messages += 1
        if self.first_failure is None:
            self.first_failure = f"{message.origin}: {reason}"
        # What cryptofeed does when a handler raises: reconnect, i.e. subscribe again.
        self._open(connection)

    async def _read_response(self, address: str, *args: Any, **kwargs: Any) -> Any:
        key = snapshot_key(address)
        while not (responses := self._responses.get(key)):
            await _AwaitResponse(key)
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


def replay_for(capture: Capture, on_book: BookSink, on_trade: TradeSink) -> FeedReplay:
    """The `FeedReplay` that parses `capture`, subscribed as it was recorded."""
    if not isinstance(capture, CryptofeedCapture | HftbacktestCapture):
        raise UnknownExchange(capture.reason)
    return FeedReplay(source_for(capture), on_book, on_trade)
