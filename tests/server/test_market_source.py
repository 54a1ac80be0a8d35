"""MarketSource: a collector's hub published on Redis and read back through a MarketView."""

from __future__ import annotations

from decimal import Decimal

import orjson

from tests.core.builders import book
from tests.server.redis_support import bus_prefix, redis_url, wait_for
from twapcore import BookSnapshot, Side, Trade
from twapcore.recording import book_from_record, book_to_record, trade_to_record
from twapserver.hub import InstrumentInfo, MarketHub, MarketSource
from twapserver.market import MarketView
from twapserver.market.redis import RedisMarketPublisher, RedisMarketSubscriber
from twapserver.market.view import market_message, open_candle_records

__all__ = ["bus_prefix", "redis_url"]  # fixtures

S = 1_000_000_000
MARKET = ("binance", "BTC-USDT")


def _hub() -> MarketHub:
    hub = MarketHub(max_book_age_s=5)
    hub.register(InstrumentInfo(*MARKET, Decimal("0.01"), Decimal("0.00001")))
    return hub


def _book(bid: str, ts: int) -> BookSnapshot:
    return book(bids=((bid, "1.5"), ("99", "2")), asks=(("101", "1"), ("102", "3")), ts=ts)


def _trade(price: str, ts: int) -> Trade:
    return Trade(*MARKET, Side.BUY, Decimal(price), Decimal("0.5"), ts, ts, f"t{ts}")


def _view_of(hub: MarketHub) -> MarketView:
    view = MarketView(max_book_age_s=5)
    for exchange, symbol in hub.markets():
        view.apply(market_message(hub, exchange, symbol, open_candle_records(hub, *MARKET)))
    return view


def test_both_implementations_are_market_sources() -> None:
    sources: list[MarketSource] = [_hub(), MarketView()]

    assert all(isinstance(s.trade_listeners, list) for s in sources)


def test_a_view_serves_the_published_book_with_its_collector_receive_time() -> None:
    hub = _hub()
    view = _view_of(hub)
    sent = _book("100", ts=10 * S)

    view.apply(orjson.loads(orjson.dumps(book_to_record(sent))))

    served = view.book(*MARKET)
    assert served is not None
    assert (served.bids, served.asks, served.ts_recv) == (sent.bids, sent.asks, 10 * S)
    assert not view.is_stale(*MARKET, now_ns=15 * S)
    assert view.is_stale(*MARKET, now_ns=15 * S + 1)


def test_a_view_keeps_the_newer_book_when_an_older_one_arrives_late() -> None:
    view = _view_of(_hub())

    view.apply_book(book_to_record(_book("100", ts=2 * S)))
    view.apply_book(book_to_record(_book("97", ts=1 * S)))  # the snapshot read after a publish

    served = view.book(*MARKET)
    assert served is not None and served.bids[0].price == Decimal("100")


def test_the_same_book_read_again_keeps_its_version() -> None:
    view = _view_of(_hub())
    record = book_to_record(_book("100", ts=1))

    view.apply_book(record)
    first = view.book(*MARKET)
    view.apply_book(dict(record))  # re-read from Redis after a resubscription

    assert view.book(*MARKET) is first


def test_every_book_a_view_takes_gets_a_new_version() -> None:
    view = _view_of(_hub())

    view.apply_book(book_to_record(_book("100", ts=1)))
    first = view.book(*MARKET)
    view.apply_book(book_to_record(_book("100", ts=2)))
    second = view.book(*MARKET)

    assert first is not None and second is not None
    assert second.version > first.version


def test_an_invalidated_market_serves_no_book_until_the_next_one() -> None:
    view = _view_of(_hub())
    view.apply_book(book_to_record(_book("100", ts=1)))

    view.apply({"type": "invalidate", "exchange": MARKET[0], "symbol": MARKET[1]})

    assert view.book(*MARKET) is None


def test_a_market_message_carries_instrument_health_and_open_candles() -> None:
    hub = _hub()
    hub.on_book(*MARKET, lambda: _book("100", 5 * S), ts_recv=5 * S)
    hub.on_trade(_trade("100.5", 60 * S))
    hub.on_trade(_trade("101.5", 61 * S))

    view = _view_of(hub)

    assert view.instruments(MARKET[0]) == hub.instruments(MARKET[0])
    assert view.health(*MARKET) == hub.health(*MARKET)
    for interval in ("1m", "5m", "1d"):
        assert view.open_candle(*MARKET, interval) == hub.open_candle(*MARKET, interval)


def test_trades_reach_the_view_listeners_but_build_no_candles_there() -> None:
    view = _view_of(_hub())
    heard: list[Trade] = []
    view.trade_listeners.append(heard.append)

    view.apply(orjson.loads(orjson.dumps(trade_to_record(_trade("100", 120 * S)))))

    assert [t.price for t in heard] == [Decimal("100")]
    assert view.take_closed_candles() == []


# --- over Redis ----------------------------------------------------------------------


def test_the_publisher_sends_a_book_once_per_change_however_many_updates() -> None:
    hub = _hub()
    publisher = RedisMarketPublisher(hub, "redis://127.0.0.1:1/0", "twaptest-unsent")
    for ts in range(1, 101):
        hub.on_book(*MARKET, lambda ts=ts: _book("100", ts), ts_recv=ts)

    first = publisher.publish_books()
    again = publisher.publish_books()
    hub.on_book(*MARKET, lambda: _book("100", 200), ts_recv=200)
    after_change = publisher.publish_books()

    assert (first, again, after_change) == (1, 0, 1)


async def test_a_view_follows_the_collector_hub_over_redis(redis_url: str, bus_prefix: str) -> None:
    hub = _hub()
    publisher = RedisMarketPublisher(hub, redis_url, bus_prefix, every_ms=10)
    view = MarketView(max_book_age_s=5)
    subscriber = RedisMarketSubscriber(view, redis_url, bus_prefix)
    heard: list[Trade] = []
    view.trade_listeners.append(heard.append)
    await publisher.start()
    await subscriber.start()
    try:
        await wait_for(lambda: view.has(*MARKET), "the market registration")
        hub.on_book(*MARKET, lambda: _book("100", 7 * S), ts_recv=7 * S)
        hub.on_trade(_trade("100.25", 8 * S))

        def arrived() -> bool:
            served = view.book(*MARKET)
            return served is not None and served.ts_recv == 7 * S and len(heard) == 1

        await wait_for(arrived, "the book and the trade")
    finally:
        await subscriber.stop()
        await publisher.stop()

    served = view.book(*MARKET)
    assert served is not None and served.bids == _book("100", 0).bids
    assert heard[0].price == Decimal("100.25")


async def test_a_late_subscriber_starts_with_the_latest_book(
    redis_url: str, bus_prefix: str
) -> None:
    hub = _hub()
    publisher = RedisMarketPublisher(hub, redis_url, bus_prefix, every_ms=10)
    await publisher.start()
    hub.on_book(*MARKET, lambda: _book("100", 3 * S), ts_recv=3 * S)
    publisher.publish_books()
    await publisher.stop()  # writes what is queued; nothing is published after this

    view = MarketView(max_book_age_s=5)
    subscriber = RedisMarketSubscriber(view, redis_url, bus_prefix)
    await subscriber.start()  # returns once its snapshot of Redis is loaded
    await subscriber.stop()

    served = view.book(*MARKET)
    assert view.instruments("binance") == hub.instruments("binance")
    assert served is not None
    assert served == book_from_record(book_to_record(_book("100", 3 * S)), version=1)


async def test_a_gap_on_the_collector_stops_the_view_serving_that_book(
    redis_url: str, bus_prefix: str
) -> None:
    hub = _hub()
    publisher = RedisMarketPublisher(hub, redis_url, bus_prefix, every_ms=10)
    view = MarketView(max_book_age_s=5)
    subscriber = RedisMarketSubscriber(view, redis_url, bus_prefix)
    await publisher.start()
    await subscriber.start()
    try:
        await wait_for(lambda: view.has(*MARKET), "the market registration")
        hub.on_book(*MARKET, lambda: _book("100", 7 * S), ts_recv=7 * S)
        await wait_for(lambda: view.book(*MARKET) is not None, "the book")

        hub.on_integrity_failure(*MARKET, "gap")
        await wait_for(lambda: view.book(*MARKET) is None, "the invalidation")
        await wait_for(lambda: view.health(*MARKET).gaps == 1, "the gap in the view's health")
        late = MarketView(max_book_age_s=5)
        late_subscriber = RedisMarketSubscriber(late, redis_url, bus_prefix)
        await late_subscriber.start()
        await late_subscriber.stop()
    finally:
        await subscriber.stop()
        await publisher.stop()

    assert late.has(*MARKET) and late.book(*MARKET) is None  # the book key went too
