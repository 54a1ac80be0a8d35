"""Canonical names: exchanges are lowercase ids, symbols follow cryptofeed's grammar.

This is the one home of the symbol grammar. Canonical symbols are cryptofeed's
normalized ones, so what a feed emits is already canonical:

* spot ``BTC-USDT``; also read from ``BTCUSDT``, ``XBT/USD``, ``btc_usdt``, ``BTC:USDT``
* perpetual ``BTC-USDT-PERP``
* dated future ``BTC-USD-22K27``: the expiry is ``YY`` + month letter
  (F G H J K M N Q U V X Z = Jan..Dec) + day, the day with one or two digits
  as cryptofeed wrote it (``22F7`` and ``22F07`` are both kept as given)
* option ``BTC-USD-30000-22K27-call`` (strike, then expiry, then ``call``/``put``)
* anything else made of ``-``-separated segments of letters, digits and dots
  (cryptofeed's ``EUR-USD-FX``, a lone currency ``BTC``, a venue's odd listing)
  is kept unchanged as type ``other``: a feed never fails on a symbol.

Exchange names are cryptofeed's exchange ids lowercased (``binance``, ``bit.com``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from twapcore.errors import UnknownExchange, UnknownSymbol

__all__ = [
    "KNOWN_QUOTES",
    "MAX_SYMBOL_CHARS",
    "Instrument",
    "InstrumentType",
    "InstrumentUnits",
    "format_symbol",
    "instrument_type",
    "instrument_units",
    "normalize_exchange",
    "normalize_symbol",
    "parse_instrument",
    "quantity_unit",
    "split_symbol",
]


class InstrumentType(StrEnum):
    """What kind of instrument a symbol names."""

    SPOT = "spot"
    PERPETUAL = "perpetual"
    FUTURE = "future"
    OPTION = "option"
    OTHER = "other"  # a symbol twap passes through without reading it


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

# The server's limit for a name in a URL or an order (twapserver.api.strict).
MAX_SYMBOL_CHARS = 64
MONTH_CODES = "FGHJKMNQUVXZ"  # futures month letters, January first
_OPTION_TYPES = {"CALL": "call", "C": "call", "PUT": "put", "P": "put"}

# 2-32 characters: a letter, then letters, digits, "_" and single inner dots (bit.com).
_EXCHANGE_RE = re.compile(r"(?=.{2,32}\Z)[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")
# An asset code: digits and letters, inner dots allowed (1000SHIB, ETH2.S).
_ASSET_RE = re.compile(r"[A-Z0-9](?:[A-Z0-9.]{0,18}[A-Z0-9])?")
# A segment of any symbol: URL- and file-name-safe, never "." or "..".
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.]*")
_EXPIRY_RE = re.compile(r"([0-9]{2})([FGHJKMNQUVXZ])([0-9]{1,2})")
_STRIKE_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SPOT_SEPARATORS = re.compile(r"[/_:]")

_GRAMMAR = (
    "BASE-QUOTE (BTC-USDT), BASE-QUOTE-PERP, BASE-QUOTE-<expiry> (BTC-USD-22K27) or "
    "BASE-QUOTE-<strike>-<expiry>-call|put, in segments of letters, digits and dots, "
    f"at most {MAX_SYMBOL_CHARS} characters"
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A symbol read by the grammar; `symbol` is its canonical text.

    `base` and `quote` are None only for type `other`; `expiry` (cryptofeed's code,
    e.g. `22K27`) is set for futures and options, `strike` (decimal text) and
    `option_type` (`call` or `put`) for options.
    """

    symbol: str
    type: InstrumentType
    base: str | None
    quote: str | None
    expiry: str | None = None
    strike: str | None = None
    option_type: str | None = None

    @property
    def expiry_date(self) -> date | None:
        """The expiry as a calendar date (years 2000-2099), None without one."""
        return None if self.expiry is None else _expiry_date(self.expiry)


class InstrumentUnits(NamedTuple):
    """Units of an instrument's figures: `price` per unit, `quantity`, `currency` of costs."""

    price: str
    quantity: str
    currency: str


def normalize_exchange(name: str) -> str:
    """`"BINANCE"` → `"binance"`, `"BIT.COM"` → `"bit.com"`; rejects what cannot be an id."""
    canonical = name.strip().lower()
    if not _EXCHANGE_RE.fullmatch(canonical):
        raise UnknownExchange(
            f"exchange {name!r} is not a valid exchange name: 2-32 of a-z 0-9 _ and "
            "single inner dots, starting with a letter (e.g. binance, bit.com)"
        )
    return canonical


def _asset(code: str) -> str:
    return _ASSET_ALIASES.get(code, code)


def _expiry_date(code: str) -> date | None:
    match = _EXPIRY_RE.fullmatch(code)
    if match is None:
        return None
    year, month, day = match.groups()
    try:
        return date(2000 + int(year), MONTH_CODES.index(month) + 1, int(day))
    except ValueError:  # 22G30: no 30th of February
        return None


def format_symbol(
    base: str,
    quote: str,
    type: InstrumentType = InstrumentType.SPOT,
    expiry: str | None = None,
    strike: str | None = None,
    option_type: str | None = None,
) -> str:
    """The canonical symbol of an instrument (cryptofeed's normalized form).

    `expiry` is required for futures and options, `strike` and `option_type`
    (`call`/`put`) for options. Raises `UnknownSymbol` when the parts do not make a
    symbol `parse_instrument` reads back as the same instrument.
    """
    parts = [base, quote]
    if type is InstrumentType.PERPETUAL:
        parts.append("PERP")
    elif type is InstrumentType.FUTURE:
        parts.append(str(expiry))
    elif type is InstrumentType.OPTION:
        parts += [str(strike), str(expiry), str(option_type)]
    elif type is not InstrumentType.SPOT:
        raise UnknownSymbol(f"an instrument of type {type.value!r} has no symbol grammar")
    text = "-".join(parts)
    parsed = parse_instrument(text)
    if (parsed.type, parsed.base, parsed.quote) != (type, base, quote) or parsed.symbol != text:
        raise UnknownSymbol(f"{type.value} {text!r} is not a canonical symbol ({_GRAMMAR})")
    return text


@lru_cache(maxsize=4096)
def parse_instrument(symbol: str) -> Instrument:
    """Read a symbol in any accepted spelling (see the module docstring).

    Raises `UnknownSymbol` naming the value when it is not a symbol at all (empty,
    too long, spaces or characters such as `$`, empty segments).
    """
    text = symbol.strip() if isinstance(symbol, str) else ""
    if not text or len(text) > MAX_SYMBOL_CHARS:
        raise UnknownSymbol(f"symbol {symbol!r} is not a symbol: expected {_GRAMMAR}")
    parts = text.split("-")
    if len(parts) == 1:
        return _one_segment(symbol, text)
    if not all(_SEGMENT_RE.fullmatch(p) for p in parts):
        raise UnknownSymbol(f"symbol {symbol!r} is not a symbol: expected {_GRAMMAR}")
    base, quote = parts[0].upper(), parts[1].upper()
    if not (_ASSET_RE.fullmatch(base) and _ASSET_RE.fullmatch(quote)):
        return Instrument(text, InstrumentType.OTHER, None, None)
    base, quote = _asset(base), _asset(quote)
    rest = [p.upper() for p in parts[2:]]
    pair = f"{base}-{quote}"
    if not rest:
        # cryptofeed leaves the quote out when it is the base: `BTC-PERP`, `BTC-22K27`.
        if quote == "PERP":
            return Instrument(pair, InstrumentType.PERPETUAL, base, base)
        if _expiry_date(quote) is not None:
            return Instrument(pair, InstrumentType.FUTURE, base, base, quote)
        return Instrument(pair, InstrumentType.SPOT, base, quote)
    if rest == ["PERP"]:
        return Instrument(f"{pair}-PERP", InstrumentType.PERPETUAL, base, quote)
    if len(rest) == 1 and _expiry_date(rest[0]) is not None:
        return Instrument(f"{pair}-{rest[0]}", InstrumentType.FUTURE, base, quote, rest[0])
    if (
        len(rest) == 3
        and _STRIKE_RE.fullmatch(rest[0])
        and _expiry_date(rest[1]) is not None
        and rest[2] in _OPTION_TYPES
    ):
        strike, expiry, option_type = rest[0], rest[1], _OPTION_TYPES[rest[2]]
        return Instrument(
            f"{pair}-{strike}-{expiry}-{option_type}",
            InstrumentType.OPTION,
            base,
            quote,
            expiry,
            strike,
            option_type,
        )
    return Instrument(text, InstrumentType.OTHER, None, None)


def _one_segment(symbol: str, text: str) -> Instrument:
    """`BTC/USDT`, `btc_usdt`, `BTCUSDT` (split on a known quote) or a lone `other` code."""
    raw = text.upper()
    pieces = _SPOT_SEPARATORS.split(raw)
    if len(pieces) == 2 and all(_ASSET_RE.fullmatch(p) for p in pieces):
        base, quote = _asset(pieces[0]), _asset(pieces[1])
        return Instrument(f"{base}-{quote}", InstrumentType.SPOT, base, quote)
    if len(pieces) == 1 and _ASSET_RE.fullmatch(raw):
        for known in KNOWN_QUOTES:
            if raw.endswith(known) and len(raw) > len(known):
                base, quote = _asset(raw[: -len(known)]), _asset(known)
                return Instrument(f"{base}-{quote}", InstrumentType.SPOT, base, quote)
    if len(pieces) == 1 and _SEGMENT_RE.fullmatch(text):
        return Instrument(text, InstrumentType.OTHER, None, None)
    raise UnknownSymbol(f"symbol {symbol!r} is not a symbol: expected {_GRAMMAR}")


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a spot symbol in any spelling; `UnknownSymbol` for any other."""
    instrument = parse_instrument(symbol)
    base, quote = instrument.base, instrument.quote
    if instrument.type is not InstrumentType.SPOT or base is None or quote is None:
        raise UnknownSymbol(
            f"symbol {symbol!r} is not a spot pair BASE-QUOTE (e.g. BTC-USDT): "
            f"it reads as {instrument.type.value}"
        )
    return base, quote


def normalize_symbol(symbol: str) -> str:
    """The canonical symbol: `"btcusdt"`, `"XBT/USD"` → `"BTC-USDT"`, `"BTC-USD"`;
    `"btc-usdt-perp"` → `"BTC-USDT-PERP"`; `other` symbols unchanged."""
    return parse_instrument(symbol).symbol


def instrument_type(symbol: str) -> InstrumentType:
    """The type of instrument `symbol` names (`spot`, `perpetual`, `future`, ...)."""
    return parse_instrument(symbol).type


def instrument_units(symbol: str) -> InstrumentUnits:
    """Units of prices, quantities and costs of an instrument.

    Spot quantities are in the base asset; perpetuals, futures, options and other
    instruments are traded in the venue's quantity unit, `contracts`. Prices are
    quote per base unit, as venues quote them; costs are in the quote currency.
    """
    instrument = parse_instrument(symbol)
    base, quote = instrument.base, instrument.quote
    if base is None or quote is None:
        return InstrumentUnits(f"price of {instrument.symbol}", "contracts", "quote currency")
    quantity = base if instrument.type is InstrumentType.SPOT else "contracts"
    return InstrumentUnits(f"{quote} per {base}", quantity, quote)


def quantity_unit(symbol: str) -> str:
    """The unit of order quantities: the base asset for spot (`BTC`), else `contracts`."""
    return instrument_units(symbol).quantity
