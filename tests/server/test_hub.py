"""MarketHub: O(1) updates, snapshots on demand, staleness and integrity handling."""

from __future__ import annotations

from decimal import Decimal

from tests.core.builders import book
from twapcore import BookSnapshot, Side, Trade
from twapserver.hub import InstrumentInfo, MarketHub

S = 1_000_000_000


def _hub() -> MarketHub:
    hub = MarketHub(max_book_age_s=5)
    hub.register(InstrumentInfo("binance", "BTC-USDT"))
    return hub


def test_snapshot_is_built_once_per_change_and_only_when_read() -> None:
    hub, built = _hub(), []

    def provider() -> BookSnapshot:
        built.append(1)
        return book()

    for i in range(100):
        hub.on_book("binance", "BTC-USDT", provider, ts_recv=i)
    first, second = hub.book("binance", "BTC-USDT"), hub.book("binance", "BTC-USDT")

    assert len(built) == 1
    assert first is second
    assert first is not None and first.version == 100


def test_book_older_than_the_max_age_is_stale() -> None:
    hub = _hub()
    hub.on_book("binance", "BTC-USDT", book, ts_recv=10 * S)

    assert not hub.is_stale("binance", "BTC-USDT", now_ns=15 * S)
    assert hub.is_stale("binance", "BTC-USDT", now_ns=15 * S + 1)


def test_integrity_failure_stops_serving_the_book_until_it_is_rebuilt() -> None:
    hub = _hub()
    hub.on_book("binance", "BTC-USDT", book, ts_recv=1)

    hub.on_integrity_failure("binance", "BTC-USDT", "gap")
    during = hub.book("binance", "BTC-USDT")
    hub.on_book("binance", "BTC-USDT", book, ts_recv=2)

    health = hub.health("binance", "BTC-USDT")
    assert during is None
    assert hub.book("binance", "BTC-USDT") is not None
    assert (health.gaps, health.resyncs, health.checksum_failures) == (1, 1, 0)


def test_every_connection_after_the_first_counts_as_a_reconnect() -> None:
    hub = _hub()

    for _ in range(3):
        hub.on_connect("binance", ["BTC-USDT"])

    assert hub.health("binance", "BTC-USDT").reconnects == 2


def test_trades_feed_candles_and_closed_ones_are_handed_over_once() -> None:
    hub = _hub()
    for ts, price in ((1 * S, "10"), (70 * S, "11")):
        hub.on_trade(Trade("binance", "BTC-USDT", Side.BUY, Decimal(price), Decimal(1), ts, ts))

    closed = [c for c in hub.take_closed_candles() if c.interval == "1m"]

    assert [(c.open_ns, c.close) for c in closed] == [(0, 10)]
    assert hub.take_closed_candles() == []
    assert hub.open_candle("binance", "BTC-USDT", "1m").close == 11  # type: ignore[union-attr]


def test_updates_for_symbols_not_collected_are_ignored() -> None:
    hub = _hub()

    hub.on_book("kraken", "BTC-USD", book, ts_recv=1)

    assert hub.book("kraken", "BTC-USD") is None
    assert hub.exchanges() == ["binance"]


def test_health_counts_books_and_trades_apart() -> None:
    hub = _hub()
    hub.on_book("binance", "BTC-USDT", book, ts_recv=1)
    hub.on_book("binance", "BTC-USDT", book, ts_recv=2)
    hub.on_trade(Trade("binance", "BTC-USDT", Side.SELL, Decimal("99"), Decimal("1"), 3, 3))

    health = hub.health("binance", "BTC-USDT")

    assert (health.books, health.trades, health.messages) == (2, 1, 3)


def test_book_age_is_measured_from_the_receive_time_and_none_without_a_book() -> None:
    hub = _hub()
    before = hub.book_age_s("binance", "BTC-USDT", now_ns=5 * S)
    hub.on_book("binance", "BTC-USDT", book, ts_recv=2 * S)

    assert before is None
    assert hub.book_age_s("binance", "BTC-USDT", now_ns=5 * S) == 3.0
