"""Persistence for the server: async SQLAlchemy engine, table models, migrations, candle storage.

SQLite (`sqlite+aiosqlite://…`, the default) and PostgreSQL
(`postgresql+asyncpg://…`) are both supported by every function here.
"""

from __future__ import annotations

from twapserver.db.candles import fetch_candles, upsert_candles
from twapserver.db.engine import (
    DEFAULT_DATABASE_URL,
    alembic_config,
    make_engine,
    make_sessionmaker,
    upgrade_database,
)
from twapserver.db.models import Base, CandleRow, FillRow, OrderRow, SliceRow, UserRow

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Base",
    "CandleRow",
    "FillRow",
    "OrderRow",
    "SliceRow",
    "UserRow",
    "alembic_config",
    "fetch_candles",
    "make_engine",
    "make_sessionmaker",
    "upgrade_database",
    "upsert_candles",
]
