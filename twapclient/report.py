"""Human-readable rendering of an `ExecutionReport` with rich."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from twapcore import ExecutionReport
from twapcore.formatting import format_decimal as rounded_decimal
from twapcore.formatting import iso_ns


def format_time(ns: int) -> str:
    """`ns` since the epoch as ISO-8601 UTC, e.g. `2026-11-28T10:31:31.123Z`."""
    return iso_ns(ns)


def format_decimal(value: Decimal | None, places: int = 8) -> str:
    """`value` rounded to `places` decimals without trailing zeros; `-` for None."""
    return "-" if value is None else rounded_decimal(value, places)


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
        ("limit price", format_decimal(report.limit_price) if report.has_limit else "none"),
        ("arrival mid", format_decimal(report.arrival_mid)),
        ("slippage vs arrival (bps, + = cost)", format_decimal(report.slippage_bps, 2)),
        (f"market VWAP ({report.market_vwap_source or '-'})", format_decimal(report.market_vwap)),
        ("slippage vs VWAP (bps)", format_decimal(report.vwap_slippage_bps, 2)),
        ("implementation shortfall", format_decimal(report.implementation_shortfall)),
        ("implementation shortfall (bps)", format_decimal(report.implementation_shortfall_bps, 2)),
        *_shortfall_parts(report),
        ("market volume", format_decimal(report.market_volume)),
        ("participation (%)", format_decimal(report.participation_pct, 4)),
        *(
            (f"markout {h} (bps, + = cost)", format_decimal(getattr(report, f"markout_{h}_bps"), 2))
            for h in ("1s", "10s", "60s")
        ),
        ("slices", f"{report.slices_done} / {report.slices_total}"),
        ("start", format_time(report.start_ns)),
        ("end", format_time(report.end_ns)),
    ]


def _shortfall_parts(report: ExecutionReport) -> list[tuple[str, str]]:
    """The three parts of the implementation shortfall: quote amount (bps)."""
    return [
        (
            f"  {label}",
            f"{format_decimal(getattr(report, name))} "
            f"({format_decimal(getattr(report, name + '_bps'), 2)} bps)",
        )
        for label, name in (
            ("execution cost (spread+impact)", "execution_cost"),
            ("timing cost (drift)", "timing_cost"),
            ("opportunity cost (unfilled)", "opportunity_cost"),
        )
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
    if len(report.venues) > 1:
        venues = Table(title="venues")
        for column in ("venue", "fills", "filled", "share", "avg price", "vs mid (bps)"):
            venues.add_column(column, justify="left" if column == "venue" else "right")
        for v in report.venues:
            venues.add_row(
                v.venue,
                str(v.fills_count),
                format_decimal(v.filled_qty),
                f"{v.share:.2%}",
                format_decimal(v.average_price),
                format_decimal(v.slippage_bps, 2),
            )
        console.print(venues)
    if report.markouts_note:
        console.print(f"markouts: {report.markouts_note}", markup=False)


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
