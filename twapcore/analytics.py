"""Execution analytics: how an order did against the market it traded in.

Sign convention: slippage, implementation shortfall and markouts are positive
when they are a cost (a buy paid more, or a sell received less, than the
benchmark). `ExecutionReport.units` names the unit of every figure.

Implementation shortfall (IS) against the arrival mid M0, with s = +1 for a buy
and -1 for a sell, fills (price p, qty q, mid of the book it hit m) and the
final mid M1, splits exactly into:

* execution cost (spread + impact) = sum of s * (p - m) * q
* timing (drift) cost               = sum of s * (m - M0) * q
* opportunity cost (unfilled part)  = s * (M1 - M0) * remaining
* total                             = execution + timing + opportunity

each in quote currency and in bps of the arrival value M0 * quantity. The bps
parts are rounded to 6 places and the timing part takes the rounding rest, so
the parts always sum to the total exactly, in both units.

Markouts: for each fill, the mid h = 1 s, 10 s and 60 s later (the mid of the
last book at or before fill time + h); markout_h = s * (p - mid_h) / mid_h in
bps, + = cost (the market moved against the fill afterwards: a buy that the
later mid shows as expensive), averaged over the fills weighted by quantity.
`apply_markouts` computes them from any source of those mids: `with_markouts`
reads a `MidTape` (`twapcore.simulate`), the server the mids its engine stored
(`twapserver.orders.markouts`). A missing mid leaves that markout null and
`markouts_note` says why.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from operator import mul
from typing import Any

from twapcore._construct import positional_builder
from twapcore.execution import OrderExecution
from twapcore.formatting import format_average, format_decimal
from twapcore.models import Side
from twapcore.schedule import PlannedSlice
from twapcore.symbols import instrument_units

__all__ = [
    "MARKOUT_HORIZONS_S",
    "NO_LIMIT_PRICE",
    "ExecutionReport",
    "FillRow",
    "MarketCounters",
    "MarketTotals",
    "MarkoutMid",
    "MidTape",
    "SliceRow",
    "VenueRow",
    "apply_markouts",
    "build_report",
    "with_markouts",
]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)
_RATIO_PLACES = Decimal("0.000001")
_HUNDRED = Decimal(100)
_NS_PER_S = 1_000_000_000

#: Seconds after each fill at which the mid is compared with the fill price.
MARKOUT_HORIZONS_S: tuple[int, int, int] = (1, 10, 60)
#: The limit price meaning "no practical limit" for each side (what `twap simulate`
#: uses without --limit-price); a report shows it as no limit.
NO_LIMIT_PRICE: dict[Side, Decimal] = {Side.BUY: Decimal("1e12"), Side.SELL: Decimal("1e-12")}
_NO_MARKOUTS = "markouts need the mid after each fill, which this report was not given"
# Offline, a missing mid has one explanation (kept word for word: reports are compared).
_PAST_THE_RECORDING = "the recording ends before the horizon, or the book was one-sided"
_ZERO_MID = "the mid was zero"

#: The mid `horizon_s` seconds after a fill, or why it is missing (a short phrase).
MarkoutMid = Callable[["FillRow", int], "Decimal | str"]
#: A fill's mids at every `MARKOUT_HORIZONS_S` after its time (ns), or why there is none.
MarkoutMids = Callable[[int], "list[Decimal | str]"]


@dataclass(frozen=True, slots=True)
class MarketTotals:
    """Cumulative market activity up to a moment; subtract two for a window."""

    volume: Decimal = _ZERO
    notional: Decimal = _ZERO
    mid_ns: Decimal = _ZERO  # Σ mid × nanoseconds it was displayed
    covered_ns: int = 0

    def __add__(self, other: MarketTotals) -> MarketTotals:
        return MarketTotals(
            self.volume + other.volume,
            self.notional + other.notional,
            self.mid_ns + other.mid_ns,
            self.covered_ns + other.covered_ns,
        )

    def __sub__(self, other: MarketTotals) -> MarketTotals:
        return MarketTotals(
            self.volume - other.volume,
            self.notional - other.notional,
            self.mid_ns - other.mid_ns,
            self.covered_ns - other.covered_ns,
        )

    @property
    def vwap(self) -> Decimal | None:
        return None if self.volume == _ZERO else self.notional / self.volume

    @property
    def time_weighted_mid(self) -> Decimal | None:
        return None if self.covered_ns == 0 else self.mid_ns / self.covered_ns


class MarketCounters:
    """Running totals of one symbol's trades and mid prices, updated in O(1)."""

    __slots__ = ("_covered", "_mid", "_mid_since", "mid_ns", "notional", "trades", "volume")

    def __init__(self) -> None:
        self.trades = 0
        self.volume = _ZERO
        self.notional = _ZERO
        self.mid_ns = _ZERO
        self._covered = 0
        self._mid: Decimal | None = None
        self._mid_since = 0

    def on_trade(self, price: Decimal, qty: Decimal) -> None:
        self.trades += 1
        self.volume += qty
        self.notional += price * qty

    def on_mid(self, ts_ns: int, mid: Decimal | None) -> None:
        """The displayed mid changed at `ts_ns` (None when one side is empty)."""
        # `_close_mid_segment`, inlined: this runs for every book while an order is live.
        since = self._mid_since
        if ts_ns > since:
            if self._mid is not None:
                self.mid_ns += self._mid * (ts_ns - since)
                self._covered += ts_ns - since
            self._mid_since = ts_ns
        self._mid = mid

    def _close_mid_segment(self, ts_ns: int) -> None:
        if self._mid is not None and ts_ns > self._mid_since:
            self.mid_ns += self._mid * (ts_ns - self._mid_since)
            self._covered += ts_ns - self._mid_since
        self._mid_since = max(self._mid_since, ts_ns)

    @property
    def mid(self) -> Decimal | None:
        return self._mid

    def totals(self, now_ns: int) -> MarketTotals:
        """Totals including the current mid segment up to `now_ns`."""
        self._close_mid_segment(now_ns)
        return MarketTotals(self.volume, self.notional, self.mid_ns, self._covered)


class MidTape:
    """The displayed mid of one symbol over time: (ts_ns, mid) samples, in time order.

    `mid_at(t)` is the mid of the last sample at or before `t` (a book seen at
    `t` counts, as for a slice due at `t`). Bounded by the caller, who records
    only while it needs the mids (an order's life plus the longest markout).
    """

    __slots__ = ("_mids", "_times")

    def __init__(self) -> None:
        self._times: list[int] = []
        self._mids: list[Decimal | None] = []

    def __len__(self) -> int:
        return len(self._times)

    def record(self, ts_ns: int, mid: Decimal | None) -> None:
        """The mid became `mid` at `ts_ns` (None: a side was empty).

        A sample not newer than the last one replaces it (receive times that go back
        count as the last time), so the tape stays sorted.
        """
        if self._times and ts_ns <= self._times[-1]:
            self._mids[-1] = mid
            return
        self._times.append(ts_ns)
        self._mids.append(mid)

    def mid_at(self, ts_ns: int) -> Decimal | None:
        i = bisect_right(self._times, ts_ns)
        return None if i == 0 else self._mids[i - 1]


@dataclass(frozen=True, slots=True)
class SliceRow:
    index: int
    due_ns: int
    executed_ns: int
    target_qty: Decimal
    filled_qty: Decimal
    average_price: Decimal | None
    status: str
    reason: str | None
    book_mid: Decimal | None = None  # mid of the book the slice traded on
    slippage_bps: Decimal | None = None  # average price vs book_mid, + = cost
    market_volume: Decimal | None = None  # traded by the market since the previous slice


@dataclass(frozen=True, slots=True)
class FillRow:
    """One paper fill, with the mid of the book it hit and its slippage against that mid."""

    slice_index: int
    ts_ns: int
    price: Decimal
    qty: Decimal
    mid: Decimal | None
    slippage_bps: Decimal | None
    venue: str | None = None  # the venue the fill traded on
    markout_1s_bps: Decimal | None = None
    markout_10s_bps: Decimal | None = None
    markout_60s_bps: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VenueRow:
    """Fills of one venue: how much, at what average, and their cost vs the mid at each fill."""

    venue: str
    fills_count: int
    filled_qty: Decimal
    average_price: Decimal
    slippage_bps: Decimal | None  # average price vs the average mid at its fills, + = cost
    share: Decimal  # of the order's filled quantity (0..1)


_new_slice_row = positional_builder(SliceRow)
_new_fill_row = positional_builder(FillRow)


def _bps(value: Decimal | None, base: Decimal | None) -> Decimal | None:
    if value is None or base is None or base == _ZERO:
        return None
    return (value / base * _BPS).quantize(_RATIO_PLACES)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """Everything a user wants to know about one executed (or executing) order."""

    token_id: str | None
    exchange: str
    symbol: str
    side: str
    status: str
    quantity: Decimal
    filled_qty: Decimal
    remaining_qty: Decimal
    fill_ratio: Decimal
    limit_price: Decimal
    average_price: Decimal | None
    min_fill_price: Decimal | None
    max_fill_price: Decimal | None
    fills_count: int
    arrival_mid: Decimal | None
    final_mid: Decimal | None
    slippage_bps: Decimal | None
    market_vwap: Decimal | None
    market_vwap_source: str | None
    vwap_slippage_bps: Decimal | None
    implementation_shortfall: Decimal | None
    implementation_shortfall_bps: Decimal | None
    market_volume: Decimal
    participation_rate: Decimal | None
    start_ns: int
    end_ns: int
    slices_total: int
    slices_done: int
    slices: tuple[SliceRow, ...] = field(default=())
    algorithm: str = "twap"
    algorithm_note: str | None = None  # why the plan deviates from the request (e.g. fallback)
    fills: tuple[FillRow, ...] = field(default=())
    # implementation shortfall, split (see the module docstring); parts sum to the total
    execution_cost: Decimal | None = None
    execution_cost_bps: Decimal | None = None
    timing_cost: Decimal | None = None
    timing_cost_bps: Decimal | None = None
    opportunity_cost: Decimal | None = None
    opportunity_cost_bps: Decimal | None = None
    participation_pct: Decimal | None = None
    markout_1s_bps: Decimal | None = None
    markout_10s_bps: Decimal | None = None
    markout_60s_bps: Decimal | None = None
    markouts_note: str | None = _NO_MARKOUTS
    venues: tuple[VenueRow, ...] = field(default=())
    schedule: tuple[PlannedSlice, ...] = field(default=())  # the plan: qty due at each time

    @property
    def has_limit(self) -> bool:
        """False when `limit_price` is the side's "no practical limit" (`NO_LIMIT_PRICE`)."""
        return self.limit_price != NO_LIMIT_PRICE[Side(self.side)]

    def to_pandas(self) -> Any:
        """`fills`, `slices`, `venues` and `summary` DataFrames (needs `twapcore[pandas]`).

        See `twapcore.export.report_frames`.
        """
        from twapcore.export import report_frames  # lazy: pandas is an optional extra

        return report_frames(self)

    @property
    def units(self) -> dict[str, str]:
        """The unit of every figure (`slices.x` / `fills.x` for the rows' columns)."""
        instrument = instrument_units(self.symbol)  # spot: BTC; perpetuals etc.: contracts
        price, qty, quote = instrument.price, instrument.quantity, instrument.currency
        bps, ns = "bps (+ = cost)", "ns since the Unix epoch (UTC)"
        units = dict.fromkeys(_PRICE_FIELDS, price) | dict.fromkeys(_QTY_FIELDS, qty)
        units |= dict.fromkeys(_BPS_FIELDS, bps) | dict.fromkeys(_TIME_FIELDS, ns)
        units |= dict.fromkeys(
            ("fill_ratio", "participation_rate", "venues.share"), "fraction (0..1)"
        )
        units["participation_pct"] = "% of market volume"
        units |= dict.fromkeys(_QUOTE_COST_FIELDS, f"{quote} (+ = cost)")
        return units

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: decimals as strings, None kept as null; `units` last."""
        out = {name: _jsonable(getattr(self, name), name) for name in self.__slots__}
        out["units"] = self.units
        return out


_PRICE_FIELDS = (
    "limit_price",
    "average_price",
    "min_fill_price",
    "max_fill_price",
    "arrival_mid",
    "final_mid",
    "market_vwap",
    "slices.average_price",
    "slices.book_mid",
    "fills.price",
    "fills.mid",
    "venues.average_price",
)
_QTY_FIELDS = (
    "quantity",
    "filled_qty",
    "remaining_qty",
    "market_volume",
    "slices.target_qty",
    "slices.filled_qty",
    "slices.market_volume",
    "fills.qty",
    "venues.filled_qty",
    "schedule.qty",
)
_BPS_FIELDS = (
    "slippage_bps",
    "vwap_slippage_bps",
    "implementation_shortfall_bps",
    "execution_cost_bps",
    "timing_cost_bps",
    "opportunity_cost_bps",
    "markout_1s_bps",
    "markout_10s_bps",
    "markout_60s_bps",
    "slices.slippage_bps",
    "fills.slippage_bps",
    "fills.markout_1s_bps",
    "fills.markout_10s_bps",
    "fills.markout_60s_bps",
    "venues.slippage_bps",
)
_QUOTE_COST_FIELDS = (
    "implementation_shortfall",
    "execution_cost",
    "timing_cost",
    "opportunity_cost",
)
_TIME_FIELDS = (
    "start_ns",
    "end_ns",
    "slices.due_ns",
    "slices.executed_ns",
    "fills.ts_ns",
    "schedule.due_ns",
)


# Computed averages: written to `AVERAGE_DIGITS` significant digits, not 28.
_AVERAGE_FIELDS = frozenset({"average_price", "market_vwap"})


def _jsonable(value: Any, name: str = "") -> Any:
    if isinstance(value, Decimal):
        return format_average(value) if name in _AVERAGE_FIELDS else format_decimal(value)
    if isinstance(value, tuple):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, SliceRow | FillRow | VenueRow | PlannedSlice):
        return {field: _jsonable(getattr(value, field), field) for field in value.__slots__}
    return value


@dataclass(frozen=True, slots=True)
class _Shortfall:
    total: Decimal | None = None
    total_bps: Decimal | None = None
    execution: Decimal | None = None
    execution_bps: Decimal | None = None
    timing: Decimal | None = None
    timing_bps: Decimal | None = None
    opportunity: Decimal | None = None
    opportunity_bps: Decimal | None = None


def _shortfall(
    execution: OrderExecution,
    sign: Decimal,
    arrival_mid: Decimal | None,
    final_mid: Decimal | None,
    fill_mids: list[tuple[Decimal, Decimal, Decimal | None]],
) -> _Shortfall:
    """IS and its parts (module docstring); `fill_mids` is (price, qty, mid at fill) per fill."""
    if arrival_mid is None:
        return _Shortfall()
    executed = sign * (execution.notional - arrival_mid * execution.filled_qty)
    end_mid = final_mid if final_mid is not None else arrival_mid
    opportunity = sign * (end_mid - arrival_mid) * execution.remaining_qty
    total = executed + opportunity
    base = arrival_mid * execution.spec.quantity
    total_bps = _bps(total, base)
    opportunity_bps = _bps(opportunity, base)
    if any(mid is None for _, _, mid in fill_mids):  # a fill on a one-sided book: no split
        return _Shortfall(
            total,
            total_bps,
            opportunity=_unsigned_zero(opportunity),
            opportunity_bps=_unsigned_zero(opportunity_bps),
        )
    spread = sum((sign * (p - m) * q for p, q, m in fill_mids if m is not None), _ZERO)
    spread_bps = _bps(spread, base)
    # timing = sum of s * (m - M0) * q, taken as the rest: the same value (the total is
    # computed from exact notionals), and the sum stays exact whatever the precision.
    timing = total - spread - opportunity
    timing_bps = (
        None
        if total_bps is None or spread_bps is None or opportunity_bps is None
        else total_bps - spread_bps - opportunity_bps
    )
    parts = (spread, spread_bps, timing, timing_bps, opportunity, opportunity_bps)
    return _Shortfall(total, total_bps, *(_unsigned_zero(part) for part in parts))


def _unsigned_zero(value: Decimal | None) -> Decimal | None:
    """`-0` (a zero cost computed from a negative move) as `0`; sums are unchanged."""
    return value.copy_abs() if value is not None and value.is_zero() else value


def _venue_rows(fills: list[FillRow], sign: Decimal) -> tuple[VenueRow, ...]:
    by_venue: dict[str, list[FillRow]] = {}
    for fill in fills:
        by_venue.setdefault(fill.venue or "", []).append(fill)
    rows = []
    for venue, group in by_venue.items():
        qty = sum((f.qty for f in group), _ZERO)
        notional = sum((f.price * f.qty for f in group), _ZERO)
        mids = [f.mid for f in group]
        mid_notional = sum((m * f.qty for f, m in zip(group, mids, strict=True) if m), _ZERO)
        slippage = (
            None
            if any(m is None for m in mids)
            else _bps(sign * (notional - mid_notional), mid_notional)
        )
        rows.append(VenueRow(venue, len(group), qty, notional / qty, slippage, qty))
    total = sum((row.filled_qty for row in rows), _ZERO)
    return tuple(
        replace(row, share=(row.filled_qty / total).quantize(_RATIO_PLACES))
        for row in sorted(rows, key=lambda row: row.venue)
    )


def build_report(
    execution: OrderExecution,
    arrival_mid: Decimal | None,
    final_mid: Decimal | None,
    market: MarketTotals,
    markouts: MarkoutMids | None = None,
) -> ExecutionReport:
    """Build the report of `execution` from the market window it lived through.

    `arrival_mid` is the mid when the order started, `final_mid` the mid when it
    ended (or now), `market` the trades and mids seen during its life. Markouts
    are left null unless `markouts` gives each fill's mids (`tape_markouts`): the
    report is then `with_markouts` of the one without, built in one go.
    """
    spec = execution.spec
    sign = Decimal(1) if spec.side is Side.BUY else Decimal(-1)
    filled = execution.filled_qty
    avg = execution.average_price
    prices = [f.price for f in execution.fills]
    vwap, source = market.vwap, "trades"
    if vwap is None:
        vwap, source = market.time_weighted_mid, "mid"
    rows: list[SliceRow] = []
    fills: list[FillRow] = []
    marks = None if markouts is None else _Marks(sign)
    for r in execution.results:
        slice_fills = r.fills
        if len(slice_fills) == 1:  # `r.notional` (a `sum` from 0) of one fill, without its loop
            only = slice_fills[0]
            notional = _ZERO + only.price * only.qty
        else:
            notional = r.notional
        slice_avg = None if r.filled_qty == _ZERO else notional / r.filled_qty
        slippage = _signed_bps(sign, slice_avg, r.book_mid)
        rows.append(  # `SliceRow(...)`, positionally (`positional_builder`), as FillRow below
            _new_slice_row(
                r.index,
                r.due_ns,
                r.executed_ns,
                r.target_qty,
                r.filled_qty,
                slice_avg,
                r.status._value_,  # `.value` is a descriptor call, 10x slower
                r.reason,
                r.book_mid,
                slippage,
                r.market_volume,
            )
        )
        for f in slice_fills:
            # Most slices fill at one price: their average is that price, and `_signed_bps`
            # depends on a price's value only (its result is quantized), so it is reused.
            same = len(r.fills) == 1 and slice_avg == f.price
            fills.append(
                _new_fill_row(
                    f.slice_index,
                    f.ts,
                    f.price,
                    f.qty,
                    r.book_mid,
                    slippage if same else _signed_bps(sign, f.price, r.book_mid),
                    f.venue or spec.exchange,
                    *(
                        ()
                        if marks is None or markouts is None
                        else marks.of(f.price, f.qty, markouts(f.ts))
                    ),
                )
            )
    shortfall = _shortfall(
        execution, sign, arrival_mid, final_mid, [(f.price, f.qty, f.mid) for f in fills]
    )
    participation = (
        None if market.volume == _ZERO else (filled / market.volume).quantize(_RATIO_PLACES)
    )
    return ExecutionReport(
        token_id=spec.token_id,
        exchange=spec.exchange,
        symbol=spec.symbol,
        side=spec.side.value,
        status=execution.status.value,
        quantity=spec.quantity,
        filled_qty=filled,
        remaining_qty=execution.remaining_qty,
        fill_ratio=(filled / spec.quantity).quantize(_RATIO_PLACES),
        limit_price=spec.limit_price,
        average_price=avg,
        min_fill_price=min(prices, default=None),
        max_fill_price=max(prices, default=None),
        fills_count=len(prices),
        arrival_mid=arrival_mid,
        final_mid=final_mid,
        slippage_bps=_bps(
            None if avg is None or arrival_mid is None else sign * (avg - arrival_mid), arrival_mid
        ),
        market_vwap=vwap,
        market_vwap_source=None if vwap is None else source,
        vwap_slippage_bps=_bps(None if avg is None or vwap is None else sign * (avg - vwap), vwap),
        implementation_shortfall=shortfall.total,
        implementation_shortfall_bps=shortfall.total_bps,
        market_volume=market.volume,
        participation_rate=participation,
        start_ns=execution.start_ns,
        end_ns=execution.ended_ns if execution.ended_ns is not None else execution.end_ns,
        slices_total=len(execution.plan),
        slices_done=len(execution.results),
        slices=tuple(rows),
        algorithm=spec.algorithm,
        algorithm_note=execution.algorithm_note,
        fills=tuple(fills),
        execution_cost=shortfall.execution,
        execution_cost_bps=shortfall.execution_bps,
        timing_cost=shortfall.timing,
        timing_cost_bps=shortfall.timing_bps,
        opportunity_cost=shortfall.opportunity,
        opportunity_cost_bps=shortfall.opportunity_bps,
        participation_pct=(
            None
            if market.volume == _ZERO
            else (filled / market.volume * _HUNDRED).quantize(_RATIO_PLACES)
        ),
        venues=_venue_rows(fills, sign),
        schedule=tuple(execution.plan),
        **({} if marks is None else marks.summary(len(fills))),
    )


def tape_markouts(tape: MidTape, known_until_ns: int) -> MarkoutMids:
    """A fill's mids from `tape` at every horizon after its time (known up to
    `known_until_ns`), or why there is none: for `build_report` and `with_markouts`."""
    offsets = [horizon_s * _NS_PER_S for horizon_s in MARKOUT_HORIZONS_S]
    times, mids = tape._times, tape._mids  # `tape.mid_at`, inlined: it runs for every fill

    def mids_after(ts_ns: int) -> list[Decimal | str]:
        found: list[Decimal | str] = []
        for offset in offsets:
            at = ts_ns + offset
            i = 0 if at > known_until_ns else bisect_right(times, at)
            mid = None if i == 0 else mids[i - 1]
            found.append(_PAST_THE_RECORDING if mid is None else mid)
        return found

    return mids_after


def with_markouts(report: ExecutionReport, tape: MidTape, known_until_ns: int) -> ExecutionReport:
    """`report` with its markouts, from the mids of `tape` (known up to `known_until_ns`).

    A fill whose horizon lies after `known_until_ns` (the recording ended) or
    on a one-sided book has no markout for it; see `apply_markouts`.
    """
    mids_after = tape_markouts(tape, known_until_ns)
    return _marked(report, lambda fill: mids_after(fill.ts_ns))


def apply_markouts(report: ExecutionReport, mid_after: MarkoutMid) -> ExecutionReport:
    """`report` with each fill's markouts against `mid_after(fill, h)` for every horizon h.

    `mid_after` gives the mid h seconds after the fill, or a phrase saying why
    there is none (counted in `markouts_note`). The averages cover the fills
    that have a markout, weighted by quantity.
    """
    horizons = MARKOUT_HORIZONS_S
    return _marked(report, lambda fill: [mid_after(fill, h) for h in horizons])


class _Marks:
    """Markouts of one order's fills, fill by fill, and their quantity-weighted averages."""

    __slots__ = ("marked", "missing", "sign")

    def __init__(self, sign: Decimal) -> None:
        self.sign = sign
        self.missing: Counter[str] = Counter()
        # Per horizon, the fills with a markout there: their quantities and markouts (the
        # averages sum them in C at the end: the sums a running total makes, in order).
        self.marked: list[tuple[list[Decimal], list[Decimal]]] = [
            ([], []) for _ in MARKOUT_HORIZONS_S
        ]

    def of(self, price: Decimal, qty: Decimal, mids: list[Decimal | str]) -> list[Decimal | None]:
        """A fill's markout at each horizon, given its mids there (or why there is none)."""
        marks: list[Decimal | None] = []
        sign = self.sign
        for mid, (qtys, values) in zip(mids, self.marked, strict=True):
            if isinstance(mid, str):
                self.missing[mid] += 1
                marks.append(None)
            elif mid == _ZERO:
                self.missing[_ZERO_MID] += 1
                marks.append(None)
            else:  # `_signed_bps`, inlined
                mark = (sign * (price - mid) / mid * _BPS).quantize(_RATIO_PLACES)
                qtys.append(qty)
                values.append(mark)
                marks.append(mark)
        return marks

    def summary(self, fills: int) -> dict[str, Any]:
        """The report's markout fields for its `fills` fills."""
        averages = []
        for qtys, values in self.marked:
            value = sum(map(mul, qtys, values), _ZERO)  # Σ qty × markout, Σ qty
            weight = sum(qtys, _ZERO)
            averages.append(None if weight == _ZERO else (value / weight).quantize(_RATIO_PLACES))
        return {
            "markouts_note": _missing_note(self.missing, len(MARKOUT_HORIZONS_S) * fills),
            "markout_1s_bps": averages[0],
            "markout_10s_bps": averages[1],
            "markout_60s_bps": averages[2],
        }


def _marked(
    report: ExecutionReport, mids_after: Callable[[FillRow], list[Decimal | str]]
) -> ExecutionReport:
    """`apply_markouts` given each fill's mids at every horizon at once."""
    marks = _Marks(Decimal(1) if report.side == Side.BUY.value else Decimal(-1))
    fills = tuple(
        # Built once, positionally: this runs for every fill of every report.
        _new_fill_row(
            f.slice_index,
            f.ts_ns,
            f.price,
            f.qty,
            f.mid,
            f.slippage_bps,
            f.venue,
            *marks.of(f.price, f.qty, mids_after(f)),
        )
        for f in report.fills
    )
    return replace(report, fills=fills, **marks.summary(len(fills)))


def _missing_note(missing: Counter[str], total: int) -> str | None:
    """ "2 of 9 fill markouts have no mid (why)", one count per reason when there are several."""
    count = sum(missing.values())
    if not count:
        return None
    if len(missing) == 1:
        why = next(iter(missing))
    else:
        why = "; ".join(f"{n} {reason}" for reason, n in missing.items())
    return f"{count} of {total} fill markouts have no mid ({why})"


def _signed_bps(sign: Decimal, price: Decimal | None, benchmark: Decimal | None) -> Decimal | None:
    """`price` vs `benchmark` in bps, positive when it is a cost for the order's side."""
    if price is None or benchmark is None:
        return None
    return _bps(sign * (price - benchmark), benchmark)
