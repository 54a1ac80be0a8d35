"""CandleSeries.seed: a series restarted from its stored minutes ends where one series would."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from twapcore import Candle, CandleSeries, Side, Trade, candles_from_trades

S = 1_000_000_000
T0 = 1_795_824_000 * S  # a day boundary


def _trades(offsets: list[tuple[int, int, int]]) -> list[Trade]:
    """Trades in time order at T0 + seconds, with small integer prices and sizes."""
    return [
        Trade("binance", "BTC-USDT", Side.BUY, Decimal(price), Decimal(qty), T0 + s * S, T0 + s * S)
        for s, price, qty in sorted(offsets)
    ]


@given(
    st.lists(
        # (second, price, size): 10 minutes of trades
        st.tuples(st.integers(0, 599), st.integers(90, 110), st.integers(1, 9)),
        min_size=2,
        max_size=40,
        unique_by=lambda t: t[0],
    ),
    st.integers(1, 39),
)
def test_a_seeded_series_continues_the_stored_minutes(
    offsets: list[tuple[int, int, int]], cut: int
) -> None:
    trades = _trades(offsets)
    cut = min(cut, len(trades) - 1)
    first = CandleSeries("binance", "BTC-USDT")
    stored: dict[int, Candle] = {}  # the 1m rows of the database, by open time
    for trade in trades[:cut]:
        stored |= {c.open_ns: c for c in first.add(trade) if c.interval == "1m"}
    open_minute = first.current("1m")
    assert open_minute is not None
    stored[open_minute.open_ns] = open_minute  # what a graceful stop stores

    restarted = CandleSeries("binance", "BTC-USDT")
    restarted.seed(stored.values())
    for trade in trades[cut:]:
        restarted.add(trade)

    for interval in ("1m", "5m", "15m", "1h"):
        expected = candles_from_trades(trades, interval)[-1]
        current = restarted.current(interval)
        assert current is not None
        assert (current.open_ns, current.volume, current.trades, current.high, current.low) == (
            expected.open_ns,
            expected.volume,
            expected.trades,
            expected.high,
            expected.low,
        )
        assert (current.open, current.close) == (expected.open, expected.close)
