from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.builders import book
from twapcore import RecordingError, RecordingWriter, Side, Trade, read_recording


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.gz"])
def test_books_and_trades_round_trip(tmp_path: Path, name: str) -> None:
    snapshot = book(bids=(("0.00000001", "5"),), ts=7)
    trade = Trade("binance", "BTC-USDT", Side.SELL, Decimal("101.5"), Decimal("0.25"), 3, 7, "9")
    with RecordingWriter(tmp_path / name) as writer:
        writer.write(snapshot)
        writer.write(trade)

    books, trades = list(read_recording(tmp_path / name))

    assert books.bids == snapshot.bids and books.asks == snapshot.asks  # type: ignore[union-attr]
    assert trades == trade


def test_small_prices_are_written_without_exponents(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path / "r.jsonl") as writer:
        writer.write(book(bids=(("0.00000001", "5"),)))

    assert '"0.00000001"' in (tmp_path / "r.jsonl").read_text()


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type":"note"}\n{oops\n')

    with pytest.raises(RecordingError, match=r"bad.jsonl:2: not valid JSON"):
        list(read_recording(path))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"nope\.jsonl' does not exist"):
        list(read_recording(tmp_path / "nope.jsonl"))
