from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twapcore import (
    INTERVALS,
    CandleBuilder,
    CandleSeries,
    Side,
    Trade,
    UnknownInterval,
    candles_from_trades,
    interval_ns,
)

M = 60 * 1_000_000_000


def _trade(ts_event: int, price: str, qty: str, ts_recv: int | None = None) -> Trade:
    recv = ts_event if ts_recv is None else ts_recv
    return Trade("binance", "BTC-USDT", Side.BUY, Decimal(price), Decimal(qty), ts_event, recv)


def test_ohlcv_per_minute_by_exchange_time() -> None:
    trades = [
        _trade(5, "10", "1"),
        _trade(20, "12", "2"),
        _trade(40, "9", "1"),
        _trade(M + 1, "11", "3"),
    ]

    candles = candles_from_trades(trades, "1m")

    first, second = candles
    assert (first.open, first.high, first.low, first.close) == (10, 12, 9, 9)
    assert (first.volume, first.trades, first.open_ns) == (4, 3, 0)
    assert (second.open_ns, second.close, second.volume) == (M, 11, 3)


def test_a_late_trade_lands_in_the_candle_of_its_exchange_time() -> None:
    trades = [_trade(10, "10", "1"), _trade(M + 5, "11", "1"), _trade(30, "8", "1", ts_recv=M + 9)]

    first = candles_from_trades(trades, "1m")[0]

    assert (first.low, first.volume) == (8, 2)


def test_unknown_interval_lists_the_allowed_ones() -> None:
    with pytest.raises(UnknownInterval, match="interval '2m' is not one of: 1m, 3m, 5m, 15m"):
        interval_ns("2m")


def test_builder_closes_a_candle_when_the_next_bucket_starts() -> None:
    builder = CandleBuilder("binance", "BTC-USDT", "1m")
    assert builder.add(_trade(10, "10", "1")) == []

    closed = builder.add(_trade(M + 1, "11", "1"))

    assert [(c.open_ns, c.close) for c in closed] == [(0, 10)]


def test_builder_amends_a_closed_candle_with_a_late_trade() -> None:
    builder = CandleBuilder("binance", "BTC-USDT", "1m")
    builder.add(_trade(10, "10", "1"))
    builder.add(_trade(M + 1, "11", "1"))

    amended = builder.add(_trade(30, "8", "2"))

    assert [(c.open_ns, c.low, c.volume, c.trades) for c in amended] == [(0, 8, 3, 2)]


def test_builder_drops_trades_older_than_its_retention() -> None:
    builder = CandleBuilder("binance", "BTC-USDT", "1m", retain=1)
    builder.add(_trade(5 * M, "10", "1"))

    assert builder.add(_trade(10, "10", "1")) == []
    assert builder.dropped_late == 1


_trades = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3 * 3600),  # seconds since start, exchange time
        st.integers(min_value=0, max_value=50),  # seconds the trade arrives late
        st.integers(min_value=90, max_value=110),
        st.integers(min_value=1, max_value=9),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(rows=_trades)
def test_rolled_up_series_equals_candles_computed_from_all_trades(
    rows: list[tuple[int, int, int, int]],
) -> None:
    S = 1_000_000_000
    trades = [
        Trade("binance", "BTC-USDT", Side.BUY, Decimal(p), Decimal(q), t * S, (t + late) * S)
        for t, late, p, q in rows
    ]
    arrivals = sorted(trades, key=lambda t: t.ts_recv)
    series = CandleSeries("binance", "BTC-USDT")
    stored: dict[tuple[str, int], object] = {}

    for trade in arrivals:
        for candle in series.add(trade):
            stored[(candle.interval, candle.open_ns)] = candle
    for interval in INTERVALS:
        current = series.current(interval)
        assert current is not None
        stored[(interval, current.open_ns)] = current

    for interval in INTERVALS:
        expected = candles_from_trades(arrivals, interval)
        got = sorted((c for (i, _), c in stored.items() if i == interval), key=lambda c: c.open_ns)  # type: ignore[attr-defined]
        assert got == expected, interval
