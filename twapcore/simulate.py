"""Offline simulation: run orders of any algorithm over a recording with the live engine's code.

One pass over the file: each message is parsed once; a full `BookSnapshot` is
built only when a slice falls due (and shared by every order due on that book
version), so the cost is O(messages + slices), not O(messages × slices).
A slice due at time T sees every message with `ts_recv <= T`; each step is told
the volume traded since that order's previous step. A vwap order with profile
`trades` and no weights first gets its profile from the recording's trades in
its window (a second read of the file, only then).

A cross-venue order (`spec.venues`) steps on one book per venue (each at its
own latest version); its market window, arrival mid and the volume its steps
are told are those of the consolidated market of its venues (trades of every
venue, the consolidated mid). Its lot is the venues' common lot
(`twapcore.venues.common_lot`) unless the spec gives one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from twapcore.algorithms import PROFILE_TRADES, MarketActivity, profile_from_trades
from twapcore.algorithms.base import twap_plan
from twapcore.analytics import (
    MARKOUT_HORIZONS_S,
    ExecutionReport,
    MarketCounters,
    MarketTotals,
    MidTape,
    build_report,
    with_markouts,
)
from twapcore.errors import UnknownSymbol
from twapcore.execution import OrderExecution
from twapcore.fills import LiquidityLedger
from twapcore.models import BookSnapshot, SkipReason
from twapcore.recording import book_from_record, iter_records
from twapcore.schedule import seconds_to_ns_exact
from twapcore.spec import OrderSpec
from twapcore.venues import common_lot

__all__ = ["SimulationResult", "simulate"]

_Key = tuple[str, str]
_MARKOUT_TAIL_NS = max(MARKOUT_HORIZONS_S) * 1_000_000_000


@dataclass(slots=True)
class _SymbolState:
    latest: dict[str, Any] | None = None
    version: int = 0
    book: BookSnapshot | None = None
    lot_size: Decimal | None = None
    counters: MarketCounters = field(default_factory=MarketCounters)
    live: int = 0  # orders of this symbol that started and have not ended
    tape: MidTape = field(default_factory=MidTape)  # mids while live and for markouts after
    tape_until_ns: int = -1  # keep taping mids until then (the longest markout after an end)
    groups: list[_VenueGroup] = field(default_factory=list)  # cross-venue markets it is part of

    def current_book(self) -> BookSnapshot | None:
        if self.book is None and self.latest is not None:
            self.book = book_from_record(self.latest, version=self.version)
        return self.book


@dataclass(slots=True)
class _VenueGroup:
    """The consolidated market of one symbol on several venues (cross-venue orders)."""

    venues: tuple[str, ...]
    states: tuple[_SymbolState, ...]
    counters: MarketCounters = field(default_factory=MarketCounters)
    live: int = 0
    tape: MidTape = field(default_factory=MidTape)  # consolidated mids (see _SymbolState)
    tape_until_ns: int = -1

    def books(self) -> dict[str, BookSnapshot | None]:
        return {v: st.current_book() for v, st in zip(self.venues, self.states, strict=True)}

    def mid(self) -> Decimal | None:
        """Best bid across the venues' latest books + best ask across them, / 2."""
        bids, asks = [], []
        for state in self.states:
            if state.latest is not None:
                if state.latest["bids"]:
                    bids.append(Decimal(state.latest["bids"][0][0]))
                if state.latest["asks"]:
                    asks.append(Decimal(state.latest["asks"][0][0]))
        return (max(bids) + min(asks)) / 2 if bids and asks else None

    def latest_ts(self) -> int | None:
        stamps = [st.latest["ts_recv"] for st in self.states if st.latest is not None]
        return max(stamps) if stamps else None


def _mid(record: dict[str, Any]) -> Decimal | None:
    bids, asks = record["bids"], record["asks"]
    return (Decimal(bids[0][0]) + Decimal(asks[0][0])) / 2 if bids and asks else None


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
    report: ExecutionReport | None = None
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
    rows: dict[_Key, list[tuple[int, Decimal]]] = {key: [] for key in keys}
    for record in iter_records(recording):
        if record["type"] == "trade":
            found = rows.get((record["exchange"], record["symbol"]))
            if found is not None:
                found.append((record["ts_recv"], Decimal(record["qty"])))
    out = {}
    for key, trades in rows.items():
        trades.sort(key=lambda row: row[0])
        out[key] = _TradeHistory([t for t, _ in trades], [q for _, q in trades])
    return out


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
        self.states: dict[_Key, _SymbolState] = {
            (venue, spec.symbol): _SymbolState() for spec in specs for venue in spec.venue_names
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
                state.counters.on_mid(state.latest["ts_recv"], _mid(state.latest))
                state.tape.record(state.latest["ts_recv"], state.counters.mid)
        elif not group.live and (latest_ts := group.latest_ts()) is not None:
            group.counters.on_mid(latest_ts, group.mid())
            group.tape.record(latest_ts, group.counters.mid)
        market.live += 1
        run.arrival_mid = market.counters.mid
        run.market_start = market.counters.totals(start_ns)
        run.seen_volume, run.seen_trades = market.counters.volume, market.counters.trades

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
        activity = MarketActivity(
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
            if recording_ended:
                execution.skip(due, SkipReason.END_OF_RECORDING)
            else:
                market = self._market_since_last_step(run, state.counters)
                ledger = None if self.independent else self.ledger
                book = group.books() if group is not None else self._book_of(run)
                execution.step(due, book, ledger, market)
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

    def _book_of(self, run: _Run) -> BookSnapshot | None:
        return self.states[(run.spec.exchange, run.spec.symbol)].current_book()

    def _finish(self, run: _Run, state: _SymbolState | _VenueGroup) -> None:
        execution = run.execution
        assert execution is not None
        assert run.market_start is not None
        end_ns = execution.ended_ns if execution.ended_ns is not None else execution.end_ns
        window = state.counters.totals(end_ns) - run.market_start
        run.report = build_report(execution, run.arrival_mid, state.counters.mid, window)
        state.live -= 1
        state.tape_until_ns = max(state.tape_until_ns, end_ns + _MARKOUT_TAIL_NS)

    def feed(self, records: Iterable[dict[str, Any]]) -> None:
        # The hot loop: one dict lookup per message for symbols without orders; trades
        # and mids are turned into Decimals only while an order of the symbol is live.
        get_state, heap = self.states.get, self.heap
        messages, last_ts = self.messages, self.last_ts
        for record in records:
            messages += 1
            state = get_state((record.get("exchange", ""), record.get("symbol", "")))
            kind = record["type"]
            if state is None:
                if kind == "book":
                    self.seen.add((record["exchange"], record["symbol"]))
                continue
            if kind == "instrument":
                lot = record.get("lot_size")
                state.lot_size = None if lot is None else Decimal(lot)
                continue
            ts = record["ts_recv"]
            if heap and heap[0][0] < ts:
                self.last_ts = last_ts
                self._execute_due(ts, inclusive=False)
            if ts > last_ts:
                last_ts = ts
            if kind == "trade":
                if state.live:
                    state.counters.on_trade(Decimal(record["price"]), Decimal(record["qty"]))
                for group in state.groups:
                    if group.live:
                        group.counters.on_trade(Decimal(record["price"]), Decimal(record["qty"]))
            elif kind == "book":
                self._on_book(state, record, ts)
        self.messages, self.last_ts = messages, last_ts

    def _on_book(self, state: _SymbolState, record: dict[str, Any], ts: int) -> None:
        if state.latest is None:
            key = (record["exchange"], record["symbol"])
            for idx, run in enumerate(self.runs):
                if run.start_ns is None and key in _keys(run.spec):
                    run.start_ns = ts  # a cross-venue order starts at the first of its books
                    heapq.heappush(self.heap, (ts, idx))
        state.latest = record
        state.version += 1
        state.book = None
        if state.live:
            mid = _mid(record)
            state.counters.on_mid(ts, mid)
            state.tape.record(ts, mid)
        elif ts <= state.tape_until_ns:
            state.tape.record(ts, _mid(record))
        for group in state.groups:
            if group.live:
                group_mid = group.mid()
                group.counters.on_mid(ts, group_mid)
                group.tape.record(ts, group_mid)
            elif ts <= group.tape_until_ns:
                group.tape.record(ts, group.mid())

    def finish(self) -> SimulationResult:
        self._execute_due(self.last_ts, inclusive=True)
        self._execute_due(2**63, inclusive=False, recording_ended=True)
        # An order on a symbol without any book is a mistake, even with an explicit start.
        missing = [
            (venue, r.spec.symbol)
            for r in self.runs
            for venue in r.spec.venue_names
            if r.report is None or self.states[(venue, r.spec.symbol)].latest is None
        ]
        if missing:
            venue, symbol = missing[0]
            books = self.seen | {k for k, st in self.states.items() if st.latest is not None}
            held = ", ".join(f"{e} {s}" for e, s in sorted(books)) or "no books"
            raise UnknownSymbol(f"the recording has no book for {venue} {symbol}; it holds: {held}")
        reports = tuple(
            with_markouts(r.report, self._market_of(r).tape, self.last_ts)
            for r in self.runs
            if r.report is not None
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
    histories = _trade_histories(recording, profiled) if profiled else None
    sim = _Simulation(specs, starts, independent=independent, histories=histories)
    sim.feed(iter_records(recording))
    return sim.finish()
