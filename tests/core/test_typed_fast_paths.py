"""Fast paths of `simulate` added with the typed reader equal the plain computations.

* a book's levels stay raw JSON until a step walks them: `tops` reads the best
  prices without decoding them (`TopsReader` not even again when a book begins
  as the last one), `levels_of` decodes them and `levels_head` its first ones —
  each equals reading the levels `orjson.loads` parses (written compactly or
  not, escaped or not);
* a slice filled at one price reuses its slippage for its fill: `_signed_bps`
  of a price depends on its value only, not on how its digits are written;
* `with_markouts` reads a fill's mids at every horizon at once: equal to
  `apply_markouts` asking `MidTape.mid_at` horizon by horizon;
* `simulate` builds a report with its markouts in one go: equal to building it
  and then marking it;
* and on a simulated run every slice's and fill's slippage is `_signed_bps` of
  its price against its mid.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal, localcontext
from typing import Any
from unittest.mock import patch

import msgspec
import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.core.builders import spec
from twapcore import Side, simulate
from twapcore._typed_lines import TopsReader, levels_head, levels_of, tops
from twapcore.analytics import (
    _PAST_THE_RECORDING,
    ExecutionReport,
    FillRow,
    MidTape,
    _marked,
    _signed_bps,
    apply_markouts,
    build_report,
    with_markouts,
)
from twapcore.recording import demo_recording
from twapcore.simulate import _tops

PRICE_TEXT = st.one_of(
    st.decimals("0.01", "100000", places=8).map(lambda d: format(d, "f")),
    st.sampled_from(["1E+2", "100.50", "-0", "1]", 'a"b', "é", "\\"]),
)
ROW = st.one_of(
    st.tuples(PRICE_TEXT, PRICE_TEXT),
    st.tuples(st.integers(0, 10**6), PRICE_TEXT),  # a number for a price
    st.tuples(PRICE_TEXT, PRICE_TEXT, PRICE_TEXT),  # a longer row
    st.tuples(PRICE_TEXT),
)
SIDE = st.one_of(
    st.lists(ROW.map(list), max_size=4),
    st.sampled_from([None, "", 0, {}, "x"]),  # levels that are no list
)


def _raw(value: object, spaced: bool, ascii_only: bool) -> msgspec.Raw:
    """`value` written compactly (as orjson writes recordings) or not, escaped or not."""
    if spaced or ascii_only:
        text = json.dumps(value, ensure_ascii=ascii_only, separators=None if spaced else (",", ":"))
        return msgspec.Raw(text.encode())
    return msgspec.Raw(orjson.dumps(value))


@settings(max_examples=400, deadline=None)
@given(bids=SIDE, asks=SIDE, spaced=st.booleans(), ascii_only=st.booleans())
def test_best_prices_of_raw_levels_are_those_of_parsed_levels(
    bids: object, asks: object, spaced: bool, ascii_only: bool
) -> None:
    raw_bids, raw_asks = _raw(bids, spaced, ascii_only), _raw(asks, spaced, ascii_only)
    parsed_bids, parsed_asks = orjson.loads(bytes(raw_bids)), orjson.loads(bytes(raw_asks))
    try:
        expected: object = _tops(parsed_bids, parsed_asks)
    except (TypeError, KeyError, IndexError) as exc:
        expected = type(exc)

    try:
        found: object = tops(raw_bids, raw_asks)
    except (TypeError, KeyError, IndexError) as exc:
        found = type(exc)

    assert found == expected
    assert [type(p) for p in found or ()] == [type(p) for p in expected or ()]  # type: ignore[attr-defined]


# Prices that begin as one another ("1", "10"): a reader must not take one for the other.
CLOSE_SIDE = st.one_of(
    st.lists(st.tuples(st.sampled_from(["1", "10", "1.0", "100", "1E+2"]), PRICE_TEXT).map(list)),
    SIDE,
)


@settings(max_examples=300, deadline=None)
@given(
    books=st.lists(
        st.tuples(CLOSE_SIDE, CLOSE_SIDE, st.booleans(), st.booleans()).map(
            lambda b: (_raw(b[0], b[2], b[3]), _raw(b[1], b[2], b[3]))
        ),
        max_size=12,
    ),
    repeat=st.booleans(),
)
def test_a_market_reader_of_best_prices_reads_each_book_as_tops_does(
    books: list[tuple[msgspec.Raw, msgspec.Raw]], repeat: bool
) -> None:
    # Successive books of one market, often with the same best prices (`repeat`).
    sequence = [book for book in books for _ in range(2 if repeat else 1)]
    reader = TopsReader()

    for bids, asks in sequence:
        try:
            expected: object = tops(bids, asks)
        except (TypeError, KeyError, IndexError) as exc:
            expected = type(exc)
        try:
            found: object = reader(bids, asks)
        except (TypeError, KeyError, IndexError) as exc:
            found = type(exc)

        assert found == expected


@settings(max_examples=300, deadline=None)
@given(side=SIDE, spaced=st.booleans(), ascii_only=st.booleans())
def test_raw_levels_decode_to_the_rows_orjson_parses(
    side: object, spaced: bool, ascii_only: bool
) -> None:
    raw = _raw(side, spaced, ascii_only)

    decoded = levels_of(raw)

    parsed = orjson.loads(bytes(raw))
    if isinstance(parsed, list) and isinstance(decoded, list):
        assert [list(row) if isinstance(row, tuple) else row for row in decoded] == parsed
    else:
        assert decoded == parsed
    assert levels_of(parsed) is parsed  # parsed levels are left as they are


@settings(max_examples=300, deadline=None)
@given(side=SIDE, spaced=st.booleans(), ascii_only=st.booleans(), count=st.integers(1, 5))
def test_the_first_levels_of_raw_levels_are_those_of_all_of_them(
    side: object, spaced: bool, ascii_only: bool, count: int
) -> None:
    raw = _raw(side, spaced, ascii_only)

    head, whole = levels_head(raw, count)

    every = levels_of(raw)
    if whole:
        assert head == every
    else:  # rows as tuples, where orjson parses a side with an odd row later as lists
        assert len(head) == count
        assert [list(row) for row in head] == [list(row) for row in every[:count]]
    assert levels_head(every, count) == (every, True)  # parsed levels are all there is


DECIMAL = st.decimals("0.00001", "100000", places=5)


@settings(max_examples=400, deadline=None)
@given(
    price=DECIMAL,
    qty=DECIMAL,
    mid=st.one_of(st.none(), DECIMAL, st.just(Decimal(0))),
    sign=st.sampled_from([Decimal(1), Decimal(-1)]),
    precision=st.sampled_from([8, 16, 28]),
)
def test_a_one_fill_slice_average_has_the_slippage_of_its_price(
    price: Decimal, qty: Decimal, mid: Decimal | None, sign: Decimal, precision: int
) -> None:
    with localcontext() as context:
        context.prec = precision
        average = price * qty / qty  # the slice's average, as build_report computes it
        assume(average == price)  # when the fast path reuses the slice's figure

        assert _outcome(sign, average, mid) == _outcome(sign, price, mid)


def _outcome(sign: Decimal, price: Decimal, mid: Decimal | None) -> str:
    """`_signed_bps` as text, or the error it raises (small precisions cannot quantize)."""
    try:
        return str(_signed_bps(sign, price, mid))
    except ArithmeticError as exc:
        return type(exc).__name__


S = 1_000_000_000


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(
        st.tuples(st.integers(0, 200), st.one_of(st.none(), st.just(Decimal(0)), DECIMAL)),
        max_size=12,
    ),
    fills=st.lists(st.tuples(st.integers(0, 200), DECIMAL, DECIMAL), max_size=8),
    until_s=st.integers(0, 260),
    side=st.sampled_from(["buy", "sell"]),
)
def test_markouts_from_a_tape_equal_asking_the_tape_horizon_by_horizon(
    samples: list[tuple[int, Decimal | None]],
    fills: list[tuple[int, Decimal, Decimal]],
    until_s: int,
    side: str,
) -> None:
    tape = MidTape()
    for at_s, mid in sorted(samples, key=lambda sample: sample[0]):
        tape.record(at_s * S, mid)
    rows = tuple(FillRow(0, at_s * S, p, q, None, None, "binance") for at_s, p, q in fills)
    report = _report(side, rows)

    def mid_after(fill: FillRow, horizon_s: int) -> Decimal | str:  # the plain lookup
        at = fill.ts_ns + horizon_s * S
        mid = None if at > until_s * S else tape.mid_at(at)
        return _PAST_THE_RECORDING if mid is None else mid

    fast = with_markouts(report, tape, until_s * S)
    plain = apply_markouts(report, mid_after)

    assert fast == plain
    assert fast.to_dict() == plain.to_dict()


def _report(side: str, fills: tuple[FillRow, ...]) -> ExecutionReport:
    zero = Decimal(0)
    return ExecutionReport(
        token_id=None,
        exchange="binance",
        symbol="BTC-USDT",
        side=side,
        status="completed",
        quantity=Decimal(1),
        filled_qty=zero,
        remaining_qty=zero,
        fill_ratio=zero,
        limit_price=Decimal(100),
        average_price=None,
        min_fill_price=None,
        max_fill_price=None,
        fills_count=len(fills),
        arrival_mid=None,
        final_mid=None,
        slippage_bps=None,
        market_vwap=None,
        market_vwap_source=None,
        vwap_slippage_bps=None,
        implementation_shortfall=None,
        implementation_shortfall_bps=None,
        market_volume=zero,
        participation_rate=None,
        start_ns=0,
        end_ns=0,
        slices_total=0,
        slices_done=0,
        fills=fills,
    )


@pytest.mark.parametrize("independent", [False, True])
def test_report_slippages_are_those_of_each_price_against_its_mid(independent: bool) -> None:
    specs = [  # small orders fill at one level a slice, large ones walk several
        spec(side, quantity, "1000000" if side is Side.BUY else "1", duration=120, slices=4)
        for side in (Side.BUY, Side.SELL)
        for quantity in ("0.5", "3", "40")
    ]

    reports = simulate(demo_recording(), specs, independent=independent).reports

    for report in reports:
        sign = Decimal(1) if report.side == "buy" else Decimal(-1)
        for row in report.slices:
            assert row.slippage_bps == _signed_bps(sign, row.average_price, row.book_mid)
        for fill in report.fills:
            assert fill.slippage_bps == _signed_bps(sign, fill.price, fill.mid)
    fills_per_slice = Counter((r.side, r.quantity, f.slice_index) for r in reports for f in r.fills)
    assert set(fills_per_slice.values()) > {1}  # both kinds of slices were checked


@pytest.mark.parametrize("independent", [False, True])
def test_a_report_built_with_its_markouts_is_the_report_then_marked(independent: bool) -> None:
    built: list[tuple[ExecutionReport, ExecutionReport]] = []

    def build_both(*args: Any) -> ExecutionReport:
        *inputs, markouts = args
        in_one_go = build_report(*inputs, markouts)
        then_marked = _marked(build_report(*inputs), lambda fill: markouts(fill.ts_ns))
        built.append((in_one_go, then_marked))
        return in_one_go

    specs = [
        spec(side, quantity, "1000000" if side is Side.BUY else "1", duration=duration, slices=6)
        for side in (Side.BUY, Side.SELL)
        for quantity, duration in (("0.5", 30), ("3", 720))  # fills 600 s in: 10 s of data left
    ]
    with patch("twapcore.simulate.build_report", build_both):
        simulate(demo_recording(), specs, independent=independent)

    assert len(built) == len(specs)
    for in_one_go, then_marked in built:
        assert in_one_go == then_marked
        assert in_one_go.to_dict() == then_marked.to_dict()
    assert any(report.markouts_note for report, _ in built)  # some horizons past the end
    assert any(report.markout_1s_bps is not None for report, _ in built)
