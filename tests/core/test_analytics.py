"""Hand-computed analytics: implementation shortfall split, participation, markouts, venues.

Every expectation below is worked out by hand in the comments from the books
and trades of the test, with exact decimals.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from tests.core.builders import S, book, spec
from twapcore import MarketCounters, OrderExecution, RecordingWriter, Side, simulate
from twapcore.analytics import NO_LIMIT_PRICE, MidTape, build_report, with_markouts

D = Decimal


def _buy_two_slices() -> OrderExecution:
    """Buy 1 in two slices of 0.5 (lot 0.001, limit 1000).

    t=0:  asks 101 x 0.3, 102 x 2, bid 99 (mid 100) -> 0.3 @ 101 + 0.2 @ 102
    t=30: ask 105 x 0.2 only, bid 103 (mid 104)      -> 0.2 @ 105; 0.3 left unfilled
    """
    execution = OrderExecution(spec(quantity="1", slices=2, duration=60), 0)
    execution.step(0, book(bids=(("99", "1"),), asks=(("101", "0.3"), ("102", "2"))))
    execution.step(30 * S, book(bids=(("103", "1"),), asks=(("105", "0.2"),), ts=30 * S, version=2))
    assert execution.filled_qty == D("0.7")
    return execution


def _market_with_volume(volume: str) -> MarketCounters:
    counters = MarketCounters()
    counters.on_trade(D(100), D(volume))
    return counters


def test_shortfall_splits_into_execution_timing_and_opportunity_cost_for_a_buy() -> None:
    # arrival mid M0 = 100, final mid M1 = 106, s = +1
    report = build_report(_buy_two_slices(), D(100), D(106), _market_with_volume("7").totals(0))

    # execution: (101-100)*0.3 + (102-100)*0.2 + (105-104)*0.2 = 0.3 + 0.4 + 0.2
    assert report.execution_cost == D("0.9")
    # timing: (100-100)*0.5 + (104-100)*0.2
    assert report.timing_cost == D("0.8")
    # opportunity: (106-100)*0.3 unfilled
    assert report.opportunity_cost == D("1.8")
    # total: 30.3 + 20.4 + 21 - 100*0.7 + 1.8
    assert report.implementation_shortfall == D("3.5")
    assert (
        report.execution_cost + report.timing_cost + report.opportunity_cost
        == report.implementation_shortfall
    )
    # bps of the arrival value 100 * 1
    assert (report.execution_cost_bps, report.timing_cost_bps) == (D(90), D(80))
    assert (report.opportunity_cost_bps, report.implementation_shortfall_bps) == (D(180), D(350))
    # participation: 0.7 of a market volume of 7
    assert report.participation_rate == D("0.1")
    assert report.participation_pct == D(10)
    # arrival slippage: (71.7 / 0.7 - 100) / 100 in bps = 242.857142857...
    assert report.slippage_bps == D("242.857143")


def test_sell_parts_sum_exactly_in_quote_and_in_rounded_bps() -> None:
    # Sell 1 in one slice, limit 90: bids 99 x 0.4, 98 x 0.2, ask 101 (mid 100) -> 0.6 filled
    execution = OrderExecution(spec(side=Side.SELL, quantity="1", slices=1, limit="90"), 0)
    execution.step(0, book(bids=(("99", "0.4"), ("98", "0.2")), asks=(("101", "1"),)))
    # arrival mid 101, final mid 97, s = -1
    report = build_report(execution, D(101), D(97), MarketCounters().totals(0))

    assert report.execution_cost == D("0.8")  # -(99-100)*0.4 - (98-100)*0.2
    assert report.timing_cost == D("0.6")  # -(100-101)*0.6
    assert report.opportunity_cost == D("1.6")  # -(97-101)*0.4
    assert report.implementation_shortfall == D("3.0")
    # bps of 101: 3/101 -> 297.029703, 0.8/101 -> 79.207921, 1.6/101 -> 158.415842;
    # timing takes the rounding rest: 59.405940 (0.6/101 is 59.4059405...)
    assert report.implementation_shortfall_bps == D("297.029703")
    assert report.execution_cost_bps == D("79.207921")
    assert report.opportunity_cost_bps == D("158.415842")
    assert report.timing_cost_bps == D("59.405940")
    assert report.participation_rate is None and report.participation_pct is None


def test_no_arrival_mid_leaves_the_shortfall_and_its_parts_unknown() -> None:
    report = build_report(_buy_two_slices(), None, D(106), MarketCounters().totals(0))

    parts = (report.implementation_shortfall, report.execution_cost, report.timing_cost)
    assert parts == (None, None, None)
    assert report.opportunity_cost is None


def _tape(*samples: tuple[int, str]) -> MidTape:
    tape = MidTape()
    for seconds, mid in samples:
        tape.record(seconds * S, D(mid))
    return tape


# mids: 100 from 0 s, 104 from 30 s, 100 from 31 s, 125 from 40 s, 101 from 60 s, 80 from 90 s
_MIDS = ((0, "100"), (30, "104"), (31, "100"), (40, "125"), (60, "101"), (90, "80"))


def test_markouts_compare_each_fill_with_the_mid_after_it() -> None:
    report = build_report(_buy_two_slices(), D(100), D(106), MarketCounters().totals(0))
    assert report.markout_1s_bps is None and report.markouts_note is not None  # not given mids

    marked = with_markouts(report, _tape(*_MIDS), known_until_ns=95 * S)

    rows = [(f.markout_1s_bps, f.markout_10s_bps, f.markout_60s_bps) for f in marked.fills]
    assert rows == [
        (D(100), D(100), D(0)),  # 101 @ 0 s vs 100 (1 s), 100 (10 s), 101 (60 s)
        (D(200), D(200), D("99.009901")),  # 102 @ 0 s; (102-101)/101 = 99.00990099...
        (D(500), D(-1600), D(3125)),  # 105 @ 30 s vs 100 (31 s), 125 (40 s), 80 (90 s)
    ]
    # qty-weighted: (0.3*100 + 0.2*200 + 0.2*500) / 0.7 = 170 / 0.7
    assert marked.markout_1s_bps == D("242.857143")
    # (30 + 40 - 320) / 0.7 = -357.142857...
    assert marked.markout_10s_bps == D("-357.142857")
    # (0 + 0.2*99.009901 + 0.2*3125) / 0.7 = 644.8019802 / 0.7 = 921.14568600
    assert marked.markout_60s_bps == D("921.145686")
    assert marked.markouts_note is None
    assert marked.implementation_shortfall == report.implementation_shortfall


def test_markouts_past_the_known_mids_are_missing_and_counted_in_the_note() -> None:
    report = build_report(_buy_two_slices(), D(100), D(106), MarketCounters().totals(0))

    marked = with_markouts(report, _tape(*_MIDS), known_until_ns=80 * S)

    assert marked.fills[2].markout_60s_bps is None  # 30 s + 60 s is past 80 s
    # (0.3*0 + 0.2*99.009901) / 0.5 = 39.6039604
    assert marked.markout_60s_bps == D("39.603960")
    assert marked.markouts_note is not None and marked.markouts_note.startswith("1 of 9 ")


def test_sell_markout_is_a_cost_when_the_mid_falls_after_the_fill() -> None:
    # a sell at 99 followed by a mid of 90: s*(p - m)/m = -(99-90)/90 < 0, a gain
    execution = OrderExecution(spec(side=Side.SELL, quantity="0.4", slices=1, limit="90"), 0)
    execution.step(0, book(bids=(("99", "0.4"),)))
    report = build_report(execution, D(100), D(100), MarketCounters().totals(0))

    marked = with_markouts(report, _tape((0, "100"), (1, "90"), (10, "110")), 60 * S)

    assert marked.fills[0].markout_1s_bps == D(-1000)  # -(99-90)/90: sold above the later mid
    assert marked.fills[0].markout_10s_bps == D(1000)  # -(99-110)/110: sold below it, a cost


def test_venue_rows_break_fills_down_and_default_to_the_order_exchange() -> None:
    report = build_report(_buy_two_slices(), D(100), D(106), MarketCounters().totals(0))

    (row,) = report.venues
    assert (row.venue, row.fills_count, row.filled_qty) == ("binance", 3, D("0.7"))
    assert row.average_price == D("71.7") / D("0.7")
    # (71.7 - (100*0.5 + 104*0.2)) / 70.8 = 0.9 / 70.8 = 127.1186440...
    assert row.slippage_bps == D("127.118644")
    assert row.share == D(1)


def test_units_name_every_new_figure_and_no_limit_is_recognised() -> None:
    report = build_report(_buy_two_slices(), D(100), D(106), MarketCounters().totals(0))
    units = report.to_dict()["units"]

    assert units["timing_cost"] == "USDT (+ = cost)"
    assert units["markout_60s_bps"] == "bps (+ = cost)"
    assert units["participation_pct"] == "% of market volume"
    assert units["average_price"] == "USDT per BTC" and units["filled_qty"] == "BTC"
    perp = replace(report, symbol="SUSHI-USDT-PERP").units  # derivatives trade in contracts
    assert (perp["filled_qty"], perp["fills.qty"], perp["execution_cost"]) == (
        "contracts",
        "contracts",
        "USDT (+ = cost)",
    )
    assert report.has_limit  # 1000
    no_limit = build_report(
        OrderExecution(spec(limit=str(NO_LIMIT_PRICE[Side.BUY])), 0),
        None,
        None,
        MarketCounters().totals(0),
    )
    assert not no_limit.has_limit


def test_simulate_tapes_the_mids_after_the_order_for_its_markouts(tmp_path: Path) -> None:
    # books every 2 s for 80 s from T0: bid 99+i, ask 101+i (mid 100+i)
    t0 = 1_700_000_000 * S
    path = tmp_path / "m.jsonl"
    with RecordingWriter(path) as writer:
        for i in range(0, 80, 2):
            writer.write(
                book(
                    bids=((str(99 + i), "5"),),
                    asks=((str(101 + i), "5"),),
                    ts=t0 + i * S,
                    version=i + 1,
                )
            )
    # two slices of 0.1 at 0 s and 10 s: 0.1 @ 101 and 0.1 @ 111; the order ends at 20 s
    report = simulate(path, [spec(quantity="0.2", duration=20, slices=2)]).reports[0]

    rows = [(f.price, f.markout_1s_bps, f.markout_10s_bps, f.markout_60s_bps) for f in report.fills]
    assert rows == [
        # vs the mid shown at the start (100, at 1 s), 110 (10 s), 160 (60 s): 1/100, -9/110, -59/160
        (D(101), D(100), D("-818.181818"), D("-3687.5")),
        # vs 110 (11 s), 120 (20 s), 170 (70 s, after the order ended): 1/110, -9/120, -59/170
        (D(111), D("90.909091"), D(-750), D("-3470.588235")),
    ]
    assert report.markout_1s_bps == D("95.454546")  # (100 + 90.909091) / 2, half-even
    assert report.markout_10s_bps == D("-784.090909")  # (-818.181818 - 750) / 2
    assert report.markouts_note is None


def test_venue_rows_of_a_cross_venue_order_split_quantity_price_and_cost() -> None:
    from twapcore.analytics import FillRow, _venue_rows

    fills = [
        FillRow(0, 0, D(101), D("0.3"), D(100), None, venue="binance"),
        FillRow(0, 0, D(102), D("0.1"), D(100), None, venue="kraken"),
        FillRow(1, S, D(103), D("0.1"), D(102), None, venue="binance"),
    ]

    binance, kraken = _venue_rows(fills, D(1))

    # binance: 0.4 at (30.3 + 10.3) / 0.4 = 101.5, against mids worth 30 + 10.2 = 40.2:
    # (40.6 - 40.2) / 40.2 = 99.50248756... bps; 0.4 of the 0.5 filled
    assert (binance.venue, binance.fills_count, binance.filled_qty) == ("binance", 2, D("0.4"))
    assert (binance.average_price, binance.slippage_bps, binance.share) == (
        D("101.5"),
        D("99.502488"),
        D("0.8"),
    )
    # kraken: 0.1 at 102 against a mid of 100: 200 bps; 0.2 of the fill
    assert (kraken.average_price, kraken.slippage_bps, kraken.share) == (D(102), D(200), D("0.2"))
