"""The shortcuts of `simulate`'s steps and reports give exactly what the plain code gives.

* `positional_builder` builds frozen dataclasses (`Fill`, `SliceResult`, report rows)
  equal, field by field, to calling the class;
* a one-fill slice's notional is `0 + price × qty` as `SliceResult.notional` sums it, and an
  execution's notional and a report's averages are those sums, digit for digit;
* markout averages summed at the end (`_Marks.summary`) are the running totals' Decimals;
* a final status is told by `_FINAL` as `OrderStatus.is_final` tells it;
* a vwap `trades` profile read in the same pass as the lines fed (a short recording) gives
  the reports of reading the trades first, and the file is then opened once.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.builders import spec
from tests.core.test_simulate_fast_paths import Market, _write, markets, orders
from twapcore import OrderStatus, Side, SliceStatus, simulate
from twapcore._construct import positional_builder
from twapcore.analytics import FillRow, SliceRow, _Marks
from twapcore.execution import _FINAL
from twapcore.models import Fill, SliceResult
from twapcore.spec import OrderSpec

# Decimals of every exponent sign: 0 + x rewrites the exponent of 1E+3 (1000), not of 1.50.
DECIMAL = st.one_of(
    st.decimals("0.00001", "100000", places=5),
    st.builds(Decimal, st.sampled_from(["1E+3", "2.5E+2", "0", "-0", "7.00", "1E-9"])),
)
MAYBE = st.one_of(st.none(), DECIMAL)


def _same(a: object, b: object) -> None:
    assert a == b
    assert type(a) is type(b)
    for f in fields(a):  # type: ignore[arg-type]
        left, right = getattr(a, f.name), getattr(b, f.name)
        assert left is right, f.name  # the very values given, not copies


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, 99),
    price=DECIMAL,
    qty=DECIMAL,
    ts=st.integers(0, 2**62),
    venue=st.one_of(st.none(), st.just("binance")),
    mid=MAYBE,
    marks=st.lists(MAYBE, min_size=3, max_size=3),
    status=st.sampled_from(SliceStatus),
    reason=st.one_of(st.none(), st.just("no_liquidity")),
)
def test_positional_builders_build_what_the_classes_build(
    index: int,
    price: Decimal,
    qty: Decimal,
    ts: int,
    venue: str | None,
    mid: Decimal | None,
    marks: list[Decimal | None],
    status: SliceStatus,
    reason: str | None,
) -> None:
    fill = (index, price, qty, ts)
    _same(positional_builder(Fill)(*fill), Fill(*fill))
    _same(positional_builder(Fill)(*fill, venue), Fill(*fill, venue))
    result = (index, ts, ts + 1, qty, price, status, (Fill(*fill),), reason, mid, 3, qty)
    _same(positional_builder(SliceResult)(*result), SliceResult(*result))
    _same(
        positional_builder(SliceResult)(*result, (("okx", "stale_book"),)),
        SliceResult(*result, (("okx", "stale_book"),)),
    )
    row = (index, ts, ts, qty, price, mid, status.value, reason, mid, mid, qty)
    _same(positional_builder(SliceRow)(*row), SliceRow(*row))
    _same(positional_builder(SliceRow)(*row[:8]), SliceRow(*row[:8]))
    fill_row = (index, ts, price, qty, mid, mid, venue)
    _same(positional_builder(FillRow)(*fill_row), FillRow(*fill_row))
    _same(positional_builder(FillRow)(*fill_row, *marks), FillRow(*fill_row, *marks))


def test_a_positional_builder_refuses_classes_it_would_build_wrong() -> None:
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            raise AssertionError

    for cls in (Mutable, Unslotted, Checked):
        with pytest.raises(TypeError, match=cls.__name__):
            positional_builder(cls)
    with pytest.raises(TypeError):
        positional_builder(Fill)(1, Decimal(1))  # a field without a default is required


@pytest.mark.parametrize("status", list(OrderStatus))
def test_final_statuses_are_those_is_final_names(status: OrderStatus) -> None:
    assert (status in _FINAL) is status.is_final


@settings(max_examples=300, deadline=None)
@given(price=DECIMAL, qty=DECIMAL, precision=st.sampled_from([6, 16, 28]))
def test_one_fill_notional_is_the_sum_the_slice_makes(
    price: Decimal, qty: Decimal, precision: int
) -> None:
    with localcontext() as context:
        context.prec = precision
        result = SliceResult(0, 0, 0, qty, qty, SliceStatus.FILLED, (Fill(0, price, qty, 0),))
        fast = Decimal(0) + result.fills[0].notional  # what `_apply`, `build_report` use

        assert str(fast) == str(result.notional)


def _plain_averages(
    sign: Decimal, fills: list[tuple[Decimal, Decimal, list[Decimal | str]]]
) -> tuple[list[list[Decimal | None]], list[Decimal | None], Counter[str]]:
    """Markouts with running totals, as `_Marks` computed them before it kept lists."""
    totals = [[Decimal(0), Decimal(0)] for _ in range(3)]
    missing: Counter[str] = Counter()
    rows = []
    for price, qty, mids in fills:
        row: list[Decimal | None] = []
        for mid, total in zip(mids, totals, strict=True):
            if isinstance(mid, str) or mid == 0:
                missing[mid if isinstance(mid, str) else "the mid was zero"] += 1
                row.append(None)
                continue
            mark = (sign * (price - mid) / mid * 10_000).quantize(Decimal("0.000001"))
            total[0] += qty * mark
            total[1] += qty
            row.append(mark)
        rows.append(row)
    averages = [
        None if weight == 0 else (value / weight).quantize(Decimal("0.000001"))
        for value, weight in totals
    ]
    return rows, averages, missing


MID = st.one_of(DECIMAL, st.just("the recording ends before the horizon"))


@settings(max_examples=300, deadline=None)
@given(
    sign=st.sampled_from([Decimal(1), Decimal(-1)]),
    fills=st.lists(st.tuples(DECIMAL, DECIMAL, st.lists(MID, min_size=3, max_size=3)), max_size=10),
    precision=st.sampled_from([12, 28]),
)
def test_markout_averages_summed_at_the_end_are_the_running_totals(
    sign: Decimal, fills: list[tuple[Decimal, Decimal, list[Decimal | str]]], precision: int
) -> None:
    with localcontext() as context:
        context.prec = precision
        try:
            plain: Any = _plain_averages(sign, fills)
        except ArithmeticError as exc:  # a small precision cannot quantize: both raise
            plain = type(exc)
        marks = _Marks(sign)
        try:
            rows = [marks.of(price, qty, mids) for price, qty, mids in fills]
            summary = marks.summary(len(fills))
            fast: Any = (
                rows,
                [summary[f"markout_{h}s_bps"] for h in (1, 10, 60)],
                marks.missing,
            )
        except ArithmeticError as exc:
            fast = type(exc)

    assert str(fast) == str(plain)


def _vwap(draw: st.DrawFn) -> OrderSpec:
    return spec(
        side=draw(st.sampled_from(Side)),
        quantity=str(draw(st.decimals("0.001", "8", places=3))),
        limit=str(draw(st.sampled_from(["990", "1000", "1010"]))),
        duration=draw(st.integers(10, 90)),
        slices=draw(st.integers(1, 8)),
        algorithm="vwap",
        profile="trades",
    )


vwaps = st.composite(_vwap)


@settings(max_examples=100, deadline=None)
@given(
    market=markets(),
    specs=st.lists(st.one_of(vwaps(), orders()), min_size=1, max_size=4),
    independent=st.booleans(),
)
def test_a_trades_profile_read_with_the_lines_gives_the_reports_of_reading_trades_first(
    market: Market, specs: list[OrderSpec], independent: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.jsonl"
        _write(path, market)

        once = simulate(path, specs, independent=independent).reports
        with patch("twapcore.simulate._READ_ONCE_MAX_LINES", 0):  # too long: read twice
            twice = simulate(path, specs, independent=independent).reports

    assert once == twice
    assert [r.to_dict() for r in once] == [r.to_dict() for r in twice]
    for a, b in zip(once, twice, strict=True):  # the slices' averages, digit for digit
        assert [str(row.average_price) for row in a.slices] == [
            str(row.average_price) for row in b.slices
        ]


def test_a_short_recording_is_opened_once_for_a_trades_profile(tmp_path: Path) -> None:
    from tests.core.test_simulate_fast_paths import Level, Trade
    from twapcore.models import BookSnapshot

    S = 1_000_000_000
    books = [
        BookSnapshot(
            "binance",
            "BTC-USDT",
            (Level(Decimal(999), Decimal(5)),),
            (Level(Decimal(1000), Decimal(5)),),
            i * S,
            i * S,
        )
        for i in range(40)
    ]
    trades = [
        Trade("binance", "BTC-USDT", Side.BUY, Decimal(1000), Decimal(i + 1), i * S + 1, i * S + 1)
        for i in range(40)
    ]
    path = tmp_path / "m.jsonl"
    _write(path, Market(books, trades))
    order = spec(quantity="1", duration=30, slices=3, algorithm="vwap", profile="trades")
    import twapcore._typed_lines as typed

    opened: list[object] = []
    real = typed.open_binary

    def counted(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real(*args, **kwargs)

    with patch.object(typed, "open_binary", counted):
        once = simulate(path, [order]).reports
        assert len(opened) == 1
        with patch("twapcore.simulate._READ_ONCE_MAX_LINES", 10):
            twice = simulate(path, [order]).reports
        assert len(opened) == 4  # the lines (dropped past 10), the trades, the lines again

    assert once == twice
    assert once[0].algorithm_note is None  # the profile came from the trades


LEVEL_QTY = st.one_of(
    st.decimals("0.001", "3", places=3),
    st.sampled_from([Decimal("1E+1"), Decimal("0.50"), Decimal("1")]),
)


@settings(max_examples=300, deadline=None)
def _plain_fill(
    model: Any, side: Side, qty: Decimal, limit: Decimal, book: Any, ledger: Any
) -> list[Any]:
    """What `fill` does, written plainly: walk `ledger.available`, then `ledger.take`."""
    from twapcore.fills import within_limit
    from twapcore.models import Level

    executions: list[Level] = []
    remaining = qty
    for depth, level in enumerate(ledger.available(book, side)):
        if remaining <= 0 or (model.max_levels is not None and depth >= model.max_levels):
            break
        if not within_limit(side, level.price, limit):
            break
        take = min(remaining, level.qty)
        executions.append(Level(level.price, take))
        remaining -= take
    for execution in executions:
        ledger.take(book, side, execution.price, execution.qty)
    return executions


@given(
    bids=st.lists(LEVEL_QTY, max_size=5),
    asks=st.lists(LEVEL_QTY, max_size=5),
    walks=st.lists(
        st.tuples(
            st.sampled_from(Side),
            st.one_of(  # and sizes a level equals in value, written otherwise
                st.decimals("0.001", "6", places=3),
                st.sampled_from([Decimal("0.5"), Decimal("10.0"), Decimal("1.000")]),
            ),
            st.integers(-3, 6),
            st.sampled_from(["walk_book", "top_of_book"]),
        ),
        min_size=1,
        max_size=5,
    ),
    repeat_price=st.booleans(),
)
def test_a_fill_walks_the_book_as_the_plain_walk_does(
    bids: list[Decimal],
    asks: list[Decimal],
    walks: list[tuple[Side, Decimal, int, str]],
    repeat_price: bool,
) -> None:
    from twapcore.fills import FILL_MODELS, LiquidityLedger
    from twapcore.models import BookSnapshot, Level

    tick = Decimal("0.5")
    bid_levels = [Level(Decimal(1000) - tick * (1 + n), q) for n, q in enumerate(bids)]
    ask_levels = [Level(Decimal(1000) + tick * n, q) for n, q in enumerate(asks)]
    if repeat_price and ask_levels:  # a price shown twice (a malformed feed) is walked so too
        ask_levels.insert(1, ask_levels[0])
    book = BookSnapshot("binance", "BTC-USDT", tuple(bid_levels), tuple(ask_levels), 0, 0, None, 1)
    fast_ledger, plain_ledger = LiquidityLedger(), LiquidityLedger()
    for side, qty, ticks, model_name in walks:
        model: Any = FILL_MODELS[model_name]
        limit = Decimal(1000) + tick * ticks * (1 if side is Side.BUY else -1)
        fast = model.fill(side, qty, limit, book, fast_ledger)
        plain = _plain_fill(model, side, qty, limit, book, plain_ledger)

        assert [tuple(map(str, level)) for level in fast] == [
            tuple(map(str, level)) for level in plain
        ]
        assert all(type(level) is Level for level in fast)
        assert str(fast_ledger._taken) == str(plain_ledger._taken)
