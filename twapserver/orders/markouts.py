"""Markouts on the server: the engine's mid history, and the mids it stores after each fill.

The definition is `twap simulate`'s: a fill's markout at horizon h compares its
price with the mid of the last book received at or before fill time + h — for
a cross-venue order the consolidated mid of its venues (best bid of any venue's
last book + best ask of any, / 2). `twapcore.analytics.apply_markouts` turns
those mids into bps and averages, offline and here alike.

Engine side, `MarkoutTracker`:

* tapes — for each market the engine steps on, the best bid and ask of every
  book its market source delivers (`book_listeners`), from that market's first
  step (or claim) on. A tape lives while the market has horizons pending or was
  stepped within `RETAIN_NS`, and holds only the last `RETAIN_NS` (the longest
  horizon + a margin) of samples.
* horizons — every committed slice with fills (all at the slice's execution
  time) is due at fill time + h for each h of `MARKOUT_HORIZONS_S`. `SETTLE_NS`
  after that (books received up to then may still be on their way from the bus),
  the engine reads the mid at fill time + h from the tape and stores it on the
  slice — write-once, and only while it still holds the order
  (`repository.record_markouts`). It keeps doing so after the order ended.
* what the engine cannot know it does not write: a horizon older than its tape
  (the order was claimed after the horizon: a restart or a takeover), or one due
  after the engine stopped. The read side (`stored_mids`) names those.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from twapcore import BookSnapshot, OrderSpec, SliceResult
from twapcore.analytics import MARKOUT_HORIZONS_S, FillRow, MarkoutMid
from twapserver.db.models import SliceRow

__all__ = [
    "GRACE_NS",
    "NO_BOOK",
    "ONE_SIDED_BOOK",
    "RETAIN_NS",
    "SETTLE_NS",
    "MarkoutTracker",
    "MarkoutWrite",
    "stored_mids",
]

log = logging.getLogger("twapserver.engine")

NS = 1_000_000_000
# A horizon is measured this long after it passed: a book received before it may still be
# on its way (the Redis bus); the one received in-process is there at once.
SETTLE_NS = NS
# Samples kept per market: the longest horizon, plus slack for a commit that lags its step.
RETAIN_NS = (max(MARKOUT_HORIZONS_S) + 10) * NS
# A horizon that passed this long ago and has nothing stored was not measured by anyone.
GRACE_NS = 30 * NS
# Why a measured horizon has no mid (stored in slices.markout_<h>s_missing).
ONE_SIDED_BOOK = "one_sided_book"
NO_BOOK = "no_book"
_COMPACT_AT = 4096  # trimmed samples dropped from a tape's lists once this many

_Key = tuple[str, str]  # (venue, symbol)
_Quote = tuple[Decimal | None, Decimal | None] | None  # best (bid, ask); None: no book


class BookReader(Protocol):
    def book(self, exchange: str, symbol: str) -> BookSnapshot | None: ...


def _quote(book: BookSnapshot | None) -> _Quote:
    if book is None:
        return None
    return (book.bids[0].price if book.bids else None, book.asks[0].price if book.asks else None)


class _Tape:
    """Best bid and ask of one market's books over time, from `times[start]` on."""

    __slots__ = ("pending", "quotes", "start", "times", "touched_ns")

    def __init__(self, ts_ns: int, quote: _Quote, now_ns: int) -> None:
        self.times = [ts_ns]
        self.quotes = [quote]
        self.start = 0
        self.pending = 0  # horizons waiting on this market
        self.touched_ns = now_ns  # last step (or claim) on this market

    def record(self, ts_ns: int, quote: _Quote) -> None:
        """As `MidTape.record`: a sample not newer than the last replaces it."""
        if ts_ns <= self.times[-1]:
            self.quotes[-1] = quote
        elif quote != self.quotes[-1]:  # depth-only changes leave the mid as it was
            self.times.append(ts_ns)
            self.quotes.append(quote)

    def quote_at(self, ts_ns: int) -> tuple[bool, _Quote]:
        """(known, the quote of the last book at or before `ts_ns`); not known when the
        tape starts later."""
        i = bisect_right(self.times, ts_ns, lo=self.start)
        return (False, None) if i == self.start else (True, self.quotes[i - 1])

    def trim(self, before_ns: int) -> None:
        """Forget samples before `before_ns`, keeping the one in force at that time."""
        times, start = self.times, self.start
        start = max(start, bisect_right(times, before_ns, lo=start) - 1)
        if start >= _COMPACT_AT:
            del times[:start], self.quotes[:start]
            start = 0
        self.start = start


def _mid(quotes: Iterable[_Quote]) -> tuple[Decimal | None, str | None]:
    """The consolidated mid of the venues' quotes, or why there is none."""
    bids, asks, books = [], [], 0
    for quote in quotes:
        if quote is None:
            continue
        books += 1
        bid, ask = quote
        if bid is not None:
            bids.append(bid)
        if ask is not None:
            asks.append(ask)
    if not books:
        return None, NO_BOOK
    if not bids or not asks:
        return None, ONE_SIDED_BOOK
    return (max(bids) + min(asks)) / 2, None


@dataclass(frozen=True, slots=True)
class MarkoutWrite:
    """The mid `horizon_s` after the fills of one slice, or why there was none."""

    order_id: int
    slice_index: int
    horizon_s: int
    mid: Decimal | None
    missing: str | None


@dataclass(frozen=True, slots=True)
class _Horizon:
    order_id: int
    slice_index: int
    horizon_s: int
    at_ns: int
    keys: tuple[_Key, ...]


class MarkoutTracker:
    """The mid history of the markets one engine trades, and the horizons it owes."""

    def __init__(self, market: BookReader) -> None:
        self._market = market
        self._tapes: dict[_Key, _Tape] = {}
        self._heap: list[tuple[int, int, _Horizon]] = []  # (measure at, tie-break, horizon)
        self._queued: set[tuple[int, int, int]] = set()  # (order, slice, horizon) in the heap
        self._order = itertools.count()
        self._trimmed_ns = 0

    def __len__(self) -> int:
        """Horizons waiting to be measured."""
        return len(self._heap)

    def samples(self) -> int:
        """Samples held over every tape (what the history costs in memory)."""
        return sum(len(tape.times) - tape.start for tape in self._tapes.values())

    def on_book(self, exchange: str, symbol: str, ts_recv: int) -> None:
        """A book of (exchange, symbol) arrived (a `book_listeners` callback: cheap when the
        market is not followed, and never raises into the feed)."""
        tape = self._tapes.get((exchange, symbol))
        if tape is None:
            return
        try:
            tape.record(ts_recv, _quote(self._market.book(exchange, symbol)))
        except Exception:
            log.exception("markouts: cannot read the %s %s book", exchange, symbol)

    def watch(self, spec: OrderSpec, now_ns: int) -> None:
        """Follow the order's markets from now on (an engine steps or claims it)."""
        for key in _keys(spec):
            tape = self._tapes.get(key)
            if tape is not None:
                tape.touched_ns = now_ns
                continue
            try:
                book = self._market.book(*key)
            except Exception:  # the step reports it; the tape starts at a later step
                continue
            ts = now_ns if book is None else book.ts_recv
            self._tapes[key] = _Tape(ts, _quote(book), now_ns)

    def expect(
        self, order_id: int, spec: OrderSpec, results: Iterable[SliceResult], now_ns: int
    ) -> None:
        """Owe the markouts of the committed `results` that filled (some horizons may be known
        already: the stored value wins, see `repository.record_markouts`)."""
        keys: tuple[_Key, ...] | None = None
        for result in results:
            if not result.fills:
                continue
            if keys is None:
                self.watch(spec, now_ns)
                keys = tuple(_keys(spec))
            fill_ns = result.fills[0].ts  # every fill of a slice has its execution time
            for horizon_s in MARKOUT_HORIZONS_S:
                at_ns = fill_ns + horizon_s * NS
                ident = (order_id, result.index, horizon_s)
                if at_ns < now_ns - RETAIN_NS or ident in self._queued:
                    continue
                self._queued.add(ident)
                horizon = _Horizon(order_id, result.index, horizon_s, at_ns, keys)
                heapq.heappush(self._heap, (at_ns + SETTLE_NS, next(self._order), horizon))
                for key in keys:
                    tape = self._tapes.get(key)
                    if tape is not None:
                        tape.pending += 1

    def next_due_ns(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def take_due(self, now_ns: int) -> list[MarkoutWrite]:
        """Measure every horizon settled by `now_ns`; what is unknown is left out."""
        writes = []
        while self._heap and self._heap[0][0] <= now_ns:
            _, _, horizon = heapq.heappop(self._heap)
            self._queued.discard((horizon.order_id, horizon.slice_index, horizon.horizon_s))
            quotes: list[_Quote] = []
            for key in horizon.keys:
                tape = self._tapes.get(key)
                if tape is None:
                    continue
                tape.pending = max(0, tape.pending - 1)  # 0: the tape began after the horizon
                known, quote = tape.quote_at(horizon.at_ns)
                if known:
                    quotes.append(quote)
            if len(quotes) < len(horizon.keys):
                continue  # a venue's tape starts after the horizon: not known here
            mid, missing = _mid(quotes)
            writes.append(
                MarkoutWrite(horizon.order_id, horizon.slice_index, horizon.horizon_s, mid, missing)
            )
        if now_ns - self._trimmed_ns >= NS:
            self._trim(now_ns)
        return writes

    def _trim(self, now_ns: int) -> None:
        self._trimmed_ns = now_ns
        for key, tape in list(self._tapes.items()):
            if tape.pending <= 0 and now_ns - tape.touched_ns > RETAIN_NS:
                del self._tapes[key]
            else:
                tape.trim(now_ns - RETAIN_NS)


def _keys(spec: OrderSpec) -> list[_Key]:
    return [(venue, spec.symbol) for venue in spec.venue_names]


# --- read side ------------------------------------------------------------------------------
_STORED_REASONS = {
    ONE_SIDED_BOOK: "one-sided book at the horizon",
    NO_BOOK: "no book at the horizon",
}
NOT_REACHED = "horizon not reached yet"
BEING_MEASURED = "horizon just passed, being measured"
NOT_MEASURED = "not measured: the server was down or restarted at the horizon"


def stored_mids(slices: Sequence[SliceRow], now_ns: int) -> MarkoutMid:
    """The `apply_markouts` source of a stored order: each fill's stored mid, or why not.

    Nothing stored for a horizon means: not reached yet (after `now_ns`), being
    measured (passed less than `GRACE_NS` ago), or never measured (no engine
    followed the market then: the server was down or restarted).
    """
    stored: dict[tuple[int, int], Decimal | str] = {}
    for row in slices:
        for horizon_s in MARKOUT_HORIZONS_S:
            mid = getattr(row, f"markout_{horizon_s}s_mid")
            missing = getattr(row, f"markout_{horizon_s}s_missing")
            if mid is not None:
                stored[(row.index, horizon_s)] = mid
            elif missing is not None:
                stored[(row.index, horizon_s)] = _STORED_REASONS.get(missing, missing)

    def mid_after(fill: FillRow, horizon_s: int) -> Decimal | str:
        found = stored.get((fill.slice_index, horizon_s))
        if found is not None:
            return found
        at_ns = fill.ts_ns + horizon_s * NS
        if at_ns > now_ns:
            return NOT_REACHED
        return BEING_MEASURED if now_ns - at_ns < GRACE_NS else NOT_MEASURED

    return mid_after


def _check_columns(horizons: Sequence[int]) -> None:
    missing = [h for h in horizons if not hasattr(SliceRow, f"markout_{h}s_mid")]
    if missing:
        raise RuntimeError(f"slices has no markout columns for horizons {missing} (seconds)")


_check_columns(MARKOUT_HORIZONS_S)
