from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.builders import S, book, spec
from twapcore import (
    RecordingWriter,
    Side,
    Trade,
    TwapExecution,
    UnknownSymbol,
    simulate,
)


def _write_market(path: Path, seconds: int = 120) -> list[object]:
    """A market whose ask rises by 0.01 per second; one trade per second."""
    books = []
    with RecordingWriter(path) as writer:
        writer.write_record(
            {"type": "instrument", "exchange": "binance", "symbol": "BTC-USDT", "lot_size": "0.001"}
        )
        for i in range(seconds):
            ask = Decimal(101) + Decimal(i) / 100
            snapshot = book(asks=((str(ask), "0.5"), ("103", "5")), ts=i * S, version=i + 1)
            books.append(snapshot)
            writer.write(snapshot)
            writer.write(Trade("binance", "BTC-USDT", Side.BUY, ask, Decimal("0.1"), i * S, i * S))
    return books


def test_simulation_matches_stepping_the_engine_by_hand(tmp_path: Path) -> None:
    books = _write_market(tmp_path / "m.jsonl")
    order = spec(quantity="1.2", limit="102", duration=60, slices=6)

    report = simulate(tmp_path / "m.jsonl", [order]).reports[0]
    by_hand = TwapExecution(order, 0)
    for i in range(6):
        by_hand.step(i * 10 * S, books[i * 10])  # type: ignore[arg-type]

    assert report.filled_qty == by_hand.filled_qty == Decimal("1.2")
    assert report.average_price == by_hand.average_price
    assert [r.filled_qty for r in report.slices] == [r.filled_qty for r in by_hand.results]


def test_report_is_internally_consistent(tmp_path: Path) -> None:
    _write_market(tmp_path / "m.jsonl")

    report = simulate(tmp_path / "m.jsonl", [spec(quantity="3", limit="101.3", slices=6)]).reports[
        0
    ]

    assert report.status == "expired"
    assert sum(r.filled_qty for r in report.slices) == report.filled_qty
    assert report.min_fill_price is not None and report.max_fill_price is not None
    assert report.min_fill_price <= report.average_price <= report.max_fill_price  # type: ignore[operator]
    assert report.max_fill_price <= Decimal("101.3")
    assert report.market_vwap_source == "trades"
    assert report.participation_rate == (report.filled_qty / report.market_volume).quantize(
        Decimal("0.000001")
    )


def test_two_orders_share_displayed_liquidity(tmp_path: Path) -> None:
    _write_market(tmp_path / "m.jsonl")
    order = spec(quantity="3", limit="101", slices=1, duration=1)

    alone = simulate(tmp_path / "m.jsonl", [order]).reports[0]
    together = simulate(tmp_path / "m.jsonl", [order, order]).reports

    assert alone.filled_qty == Decimal("0.5")
    assert sum(r.filled_qty for r in together) == Decimal("0.5")


def test_slices_after_the_recording_are_skipped_with_a_reason(tmp_path: Path) -> None:
    _write_market(tmp_path / "m.jsonl", seconds=30)

    report = simulate(tmp_path / "m.jsonl", [spec(slices=6, duration=60)]).reports[0]

    assert [r.reason for r in report.slices[3:]] == ["end_of_recording"] * 3


def test_lot_size_comes_from_the_recording(tmp_path: Path) -> None:
    _write_market(tmp_path / "m.jsonl")
    order = spec(quantity="1")
    from dataclasses import replace

    report = simulate(tmp_path / "m.jsonl", [replace(order, lot_size=None, slices=7)]).reports[0]

    assert [r.target_qty for r in report.slices[:6]] == [Decimal("0.142")] * 6


def test_unknown_symbol_names_what_the_recording_holds(tmp_path: Path) -> None:
    _write_market(tmp_path / "m.jsonl")
    from dataclasses import replace

    with pytest.raises(
        UnknownSymbol, match="no book for binance ETH-USDT; it holds: binance BTC-USDT"
    ):
        simulate(tmp_path / "m.jsonl", [replace(spec(), symbol="ETH-USDT")])


def test_same_recording_gives_the_same_report(tmp_path: Path) -> None:
    _write_market(tmp_path / "m.jsonl")
    order = spec(quantity="2", limit="101.5", slices=12, side=Side.BUY)

    first = simulate(tmp_path / "m.jsonl", [order]).reports[0].to_dict()
    second = simulate(tmp_path / "m.jsonl", [order]).reports[0].to_dict()

    assert first == second


def test_unknown_symbol_is_an_error_even_with_an_explicit_start(tmp_path: Path) -> None:
    _write_market(tmp_path / "m.jsonl")
    from dataclasses import replace

    with pytest.raises(UnknownSymbol, match="no book for binance ETH-USDT"):
        simulate(tmp_path / "m.jsonl", [replace(spec(), symbol="ETH-USDT")], [0])
