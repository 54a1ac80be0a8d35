"""Convert raw exchange captures into twap recordings, parsed by cryptofeed.

A recording written here starts with one instrument line per subscribed symbol::

    {"type":"instrument","exchange":"binance","symbol":"BTC-USDT","tick_size":"0.01","lot_size":"0.00001"}

then holds book lines (top `depth` levels, written whenever they change) and
trade lines in non-decreasing `ts_recv` order, as defined in `twapcore.recording`.
`ts_recv` is the capture host's receive time; a message cryptofeed could only
apply once a later REST snapshot arrived is stamped with that arrival time.

One venue or symbol that cannot be converted never fails the others: it is
left out and listed in `ConvertStats.skipped` with the reason.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from twapcore.durations import parse_duration_ns
from twapcore.errors import (
    InvalidDuration,
    RecordingError,
    TwapError,
    UnknownExchange,
    UnknownSymbol,
)
from twapcore.feeds._captures import (
    Capture,
    CapturedMessage,
    CryptofeedCapture,
    HftbacktestCapture,
    UnreplayableCapture,
    locate_captures,
)
from twapcore.feeds._instruments import InstrumentSizes
from twapcore.feeds._replay import FeedReplay, Skipped, exchange_ids, source_for
from twapcore.feeds.normalize import (
    BookTops,
    CryptofeedBook,
    CryptofeedTrade,
    book_from_cryptofeed_ns,
    canonical_symbol,
    trade_from_cryptofeed_ns,
)
from twapcore.models import BookSnapshot
from twapcore.recording import RecordingWriter, instrument_to_record

__all__ = ["ConvertStats", "InvalidDuration", "Skipped", "convert_captures", "parse_duration_ns"]


@dataclass(frozen=True, slots=True)
class ConvertStats:
    """What one conversion read and wrote. Times are ts_recv in ns, None if nothing was written."""

    books_written: int
    trades_written: int
    messages_read: int  # captured messages (lines) read, including ones not replayed
    symbols: tuple[tuple[str, str], ...]  # (exchange, symbol) with an instrument line, sorted
    first_ts: int | None
    last_ts: int | None
    # Depth messages never applied: cryptofeed needed a snapshot the capture lacks.
    messages_dropped: int = 0
    # Venues, symbols and stretches of messages not converted, with the reason.
    skipped: tuple[Skipped, ...] = ()


class _RecordingSink:
    """Writes instrument, book and trade lines; decides which books are written.

    A book or trade twap cannot convert raises `TwapError` (`UnknownSymbol`...),
    for the replay to count against its symbol.
    """

    def __init__(self, writer: RecordingWriter, depth: int, every_ns: int | None) -> None:
        self._writer = writer
        self._depth = depth
        self._every_ns = every_ns
        # cryptofeed exchange id -> its replay's size lookup, for symbols first
        # seen in a message rather than in the capture's subscription.
        self._replays: dict[str, FeedReplay] = {}
        self._announced: set[tuple[str, str]] = set()
        # Keyed by cryptofeed's own (exchange, symbol): no normalization per message.
        self._last_books: dict[tuple[str, str], BookSnapshot] = {}
        self._tops: dict[tuple[str, str], BookTops] = {}
        self.books_written = 0
        self.trades_written = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None

    @property
    def symbols(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self._announced))

    def register(self, replay: FeedReplay) -> None:
        self._replays.setdefault(replay.exchange_id, replay)

    def announce(self, exchange: str, symbol: str, sizes: InstrumentSizes) -> None:
        """Write the instrument line of a symbol unless it was written already."""
        key = (exchange, symbol)
        if key in self._announced:
            return
        self._announced.add(key)
        self._writer.write_record(instrument_to_record(sizes.info(exchange, symbol)))

    def _announce_seen(
        self, item: CryptofeedBook | CryptofeedTrade, exchange: str, symbol: str
    ) -> None:
        if (exchange, symbol) not in self._announced:
            self.announce(exchange, symbol, self._replays[item.exchange].sizes_of(item.symbol))

    def _wrote(self, ts_recv: int) -> None:
        if self.first_ts is None:
            self.first_ts = ts_recv
        self.last_ts = ts_recv

    def book(self, book: CryptofeedBook, ts_recv_ns: int) -> None:
        key = (book.exchange, book.symbol)
        last = self._last_books.get(key)
        every_ns = self._every_ns
        if last is not None and every_ns is not None and ts_recv_ns < last.ts_recv + every_ns:
            self._tops.pop(key, None)  # updates skipped: its deltas are not followed
            return
        tops = self._tops.get(key)
        if tops is None:
            tops = self._tops[key] = BookTops(self._depth)
        snapshot = book_from_cryptofeed_ns(
            book, ts_recv_ns, self._depth, self.books_written + 1, tops
        )
        # A change below the recorded depth leaves the recorded book as it was.
        if last is not None and snapshot.bids == last.bids and snapshot.asks == last.asks:
            return
        self._announce_seen(book, snapshot.exchange, snapshot.symbol)
        self._writer.write(snapshot)
        self._last_books[key] = snapshot
        self.books_written += 1
        self._wrote(ts_recv_ns)

    def trade(self, trade: CryptofeedTrade, ts_recv_ns: int) -> None:
        converted = trade_from_cryptofeed_ns(trade, ts_recv_ns)
        self._announce_seen(trade, converted.exchange, converted.symbol)
        self._writer.write(converted)
        self.trades_written += 1
        self._wrote(ts_recv_ns)


def _tagged(
    replay: FeedReplay, messages: Iterable[CapturedMessage]
) -> Iterator[tuple[FeedReplay, CapturedMessage]]:
    for message in messages:
        yield replay, message


def _receive_time(item: tuple[FeedReplay, CapturedMessage]) -> int:
    return item[1].ts_ns


def _venue_id(capture: Capture) -> str:
    return "BINANCE" if isinstance(capture, HftbacktestCapture) else capture.exchange_id


def _set_up(
    captures: list[Capture], sink: _RecordingSink
) -> tuple[list[tuple[FeedReplay, CryptofeedCapture | HftbacktestCapture]], list[Skipped]]:
    """A replay per capture that cryptofeed can replay; the others skipped, with the reason."""
    replays: list[tuple[FeedReplay, CryptofeedCapture | HftbacktestCapture]] = []
    skipped: list[Skipped] = []
    errors: list[TwapError] = []
    for capture in captures:
        try:
            if isinstance(capture, UnreplayableCapture):
                raise UnknownExchange(capture.reason)
            replay = FeedReplay(source_for(capture), sink.book, sink.trade)
        except TwapError as exc:
            errors.append(exc)
            skipped.append(Skipped(_venue_id(capture), None, str(exc)))
            continue
        replays.append((replay, capture))
        skipped.extend(replay.skipped)
    if not replays:
        if len(errors) == 1:
            raise errors[0]
        raise RecordingError(
            "nothing to convert: " + "; ".join(skip.describe() for skip in skipped)
        )
    return replays, skipped


def _announce_subscribed(
    replays: list[tuple[FeedReplay, CryptofeedCapture | HftbacktestCapture]], sink: _RecordingSink
) -> None:
    subscribed: dict[tuple[str, str], InstrumentSizes] = {}
    for replay, _ in replays:
        sink.register(replay)
        for symbol in replay.subscribed:
            try:
                key = (replay.exchange, canonical_symbol(symbol))
            except UnknownSymbol as exc:
                replay.refuse(symbol, exc, 0)
                continue
            subscribed.setdefault(key, replay.sizes_of(symbol))
    for (exchange, symbol), sizes in sorted(subscribed.items()):
        sink.announce(exchange, symbol, sizes)


def _replay_all(captures: list[Capture], sink: _RecordingSink) -> tuple[int, int, list[Skipped]]:
    """Replay every capture, merged by receive time; returns (messages read, dropped, skipped)."""
    replays, skipped = _set_up(captures, sink)
    _announce_subscribed(replays, sink)
    streams = [_tagged(replay, capture.messages()) for replay, capture in replays]
    stopped: dict[FeedReplay, tuple[str, int]] = {}  # venues whose set-up failed mid-stream
    messages_read = 0
    now_ns = 0
    for replay, message in heapq.merge(*streams, key=_receive_time):
        messages_read += 1
        if replay in stopped:
            reason, lost = stopped[replay]
            stopped[replay] = (reason, lost + 1)
            continue
        # The replay clock never runs backwards, so output stays ordered even if
        # a capture host's clock stepped back.
        now_ns = max(now_ns, message.ts_ns)
        try:
            replay.handle(message, now_ns)
        except TwapError as exc:
            stopped[replay] = (f"stopped at {message.origin}: {exc}", 1)
    dropped = 0
    for replay, _ in replays:
        venue = replay.exchange_id
        if replay in stopped:
            reason, lost = stopped[replay]
            skipped.append(Skipped(venue, None, reason, lost))
            continue
        if replay.failed_messages:
            reason = f"cryptofeed's parser failed, first at {replay.first_failure}"
            skipped.append(Skipped(venue, None, reason, replay.failed_messages))
        held = replay.held_count
        if held:
            awaited = replay.awaited
            more = f" and {len(awaited) - 1} more" if len(awaited) > 1 else ""
            reason = (
                "never applied: cryptofeed waited for a REST response the capture lacks"
                f" ({awaited[0]}{more})"
            )
            skipped.append(Skipped(venue, None, reason, held))
            dropped += held
    return messages_read, dropped, skipped + [s for r, _ in replays for s in r.refused]


def convert_captures(
    captures: Sequence[str | Path],
    out: str | Path,
    depth: int = 20,
    every_ns: int | None = None,
) -> ConvertStats:
    """Convert raw captures into one recording at `out` (`.jsonl`, or gzip with `.jsonl.gz`).

    `captures`: any file (or the `<dir>/EXCHANGE` prefix) of a cryptofeed raw-data
    capture set, and/or hftbacktest Binance files (read in the given order as one
    stream per symbol); several sources are merged by receive time. Messages are
    parsed by cryptofeed's own exchange classes (checksums verified where the
    venue sends them). `depth`: levels per side in each book line. `every_ns`: if
    set, at most one book line per symbol per `every_ns` nanoseconds of ts_recv
    (the first book of each symbol is always written). Identical inputs give
    byte-identical output.

    A venue or symbol that cannot be converted (cryptofeed cannot read its
    capture, a symbol twap cannot name, messages cryptofeed's parser fails on)
    is left out and listed in `ConvertStats.skipped`; the rest is converted.
    When no capture can be converted at all, or on any other error (a missing
    file, a file in no known format), this raises and leaves no output file.
    """
    if depth < 1:
        raise RecordingError(f"depth {depth} must be at least 1 level")
    if every_ns is not None and every_ns <= 0:
        raise InvalidDuration(f"every_ns {every_ns} must be a positive number of nanoseconds")
    sources = locate_captures(captures, exchange_ids())
    out_path = Path(out)
    try:
        with RecordingWriter(out_path) as writer:
            sink = _RecordingSink(writer, depth, every_ns)
            messages_read, dropped, skipped = _replay_all(sources, sink)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return ConvertStats(
        books_written=sink.books_written,
        trades_written=sink.trades_written,
        messages_read=messages_read,
        symbols=sink.symbols,
        first_ts=sink.first_ts,
        last_ts=sink.last_ts,
        messages_dropped=dropped,
        skipped=tuple(skipped),
    )
