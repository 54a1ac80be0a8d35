"""Human-readable rendering of an `ExecutionReport` with rich."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from twapcore import NS_PER_SECOND, ExecutionReport


def format_time(ns: int) -> str:
    """`ns` since the epoch as UTC `YYYY-MM-DD HH:MM:SS.mmm`."""
    moment = datetime.fromtimestamp(ns / NS_PER_SECOND, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def format_decimal(value: Decimal | None, places: int = 8) -> str:
    """`value` rounded to `places` decimals without trailing zeros; `-` for None."""
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
        (
            "filled",
            f"{format_decimal(report.filled_qty)} / {report.quantity} ({report.fill_ratio:.2%})",
        ),
        ("average price", format_decimal(report.average_price)),
        (
            "fill price range",
            f"{format_decimal(report.min_fill_price)} .. {format_decimal(report.max_fill_price)}",
        ),
        ("limit price", format_decimal(report.limit_price)),
        ("arrival mid", format_decimal(report.arrival_mid)),
        ("slippage vs arrival (bps, + = cost)", format_decimal(report.slippage_bps, 2)),
        (f"market VWAP ({report.market_vwap_source or '-'})", format_decimal(report.market_vwap)),
        ("slippage vs VWAP (bps)", format_decimal(report.vwap_slippage_bps, 2)),
        ("implementation shortfall", format_decimal(report.implementation_shortfall)),
        ("implementation shortfall (bps)", format_decimal(report.implementation_shortfall_bps, 2)),
        ("market volume", format_decimal(report.market_volume)),
        ("participation", format_decimal(report.participation_rate, 6)),
        ("slices", f"{report.slices_done} / {report.slices_total}"),
        ("start", format_time(report.start_ns)),
        ("end", format_time(report.end_ns)),
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
            format_time(row.due_ns),
            format_decimal(row.target_qty),
            format_decimal(row.filled_qty),
            format_decimal(row.average_price),
            row.status,
            row.reason or "",
        )
    console.print(slices)
