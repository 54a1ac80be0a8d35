"""Human-readable rendering of an `ExecutionReport` with rich."""

from __future__ import annotations

from collections.abc import Sequence
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


def _title(report: ExecutionReport) -> str:
    order = f"{report.side} {report.quantity} {report.exchange} {report.symbol}"
    return f"{report.algorithm.upper()} {order}"


def _summary_rows(report: ExecutionReport) -> list[tuple[str, str]]:
    return [
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


def print_report(report: ExecutionReport, console: Console) -> None:
    """Summary table, then one row per slice."""
    summary = Table(title=_title(report))
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for name, value in _summary_rows(report):
        summary.add_row(name, value)
    console.print(summary)
    if report.algorithm_note:
        console.print(f"note: {report.algorithm_note}", markup=False)
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


def print_comparison(reports: Sequence[ExecutionReport], console: Console) -> None:
    """One table: a row per summary figure, a column per report (algorithm)."""
    table = Table(
        title=f"{reports[0].side} {reports[0].quantity} {reports[0].exchange} "
        f"{reports[0].symbol}: algorithms side by side"
    )
    table.add_column("metric")
    for report in reports:
        table.add_column(report.algorithm, justify="right")
    columns = [_summary_rows(report) for report in reports]
    for i, (name, _) in enumerate(columns[0]):
        table.add_row(name, *(column[i][1] for column in columns))
    console.print(table)
    for report in reports:
        if report.algorithm_note:
            console.print(f"note ({report.algorithm}): {report.algorithm_note}", markup=False)
