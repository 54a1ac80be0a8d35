"""Async engines, sessions and schema migrations.

`make_engine` builds the one engine a process shares; `upgrade_database` brings
a database's schema to the newest Alembic revision. The migrations ship inside
the package (`twapserver/db/migrations`) and run without an `alembic.ini`.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "alembic_config",
    "make_engine",
    "make_sessionmaker",
    "upgrade_database",
]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./twap.db"

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any fixed 64-bit number; every process that migrates takes the same lock.
_MIGRATION_LOCK_ID = 0x7477_6170_6462  # "twapdb"


def make_engine(url: str = DEFAULT_DATABASE_URL) -> AsyncEngine:
    """An async engine for `url` (`sqlite+aiosqlite://…` or `postgresql+asyncpg://…`).

    SQLite connections are switched to WAL, so the API can read while the
    engine task writes, with `synchronous=FULL`, so a commit (and the 201 that
    follows it) survives a power loss, and get `foreign_keys=ON`, which SQLite
    leaves off by default.
    """
    if make_url(url).get_backend_name() == "sqlite":
        # One connection: SQLite has a single writer anyway, and several pooled
        # connections contending for its lock spin in busy-wait back-off (a long
        # latency tail under load). Requests queue for the connection instead.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(url)


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        _switch_to_wal(cursor)
        # FULL fsyncs the WAL at every commit. NORMAL would save that fsync and
        # still never corrupt the file, but a power loss could drop the last
        # commits: orders the API already answered 201 for. Throughput comes back
        # from batching commits, not from weakening this.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    # WAL is a property of the file, so this is a no-op after the first time. On a
    # brand-new file two connections switching at once get "database is locked"
    # without waiting for SQLite's busy timeout: retry for up to 5 s (start-up only).
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session factory bound to `engine`.

    Objects are not expired on commit: under asyncio, touching an expired
    attribute would need an implicit (and forbidden) database round trip.
    """
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of the packaged migrations, with no `alembic.ini`.

    `connection` (a sync connection, e.g. from `AsyncConnection.run_sync`) is
    what `env.py` migrates; it is required for online commands.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade_database(url: str = DEFAULT_DATABASE_URL, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (default: the newest); a no-op if it is there.

    Safe to call from every process at start-up: the migration holds a database
    lock, so concurrent callers wait for the first one and then find nothing to
    do. A migration that fails leaves the schema as it was.
    """
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await _lock_for_migration(connection)
            await connection.run_sync(_upgrade_to, revision)
    finally:
        await engine.dispose()


async def _lock_for_migration(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": _MIGRATION_LOCK_ID}
        )
    elif connection.dialect.name == "sqlite":
        # Rebuilding a table (batch mode) drops the old one, and with foreign keys
        # on that DROP would cascade-delete the rows referring to it (a users
        # rebuild would delete every order). The pragma only changes outside a
        # transaction, so before BEGIN; `_check_foreign_keys` verifies the result.
        await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        # sqlite3 (legacy transaction control) starts no transaction before DDL,
        # so every CREATE would commit on its own; an explicit BEGIN IMMEDIATE
        # makes the migration one transaction and takes the write lock up front.
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def _upgrade_to(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
    _check_foreign_keys(connection)


def _check_foreign_keys(connection: Connection) -> None:
    """Raise (rolling the migration back) if a SQLite migration left a dangling reference."""
    if connection.dialect.name != "sqlite":
        return
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if dangling:
        raise RuntimeError(f"migration left rows with dangling foreign keys: {dangling[:5]}")
