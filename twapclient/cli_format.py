"""How the `twap` commands show numbers and times: `twapcore.formatting`, applied to CLI output.

Tables show prices with the tick size's decimals and quantities with the lot
size's (when the server told us the sizes), computed averages rounded to 8
decimals, and `*_ns` times as ISO-8601 UTC. `--json` output keeps every value
exact, decimals as strings without exponent or trailing-zero noise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

from twapclient._models import SymbolInfo
from twapcore.formatting import format_decimal, format_price, format_qty, iso_ns

__all__ = ["AVERAGE_PLACES", "MarketSizes", "json_text", "print_json_line", "time_cell"]

# Averages (of fill prices) are divisions: 28 significant digits are noise in a table.
AVERAGE_PLACES = 8


@dataclass(frozen=True, slots=True)
class MarketSizes:
    """Tick and lot size of one market (None: unknown, values are shown exactly as they are)."""

    tick: Decimal | None = None
    lot: Decimal | None = None

    @classmethod
    def of(cls, symbols: list[SymbolInfo], symbol: str) -> MarketSizes:
        """The sizes of `symbol` among an exchange's `symbols` (unknown if it is not there)."""
        info = next((s for s in symbols if s.symbol == symbol), None)
        return cls() if info is None else cls(info.tick_size, info.lot_size)

    def price(self, value: Decimal | None) -> str | None:
        return None if value is None else format_price(value, self.tick)

    def average(self, value: Decimal | None) -> str | None:
        return None if value is None else format_price(value, self.tick, AVERAGE_PLACES)

    def qty(self, value: Decimal | None) -> str | None:
        return None if value is None else format_qty(value, self.lot)


def time_cell(ns: int | None) -> str | None:
    """A `*_ns` time as ISO-8601 UTC (`2026-11-28T10:31:31.123Z`)."""
    return None if ns is None else iso_ns(ns)


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):
        return format_decimal(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_text(value: BaseModel | list[BaseModel], *, indent: bool = False) -> str:
    """`value` as JSON: decimals as exact strings in the one format (`format_decimal`)."""
    data = value.model_dump() if isinstance(value, BaseModel) else [v.model_dump() for v in value]
    option = orjson.OPT_UTC_Z | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(data, default=_json_default, option=option).decode()


def print_json_line(update: BaseModel) -> None:
    """`update` as one line of JSON on stdout (JSON Lines), flushed."""
    sys.stdout.write(json_text(update) + "\n")
    sys.stdout.flush()  # a reader of the pipe sees each update as it happens
