"""How `twap` shows numbers and times (twapclient.cli_format)."""

from __future__ import annotations

from decimal import Decimal

import orjson
from rich.console import Console

from twapclient._models import BookMessage, Kline, SymbolInfo
from twapclient.cli_format import MarketSizes, json_text, time_cell
from twapclient.cli_live import book_table

SIZES = MarketSizes(tick=Decimal("0.01"), lot=Decimal("0.00001"))


def test_json_output_writes_decimals_in_plain_digits_without_noise() -> None:
    book = BookMessage(
        exchange="binance",
        symbol="BTC-USDT",
        ts_event=1,
        ts_recv=2,
        bids=[(Decimal("61837.63000000"), Decimal("1E-7"))],
        asks=[(Decimal("61837.64"), Decimal("0E-8"))],
    )

    data = orjson.loads(json_text(book))

    assert data["bids"] == [["61837.63", "0.0000001"]]
    assert data["asks"] == [["61837.64", "0"]]


def test_json_output_keeps_datetimes_in_utc_z_form() -> None:
    kline = Kline.model_validate(
        {
            "open_time": "2024-08-08T23:55:00Z",
            "open_ns": 1723161300000000000,
            "open": "1",
            "high": "1",
            "low": "1",
            "close": "1",
            "volume": "2.50",
            "trades": 1,
        }
    )

    data = orjson.loads(json_text([kline]))

    assert data[0]["open_time"] == "2024-08-08T23:55:00Z"
    assert data[0]["volume"] == "2.5"


def test_market_sizes_pad_to_tick_and_lot_and_round_only_averages() -> None:
    assert SIZES.price(Decimal("61831.9")) == "61831.90"
    assert SIZES.qty(Decimal("0.5")) == "0.50000"
    assert SIZES.average(Decimal("61831.123456789123")) == "61831.12345679"
    assert MarketSizes().price(Decimal("61831.90000000")) == "61831.9"
    assert SIZES.price(None) is None


def test_market_sizes_of_a_symbol_list() -> None:
    symbols = [
        SymbolInfo.model_validate(
            {
                "symbol": "BTC-USDT",
                "tick_size": "0.1",
                "lot_size": "0.001",
                "has_book": True,
                "stale": False,
            }
        )
    ]

    assert MarketSizes.of(symbols, "BTC-USDT") == MarketSizes(Decimal("0.1"), Decimal("0.001"))
    assert MarketSizes.of(symbols, "ETH-USDT") == MarketSizes()


def test_book_table_shows_tick_precision_and_an_iso_time() -> None:
    book = BookMessage(
        exchange="binance",
        symbol="BTC-USDT",
        ts_event=1795861891123456789,
        ts_recv=1795861891123456789,
        bids=[(Decimal("61837.6"), Decimal("1.5"))],
        asks=[(Decimal("61837.70000000"), Decimal("0.25"))],
    )
    console = Console(record=True, width=120)

    console.print(book_table(book, SIZES))

    text = console.export_text()
    assert "2026-11-28T10:31:31.123Z" in text
    assert "61837.60" in text and "61837.70" in text and "61837.70000000" not in text
    assert "1.50000" in text and "spread 0.10" in text


def test_time_cell_is_iso_utc() -> None:
    assert time_cell(1795861891123456789) == "2026-11-28T10:31:31.123Z"
    assert time_cell(None) is None
