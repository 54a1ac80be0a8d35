"""Offline simulation: run orders of any algorithm over a recording with the live engine's code.

One pass over the file: each message is decoded once, into just the fields used
(`twapcore._typed_lines`, msgspec; a book's levels stay raw JSON until a step
walks them); a `BookSnapshot` is built only when a slice falls due (and shared
by every order due on that book version), so the cost is O(messages + slices),
not O(messages × slices). It holds only the levels the step can reach
(`_SymbolState.book_for`, which parses the first ones first), trades are added
up in batches when a step or a report reads the totals, and a mid is converted
once per distinct best bid and ask (read from the raw levels without decoding
them): the same Decimals, fewer of them. Reports are built at the end, with
their markouts.
A slice due at time T sees every message with `ts_recv <= T`; each step is told
the volume traded since that order's previous step. A vwap order with profile
`trades` and no weights first gets its profile from the recording's trades in
its window: read with the lines it feeds, which are kept until the file ends (a
recording of at most `_READ_ONCE_MAX_LINES` lines; a longer one is read a second
time, trades first). An open-ended pov order (no
`duration_s`) steps until filled or until the recording ends: then it expires at
the recording's last message, without a row for each step it did not reach.

A cross-venue order (`spec.venues`) steps on one book per venue (each at its
own latest version); its market window, arrival mid and the volume its steps
are told are those of the consolidated market of its venues (trades of every
venue, the consolidated mid). Its lot is the venues' common lot
(`twapcore.venues.common_lot`) unless the spec gives one.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from operator import attrgetter, itemgetter, mul
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twapcore._construct import positional_builder
from twapcore.algorithms import PROFILE_TRADES, MarketActivity, profile_from_trades
from twapcore.algorithms.base import twap_plan
from twapcore.analytics import (
    MARKOUT_HORIZONS_S,
    ExecutionReport,
    MarketCounters,
    MarketTotals,
    MidTape,
    build_report,
    tape_markouts,
)
from twapcore.errors import TwapError, UnknownSymbol
from twapcore.execution import OrderExecution
from twapcore.fills import LiquidityLedger
from twapcore.models import BookSnapshot, Side, SkipReason
from twapcore.schedule import seconds_to_ns_exact
from twapcore.spec import OrderSpec
from twapcore.venues import common_lot

if TYPE_CHECKING:
    from twapcore._typed_lines import BookLine, Line, TradeLine

__all__ = ["SimulationResult", "simulate"]

_Key = tuple[str, str]
_MARKOUT_TAIL_NS = max(MARKOUT_HORIZONS_S) * 1_000_000_000
# A trade's price and size: of a trade line (by attribute: 3x faster), of a trade dict.
_GETTERS: dict[bool, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    False: (attrgetter("price"), attrgetter("qty")),
    True: (itemgetter("price"), itemgetter("qty")),
}
_ZERO = Decimal(0)
# Trades kept for counting at most: counted in batches, in memory bounded whatever the interval.
_UNCOUNTED_MAX = 4096
_new_activity = positional_builder(MarketActivity)
_NEVER = 2**63  # after every due time
_HEAD = 4  # levels per side parsed first for a step (`_SymbolState.book_for`)
# A vwap `trades` profile needs the trades of its order's whole window before the order
# starts: a recording of at most this many lines is read once and its lines kept (about
# 1 KB each for books of 20 levels: ~100 MB at most), a longer one is read twice
# (`_read_with_histories`).
_READ_ONCE_MAX_LINES = 100_000


def _count_trades(counters: MarketCounters, trades: list[TradeLine] | list[dict[str, Any]]) -> None:
    """Add `trades` (lines, or dicts as `iter_records` gives) to `counters` and empty the
    list: the sums `on_trade` would make one trade at a time, in the same order (so
    exactly the same Decimals), done in C."""
    if not trades:
        return
    price, qty = _GETTERS[type(trades[0]) is dict]
    qtys = list(map(Decimal, map(qty, trades)))
    counters.trades += len(qtys)
    counters.volume = sum(qtys, counters.volume)
    counters.notional = sum(map(mul, map(Decimal, map(price, trades)), qtys), counters.notional)
    trades.clear()


def _depth_holding(levels: Sequence[Sequence[object]], need: Decimal) -> int | None:
    """How many of the book message's `levels` (best first) display at least `need` in
    total (at least 1), or None when all of them do not (or one is malformed: the full
    book then says which)."""
    total = _ZERO
    try:
        for depth, row in enumerate(levels, start=1):
            total += Decimal(row[1])  # type: ignore[arg-type]
            if total >= need:
                return depth
    except (ArithmeticError, TypeError, ValueError, LookupError):
        return None
    return None


def _tops(bids: Any, asks: Any) -> tuple[Any, Any] | None:
    """The best bid and ask prices of parsed levels, or None when a side is empty."""
    return (bids[0][0], asks[0][0]) if bids and asks else None


def _as_parsed(levels: Any) -> Any:
    return levels


def _all_of(levels: Any, count: int) -> tuple[Any, bool]:
    return levels, True


@dataclass(slots=True)
class _SymbolState:
    latest: BookLine | None = None
    version: int = 0
    book: BookSnapshot | None = None  # of `latest`, built when a step needs it...
    book_depth: int | None = None  # ...with this many levels per side (None: all)
    taken: dict[Side, Decimal] = field(default_factory=dict)  # filled from `book` by side
    lot_size: Decimal | None = None
    counters: MarketCounters = field(default_factory=MarketCounters)
    # Trades seen while live, not yet added to `counters` (`counted` adds them when read).
    uncounted: list[TradeLine] = field(default_factory=list)
    live: int = 0  # orders of this symbol that started and have not ended
    tape: MidTape = field(default_factory=MidTape)  # mids while live and for markouts after
    tape_until_ns: int = -1  # keep taping mids until then (the longest markout after an end)
    groups: list[_VenueGroup] = field(default_factory=list)  # cross-venue markets it is part of
    top: tuple[Any, Any] | None = None  # best bid and ask prices of the last mid computed...
    top_mid: Decimal | None = None  # ...and that mid: consecutive books often share their top
    # How levels are read: a simulation reads raw ones (`_typed_lines.TopsReader`, `.levels_of`).
    tops: Callable[[Any, Any], tuple[Any, Any] | None] = _tops
    levels_of: Callable[[Any], Any] = _as_parsed
    levels_head: Callable[[Any, int], tuple[Any, bool]] = _all_of
    sides: tuple[Any, Any] | None = None  # `latest`'s bids and asks, parsed when first read
    heads: tuple[Any, Any, bool] | None = None  # or their first `_HEAD` levels (see `book_for`)

    def parsed(self, latest: BookLine) -> tuple[Any, Any]:
        """The bids and asks of `latest` (the latest book message), parsed."""
        if self.sides is None:
            self.sides = self.levels_of(latest.bids), self.levels_of(latest.asks)
        return self.sides

    def parsed_heads(self, latest: BookLine) -> tuple[Any, Any, bool]:
        """The first `_HEAD` bids and asks of `latest` (or more), and whether they are all."""
        if self.sides is not None:
            return *self.sides, True
        if self.heads is None:
            bids, all_bids = self.levels_head(latest.bids, _HEAD)
            asks, all_asks = self.levels_head(latest.asks, _HEAD)
            self.heads = bids, asks, all_bids and all_asks
        return self.heads

    def current_book(self) -> BookSnapshot | None:
        """The latest book with all its levels."""
        if self.latest is not None and (self.book is None or self.book_depth is not None):
            sides = self.parsed(self.latest)
            self.book, self.book_depth = self.latest.to_book(*sides, version=self.version), None
        return self.book

    def book_for(self, side: Side, remaining: Decimal) -> BookSnapshot | None:
        """The latest book with the levels an order on `side` with `remaining` to fill can reach.

        Converting every level of every book a step sees is most of a simulation's
        cost, and a step walks only the top ones: it fills at most its target, which
        is at most its remaining quantity, from what earlier steps left of this book
        version. So the levels displaying `remaining` + what was taken from this side
        give the step exactly the fills (and the shortfall reason) the whole book would.
        """
        latest = self.latest
        if latest is None or self.groups:  # cross-venue walks merge books: keep them whole
            return self.current_book()
        if self.book is None:  # a new version: nothing taken from it yet
            self.taken.clear()
            built = 0
        elif self.book_depth is None:
            return self.book
        else:
            built = self.book_depth
        # The first levels hold what a step takes but for the largest: they are parsed
        # first. The book needs as many of the other side: never more than were parsed.
        bids, asks, whole = self.parsed_heads(latest)
        need = remaining + self.taken.get(side, _ZERO)
        depth = _depth_holding(asks if side is Side.BUY else bids, need)
        if depth is None and not whole:
            bids, asks = self.parsed(latest)
            depth = _depth_holding(asks if side is Side.BUY else bids, need)
        if depth is None:
            return self.current_book()
        if depth > built:
            self.book = latest.to_book(bids, asks, depth, version=self.version)
            self.book_depth = depth
        return self.book

    def took(self, side: Side, qty: Decimal) -> None:
        """A step on `side` filled `qty` from `book` (see `book_for`)."""
        self.taken[side] = self.taken.get(side, _ZERO) + qty

    def counted(self) -> MarketCounters:
        if self.uncounted:
            _count_trades(self.counters, self.uncounted)
        return self.counters

    def mid(self, record: BookLine) -> Decimal | None:
        """The mid of the book message `record` (None when a side is empty); converted
        once per distinct best bid and ask, as most books leave them unchanged."""
        return self.mid_of(record["bids"], record["asks"])

    def mid_of(self, bids: Any, asks: Any) -> Decimal | None:
        """`mid` of a book message's `bids` and `asks`."""
        top = self.tops(bids, asks)
        if top is None:
            return None
        if top != self.top:
            self.top, self.top_mid = top, (Decimal(top[0]) + Decimal(top[1])) / 2
        return self.top_mid


@dataclass(slots=True)
class _VenueGroup:
    """The consolidated market of one symbol on several venues (cross-venue orders)."""

    venues: tuple[str, ...]
    states: tuple[_SymbolState, ...]
    counters: MarketCounters = field(default_factory=MarketCounters)
    uncounted: list[TradeLine] = field(default_factory=list)  # as `_SymbolState.uncounted`
    live: int = 0
    tape: MidTape = field(default_factory=MidTape)  # consolidated mids (see _SymbolState)
    tape_until_ns: int = -1

    def books(self) -> dict[str, BookSnapshot | None]:
        return {v: st.current_book() for v, st in zip(self.venues, self.states, strict=True)}

    def counted(self) -> MarketCounters:
        if self.uncounted:
            _count_trades(self.counters, self.uncounted)
        return self.counters

    def mid(self) -> Decimal | None:
        """Best bid across the venues' latest books + best ask across them, / 2."""
        bids, asks = [], []
        for state in self.states:
            if state.latest is not None:
                state_bids, state_asks = state.parsed(state.latest)
                if state_bids:
                    bids.append(Decimal(state_bids[0][0]))
                if state_asks:
                    asks.append(Decimal(state_asks[0][0]))
        return (max(bids) + min(asks)) / 2 if bids and asks else None

    def latest_ts(self) -> int | None:
        stamps = [st.latest.ts_recv for st in self.states if st.latest is not None]
        return max(stamps) if stamps else None


def _keys(spec: OrderSpec) -> list[_Key]:
    return [(venue, spec.symbol) for venue in spec.venue_names]


@dataclass(slots=True)
class _Run:
    spec: OrderSpec
    start_ns: int | None
    group: _VenueGroup | None = None  # a cross-venue order's market
    execution: OrderExecution | None = None
    arrival_mid: Decimal | None = None
    market_start: MarketTotals | None = None
    # What its report is built from once it ended: arrival mid, final mid, market window.
    ended: tuple[Decimal | None, Decimal | None, MarketTotals] | None = None
    seen_volume: Decimal = Decimal(0)  # the symbol's counted volume at this order's last step
    seen_trades: int = 0


@dataclass(frozen=True, slots=True)
class _TradeHistory:
    """One symbol's trades, sorted by `ts_recv`, for building vwap profiles."""

    times_ns: list[int]
    volumes: list[Decimal]


def _needs_trade_profile(spec: OrderSpec) -> bool:
    return spec.algorithm == "vwap" and spec.profile == PROFILE_TRADES and not spec.profile_weights


def _trade_histories(
    recording: str | Path | Sequence[str | Path], keys: set[_Key]
) -> dict[_Key, _TradeHistory]:
    from twapcore._typed_lines import read_lines

    rows: dict[_Key, list[tuple[int, Decimal]]] = {key: [] for key in keys}
    for batch in read_lines(recording, trades_only=True):
        _add_trades(rows, batch)
    return _histories_of(rows)


def _add_trades(rows: dict[_Key, list[tuple[int, Decimal]]], batch: list[Line]) -> None:
    """Append the (time, size) of each trade of `batch` to its market's row, if it has one."""
    from twapcore._typed_lines import TradeLine

    for record in batch:
        if isinstance(record, TradeLine):
            found = rows.get((record.exchange, record.symbol))
            if found is not None:
                found.append((record.ts_recv, Decimal(record.qty)))


def _histories_of(rows: dict[_Key, list[tuple[int, Decimal]]]) -> dict[_Key, _TradeHistory]:
    out = {}
    for key, trades in rows.items():
        trades.sort(key=lambda row: row[0])
        out[key] = _TradeHistory([t for t, _ in trades], [q for _, q in trades])
    return out


def _read_with_histories(
    recording: str | Path | Sequence[str | Path], keys: set[_Key]
) -> tuple[Iterable[list[Line]], dict[_Key, _TradeHistory]]:
    """The recording's lines and the trade histories of `keys`, reading it once when it
    has at most `_READ_ONCE_MAX_LINES` lines (they are kept), else twice: its trades,
    then its lines as they are fed (`_trade_histories`)."""
    from twapcore._typed_lines import read_lines

    rows: dict[_Key, list[tuple[int, Decimal]]] = {key: [] for key in keys}
    kept: list[list[Line]] = []
    count = 0
    lines = read_lines(recording)
    for batch in lines:
        _add_trades(rows, batch)
        kept.append(batch)
        count += len(batch)
        if count > _READ_ONCE_MAX_LINES:  # (`lines` closes the file once dropped)
            return read_lines(recording), _trade_histories(recording, keys)
    return kept, _histories_of(rows)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    reports: tuple[ExecutionReport, ...]
    messages: int


class _Simulation:
    def __init__(
        self,
        specs: Sequence[OrderSpec],
        start_ns: Sequence[int | None],
        *,
        independent: bool = False,
        histories: dict[_Key, _TradeHistory] | None = None,
    ) -> None:
        self.runs = [_Run(spec, start) for spec, start in zip(specs, start_ns, strict=True)]
        self.independent = independent
        self.histories = histories or {}
        from twapcore import _typed_lines  # msgspec: only when simulating

        self.states: dict[_Key, _SymbolState] = {
            (venue, spec.symbol): _SymbolState(
                tops=_typed_lines.TopsReader(),
                levels_of=_typed_lines.levels_of,
                levels_head=_typed_lines.levels_head,
            )
            for spec in specs
            for venue in spec.venue_names
        }
        groups: dict[tuple[tuple[str, ...], str], _VenueGroup] = {}
        for run in self.runs:
            venues = run.spec.venues
            if venues is None:
                continue
            group = groups.get((venues, run.spec.symbol))
            if group is None:
                members = tuple(self.states[(v, run.spec.symbol)] for v in venues)
                group = groups[(venues, run.spec.symbol)] = _VenueGroup(venues, members)
                for member in members:
                    member.groups.append(group)
            run.group = group
        self.ledger = LiquidityLedger()
        self.heap: list[tuple[int, int]] = []
        self.seen: set[_Key] = set()
        self.messages = 0
        self.last_ts = 0
        for idx, run in enumerate(self.runs):
            if run.start_ns is not None:
                heapq.heappush(self.heap, (run.start_ns, idx))

    def _start(self, idx: int, start_ns: int) -> None:
        run = self.runs[idx]
        state = self.states[(run.spec.exchange, run.spec.symbol)]
        group = run.group
        spec = run.spec
        if spec.lot_size is None:
            lot = (
                state.lot_size
                if group is None
                else common_lot(
                    {v: st.lot_size for v, st in zip(group.venues, group.states, strict=True)}
                )
            )
            spec = replace(spec, lot_size=lot)
        if _needs_trade_profile(spec):
            history = self._history(spec)
            if history is not None:
                end_ns = start_ns + seconds_to_ns_exact(spec.duration_s)
                buckets = len(twap_plan(spec, start_ns))
                weights = profile_from_trades(
                    history.times_ns, history.volumes, start_ns, end_ns, buckets
                )
                spec = replace(spec, profile_weights=weights)
        run.execution = OrderExecution(spec, start_ns)
        market: _SymbolState | _VenueGroup = state if group is None else group
        if group is None:
            if not state.live and state.latest is not None:
                state.counters.on_mid(state.latest.ts_recv, state.mid(state.latest))
                state.tape.record(state.latest.ts_recv, state.counters.mid)
        elif not group.live and (latest_ts := group.latest_ts()) is not None:
            group.counters.on_mid(latest_ts, group.mid())
            group.tape.record(latest_ts, group.counters.mid)
        market.live += 1
        counters = market.counted()
        run.arrival_mid = counters.mid
        run.market_start = counters.totals(start_ns)
        run.seen_volume, run.seen_trades = counters.volume, counters.trades

    def _history(self, spec: OrderSpec) -> _TradeHistory | None:
        """The trades a vwap profile is built from: every venue's, merged in time order."""
        found = [self.histories.get((v, spec.symbol)) for v in spec.venue_names]
        histories = [h for h in found if h is not None]
        if len(histories) <= 1:
            return histories[0] if histories else None
        rows = sorted(
            (row for h in histories for row in zip(h.times_ns, h.volumes, strict=True)),
            key=lambda row: row[0],
        )
        return _TradeHistory([t for t, _ in rows], [q for _, q in rows])

    def _market_since_last_step(self, run: _Run, counters: MarketCounters) -> MarketActivity:
        activity = _new_activity(  # `MarketActivity(...)` (`positional_builder`)
            counters.volume - run.seen_volume, counters.trades - run.seen_trades
        )
        run.seen_volume, run.seen_trades = counters.volume, counters.trades
        return activity

    def _execute_due(
        self, until_ns: int, *, inclusive: bool, recording_ended: bool = False
    ) -> None:
        heap = self.heap
        while heap and (heap[0][0] < until_ns or (inclusive and heap[0][0] == until_ns)):
            due, idx = heapq.heappop(self.heap)
            run = self.runs[idx]
            if run.execution is None:
                self._start(idx, due)
                first_due = run.execution.next_due_ns if run.execution is not None else None
                if first_due is not None and first_due > due:  # a jittered first slice
                    heapq.heappush(self.heap, (first_due, idx))
                    continue
            execution = run.execution
            assert execution is not None
            group = run.group
            state = self._market_of(run)
            if recording_ended and execution.spec.duration_s is None:
                # Open-ended (pov without an end time): it ran until the recording's end.
                execution.expire(max(self.last_ts, execution.start_ns))
            elif recording_ended:
                execution.skip(due, SkipReason.END_OF_RECORDING)
            else:
                market = self._market_since_last_step(run, state.counted())
                ledger = None if self.independent else self.ledger
                if group is not None:
                    execution.step(due, group.books(), ledger, market)
                else:
                    assert isinstance(state, _SymbolState)
                    self._step_single(execution, due, ledger, market, state)
            next_due = execution.next_due_ns
            if next_due is not None:
                heapq.heappush(self.heap, (next_due, idx))
            else:
                self._finish(run, state)

    def _market_of(self, run: _Run) -> _SymbolState | _VenueGroup:
        """Where the order's market window is counted: its symbol, or its venues' group."""
        if run.group is not None:
            return run.group
        return self.states[(run.spec.exchange, run.spec.symbol)]

    def _step_single(
        self,
        execution: OrderExecution,
        due: int,
        ledger: LiquidityLedger | None,
        market: MarketActivity,
        state: _SymbolState,
    ) -> None:
        """Step a one-venue order on the levels of its book (its market: `state`) that it
        can reach."""
        spec = execution.spec
        remaining = execution.remaining_qty
        result = execution.step(due, state.book_for(spec.side, remaining), ledger, market)
        if result.target_qty > remaining:  # `book_for` relies on this
            raise TwapError(
                f"{spec.algorithm} set slice {result.index} of {spec.exchange} {spec.symbol} "
                f"to {result.target_qty}, more than the remaining {remaining}"
            )
        state.took(spec.side, result.filled_qty)

    def _finish(self, run: _Run, state: _SymbolState | _VenueGroup) -> None:
        execution = run.execution
        assert execution is not None
        assert run.market_start is not None
        end_ns = execution.ended_ns if execution.ended_ns is not None else execution.end_ns
        counters = state.counted()
        window = counters.totals(end_ns) - run.market_start
        run.ended = (run.arrival_mid, counters.mid, window)  # reported with its markouts
        state.live -= 1
        state.tape_until_ns = max(state.tape_until_ns, end_ns + _MARKOUT_TAIL_NS)

    def feed(self, batches: Iterable[list[Line]]) -> None:
        # The hot loop: one dict lookup per message for symbols without orders; trades are
        # kept for counting and mids computed only while an order of the symbol is live.
        get_state, heap = self.states.get, self.heap
        messages, last_ts = self.messages, self.last_ts
        next_due = heap[0][0] if heap else _NEVER
        exchange = symbol = None  # the market of the previous message, and its state
        state: _SymbolState | None = None
        record: Any  # a Line, told apart by its `kind` (faster than isinstance)
        for batch in batches:
            messages += len(batch)
            for record in batch:
                if record.symbol != symbol or record.exchange != exchange:
                    exchange, symbol = record.exchange, record.symbol
                    state = get_state((exchange, symbol))
                kind = record.kind
                if state is None:  # no order of this market, or a message of no market
                    if kind == "book":
                        self.seen.add((record.exchange, record.symbol))
                    continue
                if kind == "instrument":
                    lot = record.lot_size
                    state.lot_size = None if lot is None else Decimal(lot)
                    continue
                ts = record.ts_recv
                if ts is None:  # a message of another type without a time: nothing to do
                    continue
                if next_due < ts:
                    self.last_ts = last_ts
                    self._execute_due(ts, inclusive=False)
                    next_due = heap[0][0] if heap else _NEVER
                if ts > last_ts:
                    last_ts = ts
                if kind == "trade":
                    if state.live:
                        state.uncounted.append(record)
                        if len(state.uncounted) == _UNCOUNTED_MAX:
                            state.counted()
                    if state.groups:
                        for group in state.groups:
                            if group.live:
                                group.uncounted.append(record)
                                if len(group.uncounted) == _UNCOUNTED_MAX:
                                    group.counted()
                elif kind == "book":
                    if state.latest is None:
                        self._start_on_first_book((record.exchange, record.symbol), ts)
                        next_due = heap[0][0] if heap else _NEVER
                    self._on_book(state, record, ts)
        self.messages, self.last_ts = messages, last_ts

    def _on_book(self, state: _SymbolState, record: BookLine, ts: int) -> None:
        state.latest = record
        state.version += 1
        state.book = state.sides = state.heads = None
        if state.live:
            mid = state.mid_of(record.bids, record.asks)
            state.counters.on_mid(ts, mid)
            state.tape.record(ts, mid)
        elif ts <= state.tape_until_ns:
            state.tape.record(ts, state.mid_of(record.bids, record.asks))
        if state.groups:
            self._on_group_book(state, ts)

    def _start_on_first_book(self, key: _Key, ts: int) -> None:
        """Orders without a start time start at the first book of their market."""
        for idx, run in enumerate(self.runs):
            if run.start_ns is None and key in _keys(run.spec):
                run.start_ns = ts  # a cross-venue order starts at the first of its books
                heapq.heappush(self.heap, (ts, idx))

    def _on_group_book(self, state: _SymbolState, ts: int) -> None:
        for group in state.groups:
            if group.live:
                group_mid = group.mid()
                group.counters.on_mid(ts, group_mid)
                group.tape.record(ts, group_mid)
            elif ts <= group.tape_until_ns:
                group.tape.record(ts, group.mid())

    def finish(self) -> SimulationResult:
        self._execute_due(self.last_ts, inclusive=True)
        self._execute_due(_NEVER, inclusive=False, recording_ended=True)
        # An order on a symbol without any book is a mistake, even with an explicit start.
        missing = [
            (venue, r.spec.symbol)
            for r in self.runs
            for venue in r.spec.venue_names
            if r.ended is None or self.states[(venue, r.spec.symbol)].latest is None
        ]
        if missing:
            venue, symbol = missing[0]
            books = self.seen | {k for k, st in self.states.items() if st.latest is not None}
            held = ", ".join(f"{e} {s}" for e, s in sorted(books)) or "no books"
            raise UnknownSymbol(f"the recording has no book for {venue} {symbol}; it holds: {held}")
        reports = tuple(
            build_report(
                r.execution, *r.ended, tape_markouts(self._market_of(r).tape, self.last_ts)
            )
            for r in self.runs
            if r.execution is not None and r.ended is not None
        )
        return SimulationResult(reports=reports, messages=self.messages)


def simulate(
    recording: str | Path | Sequence[str | Path],
    specs: Sequence[OrderSpec],
    start_ns: Sequence[int | None] | None = None,
    *,
    independent: bool = False,
) -> SimulationResult:
    """Run `specs` over `recording` (files read in order as one stream).

    An order starts at its `start_ns` entry, or (None / not given) at the first
    book of its symbol. Lot sizes come from the spec, else from the recording's
    instrument lines. Orders share the displayed liquidity (one ledger) unless
    `independent`, where each trades as if alone — for comparing algorithms on
    the same books. Raises `UnknownSymbol` if the recording has no book for an
    order's symbol.
    """
    starts = list(start_ns) if start_ns is not None else [None] * len(specs)
    profiled = {(v, s.symbol) for s in specs if _needs_trade_profile(s) for v in s.venue_names}
    from twapcore._typed_lines import read_lines  # msgspec: only when simulating

    lines: Iterable[list[Line]]
    histories: dict[_Key, _TradeHistory] | None = None
    if profiled:  # vwap `trades` profiles: the trades of each order's window, first
        lines, histories = _read_with_histories(recording, profiled)
    else:
        lines = read_lines(recording)
    sim = _Simulation(specs, starts, independent=independent, histories=histories)
    sim.feed(lines)
    return sim.finish()
