"""A graceful stop stores the open candles; a restart continues them (no 1m gap, 5m keeps volume)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from twapcore import Candle, InstrumentInfo, Side, Trade
from twapserver.db.candles import fetch_candles
from twapserver.db.engine import make_sessionmaker
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
