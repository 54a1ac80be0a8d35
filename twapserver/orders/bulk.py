"""Many rows in one SQL statement: column arrays on PostgreSQL, a JSON array on SQLite.

`executemany` sends one statement execution per row; the engine writes thousands
of slices a second, so its batch statements read their rows from a set-returning
source instead — `unnest(:c0, :c1, …)` on PostgreSQL, `json_each(:rows)` on SQLite —
and the database joins or inserts them in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import TextClause, text

__all__ = ["Rows", "bulk_params"]


@dataclass(frozen=True, slots=True)
class Rows:
    """The columns of a row source, each with its PostgreSQL array element type."""

    columns: tuple[tuple[str, str], ...]  # (name, "BIGINT" | "INTEGER" | "TEXT")

    def source(self, dialect: str) -> str:
        """A FROM item `w` with one column per name, reading the bound rows."""
        names = [name for name, _ in self.columns]
        if dialect == "postgresql":
            arrays = ", ".join(
                f"CAST(:c{i} AS {kind}[])" for i, (_, kind) in enumerate(self.columns)
            )
            return f"unnest({arrays}) AS w({', '.join(names)})"
        picks = ", ".join(f"value ->> {i} AS {name}" for i, name in enumerate(names))
        return f"(SELECT {picks} FROM json_each(:rows)) AS w"

    def statement(self, dialect: str, template: str) -> TextClause:
        """`template` with `{source}` (see `source`), `{names}` (w's columns) filled in.

        `{noindex}` before a column keeps SQLite from driving the join by that
        column's index (unary `+`): it must look rows up by primary key from `w`,
        not scan `w` for each row the index yields.
        """
        names = ", ".join(f"w.{name}" for name, _ in self.columns)
        noindex = "+" if dialect == "sqlite" else ""
        return text(template.format(source=self.source(dialect), names=names, noindex=noindex))


def _plain(value: Any) -> Any:
    # DecimalText stores str(value): the same text whichever way a row is written.
    return str(value) if isinstance(value, Decimal) else value


def bulk_params(rows_of: Rows, dialect: str, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Bind parameters carrying `rows` (tuples in `rows_of.columns` order)."""
    if dialect == "postgresql":
        return {f"c{i}": [_plain(row[i]) for row in rows] for i in range(len(rows_of.columns))}
    return {"rows": orjson.dumps([[_plain(v) for v in row] for row in rows]).decode()}
