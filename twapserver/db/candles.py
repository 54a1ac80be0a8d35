"""Store and read OHLCV candles.

`CandleBuilder` re-emits a closed candle when a late trade amends it, so the
server's writes are upserts keyed by (exchange, symbol, interval, open_ns). The
backfill's writes (`store_backfilled_candles`) fill what is missing and replace
only `partial` candles: a whole candle the server built is the truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from twapcore.models import Candle
from twapserver.db.models import CandleRow

__all__ = [
    "fetch_candles",
    "fetch_minutes_since",
    "fetch_partial_candles",
    "store_backfilled_candles",
    "upsert_candles",
]

_KEY = ("exchange", "symbol", "interval", "open_ns")
_VALUES = ("open", "high", "low", "close", "volume", "trades", "partial")

# Both dialects offer the same `insert(...).on_conflict_do_update(...)` API.
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

# Rows per INSERT statement: 10 bound parameters each keeps a statement well
# under asyncpg's 32767-parameter limit and SQLite's 32766-variable limit.
_BATCH_ROWS = 1000


async def upsert_candles(session: AsyncSession, candles: Iterable[Candle]) -> int:
    """Insert `candles`, replacing any stored candle with the same key; returns the rows written.

    When one call holds the same key twice the later candle wins (PostgreSQL
    refuses to update one row twice in a statement, and the later candle is the
    amended one). Runs in the session's transaction; the caller commits.
    """
    return await _write(session, candles, over_partial_only=False)


async def store_backfilled_candles(session: AsyncSession, candles: Iterable[Candle]) -> int:
    """Insert `candles` where none is stored and replace stored `partial` ones; a whole
    stored candle is kept. Returns the rows inserted or replaced. The caller commits."""
    return await _write(session, candles, over_partial_only=True)


async def _write(session: AsyncSession, candles: Iterable[Candle], over_partial_only: bool) -> int:
    latest: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for candle in candles:
        key = (candle.exchange, candle.symbol, candle.interval, candle.open_ns)
        latest[key] = {name: getattr(candle, name) for name in _KEY + _VALUES}
    if not latest:
        return 0
    dialect = session.get_bind().dialect.name
    try:
        insert = _INSERTS[dialect]
    except KeyError:
        raise NotImplementedError(
            f"candle upsert supports {', '.join(_INSERTS)}, not {dialect}"
        ) from None
    rows = list(latest.values())
    written = 0
    for start in range(0, len(rows), _BATCH_ROWS):
        statement = insert(CandleRow).values(rows[start : start + _BATCH_ROWS])
        statement = statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={name: statement.excluded[name] for name in _VALUES},
            where=CandleRow.partial == true() if over_partial_only else None,
        )
        result = await session.execute(statement)
        # Both drivers count the rows inserted or updated (not those the WHERE kept).
        written += max(result.rowcount, 0)  # type: ignore[attr-defined]
    return written if over_partial_only else len(rows)


async def fetch_candles(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    interval: str,
    limit: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> list[Candle]:
    """The newest `limit` candles with `start_ns <= open_ns < end_ns`, oldest first.

    Bounds are candle open times in ns since the epoch; None leaves that side
    open. Prices and volume come back as the exact `Decimal`s that were stored.
    """
    if limit < 1:
        raise ValueError(f"limit {limit} must be at least 1")
    query = (
        select(CandleRow)
        .where(
            CandleRow.exchange == exchange,
            CandleRow.symbol == symbol,
            CandleRow.interval == interval,
        )
        .order_by(CandleRow.open_ns.desc())
        .limit(limit)
    )
    if start_ns is not None:
        query = query.where(CandleRow.open_ns >= start_ns)
    if end_ns is not None:
        query = query.where(CandleRow.open_ns < end_ns)
    rows = (await session.scalars(query)).all()
    # Newest first makes LIMIT keep the most recent candles; callers want time order.
    return [_to_candle(row) for row in reversed(rows)]


async def fetch_minutes_since(session: AsyncSession, start_ns: int) -> list[Candle]:
    """Every market's stored 1m candles opening at or after `start_ns`, oldest first."""
    query = (
        select(CandleRow)
        .where(CandleRow.interval == "1m", CandleRow.open_ns >= start_ns)
        .order_by(CandleRow.exchange, CandleRow.symbol, CandleRow.open_ns)
    )
    return [_to_candle(row) for row in (await session.scalars(query)).all()]


async def fetch_partial_candles(
    session: AsyncSession, exchange: str, symbol: str, intervals: Iterable[str], start_ns: int
) -> list[Candle]:
    """The partial candles of (exchange, symbol) of `intervals` opening at or after
    `start_ns`, by interval then open time (one primary-key range per interval)."""
    found: list[Candle] = []
    for interval in intervals:
        query = (
            select(CandleRow)
            .where(
                CandleRow.exchange == exchange,
                CandleRow.symbol == symbol,
                CandleRow.interval == interval,
                CandleRow.open_ns >= start_ns,
                CandleRow.partial == true(),
            )
            .order_by(CandleRow.open_ns)
        )
        found.extend(_to_candle(row) for row in (await session.scalars(query)).all())
    return found


def _to_candle(row: CandleRow) -> Candle:
    return Candle(
        exchange=row.exchange,
        symbol=row.symbol,
        interval=row.interval,
        open_ns=row.open_ns,
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        trades=row.trades,
        partial=row.partial,
    )
