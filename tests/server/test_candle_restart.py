"""A graceful stop stores the open candles; a restart continues them (no 1m gap, 5m keeps volume).

What may miss trades is stored `partial` (a backfill replaces it, see test_backfill.py): the
candles open at a stop, the minute of the first trade after a start or (re)connect.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from twapcore import Candle, InstrumentInfo, Side, Trade
from twapcore.wire import KlinePublic
from twapserver.db.candles import fetch_candles, upsert_candles
from twapserver.db.engine import alembic_config, make_engine, make_sessionmaker
from twapserver.hub import MarketHub
from twapserver.roles import MarketRole
from twapserver.settings import Settings

S = 1_000_000_000
MINUTE = 60 * S
# A 5-minute (and whole-day) boundary: minutes 0, 1, 2 share one 5m bar.
T0 = 1_795_824_000 * S
INFO = InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.00001"))


def _trade(ts: int, price: str, qty: str) -> Trade:
    return Trade("binance", "BTC-USDT", Side.BUY, Decimal(price), Decimal(qty), ts, ts)


async def _run_server(engine: AsyncEngine, now_ns: int, trades: list[Trade]) -> None:
    """One server life: start (clock at `now_ns`), trades, graceful stop."""
    settings = Settings(collect=False, database_url="sqlite+aiosqlite://", backfill_minutes=0)
    hub = MarketHub()
    role = MarketRole(settings, hub, make_sessionmaker(engine), clock=lambda: now_ns)
    await role.start()
    hub.register(INFO)
    for trade in trades:
        hub.on_trade(trade)
    await role.stop()


async def _stored(engine: AsyncEngine, interval: str) -> dict[int, Candle]:
    async with make_sessionmaker(engine)() as session:
        candles = await fetch_candles(session, "binance", "BTC-USDT", interval, 100)
    return {c.open_ns - T0: c for c in candles}


async def test_a_stop_stores_the_open_candle_and_a_restart_continues_it(
    engine: AsyncEngine,
) -> None:
    before = [_trade(T0 + 10 * S, "100", "1"), _trade(T0 + MINUTE + 5 * S, "101", "2")]
    after = [_trade(T0 + MINUTE + 40 * S, "99", "3"), _trade(T0 + 2 * MINUTE + S, "102", "4")]

    await _run_server(engine, T0, before)
    stored_at_stop = await _stored(engine, "1m")
    await _run_server(engine, T0 + MINUTE + 30 * S, after)

    assert stored_at_stop[MINUTE].volume == Decimal(2)  # the open minute, stored at stop
    minutes = await _stored(engine, "1m")
    assert sorted(minutes) == [0, MINUTE, 2 * MINUTE]  # no gap
    restarted = minutes[MINUTE]
    assert (restarted.volume, restarted.trades) == (Decimal(5), 2)
    assert (restarted.open, restarted.low, restarted.close) == (
        Decimal(101),
        Decimal(99),
        Decimal(99),
    )
    five = (await _stored(engine, "5m"))[0]
    assert (five.volume, five.trades, five.open, five.close) == (
        Decimal(10),
        4,
        Decimal(100),
        Decimal(102),
    )


async def test_a_restart_in_a_later_bucket_starts_fresh_candles(engine: AsyncEngine) -> None:
    await _run_server(engine, T0, [_trade(T0 + 10 * S, "100", "1")])
    later = T0 + 10 * MINUTE

    await _run_server(engine, later, [_trade(later + S, "105", "7")])

    five = await _stored(engine, "5m")
    assert (five[0].volume, five[10 * MINUTE].volume) == (Decimal(1), Decimal(7))


async def test_a_stop_stores_the_open_candles_partial_and_the_closed_ones_whole(
    engine: AsyncEngine,
) -> None:
    trades = [_trade(T0 + 10 * S, "100", "1"), _trade(T0 + MINUTE + 5 * S, "101", "2")]

    await _run_server(engine, T0, [*trades, _trade(T0 + 2 * MINUTE + S, "102", "4")])

    minutes = await _stored(engine, "1m")
    # 0: the first trade after the start (earlier ones unseen); 2: open at the stop.
    assert [minutes[t].partial for t in sorted(minutes)] == [True, False, True]
    assert all(c.partial for c in (await _stored(engine, "5m")).values())


async def test_a_minute_continued_after_a_restart_stays_partial(engine: AsyncEngine) -> None:
    # The trades between the stop and the restart are missing from it.
    await _run_server(engine, T0, [_trade(T0 + MINUTE + 5 * S, "101", "2")])

    restart = T0 + MINUTE + 30 * S
    await _run_server(
        engine, restart, [_trade(restart + S, "99", "3"), _trade(T0 + 3 * MINUTE, "1", "1")]
    )

    continued = (await _stored(engine, "1m"))[MINUTE]
    assert (continued.volume, continued.partial) == (Decimal(5), True)


def test_the_first_trade_after_a_reconnect_makes_its_candles_partial() -> None:
    hub = MarketHub()
    hub.register(INFO)
    hub.on_trade(_trade(T0 + 10 * S, "100", "1"))
    hub.on_trade(_trade(T0 + MINUTE + S, "100", "1"))
    hub.on_trade(_trade(T0 + 2 * MINUTE + S, "100", "1"))

    hub.on_connect("binance", ["BTC-USDT"])  # a reconnect: trades may have been missed
    hub.on_trade(_trade(T0 + 2 * MINUTE + 50 * S, "100", "1"))
    hub.on_trade(_trade(T0 + 3 * MINUTE + S, "100", "1"))

    minutes = {c.open_ns - T0: c.partial for c in hub.take_closed_candles() if c.interval == "1m"}
    assert minutes == {0: True, MINUTE: False, 2 * MINUTE: True}
    open_minute = hub.open_candle("binance", "BTC-USDT", "1m")
    assert open_minute is not None and not open_minute.partial


def test_a_drop_makes_the_minute_it_cut_short_and_its_buckets_partial() -> None:
    hub = MarketHub()
    hub.register(INFO)
    for minute in (1, 2, 3):
        hub.on_trade(_trade(T0 + minute * MINUTE + S, "100", "1"))

    hub.on_connect("binance", ["BTC-USDT"])  # back after minutes 4..16 went unseen
    hub.on_trade(_trade(T0 + 17 * MINUTE + S, "100", "1"))
    hub.on_trade(_trade(T0 + 31 * MINUTE + S, "100", "1"))

    closed = {
        (c.interval, (c.open_ns - T0) // MINUTE): c.partial for c in hub.take_closed_candles()
    }
    assert closed[("1m", 2)] is False and closed[("1m", 3)] is True  # the drop cut minute 3
    assert closed[("15m", 0)] is True  # it lacks minutes 4..14
    assert closed[("1m", 17)] is True and closed[("15m", 15)] is True  # trades before 17:01


def test_klines_say_which_candles_are_partial_and_older_servers_parse_as_whole() -> None:
    candle = Candle("binance", "BTC-USDT", "1m", T0, *[Decimal(1)] * 5, 1, True)

    kline = KlinePublic.from_candle(candle)
    older = {k: v for k, v in kline.model_dump(mode="json").items() if k != "partial"}

    assert kline.partial
    assert KlinePublic.model_validate(older).partial is False


async def _sync(url: str, step: Callable[[Connection], Any]) -> Any:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(step)
    finally:
        await engine.dispose()


async def test_migration_0007_adds_partial_and_downgrades_keeping_the_candles(
    engine: AsyncEngine, database_url: str
) -> None:
    async with make_sessionmaker(engine)() as session, session.begin():
        partial = Candle("binance", "BTC-USDT", "1m", T0, *[Decimal(1)] * 5, 1, True)
        await upsert_candles(session, [partial])
    await engine.dispose()

    await _sync(database_url, lambda c: command.downgrade(alembic_config(c), "0006"))
    columns = await _sync(
        database_url, lambda c: list(c.execute(text("SELECT * FROM candles")).keys())
    )
    await _sync(database_url, lambda c: command.upgrade(alembic_config(c), "head"))

    assert "partial" not in columns
    (candle,) = (await _stored(engine, "1m")).values()
    assert (candle.volume, candle.partial) == (Decimal(1), False)  # kept; unknown is taken whole
