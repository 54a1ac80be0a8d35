"""The symbol grammar (cryptofeed's normalized symbols) and exchange names."""

from __future__ import annotations

import re
import string
from datetime import date, datetime

import pytest
from cryptofeed.defines import CALL, CURRENCY, FUTURES, FX, OPTION, PERPETUAL, PUT, SPOT
from cryptofeed.exchanges import EXCHANGE_MAP
from cryptofeed.symbols import Symbol, str_to_symbol
from hypothesis import assume, given
from hypothesis import strategies as st

from twapcore import UnknownExchange, UnknownSymbol
from twapcore.symbols import (
    MAX_SYMBOL_CHARS,
    MONTH_CODES,
    Instrument,
    InstrumentType,
    format_symbol,
    instrument_units,
    normalize_exchange,
    normalize_symbol,
    parse_instrument,
    quantity_unit,
    split_symbol,
)

# Asset codes as cryptofeed writes them; Kraken's legacy XBT/XDG are renamed by twap.
assets = st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True).filter(lambda a: a not in {"XBT", "XDG"})
expiry_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
strikes = st.from_regex(r"[0-9]{1,7}(\.[0-9]{1,4})?", fullmatch=True)


def expiry_code(day: date, padded: bool) -> str:
    day_text = f"{day.day:02d}" if padded else str(day.day)
    return f"{day.year % 100:02d}{MONTH_CODES[day.month - 1]}{day_text}"


@st.composite
def instruments(draw: st.DrawFn) -> dict[str, object]:
    kind = draw(st.sampled_from([t for t in InstrumentType if t is not InstrumentType.OTHER]))
    parts: dict[str, object] = {"base": draw(assets), "quote": draw(assets), "type": kind}
    if kind in (InstrumentType.FUTURE, InstrumentType.OPTION):
        parts["expiry"] = expiry_code(draw(expiry_dates), draw(st.booleans()))
    if kind is InstrumentType.OPTION:
        parts["strike"] = draw(strikes)
        parts["option_type"] = draw(st.sampled_from(["call", "put"]))
    return parts


# --- round trip -------------------------------------------------------------------


@given(instruments())
def test_format_then_parse_gives_back_the_instrument(parts: dict[str, object]) -> None:
    text = format_symbol(**parts)  # type: ignore[arg-type]

    parsed = parse_instrument(text)

    assert parsed.symbol == text
    assert {k: getattr(parsed, k) for k in parts} == parts


@given(instruments())
def test_parsing_ignores_case_and_is_idempotent(parts: dict[str, object]) -> None:
    text = format_symbol(**parts)  # type: ignore[arg-type]

    parsed = parse_instrument(text.lower())

    assert parsed == parse_instrument(text)
    assert parse_instrument(parsed.symbol) == parsed


_SEGMENTS = r"[A-Za-z0-9][A-Za-z0-9.]{0,7}(-[A-Za-z0-9][A-Za-z0-9.]{0,7}){0,5}"


@given(st.from_regex(_SEGMENTS, fullmatch=True))
def test_every_accepted_symbol_reads_back_as_itself(text: str) -> None:
    parsed = parse_instrument(text)

    assert parse_instrument(parsed.symbol) == parsed


# --- every cryptofeed symbol type -----------------------------------------------


_TYPES = {
    SPOT: InstrumentType.SPOT,
    PERPETUAL: InstrumentType.PERPETUAL,
    FUTURES: InstrumentType.FUTURE,
    OPTION: InstrumentType.OPTION,
    FX: InstrumentType.OTHER,
}


@given(
    base=assets,
    quote=assets,
    kind=st.sampled_from(sorted(_TYPES)),
    expiry=expiry_dates,
    as_text=st.booleans(),
    strike=st.one_of(st.integers(1, 10**6), st.sampled_from([0.5, 1.25])),
    option_type=st.sampled_from([CALL, PUT]),
)
def test_every_cryptofeed_symbol_type_passes_unchanged_with_its_type(
    base: str,
    quote: str,
    kind: str,
    expiry: date,
    as_text: bool,
    strike: float,
    option_type: str,
) -> None:
    assume(base != quote)  # cryptofeed writes a lone currency then
    # cryptofeed reads expiries from datetimes (day unpadded) and YYMMDD text (padded).
    when = expiry.strftime("%y%m%d") if as_text else datetime(expiry.year, expiry.month, expiry.day)
    dated = kind in (FUTURES, OPTION)
    symbol = Symbol(
        base,
        quote,
        type=kind,
        expiry_date=when if dated else None,
        strike_price=strike if kind == OPTION else None,
        option_type=option_type if kind == OPTION else None,
    ).normalized

    parsed = parse_instrument(symbol)

    assert (parsed.symbol, parsed.type) == (symbol, _TYPES[kind])
    assert normalize_symbol(symbol) == symbol
    if kind != FX:  # cryptofeed's own reader agrees on the type
        assert str_to_symbol(parsed.symbol).type == kind
    if dated:
        assert parsed.expiry_date == expiry


@given(assets)
def test_a_cryptofeed_lone_currency_is_accepted(code: str) -> None:
    symbol = Symbol(code, code, type=CURRENCY).normalized

    assert parse_instrument(symbol).symbol in (symbol, normalize_symbol(symbol))


def test_the_grammar_examples_read_as_documented() -> None:
    future = parse_instrument("BTC-USD-22K27")
    option = parse_instrument("BTC-USD-30000-22K27-call")

    assert (future.type, future.base, future.quote, future.expiry) == (
        InstrumentType.FUTURE,
        "BTC",
        "USD",
        "22K27",
    )
    assert future.expiry_date == date(2022, 5, 27)
    assert (option.type, option.strike, option.expiry, option.option_type) == (
        InstrumentType.OPTION,
        "30000",
        "22K27",
        "call",
    )
    assert parse_instrument("AKRO-USDT-PERP").type is InstrumentType.PERPETUAL


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("BTCUSDT", "BTC-USDT"),
        ("XBT/USD", "BTC-USD"),
        ("btc_usdt", "BTC-USDT"),
        ("BTC:USDT", "BTC-USDT"),
        (" btc-usdt ", "BTC-USDT"),
        ("XDG-EUR", "DOGE-EUR"),
        ("ethbtc", "ETH-BTC"),
        ("btc-usdt-perp", "BTC-USDT-PERP"),
        ("BTC-USD-30000-22K27-C", "BTC-USD-30000-22K27-call"),
        ("EUR-USD-FX", "EUR-USD-FX"),
    ],
)
def test_known_spellings_normalize_to_the_canonical_symbol(spelling: str, canonical: str) -> None:
    assert normalize_symbol(spelling) == canonical


def test_a_dash_form_that_is_no_known_type_passes_through_as_other() -> None:
    # 30 February is no expiry: still a symbol, passed on unread.
    parsed = parse_instrument("BTC-USD-22G30")

    assert (parsed.symbol, parsed.type, parsed.base) == (
        "BTC-USD-22G30",
        InstrumentType.OTHER,
        None,
    )


def test_split_symbol_keeps_spot_only_and_names_the_symbol() -> None:
    assert split_symbol("XBT/USD") == ("BTC", "USD")
    with pytest.raises(UnknownSymbol, match=r"'BTC-USD-PERP' is not a spot pair.*perpetual"):
        split_symbol("BTC-USD-PERP")


# --- garbage ------------------------------------------------------------------------

_FORBIDDEN = " \t\n$#%?&*!'\"()[]{}<>,;=@^`|~\\+\x00é"


@given(
    symbol=st.sampled_from(["BTC-USDT", "BTCUSDT", "BTC-USDT-PERP", "BTC-USD-22K27"]),
    bad=st.sampled_from(_FORBIDDEN),
    at=st.integers(0, 20),
)
def test_a_forbidden_character_is_rejected_naming_the_value(symbol: str, bad: str, at: int) -> None:
    inner = 1 + at % (len(symbol) - 1)  # inside: outer whitespace is stripped, not garbage
    garbage = symbol[:inner] + bad + symbol[inner:]

    with pytest.raises(UnknownSymbol) as raised:
        parse_instrument(garbage)

    assert repr(garbage) in str(raised.value)


@pytest.mark.parametrize(
    "garbage",
    ["", "   ", "BTC--USDT", "-BTC-USDT", "BTC-USDT-", ".", "..", "BTC/USDT:USDT", "A" * 65],
)
def test_garbage_is_rejected_naming_the_value(garbage: str) -> None:
    with pytest.raises(UnknownSymbol) as raised:
        normalize_symbol(garbage)

    assert repr(garbage) in str(raised.value)
    assert "BASE-QUOTE" in str(raised.value)


def test_the_longest_symbol_is_the_server_limit() -> None:
    longest = "A" * (MAX_SYMBOL_CHARS - 5) + "-USDT"

    assert parse_instrument(longest).symbol == longest


def test_format_symbol_refuses_parts_that_read_back_differently() -> None:
    with pytest.raises(UnknownSymbol, match="'XBT-USD'"):
        format_symbol("XBT", "USD")  # reads back as BTC-USD
    with pytest.raises(UnknownSymbol, match="'BTC-USD-22G30'"):
        format_symbol("BTC", "USD", InstrumentType.FUTURE, expiry="22G30")


# --- units ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "quantity", "price"),
    [
        ("BTC-USDT", "BTC", "USDT per BTC"),
        ("BTC-USDT-PERP", "contracts", "USDT per BTC"),
        ("BTC-USD-22K27", "contracts", "USD per BTC"),
        ("BTC-USD-30000-22K27-put", "contracts", "USD per BTC"),
        ("EUR-USD-FX", "contracts", "price of EUR-USD-FX"),
    ],
)
def test_quantities_are_base_units_on_spot_and_contracts_otherwise(
    symbol: str, quantity: str, price: str
) -> None:
    assert quantity_unit(symbol) == quantity
    assert instrument_units(symbol).price == price


# --- exchanges ----------------------------------------------------------------------


@pytest.mark.parametrize("exchange_id", sorted(EXCHANGE_MAP))
def test_every_cryptofeed_exchange_id_is_a_valid_name(exchange_id: str) -> None:
    assert normalize_exchange(exchange_id) == exchange_id.lower()


def test_dotted_exchange_ids_keep_their_dot() -> None:
    assert (normalize_exchange("BIT.COM"), normalize_exchange("CRYPTO.COM")) == (
        "bit.com",
        "crypto.com",
    )


def _accepted(name: str) -> str | None:
    try:
        return normalize_exchange(name)
    except UnknownExchange:
        return None


@given(st.text(alphabet=string.ascii_letters + string.digits + "._- /$", max_size=20))
def test_an_exchange_name_is_url_and_file_safe_or_rejected_by_name(name: str) -> None:
    canonical = _accepted(name)

    if canonical is None:
        with pytest.raises(UnknownExchange, match=re.escape(repr(name))):
            normalize_exchange(name)
    else:
        assert set(canonical) <= set(string.ascii_lowercase + string.digits + "_.")
        assert ".." not in canonical
        assert canonical[0] != "." != canonical[-1]


@pytest.mark.parametrize("garbage", ["", "b", ".", "..", "bit..com", ".bit", "bit.", "a b", "1x"])
def test_garbage_exchange_names_are_rejected_naming_the_value(garbage: str) -> None:
    with pytest.raises(UnknownExchange) as raised:
        normalize_exchange(garbage)

    assert repr(garbage) in str(raised.value)


def test_a_derivative_whose_quote_is_its_base_is_read_as_cryptofeed_writes_it() -> None:
    # cryptofeed's Symbol.normalized leaves the quote out when it equals the base.
    from cryptofeed.defines import FUTURES, PERPETUAL
    from cryptofeed.symbols import Symbol

    perp = Symbol("BTC", "BTC", type=PERPETUAL).normalized
    future = Symbol("BTC", "BTC", type=FUTURES, expiry_date="221227").normalized

    assert (perp, future) == ("BTC-PERP", "BTC-22Z27")
    assert parse_instrument(perp) == Instrument("BTC-PERP", InstrumentType.PERPETUAL, "BTC", "BTC")
    assert parse_instrument(future) == Instrument(
        "BTC-22Z27", InstrumentType.FUTURE, "BTC", "BTC", "22Z27"
    )
    assert quantity_unit("BTC-PERP") == "contracts"
