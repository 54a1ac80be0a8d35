"""cryptofeed's normalized books and trades as twapcore models."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cryptofeed.types import OrderBook, Trade
from hypothesis import given
from hypothesis import strategies as st

from twapcore.errors import RecordingError
from twapcore.feeds import (
    BookTops,
    book_from_cryptofeed,
    book_from_cryptofeed_ns,
    seconds_to_ns,
    trade_from_cryptofeed,
)
from twapcore.models import Level, Side

D = Decimal
RECEIVED = 1633998512.5


def _book(
    exchange: str = "BINANCE",
    symbol: str = "BTC-USDT",
    levels: int = 30,
    timestamp: float | None = 1633998512.068,
    sequence_number: int | None = 42,
) -> OrderBook:
    book = OrderBook(
        exchange,
        symbol,
        bids={D(100) - i: D(i + 1) for i in range(levels)},
        asks={D(101) + i: D(i + 1) for i in range(levels)},
    )
    book.timestamp = timestamp
    book.sequence_number = sequence_number
    return book


def test_book_keeps_the_top_depth_levels_best_first() -> None:
    snapshot = book_from_cryptofeed(_book(), RECEIVED, depth=3)

    assert snapshot.bids == (Level(D(100), D(1)), Level(D(99), D(2)), Level(D(98), D(3)))
    assert snapshot.asks == (Level(D(101), D(1)), Level(D(102), D(2)), Level(D(103), D(3)))


def test_book_shallower_than_depth_keeps_every_level() -> None:
    snapshot = book_from_cryptofeed(_book(levels=2), RECEIVED, depth=20)

    assert (len(snapshot.bids), len(snapshot.asks)) == (2, 2)


def test_book_event_time_converts_float_seconds_without_drift() -> None:
    snapshot = book_from_cryptofeed(_book(timestamp=1633998512.068), RECEIVED, depth=1)

    assert snapshot.ts_event == 1_633_998_512_068_000_000


def test_book_without_a_venue_time_uses_the_receive_time() -> None:
    snapshot = book_from_cryptofeed(_book(timestamp=None), RECEIVED, depth=1)

    assert snapshot.ts_event == snapshot.ts_recv == 1_633_998_512_500_000_000


def test_book_receive_time_in_ns_is_kept_exactly() -> None:
    snapshot = book_from_cryptofeed_ns(_book(), 1_723_161_254_206_652_067, depth=1)

    assert snapshot.ts_recv == 1_723_161_254_206_652_067


def test_book_sequence_number_becomes_seq() -> None:
    assert book_from_cryptofeed(_book(sequence_number=7), RECEIVED, depth=1).seq == 7
    assert book_from_cryptofeed(_book(sequence_number=None), RECEIVED, depth=1).seq is None


def test_book_names_the_exchange_in_lower_case() -> None:
    assert book_from_cryptofeed(_book(exchange="BINANCE"), RECEIVED, depth=1).exchange == "binance"


def test_book_names_kraken_xbt_as_btc() -> None:
    snapshot = book_from_cryptofeed(_book("KRAKEN", "XBT-USD"), RECEIVED, depth=1)

    assert (snapshot.exchange, snapshot.symbol) == ("kraken", "BTC-USD")


def test_book_carries_the_given_version() -> None:
    assert book_from_cryptofeed(_book(), RECEIVED, depth=1, version=9).version == 9


def test_trade_keeps_side_price_quantity_times_and_id() -> None:
    trade = Trade("BINANCE", "BTC-USDT", "sell", D("0.02"), D("61837.63"), 1723161255.342, id="7")

    converted = trade_from_cryptofeed(trade, RECEIVED)

    assert (converted.exchange, converted.symbol, converted.side) == (
        "binance",
        "BTC-USDT",
        Side.SELL,
    )
    assert (converted.price, converted.qty, converted.trade_id) == (D("61837.63"), D("0.02"), "7")
    assert (converted.ts_event, converted.ts_recv) == (
        1_723_161_255_342_000_000,
        1_633_998_512_500_000_000,
    )


def test_trade_without_an_id_has_none() -> None:
    trade = Trade("KRAKEN", "XBT-CHF", "buy", D("0.1"), D("56119.0"), 1618678132.971661, id=None)

    converted = trade_from_cryptofeed(trade, RECEIVED)

    assert (converted.symbol, converted.trade_id) == ("BTC-CHF", None)


@pytest.mark.parametrize(
    ("seconds", "ns"),
    [
        ("1633998512.0633569", 1_633_998_512_063_356_900),
        (D("1723161254.206652067"), 1_723_161_254_206_652_067),
        (1618678132.971661, 1_618_678_132_971_661_000),
        (0.1 + 0.2, 300_000_000),
    ],
)
def test_seconds_to_ns_keeps_the_digits_given(seconds: float | str | Decimal, ns: int) -> None:
    assert seconds_to_ns(seconds) == ns


@given(st.integers(min_value=1_000_000_000 * 10**6, max_value=4_000_000_000 * 10**6))
def test_seconds_to_ns_is_exact_for_any_microsecond_float(microseconds: int) -> None:
    assert seconds_to_ns(microseconds / 1e6) == microseconds * 1_000


@pytest.mark.parametrize("bad", ["soon", "nan", float("inf")])
def test_seconds_to_ns_rejects_what_is_not_a_finite_number(bad: float | str) -> None:
    with pytest.raises(RecordingError, match="timestamp"):
        seconds_to_ns(bad)


# --- top levels followed through cryptofeed's deltas ----------------------------

_updates = st.lists(
    st.tuples(
        st.sampled_from(["bid", "ask"]),
        st.lists(
            st.tuples(st.integers(0, 60), st.integers(0, 3)),  # (price tick, size; 0 deletes)
            min_size=1,
            max_size=6,
        ),
    ),
    max_size=40,
)


@given(updates=_updates, depth=st.integers(1, 5))
def test_followed_top_levels_match_a_full_sort_after_every_update(
    updates: list[tuple[str, list[tuple[int, int]]]], depth: int
) -> None:
    book = _book(levels=12)
    tops = BookTops(depth)
    book.delta = None
    tops.levels(book)
    for side_name, changes in updates:
        side = book.book.bids if side_name == "bid" else book.book.asks
        delta: dict[str, list[tuple[Decimal, Decimal]]] = {"bid": [], "ask": []}
        for tick, size in changes:
            price = (D(88) if side_name == "bid" else D(89)) + tick
            if size == 0:
                if price in side:
                    del side[price]
                    delta[side_name].append((price, D(0)))
            else:
                side[price] = D(size)
                delta[side_name].append((price, D(size)))
        book.delta = delta

        followed = book_from_cryptofeed_ns(book, 1, depth, tops=tops)

        book.delta = None
        assert (followed.bids, followed.asks) == (
            book_from_cryptofeed_ns(book, 1, depth).bids,
            book_from_cryptofeed_ns(book, 1, depth).asks,
        )
