"""twapserver.db on SQLite and PostgreSQL: migrations, candle upserts and reads, exact decimals."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from twapcore.models import NS_PER_SECOND, Candle
from twapserver.db import (
    Base,
    CandleRow,
    alembic_config,
    fetch_candles,
    make_engine,
    make_sessionmaker,
    upgrade_database,
    upsert_candles,
)

TABLES = {"alembic_version", "candles", "users", "refresh_tokens", "orders", "slices", "fills"}
MINUTE = 60 * NS_PER_SECOND


def candle(
    open_ns: int,
    close: str = "100",
    *,
    exchange: str = "binance",
    symbol: str = "BTC-USDT",
    interval: str = "1m",
    volume: str = "1.5",
    trades: int = 3,
) -> Candle:
    return Candle(
        exchange,
        symbol,
        interval,
        open_ns,
        open=Decimal("100"),
        high=max(Decimal("100"), Decimal(close)),
        low=min(Decimal("100"), Decimal(close)),
        close=Decimal(close),
        volume=Decimal(volume),
        trades=trades,
    )


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def test_upgrade_twice_creates_every_table_at_head(database_url: str) -> None:
    await upgrade_database(database_url)
    await upgrade_database(database_url)

    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(_table_names)
            revisions = await connection.run_sync(_current_revisions)
    finally:
        await engine.dispose()
    assert tables == TABLES
    assert revisions == set(ScriptDirectory.from_config(alembic_config()).get_heads())


async def test_concurrent_upgrades_wait_for_each_other(database_url: str) -> None:
    await asyncio.gather(*(upgrade_database(database_url) for _ in range(3)))

    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(_table_names)
    finally:
        await engine.dispose()
    assert tables == TABLES


def _schema_differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migrations_create_exactly_the_models_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)

    assert differences == []


async def test_sqlite_connections_use_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}")
    try:
        async with engine.connect() as connection:
            journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
            synchronous = await connection.scalar(text("PRAGMA synchronous"))
            foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
    finally:
        await engine.dispose()

    assert (journal_mode, synchronous, foreign_keys) == ("wal", 2, 1)  # 2 = FULL, ON


async def test_amending_a_candle_keeps_one_row_with_the_new_values(
    session: AsyncSession,
) -> None:
    await upsert_candles(session, [candle(0, close="101", volume="1", trades=1)])
    await session.commit()

    written = await upsert_candles(session, [candle(0, close="99", volume="2.5", trades=4)])
    await session.commit()

    assert written == 1
    assert await session.scalar(select(func.count()).select_from(CandleRow)) == 1
    assert await fetch_candles(session, "binance", "BTC-USDT", "1m", limit=10) == [
        candle(0, close="99", volume="2.5", trades=4)
    ]


async def test_the_later_of_two_candles_with_one_key_in_one_call_wins(
    session: AsyncSession,
) -> None:
    written = await upsert_candles(session, [candle(0, close="101"), candle(0, close="102")])
    await session.commit()

    assert written == 1
    assert await fetch_candles(session, "binance", "BTC-USDT", "1m", limit=10) == [
        candle(0, close="102")
    ]


async def test_upserting_no_candles_writes_nothing(session: AsyncSession) -> None:
    assert await upsert_candles(session, iter(())) == 0


async def test_fetch_returns_the_newest_limit_candles_oldest_first(
    session: AsyncSession,
) -> None:
    await upsert_candles(session, [candle(i * MINUTE, close=str(100 + i)) for i in (3, 0, 4, 1, 2)])
    await session.commit()

    fetched = await fetch_candles(session, "binance", "BTC-USDT", "1m", limit=3)

    assert [c.open_ns for c in fetched] == [2 * MINUTE, 3 * MINUTE, 4 * MINUTE]


async def test_fetch_keeps_start_and_excludes_end(session: AsyncSession) -> None:
    await upsert_candles(session, [candle(i * MINUTE) for i in range(6)])
    await session.commit()

    fetched = await fetch_candles(
        session, "binance", "BTC-USDT", "1m", limit=10, start_ns=1 * MINUTE, end_ns=4 * MINUTE
    )

    assert [c.open_ns for c in fetched] == [1 * MINUTE, 2 * MINUTE, 3 * MINUTE]


async def test_fetch_returns_only_the_requested_exchange_symbol_and_interval(
    session: AsyncSession,
) -> None:
    await upsert_candles(
        session,
        [
            candle(0),
            candle(0, exchange="kraken"),
            candle(0, symbol="ETH-USDT"),
            candle(0, interval="5m"),
        ],
    )
    await session.commit()

    assert await fetch_candles(session, "binance", "BTC-USDT", "1m", limit=10) == [candle(0)]


async def test_fetch_rejects_a_limit_below_one(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="limit 0 must be at least 1"):
        await fetch_candles(session, "binance", "BTC-USDT", "1m", limit=0)


@pytest.mark.parametrize(
    "value",
    [
        "61837.63000000",
        "0.00001",
        "0.000000000000000001",
        "123456789012345678901234567890.123456789",
    ],
)
async def test_decimals_round_trip_exactly(engine: AsyncEngine, value: str) -> None:
    stored = Candle("binance", "BTC-USDT", "1m", 0, *(Decimal(value),) * 5, trades=2**31 - 1)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        await upsert_candles(session, [stored])
        await session.commit()

    async with sessions() as session:
        (fetched,) = await fetch_candles(session, "binance", "BTC-USDT", "1m", limit=1)

    # Equal is not enough: digits and exponent (trailing zeros) must survive too.
    assert fetched == stored
    assert [getattr(fetched, f).as_tuple() for f in ("open", "high", "low", "close", "volume")] == [
        Decimal(value).as_tuple()
    ] * 5


async def test_open_times_beyond_32_bits_round_trip(session: AsyncSession) -> None:
    open_ns = 1_735_689_600 * NS_PER_SECOND  # 2025-01-01T00:00:00Z
    await upsert_candles(session, [candle(open_ns)])
    await session.commit()

    assert await fetch_candles(session, "binance", "BTC-USDT", "1m", limit=1) == [candle(open_ns)]


async def test_a_float_price_is_refused(session: AsyncSession) -> None:
    with_float = replace(candle(0), close=0.1)  # type: ignore[arg-type]

    with pytest.raises(StatementError, match=r"0\.1 is a float, a Decimal column needs Decimal"):
        await upsert_candles(session, [with_float])
