"""The wire models of `twapcore.wire` are the one shape of books, trades, orders and klines.

The fast dict builders of recordings (`book_to_record`, `trade_to_record`,
`instrument_to_record`) must write exactly the fields of their model, in its
order and with its decimal rule: a line parses with the model and the model
writes the same bytes back.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import twapcore
from tests.core.builders import S, levels
from tests.core.conftest import WheelVenv
from twapcore import BookSnapshot, Candle, InstrumentInfo, Level, Side, Trade, wire
from twapcore.recording import (
    RecordingWriter,
    book_to_record,
    instrument_to_record,
    iter_records,
    trade_to_record,
)
from twapcore.wire import (
    BookMessage,
    InstrumentMessage,
    KlinePublic,
    OrderMessage,
    OrderPublic,
    TradeMessage,
    WireModel,
)

# Positive decimals in every notation a venue or an exact division may leave:
# 1E-8, 61831.89000000, 5E+3, 0E-8.
venue_decimals = st.builds(
    lambda digits, exponent: Decimal(digits).scaleb(exponent),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=-12, max_value=4),
)
book_levels = st.lists(st.builds(Level, venue_decimals, venue_decimals), max_size=12)


def _round_trips(model: type[WireModel], record: dict[str, object]) -> None:
    text = orjson.dumps(record).decode()

    parsed = model.model_validate_json(text)

    assert list(record) == list(model.model_fields)
    assert parsed.model_dump_json() == text


@given(
    bids=book_levels,
    asks=book_levels,
    seq=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
    depth=st.none() | st.integers(min_value=1, max_value=10),
)
def test_a_book_line_is_exactly_a_book_message(
    bids: list[Level], asks: list[Level], seq: int | None, depth: int | None
) -> None:
    book = BookSnapshot("binance", "BTC-USDT", tuple(bids), tuple(asks), 3 * S, 4 * S, seq)

    _round_trips(BookMessage, book_to_record(book, depth))


@given(price=venue_decimals, qty=venue_decimals, trade_id=st.none() | st.text(max_size=8))
def test_a_trade_line_is_exactly_a_trade_message(
    price: Decimal, qty: Decimal, trade_id: str | None
) -> None:
    trade = Trade("kraken", "BTC-USD", Side.SELL, price, qty, 5 * S, 6 * S, trade_id)

    _round_trips(TradeMessage, trade_to_record(trade))


@pytest.mark.parametrize(
    "info",
    [
        InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.00001000")),
        InstrumentInfo("bit.com", "BTC-USD-PERP", Decimal("0.5"), Decimal(1), Decimal(1)),
        InstrumentInfo("binance", "ETH-USDT"),
    ],
)
def test_an_instrument_line_is_exactly_an_instrument_message(info: InstrumentInfo) -> None:
    _round_trips(InstrumentMessage, instrument_to_record(info))


def test_every_line_of_a_written_recording_parses_with_its_model(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    book = BookSnapshot(
        "binance", "BTC-USDT", levels(("61837.60", "1E-7")), levels(("61837.70", "2")), S, S, 9
    )
    trade = Trade("binance", "BTC-USDT", Side.BUY, Decimal("61837.70"), Decimal("0.001"), S, S, "1")
    models = {"book": BookMessage, "trade": TradeMessage, "instrument": InstrumentMessage}
    with RecordingWriter(path) as writer:
        writer.write_record(instrument_to_record(InstrumentInfo("binance", "BTC-USDT")))
        writer.write(book)
        writer.write(trade)

    records = list(iter_records(path))

    assert [r["type"] for r in records] == ["instrument", "book", "trade"]
    for record in records:
        _round_trips(models[str(record["type"])], record)


def test_a_book_message_is_the_same_book_as_a_snapshot() -> None:
    book = BookSnapshot(
        "binance", "BTC-USDT", levels(("99.10", "1")), levels(("101", "0.5")), 7 * S, 8 * S, 42
    )

    message = BookMessage.model_validate_json(orjson.dumps(book_to_record(book)))

    assert message.snapshot() == book
    assert message.bids[0].price == Decimal("99.10")


def test_amounts_are_exact_strings_without_noise_and_parse_back_to_decimals() -> None:
    order = OrderPublic(
        token_id="t-1",
        exchange="binance",
        symbol="BTC-USDT",
        side="buy",
        status="working",
        quantity=Decimal("0.50000000"),
        filled_qty=Decimal("0E-8"),
        remaining_qty=Decimal("1E-7"),
        average_price=Decimal("61836.54600484676166231361788"),
        limit_price=Decimal(70000),
        slices_done=1,
        slices_total=4,
        next_slice_ns=None,
        created_ns=1,
        updated_ns=2,
    )

    data = orjson.loads(order.model_dump_json())
    parsed = OrderPublic.model_validate(data)

    assert (data["quantity"], data["filled_qty"], data["remaining_qty"]) == (
        "0.5",
        "0",
        "0.0000001",
    )
    assert data["average_price"] == "61836.5460048468"
    assert (data["side"], data["status"], data["venues"]) == ("buy", "working", None)
    assert parsed.quantity == Decimal("0.5") and parsed.side is Side.BUY


def test_models_are_frozen_and_ignore_fields_they_do_not_know() -> None:
    record = {**book_to_record(BookSnapshot("binance", "BTC-USDT", (), (), 1, 2)), "new": 1}

    message = BookMessage.model_validate(record)

    assert "new" not in message.model_dump()
    with pytest.raises(ValueError, match="frozen"):
        message.seq = 3  # type: ignore[misc]


def test_an_order_message_reads_older_and_newer_servers() -> None:
    older = {
        "type": "order",
        "token_id": "t-1",
        "status": "working",
        "filled_qty": "0.1",
        "remaining_qty": "0.5",
        "average_price": None,
        "slices_done": 1,
        "slices_total": 6,
        "next_slice_ns": 2 * S,
    }

    old = OrderMessage.model_validate(older)
    new = OrderMessage.model_validate({**older, "exchange": "binance", "new_field": [1]})

    assert (old.exchange, old.side, old.algorithm, old.slice) == (None, None, "twap", None)
    assert (new.exchange, new.model_extra) == ("binance", {"new_field": [1]})


def test_a_kline_opens_at_the_candle_and_closes_one_interval_later() -> None:
    open_ns = int(datetime(2024, 8, 8, 23, 55, tzinfo=UTC).timestamp()) * S
    prices = [Decimal("61837.63"), Decimal("61901.10"), Decimal("61790"), Decimal("61850.01")]
    candle = Candle("binance", "BTC-USDT", "5m", open_ns, *prices, Decimal("2.50"), trades=3)

    kline = KlinePublic.from_candle(candle)

    data = orjson.loads(kline.model_dump_json())
    assert kline.close_ns == open_ns + 300 * S
    assert (data["open_time"], data["high"], data["volume"]) == (
        "2024-08-08T23:55:00Z",
        "61901.1",
        "2.5",
    )


def test_twapcore_exports_every_wire_model_without_loading_pydantic_on_import() -> None:
    code = "import sys, twapcore; print('pydantic' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )

    assert loaded.stdout.strip() == "False"
    assert {name for name in wire.__all__ if getattr(twapcore, name) is getattr(wire, name)} == set(
        wire.__all__
    )
    assert set(wire.__all__) <= set(twapcore.__all__)


@pytest.mark.slow
def test_the_wheel_installed_alone_brings_what_the_wire_models_need(
    twapcore_wheel_venv: WheelVenv,
) -> None:
    code = (
        "from twapcore import BookMessage; "
        'line = \'{"type":"book","exchange":"binance","symbol":"BTC-USDT","ts_event":1,'
        '"ts_recv":2,"seq":null,"bids":[["99.10","1"]],"asks":[]}\'; '
        "print(BookMessage.model_validate_json(line).model_dump_json() == line)"
    )

    ran = subprocess.run(
        [twapcore_wheel_venv.python, "-c", code],
        env=twapcore_wheel_venv.env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert ran.stdout.strip() == "True", ran.stderr[-2000:]
