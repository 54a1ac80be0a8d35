"""Decimals as the API writes them: the one rule of `twapcore.formatting`.

Pydantic writes a `Decimal` with `str()`, so a zero left from `0.00000000`
arrives as `"0E-8"` and a price as `"61831.89000000"`. Response models declare
their decimals as `Amount` instead: a JSON string in positional notation without
trailing zeros, exact (`Decimal(text)` is the same value), never a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer

from twapcore.formatting import format_average, format_decimal

__all__ = ["Amount", "Average"]

Amount = Annotated[Decimal, PlainSerializer(format_decimal, return_type=str, when_used="json")]
# A computed average (average fill price): `AVERAGE_DIGITS` significant digits.
Average = Annotated[Decimal, PlainSerializer(format_average, return_type=str, when_used="json")]
