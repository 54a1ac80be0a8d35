"""Reports as tables: CSV files (standard library) and pandas DataFrames (optional extra).

Rows are the report's own rows (`fills`, `slices`, `venues`), one table per
kind, with a leading `run` column naming the report they come from, so the
reports of a comparison or a sweep share one file per kind. Decimals are
written exactly (`twapcore.formatting.format_decimal`), times both as
nanoseconds (`*_ns`) and as ISO-8601 UTC (`*_utc`). `summary` has one row per
report with its scalar figures.

`report_frames` needs pandas (`pip install 'twapcore[pandas]'`); it is imported
only when called. Decimal columns hold `Decimal` objects (exact; use
`.astype(float)` to compute with numpy), and every `*_ns` column has a
`datetime64[ns, UTC]` twin named without the suffix (`ts_ns` -> `ts`).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from twapcore.analytics import ExecutionReport, FillRow, SliceRow, VenueRow
from twapcore.formatting import format_decimal, iso_ns

__all__ = ["TABLES", "ReportFrames", "report_frames", "report_rows", "write_csv"]

#: The row tables of a report and their row types; `summary` is the fourth table.
TABLES: dict[str, type] = {"fills": FillRow, "slices": SliceRow, "venues": VenueRow}


def _summary_fields() -> list[str]:
    skip = set(TABLES) | {"schedule"}
    return [f.name for f in fields(ExecutionReport) if f.name not in skip]


def report_rows(reports: Mapping[str, ExecutionReport], table: str) -> list[dict[str, Any]]:
    """Rows of `table` (`fills`, `slices`, `venues` or `summary`) of every report, raw values.

    Each row starts with `run` (the key of its report in `reports`).
    """
    out: list[dict[str, Any]] = []
    for run, report in reports.items():
        if table == "summary":
            out.append({"run": run} | {name: getattr(report, name) for name in _summary_fields()})
            continue
        if table not in TABLES:
            raise ValueError(f"table {table!r} is not one of: summary, {', '.join(TABLES)}")
        for row in getattr(report, table):
            out.append({"run": run} | {f.name: getattr(row, f.name) for f in fields(row)})
    return out


def _columns(table: str) -> list[str]:
    names = _summary_fields() if table == "summary" else [f.name for f in fields(TABLES[table])]
    out = ["run"]
    for name in names:
        out.append(name)
        if name.endswith("_ns"):
            out.append(name[: -len("_ns")] + "_utc")
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_decimal(value)
    return str(value)


def write_csv(reports: Mapping[str, ExecutionReport], directory: str | Path) -> list[Path]:
    """Write `fills.csv`, `slices.csv`, `venues.csv` and `summary.csv` into `directory`.

    Creates the directory if needed and overwrites those four files; returns their paths.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in (*TABLES, "summary"):
        path = folder / f"{table}.csv"
        columns = _columns(table)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in report_rows(reports, table):
                for name in list(row):
                    if name.endswith("_ns") and isinstance(row[name], int):
                        row[name[: -len("_ns")] + "_utc"] = iso_ns(row[name])
                writer.writerow([_cell(row.get(name)) for name in columns])
        written.append(path)
    return written


@dataclass(frozen=True, slots=True)
class ReportFrames:
    """pandas DataFrames of one or more reports (see the module docstring)."""

    fills: Any
    slices: Any
    venues: Any
    summary: Any


def report_frames(reports: ExecutionReport | Mapping[str, ExecutionReport]) -> ReportFrames:
    """`fills`, `slices`, `venues` and `summary` DataFrames of `reports`.

    One report is keyed by its algorithm in the `run` column. Raises
    `ModuleNotFoundError` naming the extra when pandas is not installed.
    """
    try:
        import pandas as pd  # type: ignore[import-untyped]  # lazy: an optional extra
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "ExecutionReport.to_pandas() needs pandas: pip install 'twapcore[pandas]'"
        ) from exc
    keyed = {reports.algorithm: reports} if isinstance(reports, ExecutionReport) else reports

    def frame(table: str) -> Any:
        df = pd.DataFrame(report_rows(keyed, table), columns=_columns(table))
        df = df.drop(columns=[c for c in df.columns if c.endswith("_utc")])
        for name in [c for c in df.columns if c.endswith("_ns")]:
            df[name[: -len("_ns")]] = pd.to_datetime(df[name].astype("int64"), unit="ns", utc=True)
        return df

    return ReportFrames(frame("fills"), frame("slices"), frame("venues"), frame("summary"))
