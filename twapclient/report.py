"""Human-readable rendering of an `ExecutionReport` with rich."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from twapcore import NS_PER_SECOND, ExecutionReport


def _time(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / NS_PER_SECOND, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _num(value: Decimal | None, places: int = 8) -> str:
    if value is None:
        return "-"
    return f"{value.quantize(Decimal(1).scaleb(-places)).normalize():f}"


def print_report(report: ExecutionReport, console: Console) -> None:
    """Summary table, then one row per slice."""
    summary = Table(title=f"TWAP {report.side} {report.quantity} {report.exchange} {report.symbol}")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    rows = [
        ("status", report.status),
        ("filled", f"{_num(report.filled_qty)} / {report.quantity} ({report.fill_ratio:.2%})"),
        ("average price", _num(report.average_price)),
        ("fill price range", f"{_num(report.min_fill_price)} .. {_num(report.max_fill_price)}"),
        ("limit price", _num(report.limit_price)),
        ("arrival mid", _num(report.arrival_mid)),
        ("slippage vs arrival (bps, + = cost)", _num(report.slippage_bps, 2)),
        (f"market VWAP ({report.market_vwap_source or '-'})", _num(report.market_vwap)),
        ("slippage vs VWAP (bps)", _num(report.vwap_slippage_bps, 2)),
        ("implementation shortfall", _num(report.implementation_shortfall)),
        ("implementation shortfall (bps)", _num(report.implementation_shortfall_bps, 2)),
        ("market volume", _num(report.market_volume)),
        ("participation", _num(report.participation_rate, 6)),
        ("slices", f"{report.slices_done} / {report.slices_total}"),
        ("start", _time(report.start_ns)),
        ("end", _time(report.end_ns)),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    slices = Table(title="slices")
    for column in ("#", "due (UTC)", "target", "filled", "avg price", "status", "reason"):
        slices.add_column(column, justify="right" if column not in ("status", "reason") else "left")
    for row in report.slices:
        slices.add_row(
            str(row.index),
            _time(row.due_ns),
            _num(row.target_qty),
            _num(row.filled_qty),
            _num(row.average_price),
            row.status,
            row.reason or "",
        )
    console.print(slices)
