"""Tick and lot sizes from captured exchange-info bodies, and a minimal Binance one.

cryptofeed parses exchange info only for its symbol mapping (and keeps Binance's
first filter as a "tick size" without checking which filter it is), so the sizes
are read here from the two body shapes twap knows: Binance `exchangeInfo`
(PRICE_FILTER tickSize, LOT_SIZE stepSize) and Kraken `AssetPairs`
(10^-pair_decimals, 10^-lot_decimals). Other venues get unknown (None) sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from twapcore.symbols import split_symbol

__all__ = ["InstrumentSizes", "binance_exchange_info", "sizes_by_exchange_symbol"]


@dataclass(frozen=True, slots=True)
class InstrumentSizes:
    tick_size: Decimal | None = None  # price increment
    lot_size: Decimal | None = None  # quantity increment


def _decimal(value: Any) -> Decimal | None:
    # normalize() turns "0.01000000" into 0.01, so instrument lines read naturally.
    return None if value is None else Decimal(value).normalize()


def _binance_sizes(body: dict[str, Any]) -> dict[str, InstrumentSizes]:
    sizes = {}
    for entry in body["symbols"]:
        filters = {f.get("filterType"): f for f in entry.get("filters", ())}
        sizes[entry["symbol"]] = InstrumentSizes(
            tick_size=_decimal(filters.get("PRICE_FILTER", {}).get("tickSize")),
            lot_size=_decimal(filters.get("LOT_SIZE", {}).get("stepSize")),
        )
    return sizes


def _kraken_sizes(body: dict[str, Any]) -> dict[str, InstrumentSizes]:
    sizes = {}
    for pair in body["result"].values():
        if "wsname" in pair:
            sizes[pair["wsname"]] = InstrumentSizes(
                tick_size=Decimal(1).scaleb(-int(pair["pair_decimals"])),
                lot_size=Decimal(1).scaleb(-int(pair["lot_decimals"])),
            )
    return sizes


def sizes_by_exchange_symbol(exchange_info: Any) -> dict[str, InstrumentSizes]:
    """Tick and lot sizes keyed by exchange-native symbol (`BTCUSDT`, `XBT/USD`).

    Empty when the body has a shape other than Binance exchangeInfo or Kraken AssetPairs.
    """
    if isinstance(exchange_info, dict):
        if isinstance(exchange_info.get("symbols"), list):
            return _binance_sizes(exchange_info)
        if isinstance(exchange_info.get("result"), dict):
            return _kraken_sizes(exchange_info)
    return {}


# hftbacktest captures carry no exchangeInfo. These are Binance's spot values
# for the symbols twap ships captures of; others get unknown sizes.
_KNOWN_BINANCE = {"BTCUSDT": ("0.01", "0.00001")}


def binance_exchange_info(symbol: str) -> dict[str, Any]:
    """A minimal Binance `exchangeInfo` body for one spot symbol (e.g. `BTCUSDT`).

    Enough for cryptofeed's symbol mapping and for `sizes_by_exchange_symbol`;
    raises `UnknownSymbol` when base and quote cannot be told apart.
    """
    base, quote = split_symbol(symbol)
    tick, step = _KNOWN_BINANCE.get(symbol, (None, None))
    return {
        "symbols": [
            {
                "symbol": symbol,
                "baseAsset": base,
                "quoteAsset": quote,
                "status": "TRADING",
                "filters": [
                    # cryptofeed reads filters[0]["tickSize"] unconditionally.
                    {"filterType": "PRICE_FILTER", "tickSize": tick},
                    {"filterType": "LOT_SIZE", "stepSize": step},
                ],
            }
        ]
    }
