"""Charts of execution reports (optional extra: `pip install 'twapcore[plot]'`).

matplotlib is imported only when a chart is drawn, and only its object API
(`Figure` + the Agg canvas) is used: no pyplot, no global backend switch, safe
in threads (the server renders in a worker thread).

`plot_report` draws two panels sharing the time axis:

1. price: the market mid (from `market_series`, else the mids of the books the
   slices traded on), the market VWAP since the order started (running, from
   the trades; else the report's interval VWAP as a line), the order's fills
   as markers sized by quantity, and the limit price when there is one;
2. quantity: cumulative filled against the planned schedule.

`plot_sweep` draws a cost (default: implementation shortfall in bps) against
the swept parameters, one line per value of the second parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from twapcore.analytics import ExecutionReport
from twapcore.book import consolidated_mid
from twapcore.models import BookSnapshot
from twapcore.recording import book_from_record, iter_records

__all__ = ["MarketSeries", "market_series", "plot_report", "plot_sweep", "render_png"]

_NS_PER_S = 1_000_000_000
_MISSING_PLOT = "charts need matplotlib: pip install 'twapcore[plot]'"


@dataclass(frozen=True, slots=True)
class MarketSeries:
    """One symbol's mids (ts_ns, mid) and trades (ts_ns, price, qty) over a window."""

    mids: list[tuple[int, Decimal]] = field(default_factory=list)
    trades: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)


def market_series(
    recording: str | Path | Sequence[str | Path],
    exchange: str | Sequence[str],
    symbol: str,
    start_ns: int,
    end_ns: int,
) -> MarketSeries:
    """The mids and trades of `symbol` on `exchange` (or on several venues: their
    consolidated mid, as a cross-venue order sees it, and every venue's trades) in
    `recording` from `start_ns` to `end_ns`.

    The mid displayed at `start_ns` (the last book before it) is the first sample.
    """
    venues = {exchange} if isinstance(exchange, str) else set(exchange)
    tops: dict[str, BookSnapshot] = {}  # each venue's latest top of book
    series = MarketSeries()
    before: tuple[int, Decimal] | None = None
    for record in iter_records(recording):
        kind = record["type"]
        if kind not in ("book", "trade") or record.get("symbol") != symbol:
            continue
        if record.get("exchange") not in venues:
            continue
        ts = record["ts_recv"]
        if ts > end_ns:
            break
        if kind == "book":
            tops[record["exchange"]] = book_from_record(record, depth=1)
            mid = consolidated_mid(list(tops.values()))
            if mid is None:
                continue
            if ts < start_ns:
                before = (start_ns, mid)
            else:
                series.mids.append((ts, mid))
        elif ts >= start_ns:
            series.trades.append((ts, Decimal(record["price"]), Decimal(record["qty"])))
    if before is not None and (not series.mids or series.mids[0][0] > start_ns):
        series.mids.insert(0, before)
    return series


def _cumulative(
    report: ExecutionReport, steps: Iterable[tuple[int, Decimal]]
) -> list[tuple[int, float]]:
    """(time, running total) from the order's start (0) to its end, one point per step."""
    points, total = [(report.start_ns, 0.0)], Decimal(0)
    for ts_ns, qty in steps:
        total += qty
        points.append((ts_ns, float(total)))
    points.append((report.end_ns, float(total)))
    return points


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(_MISSING_PLOT) from exc
    return Figure, FigureCanvasAgg


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / _NS_PER_S, tz=UTC)


def _running_vwap(trades: Iterable[tuple[int, Decimal, Decimal]]) -> list[tuple[int, Decimal]]:
    out, volume, notional = [], Decimal(0), Decimal(0)
    for ts, price, qty in trades:
        volume += qty
        notional += price * qty
        if volume:
            out.append((ts, notional / volume))
    return out


def plot_report(
    report: ExecutionReport,
    path: str | Path | None = None,
    *,
    market: MarketSeries | None = None,
    title: str | None = None,
) -> Any:
    """Draw `report` (see the module docstring); save it as PNG to `path` if given.

    Returns the matplotlib `Figure`. Raises `ModuleNotFoundError` naming the
    extra when matplotlib is not installed.
    """
    figure_cls, canvas_cls = _matplotlib()
    fig = figure_cls(figsize=(10, 6.5), layout="constrained")
    canvas_cls(fig)
    price_ax, qty_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    units = report.units

    mids = market.mids if market is not None and market.mids else None
    if mids is None:
        mids = [(r.executed_ns, r.book_mid) for r in report.slices if r.book_mid is not None]
        mid_label = "mid of the books traded"
    else:
        mid_label = "market mid"
    if mids:
        price_ax.step(
            [_time(t) for t, _ in mids],
            [float(m) for _, m in mids],
            where="post",
            color="tab:gray",
            linewidth=1,
            label=mid_label,
        )
    vwap = _running_vwap(market.trades) if market is not None else []
    if vwap:
        price_ax.plot(
            [_time(t) for t, _ in vwap],
            [float(v) for _, v in vwap],
            color="tab:orange",
            linewidth=1.2,
            label="market VWAP since start",
        )
    elif report.market_vwap is not None:
        price_ax.hlines(
            float(report.market_vwap),
            _time(report.start_ns),
            _time(report.end_ns),
            colors="tab:orange",
            linewidth=1.2,
            label=f"market VWAP ({report.market_vwap_source})",
        )
    if report.fills:
        largest = max(f.qty for f in report.fills)
        price_ax.scatter(
            [_time(f.ts_ns) for f in report.fills],
            [float(f.price) for f in report.fills],
            s=[20 + 180 * float(f.qty / largest) for f in report.fills],
            color="tab:green" if report.side == "buy" else "tab:red",
            alpha=0.7,
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
            label=f"fills ({report.side}, size ~ qty)",
        )
    if report.has_limit:
        low, high = price_ax.get_ylim()
        limit = float(report.limit_price)
        span = high - low
        if low - span <= limit <= high + span:
            price_ax.axhline(limit, color="tab:red", linestyle="--", linewidth=1, label="limit")
        else:
            price_ax.plot(
                [], [], color="tab:red", linestyle="--", label=f"limit {limit:g} (off chart)"
            )
    price_ax.set_ylabel(f"price ({units['average_price']})")
    price_ax.legend(loc="best", fontsize="small")
    price_ax.grid(alpha=0.3)

    filled = _cumulative(report, ((f.ts_ns, f.qty) for f in report.fills))
    qty_ax.step(
        [_time(t) for t, _ in filled],
        [q for _, q in filled],
        where="post",
        color="tab:blue",
        label="filled",
    )
    if any(p.qty for p in report.schedule):
        planned = _cumulative(report, ((p.due_ns, p.qty) for p in report.schedule))
        qty_ax.step(
            [_time(t) for t, _ in planned],
            [q for _, q in planned],
            where="post",
            color="tab:gray",
            linestyle="--",
            label="planned",
        )
    qty_ax.axhline(float(report.quantity), color="black", linewidth=0.8, linestyle=":")
    qty_ax.set_ylabel(f"cumulative qty ({units['filled_qty']})")
    qty_ax.set_xlabel("time (UTC)")
    qty_ax.legend(loc="upper left", fontsize="small")
    qty_ax.grid(alpha=0.3)
    fig.suptitle(
        title
        or f"{report.algorithm} {report.side} {report.quantity} {report.exchange} {report.symbol}"
    )
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def plot_sweep(
    runs: Sequence[tuple[Mapping[str, str], ExecutionReport]],
    path: str | Path | None = None,
    *,
    metric: str = "implementation_shortfall_bps",
) -> Any:
    """`metric` of each report against the swept parameters (first one on the x axis).

    `runs` pairs each parameter assignment (e.g. `{"slices": "10", "duration": "300"}`)
    with its report; one line per value of the other parameters. Returns the Figure.
    """
    figure_cls, canvas_cls = _matplotlib()
    if not runs:
        raise ValueError("plot_sweep needs at least one run")
    names = list(runs[0][0])
    x_name, others = names[0], names[1:]
    fig = figure_cls(figsize=(8, 5), layout="constrained")
    canvas_cls(fig)
    ax = fig.subplots()
    xs = list(dict.fromkeys(params[x_name] for params, _ in runs))
    numeric = all(_is_number(x) for x in xs)
    position = {x: float(Decimal(x)) if numeric else float(i) for i, x in enumerate(xs)}
    lines: dict[str, list[tuple[float, float]]] = {}
    for params, report in runs:
        value = getattr(report, metric)
        if value is None:
            continue
        label = ", ".join(f"{name}={params[name]}" for name in others) or metric
        lines.setdefault(label, []).append((position[params[x_name]], float(value)))
    for label, points in lines.items():
        points.sort()
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label)
    if not numeric:  # e.g. algorithm=twap,vwap: one tick per value
        ax.set_xticks(list(position.values()), list(position))
    ax.set_xlabel(x_name)
    ax.set_ylabel(metric.replace("_", " ") + (" (+ = cost)" if "bps" in metric else ""))
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.suptitle(f"{metric} vs {', '.join(names)}")
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def render_png(figure: Any) -> bytes:
    """The PNG bytes of `figure` (e.g. to serve it over HTTP)."""
    from io import BytesIO

    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
