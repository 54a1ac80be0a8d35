"""Canonical names: exchanges are lowercase (`binance`), symbols are `BASE-QUOTE`.

This is the one place that maps exchange-native spellings (`BTCUSDT`,
`XBT/USD`, `btc_usdt`) to the canonical form.
"""

from __future__ import annotations

import re

from twapcore.errors import UnknownExchange, UnknownSymbol

__all__ = ["KNOWN_QUOTES", "normalize_exchange", "normalize_symbol", "split_symbol"]

# Kraken's legacy asset codes; cryptofeed already maps most, but captures and
# users may still spell them this way.
_ASSET_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}

# Quote currencies tried, longest first, when a symbol has no separator.
KNOWN_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "TUSD",
    "BUSD",
    "DAI",
    "USD",
    "EUR",
    "GBP",
    "CHF",
    "JPY",
    "TRY",
    "BTC",
    "XBT",
    "ETH",
    "BNB",
)

_EXCHANGE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_ASSET_RE = re.compile(r"^[A-Z0-9]{1,15}$")


def normalize_exchange(name: str) -> str:
    """`"BINANCE"` → `"binance"`; rejects names that cannot be an exchange id."""
    canonical = name.strip().lower()
    if not _EXCHANGE_RE.match(canonical):
        raise UnknownExchange(f"exchange {name!r} is not a valid exchange name")
    return canonical


def _asset(code: str) -> str:
    return _ASSET_ALIASES.get(code, code)


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split any common spelling into (base, quote), canonical asset codes."""
    raw = symbol.strip().upper()
    parts = re.split(r"[-/_:]", raw)
    if len(parts) == 2 and all(_ASSET_RE.match(p) for p in parts):
        return _asset(parts[0]), _asset(parts[1])
    if len(parts) == 1 and _ASSET_RE.match(raw):
        for quote in KNOWN_QUOTES:
            if raw.endswith(quote) and len(raw) > len(quote):
                return _asset(raw[: -len(quote)]), _asset(quote)
    raise UnknownSymbol(f"symbol {symbol!r} is not of the form BASE-QUOTE (e.g. BTC-USDT)")


def normalize_symbol(symbol: str) -> str:
    """`"btcusdt"`, `"BTC/USDT"`, `"XBT-USDT"` → `"BTC-USDT"`."""
    base, quote = split_symbol(symbol)
    return f"{base}-{quote}"
