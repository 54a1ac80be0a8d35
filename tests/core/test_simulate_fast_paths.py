"""`simulate`'s shortcuts give exactly what the plain computations give.

* a step is given only the levels of its book it can reach (`_SymbolState.book_for`):
  the reports equal those of steps given every level;
* trades are counted in batches (`_count_trades`): the same Decimals, digit for
  digit, as `MarketCounters.on_trade` one trade at a time, even when sums round;
* a mid is converted once per distinct best bid and ask (`_SymbolState.mid`);
* book levels are built in C (`recording._levels`): the same levels, the same errors;
* `iter_records(..., kind=...)` (a vwap's second read) skips unparsed only lines
  that cannot be of that kind;
* `profile_from_trades` sums each bucket's run of trades at once: the same Decimals
  as adding them one by one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.builders import S, spec
from twapcore import (
    Level,
    MarketCounters,
    RecordingError,
    RecordingWriter,
    Side,
    Trade,
    simulate,
)
from twapcore.algorithms.vwap import profile_from_trades
from twapcore.models import BookSnapshot
from twapcore.recording import book_from_record, book_to_record, iter_records
from twapcore.simulate import _count_trades, _SymbolState
from twapcore.spec import OrderSpec

TICK = Decimal("0.5")
SIZE = st.decimals("0.001", "3", places=3)


@dataclass(frozen=True)
class Market:
    books: list[BookSnapshot]
    trades: list[Trade]


@st.composite
def markets(draw: st.DrawFn) -> Market:
    books, trades = [], []
    mid = Decimal(1000)
    for i in range(draw(st.integers(2, 12))):
        mid += TICK * draw(st.integers(-3, 3))
        depth_b, depth_a = draw(st.integers(0, 6)), draw(st.integers(1, 6))
        bids = tuple(Level(mid - TICK * (1 + n), draw(SIZE)) for n in range(depth_b))
        asks = tuple(Level(mid + TICK * n, draw(SIZE)) for n in range(depth_a))
        ts = i * 7 * S + draw(st.integers(0, S))
        books.append(BookSnapshot("binance", "BTC-USDT", bids, asks, ts, ts))
        for k in range(draw(st.integers(0, 2))):
            price = mid + TICK * draw(st.integers(-2, 2))
            trades.append(
                Trade("binance", "BTC-USDT", Side.BUY, price, draw(SIZE), ts + k + 1, ts + k + 1)
            )
    return Market(books, trades)


@st.composite
def orders(draw: st.DrawFn) -> OrderSpec:
    side = draw(st.sampled_from(Side))
    qty = draw(st.decimals("0.001", "8", places=3))
    offset = TICK * draw(st.integers(-4, 10))
    limit = Decimal(1000) + (offset if side is Side.BUY else -offset)
    algorithm = draw(st.sampled_from(["twap", "twap_random", "pov"]))
    params: dict[str, Any] = {}
    if algorithm == "twap_random":
        params = {"seed": draw(st.integers(0, 99)), "jitter": Decimal("0.3")}
    elif algorithm == "pov":
        params = {"participation": draw(st.decimals("0.1", "1", places=1))}
    return spec(
        side=side,
        quantity=str(qty),
        limit=str(limit),
        duration=draw(st.integers(10, 90)),
        slices=draw(st.integers(1, 8)),
        catch_up_cap=draw(st.sampled_from([Decimal(1), Decimal(2), Decimal(5)])),
        fill_model=draw(st.sampled_from(["walk_book", "top_of_book"])),
        algorithm=algorithm,
        **params,
    )


def _write(path: Path, market: Market) -> None:
    stream = sorted([*market.books, *market.trades], key=lambda item: item.ts_recv)
    with RecordingWriter(path) as writer:
        for item in stream:
            writer.write(item)


def _every_level(levels: Any, need: Decimal) -> None:
    return None  # "no shallower book holds it": every step gets all levels


@settings(max_examples=120, deadline=None)
@given(
    market=markets(),
    specs=st.lists(orders(), min_size=1, max_size=4),
    independent=st.booleans(),
)
def test_steps_on_reachable_levels_report_what_steps_on_whole_books_do(
    market: Market, specs: list[OrderSpec], independent: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.jsonl"
        _write(path, market)

        fast = simulate(path, specs, independent=independent).reports
        with patch("twapcore.simulate._depth_holding", _every_level):
            whole = simulate(path, specs, independent=independent).reports

    assert fast == whole
    assert [r.to_dict() for r in fast] == [r.to_dict() for r in whole]


def test_an_order_walking_past_the_levels_it_was_first_given_gets_deeper_ones(
    tmp_path: Path,
) -> None:
    # Two buys at one book version: the second needs the level below what the first took.
    asks = (("101", "0.5"), ("102", "0.5"), ("103", "5"))
    book = BookSnapshot(
        "binance",
        "BTC-USDT",
        (Level(Decimal(99), Decimal(1)),),
        tuple(Level(Decimal(p), Decimal(q)) for p, q in asks),
        0,
        0,
    )
    _write(tmp_path / "m.jsonl", Market([book], []))
    first, second = spec(quantity="0.6", slices=1), spec(quantity="0.6", slices=1)

    reports = simulate(tmp_path / "m.jsonl", [first, second]).reports

    assert [(f.price, f.qty) for f in reports[0].fills] == [
        (Decimal(101), Decimal("0.5")),
        (Decimal(102), Decimal("0.1")),
    ]
    assert [(f.price, f.qty) for f in reports[1].fills] == [
        (Decimal(102), Decimal("0.4")),
        (Decimal(103), Decimal("0.2")),
    ]


NUMBER_TEXT = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers(-(10**30), 10**30).map(lambda n: f"{n}E-{abs(n) % 20}"),
    st.decimals("0", "100000", places=8).map(lambda d: format(d, "f")),
)


@settings(max_examples=200, deadline=None)
@given(
    trades=st.lists(st.tuples(NUMBER_TEXT, NUMBER_TEXT), max_size=30),
    precision=st.sampled_from([6, 12, 28]),
)
def test_counting_trades_in_a_batch_gives_the_decimals_of_counting_one_by_one(
    trades: list[tuple[str, str]], precision: int
) -> None:
    one_by_one, batched = MarketCounters(), MarketCounters()
    records = [{"type": "trade", "price": price, "qty": qty} for price, qty in trades]

    with localcontext() as context:  # small precisions make the sums round
        context.prec = precision
        for price, qty in trades:
            one_by_one.on_trade(Decimal(price), Decimal(qty))
        _count_trades(batched, records)

    assert records == []
    assert batched.trades == one_by_one.trades
    assert str(batched.volume) == str(one_by_one.volume)
    assert str(batched.notional) == str(one_by_one.notional)


TOP_PRICE = st.sampled_from(["100", "100.0", "100.50", "1E+2", "99.5", "101"])


@settings(max_examples=200, deadline=None)
@given(
    tops=st.lists(
        st.tuples(st.one_of(st.none(), TOP_PRICE), st.one_of(st.none(), TOP_PRICE)),
        max_size=20,
    )
)
def test_a_mid_is_that_of_the_message_whatever_came_before(
    tops: list[tuple[str | None, str | None]],
) -> None:
    state = _SymbolState()
    for bid, ask in tops:
        record = {
            "bids": [] if bid is None else [[bid, "1"], ["1", "1"]],
            "asks": [] if ask is None else [[ask, "1"]],
        }
        expected = None if bid is None or ask is None else (Decimal(bid) + Decimal(ask)) / 2

        mid = state.mid(record)

        assert str(mid) == str(expected)


LEVEL_TEXT = st.decimals(allow_nan=False, allow_infinity=False).map(str)


@settings(max_examples=200, deadline=None)
@given(
    bids=st.lists(st.tuples(LEVEL_TEXT, LEVEL_TEXT), max_size=8),
    asks=st.lists(st.tuples(LEVEL_TEXT, LEVEL_TEXT), max_size=8),
    depth=st.one_of(st.none(), st.integers(0, 9)),
)
def test_levels_are_built_as_level_by_level_construction_would(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], depth: int | None
) -> None:
    record = {
        "type": "book",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "ts_event": 1,
        "ts_recv": 2,
        "seq": None,
        "bids": [list(row) for row in bids],
        "asks": [list(row) for row in asks],
    }

    book = book_from_record(record, depth, version=3)

    def by_hand(rows: list[tuple[str, str]]) -> tuple[Level, ...]:
        kept = rows if depth is None else rows[:depth]
        return tuple(Level(Decimal(p), Decimal(q)) for p, q in kept)

    assert book.bids == by_hand(bids) and book.asks == by_hand(asks)
    assert all(type(level) is Level for level in (*book.bids, *book.asks))
    assert [str(v) for level in book.bids for v in level] == [
        str(v) for level in by_hand(bids) for v in level
    ]
    assert book_from_record(book_to_record(book), version=3) == book


@pytest.mark.parametrize("bad", [["1", "x"], ["1"], "oops", [None, "1"]])
def test_a_malformed_level_is_named(bad: object) -> None:
    record = {
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "ts_event": 1,
        "ts_recv": 1,
        "bids": [["99", "1"], bad],
        "asks": [],
    }

    with pytest.raises(RecordingError, match=r"is not a \[price, quantity\] pair") as raised:
        book_from_record(record)

    assert repr(bad) in str(raised.value)


def test_trades_of_a_long_window_are_all_counted(tmp_path: Path) -> None:
    # More trades between two steps than are ever kept uncounted at once.
    count = 10_000
    qty = Decimal("0.001")
    market = Market(
        [
            BookSnapshot(
                "binance",
                "BTC-USDT",
                (Level(Decimal(99), Decimal(1)),),
                (Level(Decimal(101), Decimal(1)),),
                ts,
                ts,
            )
            for ts in (0, 20 * S)
        ],
        [
            Trade("binance", "BTC-USDT", Side.BUY, Decimal(100), qty, 1 + i, 1 + i)
            for i in range(count)
        ],
    )
    _write(tmp_path / "m.jsonl", market)

    report = simulate(tmp_path / "m.jsonl", [spec(quantity="0.5", slices=2)]).reports[0]

    assert report.end_ns == 30 * S
    assert report.market_volume == count * qty
    assert report.market_vwap == Decimal(100)


KIND_SPELLINGS = st.sampled_from(
    [
        '"trade"',
        '"\\u0074rade"',
        '"tr\\u0061de"',
        '"book"',
        '"trades"',
        '"instrument"',
        '"\\u0062ook"',
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    lines=st.lists(
        st.tuples(KIND_SPELLINGS, st.sampled_from(["", " ", "\\/"]), st.booleans()), max_size=12
    )
)
def test_reading_one_kind_yields_the_messages_of_that_kind(
    lines: list[tuple[str, str, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.jsonl"
        text = [
            f'{{"type":{kind},"note":"{note}","tag":"{"trade" if tagged else "x"}"}}'
            for kind, note, tagged in lines
        ]
        path.write_text("\n".join(text) + "\n")

        only = list(iter_records(path, kind="trade"))
        everything = list(iter_records(path))

    assert only == [r for r in everything if r["type"] == "trade"]


@settings(max_examples=300, deadline=None)
@given(
    trades=st.lists(st.tuples(st.integers(-50, 150), NUMBER_TEXT), max_size=40),
    start_ns=st.integers(-10, 60),
    span=st.integers(1, 120),
    buckets=st.integers(1, 13),
    precision=st.sampled_from([5, 28]),
)
def test_a_trades_profile_adds_each_bucket_as_trade_by_trade_would(
    trades: list[tuple[int, str]], start_ns: int, span: int, buckets: int, precision: int
) -> None:
    rows = sorted(trades, key=lambda row: row[0])
    times, volumes = [t for t, _ in rows], [Decimal(v) for _, v in rows]
    end_ns = start_ns + span
    by_trade = [Decimal(0)] * buckets
    with localcontext() as context:
        context.prec = precision
        for ts, qty in zip(times, volumes, strict=True):
            if start_ns <= ts < end_ns:
                by_trade[(ts - start_ns) * buckets // span] += qty

        profile = profile_from_trades(times, volumes, start_ns, end_ns, buckets)

    assert [str(v) for v in profile] == [str(v) for v in by_trade]


def test_a_book_message_without_its_market_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    lines = [
        '{"type":"note","text":"no market"}',
        '{"type":"book","exchange":"binance","ts_event":1,"ts_recv":1,"bids":[],"asks":[]}',
    ]
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(RecordingError, match="book message lacks the field 'symbol'"):
        simulate(path, [spec()])
