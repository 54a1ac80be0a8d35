"""Tick, lot and contract sizes from captured exchange-info bodies, and a minimal Binance one.

cryptofeed parses exchange info only for its symbol mapping (and keeps Binance's
first filter as a "tick size" without checking which filter it is), so the sizes
are read here from the body shapes twap knows: Binance `exchangeInfo`, spot and
futures (PRICE_FILTER tickSize, LOT_SIZE stepSize, contractSize where given),
Kraken `AssetPairs` (10^-pair_decimals, 10^-lot_decimals) and Kraken Futures
`instruments` (tickSize, contractSize). For the other venues,
`sizes_from_symbol_info` reads what cryptofeed's own symbol parsing kept
(`tick_size`, `contract_size`); sizes nobody publishes stay unknown (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from twapcore.models import InstrumentInfo
from twapcore.symbols import split_symbol

__all__ = [
    "InstrumentSizes",
    "binance_exchange_info",
    "sizes_by_exchange_symbol",
    "sizes_from_symbol_info",
]


@dataclass(frozen=True, slots=True)
class InstrumentSizes:
    tick_size: Decimal | None = None  # price increment
    lot_size: Decimal | None = None  # quantity increment (contracts for derivatives)
    contract_size: Decimal | None = None  # underlying per contract (derivatives)

    def info(self, exchange: str, symbol: str) -> InstrumentInfo:
        """The `InstrumentInfo` of (exchange, symbol) with these sizes."""
        return InstrumentInfo(exchange, symbol, self.tick_size, self.lot_size, self.contract_size)


def _decimal(value: Any) -> Decimal | None:
    """A positive size, or None when absent or unreadable (sizes never block a feed)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        # str() first: a JSON float 0.1 must read as 0.1, not its binary expansion.
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    # normalize() turns "0.01000000" into 0.01, so instrument lines read naturally.
    return number.normalize() if number.is_finite() and number > 0 else None


def _binance_sizes(body: dict[str, Any]) -> dict[str, InstrumentSizes]:
    sizes = {}
    for entry in body["symbols"]:
        filters = {f.get("filterType"): f for f in entry.get("filters", ())}
        sizes[entry["symbol"]] = InstrumentSizes(
            tick_size=_decimal(filters.get("PRICE_FILTER", {}).get("tickSize")),
            lot_size=_decimal(filters.get("LOT_SIZE", {}).get("stepSize")),
            # COIN-M futures (dapi) only; USD-M and spot quantities are base units.
            contract_size=_decimal(entry.get("contractSize")),
        )
    return sizes


def _kraken_futures_sizes(body: dict[str, Any]) -> dict[str, InstrumentSizes]:
    return {
        entry["symbol"]: InstrumentSizes(
            tick_size=_decimal(entry.get("tickSize")),
            contract_size=_decimal(entry.get("contractSize")),
        )
        for entry in body["instruments"]
        if isinstance(entry, dict) and "symbol" in entry
    }


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

    Empty when the body has a shape other than Binance exchangeInfo (spot or futures),
    Kraken AssetPairs or Kraken Futures instruments.
    """
    if isinstance(exchange_info, dict):
        if isinstance(exchange_info.get("symbols"), list):
            return _binance_sizes(exchange_info)
        if isinstance(exchange_info.get("result"), dict):
            return _kraken_sizes(exchange_info)
        if isinstance(exchange_info.get("instruments"), list):
            return _kraken_futures_sizes(exchange_info)
    return {}


def sizes_from_symbol_info(info: Mapping[str, Any]) -> dict[str, InstrumentSizes]:
    """Tick and contract sizes keyed by cryptofeed's normalized symbol (`BTC-USD-PERP`).

    `info` is the second value of a cryptofeed exchange's `_parse_symbol_data` (or of
    `Symbols.get(exchange_id)`): per-field dicts such as `tick_size` and
    `contract_size`, which many venues' parsers fill. Lot sizes are not kept there.
    """
    ticks = info.get("tick_size") or {}
    contracts = info.get("contract_size") or {}
    return {
        symbol: InstrumentSizes(
            tick_size=_decimal(ticks.get(symbol)), contract_size=_decimal(contracts.get(symbol))
        )
        for symbol in {*ticks, *contracts}
    }


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
