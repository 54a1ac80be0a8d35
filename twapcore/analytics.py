"""Execution analytics: how an order did against the market it traded in.

Sign convention: slippage and implementation shortfall are positive when they
are a cost (a buy paid more, or a sell received less, than the benchmark).
`ExecutionReport.units` names the unit of every figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from twapcore.execution import OrderExecution
from twapcore.models import Side

__all__ = [
    "ExecutionReport",
    "FillRow",
    "MarketCounters",
    "MarketTotals",
    "SliceRow",
    "build_report",
]

_ZERO = Decimal(0)
_BPS = Decimal(10_000)
_RATIO_PLACES = Decimal("0.000001")


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
        self._close_mid_segment(ts_ns)
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

    @property
    def units(self) -> dict[str, str]:
        """The unit of every figure (`slices.x` / `fills.x` for the rows' columns)."""
        base, _, quote = self.symbol.partition("-")
        price, qty = f"{quote} per {base}", base
        bps, ns = "bps (+ = cost)", "ns since the Unix epoch (UTC)"
        units = dict.fromkeys(_PRICE_FIELDS, price) | dict.fromkeys(_QTY_FIELDS, qty)
        units |= dict.fromkeys(_BPS_FIELDS, bps) | dict.fromkeys(_TIME_FIELDS, ns)
        units |= dict.fromkeys(("fill_ratio", "participation_rate"), "fraction (0..1)")
        units["implementation_shortfall"] = f"{quote} (+ = cost)"
        return units

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: decimals as strings, None kept as null; `units` last."""
        out = {name: _jsonable(getattr(self, name)) for name in self.__slots__}
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
)
_BPS_FIELDS = (
    "slippage_bps",
    "vwap_slippage_bps",
    "implementation_shortfall_bps",
    "slices.slippage_bps",
    "fills.slippage_bps",
)
_TIME_FIELDS = ("start_ns", "end_ns", "slices.due_ns", "slices.executed_ns", "fills.ts_ns")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, SliceRow | FillRow):
        return {name: _jsonable(getattr(value, name)) for name in value.__slots__}
    return value


def build_report(
    execution: OrderExecution,
    arrival_mid: Decimal | None,
    final_mid: Decimal | None,
    market: MarketTotals,
) -> ExecutionReport:
    """Build the report of `execution` from the market window it lived through.

    `arrival_mid` is the mid when the order started, `final_mid` the mid when it
    ended (or now), `market` the trades and mids seen during its life.
    """
    spec = execution.spec
    sign = Decimal(1) if spec.side is Side.BUY else Decimal(-1)
    filled = execution.filled_qty
    avg = execution.average_price
    prices = [f.price for f in execution.fills]
    vwap, source = market.vwap, "trades"
    if vwap is None:
        vwap, source = market.time_weighted_mid, "mid"
    shortfall: Decimal | None = None
    if arrival_mid is not None:
        executed_cost = sign * (avg - arrival_mid) * filled if avg is not None else _ZERO
        end_mid = final_mid if final_mid is not None else arrival_mid
        opportunity_cost = sign * (end_mid - arrival_mid) * execution.remaining_qty
        shortfall = executed_cost + opportunity_cost
    rows: list[SliceRow] = []
    fills: list[FillRow] = []
    for r in execution.results:
        slice_avg = None if r.filled_qty == _ZERO else r.notional / r.filled_qty
        rows.append(
            SliceRow(
                index=r.index,
                due_ns=r.due_ns,
                executed_ns=r.executed_ns,
                target_qty=r.target_qty,
                filled_qty=r.filled_qty,
                average_price=slice_avg,
                status=r.status.value,
                reason=r.reason,
                book_mid=r.book_mid,
                slippage_bps=_signed_bps(sign, slice_avg, r.book_mid),
                market_volume=r.market_volume,
            )
        )
        fills.extend(
            FillRow(
                f.slice_index,
                f.ts,
                f.price,
                f.qty,
                r.book_mid,
                _signed_bps(sign, f.price, r.book_mid),
            )
            for f in r.fills
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
        implementation_shortfall=shortfall,
        implementation_shortfall_bps=_bps(
            shortfall, None if arrival_mid is None else arrival_mid * spec.quantity
        ),
        market_volume=market.volume,
        participation_rate=(
            None if market.volume == _ZERO else (filled / market.volume).quantize(_RATIO_PLACES)
        ),
        start_ns=execution.start_ns,
        end_ns=execution.ended_ns if execution.ended_ns is not None else execution.end_ns,
        slices_total=len(execution.plan),
        slices_done=len(execution.results),
        slices=tuple(rows),
        algorithm=spec.algorithm,
        algorithm_note=execution.algorithm_note,
        fills=tuple(fills),
    )


def _signed_bps(sign: Decimal, price: Decimal | None, benchmark: Decimal | None) -> Decimal | None:
    """`price` vs `benchmark` in bps, positive when it is a cost for the order's side."""
    if price is None or benchmark is None:
        return None
    return _bps(sign * (price - benchmark), benchmark)
