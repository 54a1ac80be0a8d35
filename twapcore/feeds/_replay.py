"""Run cryptofeed's own exchange classes over captured messages, offline.

No sockets and no event loop: the exchange object is built from the captured
exchange info, its REST reads are answered from captured depth snapshots, and
each captured websocket payload goes through its `message_handler`, which
parses it and calls back with cryptofeed's normalized books and trades.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from cryptofeed.defines import BINANCE, L2_BOOK, TRADES
from cryptofeed.exceptions import BadChecksum
from cryptofeed.exchanges import EXCHANGE_MAP
from cryptofeed.symbols import Symbols

from twapcore.errors import ChecksumMismatch, RecordingError, TwapError, UnknownExchange
from twapcore.feeds._captures import (
    Capture,
    CapturedMessage,
    CryptofeedCapture,
    MessageKind,
    snapshot_key,
)
from twapcore.feeds._instruments import (
    InstrumentSizes,
    binance_exchange_info,
    sizes_by_exchange_symbol,
)
from twapcore.feeds.normalize import CryptofeedBook, CryptofeedTrade, exchange_name

__all__ = ["FeedReplay", "exchange_ids", "replay_for"]

BookSink = Callable[[CryptofeedBook, int], None]
TradeSink = Callable[[CryptofeedTrade, int], None]

# An explicit config keeps a CRYPTOFEED_CONFIG file in the environment from
# changing how a capture is parsed.
_FEED_CONFIG: dict[str, Any] = {"uvloop": False}


def exchange_ids() -> frozenset[str]:
    """cryptofeed's exchange ids (`BINANCE`, `KRAKEN`, ...): what a capture may be of."""
    return frozenset(EXCHANGE_MAP)


class _SnapshotPending(Exception):
    """cryptofeed asked for a depth snapshot the capture has not received yet."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _ReplayConnection:
    """Stands in for the websocket a message came in on.

    Some handlers read its id or subscription, some answer on it (pongs);
    offline, answers go nowhere.
    """

    def __init__(self, uuid: str, subscription: dict[str, Any]) -> None:
        self.uuid = uuid
        self.id = uuid
        self.subscription = subscription

    async def write(self, msg: str) -> None:
        return None


def _run_to_completion(step: Coroutine[Any, Any, Any]) -> None:
    # Offline, a handler never waits on I/O (callbacks and snapshot reads answer
    # at once), so one send() runs it to the end. This keeps the replay free of
    # any event loop: it works the same inside a running server loop.
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise RecordingError("cryptofeed's handler waited on real I/O during an offline replay")


class FeedReplay:
    """One cryptofeed exchange object fed with captured messages.

    Depth messages that make cryptofeed fetch a REST snapshot before the capture
    received it are held back, in order, and replayed when it arrives: the
    buffering Binance documents for syncing a book (and what cryptofeed did live,
    since its connection waited for the snapshot). Books and trades go to
    `on_book(book, ts_recv_ns)` / `on_trade(trade, ts_recv_ns)`, where ts_recv_ns
    is the replay clock given to `handle`.
    """

    def __init__(
        self,
        exchange_id: str,
        exchange_info: Any,
        subscribed: Sequence[str] | None,
        on_book: BookSink,
        on_trade: TradeSink,
        origin: str,
    ) -> None:
        """`subscribed`: cryptofeed's normalized symbols, None for every symbol of the info.

        `origin` names the capture in error messages.
        """
        feed_class = EXCHANGE_MAP.get(exchange_id)
        if feed_class is None:
            raise UnknownExchange(f"{origin}: {exchange_id!r} is not an exchange cryptofeed knows")
        self.exchange_id = exchange_id
        self.exchange = exchange_name(exchange_id)
        self._origin = origin
        self._on_book = on_book
        self._on_trade = on_trade
        self.now_ns = 0
        try:
            mapping, info = feed_class._parse_symbol_data(exchange_info)
        except Exception as exc:
            raise RecordingError(
                f"{origin}: cryptofeed cannot read its exchange info ({exc!r})"
            ) from exc
        self.subscribed = tuple(mapping if subscribed is None else subscribed)
        self._feed = self._build_feed(feed_class, mapping, info)
        # Keyed by exchange symbol: Binance's `NKNUSDT`, Kraken's `XBT/CHF`.
        self._sizes = sizes_by_exchange_symbol(exchange_info)
        self._exchange_symbols: dict[str, str] = dict(mapping)
        self._snapshots: defaultdict[str, deque[str]] = defaultdict(deque)
        self._held: dict[str, list[CapturedMessage]] = {}
        self._connection = _ReplayConnection(f"{exchange_id}.replay", self._feed.subscription)

    def _build_feed(self, feed_class: Any, mapping: Any, info: Any) -> Any:
        # cryptofeed reads symbols from a process-wide cache in the constructor
        # (or fetches them over HTTP). Fill it with the capture's info, and put
        # back what was there, so live feeds built later see live symbols.
        previous = Symbols.data.get(feed_class.id)
        Symbols.set(feed_class.id, mapping, info)
        try:
            feed = feed_class(
                subscription={L2_BOOK: list(self.subscribed), TRADES: list(self.subscribed)},
                callbacks={L2_BOOK: self._book, TRADES: self._trade},
                checksum_validation=True,
                config=_FEED_CONFIG,
            )
        except Exception as exc:
            raise RecordingError(
                f"{self._origin}: cryptofeed rejects the capture ({exc!r})"
            ) from exc
        finally:
            if previous is None:
                Symbols.data.pop(feed_class.id, None)
            else:
                Symbols.data[feed_class.id] = previous
        feed.http_conn.read = self._read_snapshot
        return feed

    def sizes_of(self, symbol: str) -> InstrumentSizes:
        """Tick/lot sizes of a cryptofeed symbol (`BTC-USDT`); unknown sizes are None."""
        native = self._exchange_symbols.get(symbol)
        return self._sizes.get(native, InstrumentSizes()) if native else InstrumentSizes()

    @property
    def held_count(self) -> int:
        """Messages still waiting for a depth snapshot the capture never received."""
        return sum(len(held) for held in self._held.values())

    def handle(self, message: CapturedMessage, now_ns: int) -> None:
        """Replay one captured message; `now_ns` (ns) becomes the receive time of its output."""
        self.now_ns = now_ns
        if message.kind is MessageKind.WS:
            self._dispatch(message)
        elif message.kind is MessageKind.SNAPSHOT:
            text = message.text
            self._snapshots[message.key].append(text if isinstance(text, str) else text.decode())
            for held in self._held.pop(message.key, ()):
                self._dispatch(held)

    def _dispatch(self, message: CapturedMessage) -> None:
        step = self._feed.message_handler(message.text, self._connection, self.now_ns / 1e9)
        try:
            _run_to_completion(step)
        except _SnapshotPending as pending:
            self._held.setdefault(pending.key, []).append(message)
        except BadChecksum as exc:
            raise ChecksumMismatch(
                f"{message.origin}: {self.exchange} book checksum does not match the book"
                " rebuilt by cryptofeed"
            ) from exc
        except TwapError:
            raise
        except Exception as exc:
            raise RecordingError(
                f"{message.origin}: cryptofeed's {self.exchange} parser failed ({exc!r})"
            ) from exc

    async def _read_snapshot(self, address: str, *args: Any, **kwargs: Any) -> str:
        key = snapshot_key(address)
        snapshots = self._snapshots.get(key)
        if not snapshots:
            raise _SnapshotPending(key)
        return snapshots.popleft()

    async def _book(self, book: CryptofeedBook, receipt_timestamp: float) -> None:
        # cryptofeed stamps snapshot books with the wall clock; the replay clock
        # is the capture's receive time, so it is used for every book.
        self._on_book(book, self.now_ns)

    async def _trade(self, trade: CryptofeedTrade, receipt_timestamp: float) -> None:
        self._on_trade(trade, self.now_ns)


def replay_for(capture: Capture, on_book: BookSink, on_trade: TradeSink) -> FeedReplay:
    """The `FeedReplay` that parses `capture`, subscribed to the symbols it recorded."""
    if isinstance(capture, CryptofeedCapture):
        info, configuration = capture.read_info()
        channels = (L2_BOOK, TRADES)
        subscribed = sorted({s for channel in channels for s in configuration.get(channel, ())})
        origin = str(capture.info_path)
        return FeedReplay(capture.exchange_id, info, subscribed, on_book, on_trade, origin)
    # hftbacktest's collector captures Binance spot, and no exchangeInfo.
    info = binance_exchange_info(capture.symbol)
    return FeedReplay(BINANCE, info, None, on_book, on_trade, str(capture.paths[0]))
