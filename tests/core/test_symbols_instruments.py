"""Instruments: types and sizes in the model, in recordings and from venue bodies;
derivative symbols flow through the feed normalization unchanged."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from cryptofeed.exchanges import KrakenFutures
from cryptofeed.types import OrderBook
from cryptofeed.types import Trade as CryptofeedTrade

from twapcore import InstrumentInfo, InstrumentType, RecordingError, Side
from twapcore.feeds._instruments import (
    InstrumentSizes,
    sizes_by_exchange_symbol,
    sizes_from_symbol_info,
)
from twapcore.feeds.normalize import book_from_cryptofeed_ns, trade_from_cryptofeed_ns
from twapcore.recording import (
    RecordingWriter,
    instrument_from_record,
    instrument_to_record,
    iter_records,
)

# Kraken Futures `instruments`, trimmed to the fields cryptofeed and twap read.
KRAKEN_FUTURES_BODY = {
    "result": "success",
    "instruments": [
        {
            "symbol": "PI_XBTUSD",
            "type": "futures_inverse",
            "tradeable": True,
            "tickSize": 0.5,
            "contractSize": 1,
        },
        {
            "symbol": "FI_ETHUSD_220527",
            "type": "futures_inverse",
            "tradeable": True,
            "tickSize": 0.05,
            "contractSize": 1,
        },
    ],
}


def test_instrument_type_is_read_from_the_symbol() -> None:
    types = [InstrumentInfo("bit.com", s).type for s in ("BTC-USDT", "BTC-USD-PERP", "X-Y-Z-W")]

    assert types == [InstrumentType.SPOT, InstrumentType.PERPETUAL, InstrumentType.OTHER]


# --- recordings -------------------------------------------------------------------------


def test_instrument_line_round_trips_type_and_sizes() -> None:
    info = InstrumentInfo(
        "bit.com", "BTC-USD-PERP", Decimal("0.5"), Decimal("1"), Decimal("0.0001")
    )

    record = instrument_to_record(info)

    assert record == {
        "type": "instrument",
        "exchange": "bit.com",
        "symbol": "BTC-USD-PERP",
        "instrument_type": "perpetual",
        "tick_size": "0.5",
        "lot_size": "1",
        "contract_size": "0.0001",
    }
    assert instrument_from_record(orjson.loads(orjson.dumps(record))) == info


def test_an_old_instrument_line_without_type_or_contract_size_still_reads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.jsonl"
    old_line = {
        "type": "instrument",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "tick_size": "0.01",
        "lot_size": None,
    }
    path.write_bytes(orjson.dumps(old_line) + b"\n")

    info = instrument_from_record(next(iter_records(path)))

    assert info == InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), None, None)
    assert info.type is InstrumentType.SPOT


def test_a_recording_of_a_perpetual_keeps_its_instrument_line(tmp_path: Path) -> None:
    path = tmp_path / "perp.jsonl.gz"
    info = InstrumentInfo("kraken_futures", "ETH-USD-22K27", Decimal("0.05"), None, Decimal(1))
    with RecordingWriter(path) as writer:
        writer.write_record(instrument_to_record(info))

    (record,) = iter_records(path)

    assert record["instrument_type"] == "future"
    assert instrument_from_record(record) == info


@pytest.mark.parametrize(
    ("field", "value"), [("contract_size", "lots"), ("tick_size", [1]), ("symbol", None)]
)
def test_a_malformed_instrument_line_is_refused_naming_the_value(field: str, value: object) -> None:
    record = instrument_to_record(InstrumentInfo("binance", "BTC-USDT"))
    if value is None:
        del record[field]
    else:
        record[field] = value

    with pytest.raises(RecordingError, match=repr(value) if value is not None else "'symbol'"):
        instrument_from_record(record)


# --- venue bodies --------------------------------------------------------------------


def test_binance_coin_margined_futures_publish_a_contract_size() -> None:
    body = {
        "symbols": [
            {
                "symbol": "BTCUSD_PERP",
                "contractType": "PERPETUAL",
                "contractSize": 100,
                "filters": [
                    {"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                    {"filterType": "LOT_SIZE", "stepSize": "1"},
                ],
            }
        ]
    }

    sizes = sizes_by_exchange_symbol(body)

    assert sizes == {"BTCUSD_PERP": InstrumentSizes(Decimal("0.1"), Decimal(1), Decimal(100))}


def test_kraken_futures_sizes_are_read_by_native_symbol() -> None:
    sizes = sizes_by_exchange_symbol(KRAKEN_FUTURES_BODY)

    assert sizes["PI_XBTUSD"] == InstrumentSizes(tick_size=Decimal("0.5"), contract_size=Decimal(1))


def test_sizes_kept_by_cryptofeeds_own_symbol_parser_are_read_by_canonical_symbol() -> None:
    _, info = KrakenFutures._parse_symbol_data(KRAKEN_FUTURES_BODY)

    sizes = sizes_from_symbol_info(info)

    assert sizes == {
        "BTC-USD-PERP": InstrumentSizes(tick_size=Decimal("0.5"), contract_size=Decimal(1)),
        "ETH-USD-22K27": InstrumentSizes(tick_size=Decimal("0.05"), contract_size=Decimal(1)),
    }
    assert sizes["ETH-USD-22K27"].info("kraken_futures", "ETH-USD-22K27").contract_size == 1


@pytest.mark.parametrize("unusable", [None, "n/a", 0, -1, True, "NaN"])
def test_an_unusable_published_size_is_unknown(unusable: object) -> None:
    info = {"tick_size": {"BTC-USD-PERP": unusable}}

    assert sizes_from_symbol_info(info)["BTC-USD-PERP"].tick_size is None


# --- a capture-style stream ------------------------------------------------------------


def test_a_perpetual_of_a_dotted_exchange_flows_through_normalization() -> None:
    book = OrderBook(
        "BIT.COM",
        "AKRO-USDT-PERP",
        bids={Decimal("0.0051"): Decimal("1200")},
        asks={Decimal("0.0052"): Decimal("800")},
    )
    trade = CryptofeedTrade(
        "BIT.COM", "AKRO-USDT-PERP", "sell", Decimal("30"), Decimal("0.0051"), 1.5, id="9"
    )

    snapshot = book_from_cryptofeed_ns(book, 2_000_000_000, depth=10)
    traded = trade_from_cryptofeed_ns(trade, 2_000_000_000)

    assert (snapshot.exchange, snapshot.symbol) == ("bit.com", "AKRO-USDT-PERP")
    assert snapshot.best_bid == (Decimal("0.0051"), Decimal("1200"))
    assert (traded.exchange, traded.symbol, traded.side, traded.qty) == (
        "bit.com",
        "AKRO-USDT-PERP",
        Side.SELL,
        Decimal("30"),
    )


def test_an_unreadable_venue_symbol_still_flows_through_as_other() -> None:
    book = OrderBook("DERIBIT", "BTC-USD-FX", bids={Decimal(1): Decimal(1)}, asks={})

    snapshot = book_from_cryptofeed_ns(book, 1, depth=1)

    assert snapshot.symbol == "BTC-USD-FX"
    assert InstrumentInfo("deribit", snapshot.symbol).type is InstrumentType.OTHER
