"""Cross-venue execution (`OrderSpec.venues`): consolidated book, per-venue ledger and staleness."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.builders import S, levels
from twapcore import (
    BookSnapshot,
    InvalidOrder,
    LiquidityLedger,
    MarketActivity,
    OrderExecution,
    OrderSpec,
    RecordingWriter,
    Side,
    Trade,
    UnknownSymbol,
    simulate,
)
from twapcore.venues import common_lot

D = Decimal
LOT = D("0.01")
VENUES = ("binance", "kraken")


def vbook(
    venue: str,
    asks: tuple[tuple[str, str], ...] = (),
    bids: tuple[tuple[str, str], ...] = (),
    ts: int = 0,
    version: int = 1,
) -> BookSnapshot:
    return BookSnapshot(venue, "BTC-USDT", levels(*bids), levels(*asks), ts, ts, None, version)


def vspec(
    side: Side = Side.BUY,
    quantity: str = "1",
    limit: str = "1000",
    slices: int = 1,
    venues: tuple[str, ...] = VENUES,
    **extra: object,
) -> OrderSpec:
    return OrderSpec(
        exchange=venues[0],
        symbol="BTC-USDT",
        side=side,
        quantity=D(quantity),
        limit_price=D(limit),
        duration_s=D(slices * 10),
        slices=slices,
        lot_size=LOT,
        venues=venues,
        **extra,  # type: ignore[arg-type]
    )


# --- the consolidated book, by hand ------------------------------------------------------------
def test_a_slice_stopped_by_the_limit_says_so_though_a_sub_lot_level_is_within_it() -> None:
    books = {
        "binance": vbook("binance", asks=(("100.0", "0.005"),)),  # within the limit, < 1 lot
        "kraken": vbook("kraken", asks=(("100.1", "5"),)),  # tradable, beyond the limit
    }
    execution = OrderExecution(vspec(quantity="0.1", limit="100"), 0)

    result = execution.step(0, books)

    assert (result.fills, result.reason) == ((), "limit_price")


def test_top_of_book_across_venues_is_the_best_level_showing_at_least_one_lot() -> None:
    books = {
        "binance": vbook("binance", asks=(("100.0", "0.005"),)),  # half a lot: untradable
        "kraken": vbook("kraken", asks=(("100.1", "5"),)),
    }
    execution = OrderExecution(vspec(quantity="0.1", fill_model="top_of_book"), 0)

    result = execution.step(0, books)

    assert [(f.venue, f.price, f.qty) for f in result.fills] == [("kraken", D("100.1"), D("0.1"))]


def test_a_buy_walks_both_venues_best_price_first_with_exact_fills() -> None:
    books = {
        "binance": vbook("binance", asks=(("100.0", "0.30"), ("100.2", "1"))),
        "kraken": vbook("kraken", asks=(("100.1", "0.25"), ("100.2", "0.5"))),
    }
    execution = OrderExecution(vspec(quantity="1", limit="100.2"), 0)
    result = execution.step(0, books)
    got = [(f.venue, f.price, f.qty) for f in result.fills]
    # 100.0 binance, 100.1 kraken, then 100.2 on binance before kraken (venue order breaks ties)
    assert got == [
        ("binance", D("100.0"), D("0.30")),
        ("kraken", D("100.1"), D("0.25")),
        ("binance", D("100.2"), D("0.45")),
    ]
    assert result.filled_qty == D("1.00")
    assert result.venues_left_out == ()
    # consolidated mid: no bids anywhere -> None
    assert result.book_mid is None
    assert execution.average_price == (
        D("100.0") * D("0.30") + D("100.1") * D("0.25") + D("100.2") * D("0.45")
    ) / D("1.00")


def test_a_sell_takes_the_highest_bid_of_any_venue_and_records_the_consolidated_mid() -> None:
    books = {
        "binance": vbook("binance", bids=(("99.0", "1"),), asks=(("101.0", "1"),)),
        "kraken": vbook("kraken", bids=(("99.5", "0.2"), ("98.0", "5")), asks=(("100.5", "1"),)),
    }
    result = OrderExecution(vspec(Side.SELL, quantity="0.5", limit="99"), 0).step(0, books)
    assert [(f.venue, f.price, f.qty) for f in result.fills] == [
        ("kraken", D("99.5"), D("0.20")),
        ("binance", D("99.0"), D("0.30")),
    ]
    assert result.book_mid == (D("99.5") + D("100.5")) / 2


def test_pieces_are_whole_order_lots_even_on_a_finer_venue() -> None:
    books = {
        "binance": vbook("binance", asks=(("100", "0.005"), ("100.5", "0.013"))),
        "kraken": vbook("kraken", asks=(("101", "1"),)),
    }
    result = OrderExecution(vspec(quantity="0.05"), 0).step(0, books)
    assert [(f.venue, f.qty) for f in result.fills] == [
        ("binance", D("0.01")),  # 0.013 floored to the order's lot; 0.005 is below one lot
        ("kraken", D("0.04")),
    ]


def test_displayed_sizes_below_one_lot_are_a_liquidity_shortfall_not_the_limit() -> None:
    books = {"binance": vbook("binance", asks=(("100", "0.005"),)), "kraken": None}
    result = OrderExecution(vspec(quantity="0.05"), 0).step(0, books)
    assert (result.filled_qty, result.reason) == (D(0), "no_liquidity")


def test_the_ledger_is_kept_per_venue() -> None:
    books = {
        "binance": vbook("binance", asks=(("100", "0.5"),)),
        "kraken": vbook("kraken", asks=(("100", "0.5"),)),
    }
    ledger = LiquidityLedger()
    first = OrderExecution(vspec(quantity="0.6"), 0).step(0, books, ledger)
    second = OrderExecution(vspec(quantity="0.6"), 0).step(0, books, ledger)
    assert [(f.venue, f.qty) for f in first.fills] == [("binance", D("0.5")), ("kraken", D("0.1"))]
    assert [(f.venue, f.qty) for f in second.fills] == [("kraken", D("0.4"))]
    assert second.reason == "no_liquidity"
    # a single-venue order on kraken sees what both took of kraken's book
    solo = replace(vspec(quantity="0.1", venues=("kraken",)), venues=None)
    assert OrderExecution(solo, 0).step(0, books["kraken"], ledger).reason == "no_liquidity"
    # a new kraken book version is fresh liquidity; binance's stays consumed
    books["kraken"] = replace(books["kraken"], version=2)
    third = OrderExecution(vspec(quantity="0.6"), 0).step(0, books, ledger)
    assert [(f.venue, f.qty) for f in third.fills] == [("kraken", D("0.5"))]


def test_limit_price_applies_across_venues() -> None:
    books = {
        "binance": vbook("binance", asks=(("101", "1"),)),
        "kraken": vbook("kraken", asks=(("100", "0.2"),)),
    }
    result = OrderExecution(vspec(quantity="1", limit="100.5"), 0).step(0, books)
    assert [(f.venue, f.qty) for f in result.fills] == [("kraken", D("0.2"))]
    assert result.reason == "limit_price"


# --- staleness per venue ------------------------------------------------------------------------
def test_a_stale_venue_is_left_out_with_its_reason() -> None:
    now = 10 * S
    books = {
        "binance": vbook("binance", asks=(("101", "1"),), ts=now),
        "kraken": vbook("kraken", asks=(("100", "1"),), ts=now - 6 * S),  # max_book_age_s is 5
    }
    execution = OrderExecution(vspec(quantity="0.5"), now)
    result = execution.step(now, books)
    assert [(f.venue, f.price) for f in result.fills] == [("binance", D("101"))]
    assert result.venues_left_out == (("kraken", "stale_book"),)
    assert result.reason is None and result.status.value == "filled"


def test_a_venue_without_a_book_is_left_out_as_no_book() -> None:
    result = OrderExecution(vspec(quantity="0.5"), 0).step(
        0, {"kraken": vbook("kraken", asks=(("100", "1"),))}
    )
    assert result.venues_left_out == (("binance", "no_book"),)
    assert [f.venue for f in result.fills] == ["kraken"]


def test_every_venue_stale_skips_the_slice_as_today() -> None:
    now = 20 * S
    books = {
        "binance": vbook("binance", asks=(("101", "1"),), ts=0),
        "kraken": None,
    }
    result = OrderExecution(vspec(quantity="0.5"), now).step(now, books)
    assert result.status.value == "skipped"
    assert result.reason == "stale_book"
    assert result.venues_left_out == (("binance", "stale_book"), ("kraken", "no_book"))


def test_a_book_of_another_venue_or_symbol_is_refused() -> None:
    execution = OrderExecution(vspec(), 0)
    with pytest.raises(Exception, match="coinbase"):
        execution.step(0, {"coinbase": vbook("coinbase", asks=(("1", "1"),))})
    wrong = replace(vbook("kraken", asks=(("1", "1"),)), symbol="BTC-USD")
    with pytest.raises(Exception, match="BTC-USD"):
        execution.step(0, {"kraken": wrong})


# --- state ------------------------------------------------------------------------------------------
def test_state_round_trip_keeps_venues_fills_and_left_out_venues() -> None:
    spec = vspec(quantity="1", slices=2)
    books = {
        "binance": vbook("binance", asks=(("101", "0.2"),)),
        "kraken": vbook("kraken", asks=(("100", "0.1"),), ts=-10 * S),
    }
    execution = OrderExecution(spec, 0)
    execution.step(0, books)
    state = execution.to_state()
    assert state["spec"]["venues"] == ["binance", "kraken"]
    assert state["results"][0]["venues_left_out"] == [["kraken", "stale_book"]]
    assert state["results"][0]["fills"][0][4] == "binance"
    restored = OrderExecution.from_state(state)
    assert restored.to_state() == state
    assert restored.spec.venues == VENUES
    assert restored.results == execution.results
    later = {
        "binance": vbook("binance", asks=(("101", "2"),), ts=10 * S, version=2),
        "kraken": None,
    }
    assert restored.step(10 * S, later) == execution.step(10 * S, later)


def test_single_exchange_states_are_unchanged() -> None:
    spec = replace(vspec(venues=("binance",)), venues=None)
    execution = OrderExecution(spec, 0)
    execution.step(0, vbook("binance", asks=(("101", "1"),)))
    state = execution.to_state()
    assert "venues" not in state["spec"]
    assert "venues_left_out" not in state["results"][0]
    assert all(len(f) == 4 for f in state["results"][0]["fills"])
    assert execution.fills[0].venue is None


# --- spec rules -------------------------------------------------------------------------------------
def test_spec_validation_names_the_offending_venue() -> None:
    with pytest.raises(InvalidOrder, match="'kraken' is listed twice") as dup:
        vspec(venues=("binance", "kraken", "kraken"))
    assert dup.value.reason == "duplicate_venue"
    with pytest.raises(InvalidOrder, match="exchange 'coinbase' conflicts"):
        replace(vspec(), exchange="coinbase")
    with pytest.raises(InvalidOrder, match="venues is empty"):
        replace(vspec(), venues=())
    with pytest.raises(InvalidOrder, match="list of venue names"):
        replace(vspec(), venues="binance")
    one = vspec(venues=("binance",))
    assert one.venues is None and one.venue_names == ("binance",)
    assert vspec(venues=["binance", "kraken"]).venues == VENUES  # type: ignore[arg-type]
    assert OrderSpec.from_dict(vspec().to_dict()) == vspec()


def test_common_lot_is_the_coarsest_that_all_divide() -> None:
    assert common_lot({"binance": D("0.00001"), "kraken": D("0.00000001")}) == D("0.00001")
    assert common_lot({"binance": D("0.001"), "kraken": None}) == D("0.001")
    assert common_lot({"binance": None}) is None
    with pytest.raises(InvalidOrder, match=r"0\.002 of binance does not divide lot size 0\.003"):
        common_lot({"binance": D("0.002"), "kraken": D("0.003")})


# --- property ---------------------------------------------------------------------------------------
def _venue_levels(draw: st.DrawFn, best: int, step: int) -> tuple[tuple[str, str], ...]:
    sizes = draw(st.lists(st.decimals("0.001", "1", places=3), max_size=3))
    return tuple((str(best + step * i), str(size)) for i, size in enumerate(sizes))


@st.composite
def venue_books(draw: st.DrawFn) -> dict[str, BookSnapshot | None]:
    out: dict[str, BookSnapshot | None] = {}
    for venue in ("binance", "kraken", "coinbase"):
        if draw(st.integers(0, 4)) == 0:
            out[venue] = None
            continue
        out[venue] = vbook(
            venue,
            asks=_venue_levels(draw, draw(st.integers(100, 103)), 1),
            bids=_venue_levels(draw, draw(st.integers(97, 100)), -1),
            ts=draw(st.sampled_from([0, -10 * S])),
            version=draw(st.integers(1, 2)),
        )
    return out


@settings(max_examples=80, deadline=None)
@given(
    books=venue_books(),
    side=st.sampled_from(Side),
    lots=st.integers(1, 300),
    limit=st.integers(97, 104),
    orders=st.integers(1, 3),
    model=st.sampled_from(["walk_book", "top_of_book"]),
)
def test_cross_venue_fills_never_exceed_limit_size_or_display(
    books: dict[str, BookSnapshot | None],
    side: Side,
    lots: int,
    limit: int,
    orders: int,
    model: str,
) -> None:
    venues = ("binance", "kraken", "coinbase")
    ledger = LiquidityLedger()
    taken: dict[tuple[str, Decimal], Decimal] = {}
    for _ in range(orders):
        spec = vspec(side, str(LOT * lots), str(limit), venues=venues, fill_model=model)
        result = OrderExecution(spec, 0).step(0, books, ledger, MarketActivity())
        assert result.filled_qty <= spec.quantity
        prices = [f.price for f in result.fills]
        assert prices == sorted(prices, reverse=side is Side.SELL)  # best first across venues
        left_out = dict(result.venues_left_out)
        for fill in result.fills:
            assert fill.venue not in left_out
            assert fill.qty > 0 and fill.qty % LOT == 0
            assert fill.price <= limit if side is Side.BUY else fill.price >= limit
            key = (fill.venue or "", fill.price)
            taken[key] = taken.get(key, D(0)) + fill.qty
        for venue in venues:
            if books[venue] is None:
                assert left_out[venue] == "no_book"
            elif books[venue].ts_recv < 0:  # type: ignore[union-attr]
                assert left_out[venue] == "stale_book"
    for (venue, price), qty in taken.items():  # per venue, across orders: never beyond display
        venue_book = books[venue]
        assert venue_book is not None
        traded_side = venue_book.asks if side is Side.BUY else venue_book.bids
        shown = {lvl.price: lvl.qty for lvl in traded_side}
        assert qty <= shown[price]


# --- simulate -------------------------------------------------------------------------------------------
def _two_venue_recording(path: Path, seconds: int = 30) -> None:
    """binance asks 101 (0.3 per second) and kraken asks 100.5 (0.2); kraken goes quiet at 15 s."""
    with RecordingWriter(path) as writer:
        for venue, lot in (("binance", "0.00001"), ("kraken", "0.00000001")):
            writer.write_record(
                {"type": "instrument", "exchange": venue, "symbol": "BTC-USDT", "lot_size": lot}
            )
        for i in range(seconds):
            writer.write(vbook("binance", asks=(("101", "0.3"),), bids=(("99", "1"),), ts=i * S,
                               version=i + 1))  # fmt: skip
            if i <= 15:
                writer.write(vbook("kraken", asks=(("100.5", "0.2"),), bids=(("99.5", "1"),),
                                   ts=i * S + 1, version=i + 1))  # fmt: skip
            writer.write(Trade("kraken", "BTC-USDT", Side.BUY, D("100.5"), D("0.1"), i * S, i * S))


def test_simulate_runs_a_cross_venue_order_over_two_recorded_venues(tmp_path: Path) -> None:
    _two_venue_recording(tmp_path / "two.jsonl")
    spec = replace(vspec(quantity="5", slices=20), lot_size=None, duration_s=D(25))
    report = simulate(tmp_path / "two.jsonl", [spec]).reports[0]
    assert report.exchange == "binance"
    result = simulate(tmp_path / "two.jsonl", [spec])
    assert result.reports[0].to_dict() == report.to_dict()  # deterministic
    execution_fills = [(f.slice_index, f.price, f.qty) for f in report.fills]
    assert execution_fills  # it traded
    by_price = {f.price for f in report.fills}
    assert by_price == {D("100.5"), D("101")}  # kraken first, then binance
    # kraken's book stops at 15 s: from 21 s on it is stale and left out (max_book_age_s 5)
    late = [s for s in report.slices if s.due_ns >= 21 * S]
    assert late and all(s.average_price in (None, D("101")) for s in late)
    assert report.arrival_mid == (D("99.5") + D("100.5")) / 2  # the consolidated mid
    assert report.market_volume > 0  # kraken's trades count for the consolidated market
    rows = {row.venue: row for row in report.venues}  # the report's per-venue breakdown
    assert set(rows) == {"binance", "kraken"}
    assert sum((row.filled_qty for row in rows.values()), D(0)) == report.filled_qty
    assert (rows["kraken"].average_price, rows["binance"].average_price) == (D("100.5"), D("101"))
    kraken_qty = sum((f.qty for f in report.fills if f.venue == "kraken"), D(0))
    assert rows["kraken"].filled_qty == kraken_qty


def test_simulate_names_a_venue_missing_from_the_recording(tmp_path: Path) -> None:
    _two_venue_recording(tmp_path / "two.jsonl")
    spec = vspec(venues=("binance", "coinbase"))
    with pytest.raises(UnknownSymbol, match="no book for coinbase BTC-USDT"):
        simulate(tmp_path / "two.jsonl", [spec])


def test_simulate_refuses_incompatible_lots(tmp_path: Path) -> None:
    path = tmp_path / "lots.jsonl"
    with RecordingWriter(path) as writer:
        for venue, lot in (("binance", "0.002"), ("kraken", "0.003")):
            writer.write_record(
                {"type": "instrument", "exchange": venue, "symbol": "BTC-USDT", "lot_size": lot}
            )
            writer.write(vbook(venue, asks=(("100", "1"),)))
    with pytest.raises(InvalidOrder, match="does not divide"):
        simulate(path, [replace(vspec(quantity="0.012"), lot_size=None)])


@pytest.mark.parametrize(
    ("algorithm", "params"),
    [
        ("twap_random", {"seed": 3, "jitter": D("0.3")}),
        ("vwap", {"profile": "trades"}),
        ("pov", {"participation": D("0.5")}),
    ],
)
def test_every_algorithm_runs_cross_venue_offline(
    tmp_path: Path, algorithm: str, params: dict[str, object]
) -> None:
    _two_venue_recording(tmp_path / "two.jsonl")
    spec = replace(
        vspec(quantity="2", slices=10), lot_size=None, duration_s=D(25), algorithm=algorithm,
        **params,
    )  # fmt: skip
    report = simulate(tmp_path / "two.jsonl", [spec]).reports[0]
    assert report.algorithm == algorithm
    assert {f.venue for f in report.fills} <= {"binance", "kraken"}
    assert report.fills and report.filled_qty <= D(2)
    assert {f.price for f in report.fills if f.venue == "kraken"} <= {D("100.5")}
    if algorithm == "pov":  # both venues' trades count: kraken's 0.1 per second
        assert report.filled_qty <= D("0.5") * report.market_volume


def test_the_chart_market_of_a_cross_venue_order_is_the_consolidated_one(tmp_path: Path) -> None:
    from twapcore.plot import market_series

    path = tmp_path / "two.jsonl"
    with RecordingWriter(path) as writer:
        writer.write(vbook("binance", asks=(("101", "1"),), bids=(("99", "1"),), ts=1 * S))
        writer.write(vbook("kraken", asks=(("100.6", "1"),), bids=(("99.8", "1"),), ts=2 * S))
        writer.write(Trade("kraken", "BTC-USDT", Side.BUY, D("100.6"), D("0.1"), 3 * S, 3 * S))

    both = market_series(path, VENUES, "BTC-USDT", 0, 4 * S)
    alone = market_series(path, "binance", "BTC-USDT", 0, 4 * S)

    assert alone.mids == [(1 * S, D(100))] and not alone.trades
    # best bid 99.8 (kraken) and best ask 100.6 (kraken) once kraken's book is there
    assert both.mids == [(1 * S, D(100)), (2 * S, D("100.2"))]
    assert both.trades == [(3 * S, D("100.6"), D("0.1"))]
