"""Candles say when trades of them may be missing (`Candle.partial`): a gap, a partial seed,
or a rolled-up bucket handed out before it ended."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from twapcore import INTERVALS, Candle, CandleSeries, Side, Trade

S = 1_000_000_000
M = 60 * S
T0 = 1_795_824_000 * S  # a day (and so 5m) boundary


def _trade(ts: int, price: str = "100", qty: str = "1") -> Trade:
    return Trade("binance", "BTC-USDT", Side.BUY, Decimal(price), Decimal(qty), ts, ts)


def _by_key(candles: list[Candle]) -> dict[tuple[str, int], Candle]:
    return {(c.interval, c.open_ns - T0): c for c in candles}


def test_a_gap_makes_the_candles_holding_it_partial_and_no_others() -> None:
    series = CandleSeries("binance", "BTC-USDT")
    series.gap(T0 + 30 * S)

    first = _by_key(series.add(_trade(T0 + 40 * S)) + series.add(_trade(T0 + M + 10 * S)))
    second = _by_key(series.add(_trade(T0 + 6 * M)))

    assert first[("1m", 0)].partial  # trades before 30 s were not seen
    assert not second[("1m", M)].partial
    assert second[("5m", 0)].partial  # its bucket holds the gap
    current = series.current("5m")
    assert current is not None and (current.open_ns, current.partial) == (T0 + 5 * M, False)


def test_a_rolled_up_candle_is_partial_until_its_bucket_ends() -> None:
    series = CandleSeries("binance", "BTC-USDT")
    series.add(_trade(T0 + 10 * S))

    while_open = _by_key(series.add(_trade(T0 + M + 10 * S)))
    after_end = _by_key(series.add(_trade(T0 + 5 * M + 10 * S)))

    assert while_open[("5m", 0)].partial  # a crash now leaves it stored without minute 1
    assert (after_end[("5m", 0)].partial, after_end[("5m", 0)].volume) == (False, Decimal(2))
    assert not while_open[("1m", 0)].partial and not after_end[("1m", M)].partial


def test_a_seeded_partial_minute_stays_partial_when_continued() -> None:
    stored = Candle("binance", "BTC-USDT", "1m", T0, *[Decimal(100)] * 4, Decimal(1), 1, True)
    series = CandleSeries("binance", "BTC-USDT")
    series.seed([stored])

    series.add(_trade(T0 + 50 * S, "101"))
    closed = _by_key(series.add(_trade(T0 + M + S)))

    assert (closed[("1m", 0)].partial, closed[("1m", 0)].volume) == (True, Decimal(2))
    assert closed[("5m", 0)].partial


def test_a_seeded_minute_no_trade_changed_is_not_handed_out_again() -> None:
    # A backfill may have replaced the stored minute meanwhile: emitting it would undo that.
    stored = Candle("binance", "BTC-USDT", "1m", T0, *[Decimal(100)] * 4, Decimal(1), 1, True)
    series = CandleSeries("binance", "BTC-USDT")
    series.seed([stored])

    closed = series.add(_trade(T0 + 10 * M))

    assert [c for c in closed if c.interval == "1m"] == []


@given(
    gap_s=st.integers(0, 599),
    seconds=st.lists(st.integers(0, 599), min_size=1, max_size=30, unique=True),
)
def test_a_minute_is_partial_exactly_when_it_holds_the_gap(gap_s: int, seconds: list[int]) -> None:
    series = CandleSeries("binance", "BTC-USDT")
    series.gap(T0 + gap_s * S)
    minutes: dict[int, Candle] = {}

    for second in sorted(seconds):
        minutes |= {c.open_ns: c for c in series.add(_trade(T0 + second * S)) if c.interval == "1m"}
    current = series.current("1m")
    assert current is not None
    minutes[current.open_ns] = current

    gap_minute = T0 + gap_s * S - (gap_s * S) % M
    assert {t for t, c in minutes.items() if c.partial} == {gap_minute} & set(minutes)


def test_a_stop_stores_the_open_candles_partial_but_not_an_untouched_seed() -> None:
    whole = Candle("binance", "BTC-USDT", "1m", T0, *[Decimal(100)] * 4, Decimal(1), 1)
    seeded = CandleSeries("binance", "BTC-USDT")
    seeded.seed([whole])
    traded = CandleSeries("binance", "BTC-USDT")
    traded.add(_trade(T0 + 10 * S))

    assert seeded.unfinished() == []  # stored as it was; a backfill may have replaced it
    unfinished = _by_key(traded.unfinished())
    assert set(unfinished) == {(interval, 0) for interval in INTERVALS}
    assert all(c.partial and c.volume == 1 for c in unfinished.values())
