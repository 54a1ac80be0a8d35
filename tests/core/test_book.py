from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from twapcore import (
    BinanceDepthSync,
    ChecksumMismatch,
    OrderBook,
    SequenceGap,
    kraken_checksum,
    verify_kraken_checksum,
)


def _rows(raw: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q, *_ in raw]


def test_top_levels_are_best_first_and_zero_size_deletes() -> None:
    book = OrderBook("binance", "BTC-USDT")
    book.apply_snapshot(
        _rows([["99", "1"], ["98", "2"], ["97", "3"]]),
        _rows([["101", "1"], ["102", "2"]]),
        ts_event=1,
        ts_recv=2,
    )

    book.apply_delta(_rows([["99", "0"], ["98.5", "4"]]), [], ts_event=3, ts_recv=4)
    top = book.snapshot(depth=2)

    assert [(lv.price, lv.qty) for lv in top.bids] == [(Decimal("98.5"), 4), (Decimal(98), 2)]
    assert [lv.price for lv in top.asks] == [Decimal(101), Decimal(102)]
    assert (top.ts_recv, top.version) == (4, 2)


def test_age_counts_from_the_last_receive_time() -> None:
    book = OrderBook("binance", "BTC-USDT")
    book.apply_snapshot([], [], ts_event=0, ts_recv=1_000)

    assert book.age_ns(4_000) == 3_000


def test_max_depth_truncates_the_far_levels() -> None:
    book = OrderBook("kraken", "BTC-USD", max_depth=2)

    book.apply_snapshot(
        _rows([["3", "1"], ["2", "1"], ["1", "1"]]),
        _rows([["4", "1"], ["5", "1"], ["6", "1"]]),
        ts_event=0,
        ts_recv=0,
    )

    assert [lv.price for lv in book.bids()] == [Decimal(3), Decimal(2)]
    assert [lv.price for lv in book.asks()] == [Decimal(4), Decimal(5)]


def _kraken_book_messages(path: Path) -> list[list[object]]:
    messages = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("wss://"):
            continue
        payload = json.loads(line.split(": ", 1)[1])
        if isinstance(payload, list) and str(payload[-2]).startswith("book"):
            messages.append(payload)
    return messages


def test_every_kraken_checksum_in_the_capture_verifies(shared_data: Path) -> None:
    books: dict[str, OrderBook] = {}
    verified = 0

    for message in _kraken_book_messages(shared_data / "cryptofeed" / "KRAKEN.ws.50.0"):
        pair = str(message[-1])
        parts = [p for p in message[1:-2] if isinstance(p, dict)]
        if "as" in parts[0]:
            books[pair] = OrderBook("kraken", pair, max_depth=1000)
            books[pair].apply_snapshot(
                _rows(parts[0]["bs"]), _rows(parts[0]["as"]), ts_event=0, ts_recv=0
            )
            continue
        book = books[pair]
        for part in parts:
            book.apply_delta(
                _rows(part.get("b", [])), _rows(part.get("a", [])), ts_event=0, ts_recv=0
            )
        checksum = next(int(p["c"]) for p in parts if "c" in p)
        verify_kraken_checksum(book, checksum)
        verified += 1

    assert verified == 4269


def test_a_wrong_kraken_checksum_flags_the_book() -> None:
    book = OrderBook("kraken", "BTC-USD")
    book.apply_snapshot(
        _rows([["0.05005", "1.50"]]), _rows([["0.05010", "2.0"]]), ts_event=0, ts_recv=0
    )

    with pytest.raises(ChecksumMismatch, match="kraken BTC-USD: checksum"):
        verify_kraken_checksum(book, kraken_checksum(book) + 1)
    assert book.in_sync is False


def _binance_stream(shared_data: Path) -> list[tuple[int, dict[str, object]]]:
    lines = []
    for name in ("btcusdt_20240808.gz", "btcusdt_20240809.gz"):
        with gzip.open(shared_data / "hftbacktest" / "spot" / name, "rt") as handle:
            for line in handle:
                ts, body = line.split(" ", 1)
                lines.append((int(ts), json.loads(body)))
    return lines


def test_binance_capture_syncs_without_gaps_across_the_file_split(shared_data: Path) -> None:
    sync = BinanceDepthSync(OrderBook("binance", "BTC-USDT"))
    applied = 0

    for ts, message in _binance_stream(shared_data):
        if "lastUpdateId" in message:
            sync.on_snapshot(
                int(message["lastUpdateId"]),  # type: ignore[call-overload]
                _rows(message["bids"]),  # type: ignore[arg-type]
                _rows(message["asks"]),  # type: ignore[arg-type]
                ts_event=ts,
                ts_recv=ts,
            )
            continue
        data = message["data"]
        if isinstance(data, dict) and data.get("e") == "depthUpdate":
            applied += sync.on_diff(
                data["U"], data["u"], _rows(data["b"]), _rows(data["a"]), ts_event=ts, ts_recv=ts
            )

    top = sync.book.snapshot(1)
    assert (sync.gaps, sync.book.in_sync) == (0, True)
    assert applied > 6000
    assert top.bids[0].price < top.asks[0].price


def test_binance_gap_raises_and_flags_the_book_until_a_new_snapshot() -> None:
    sync = BinanceDepthSync(OrderBook("binance", "BTC-USDT"))
    sync.on_diff(95, 105, _rows([["10", "1"]]), [], ts_event=0, ts_recv=0)
    sync.on_snapshot(100, _rows([["9", "1"]]), _rows([["11", "1"]]), ts_event=0, ts_recv=0)
    assert sync.book.seq == 105

    with pytest.raises(SequenceGap, match="diff starts at update id 107, expected 106"):
        sync.on_diff(107, 110, [], [], ts_event=0, ts_recv=0)
    assert (sync.book.in_sync, sync.needs_snapshot, sync.gaps) == (False, True, 1)
