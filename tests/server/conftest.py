"""Fixtures shared by the server tests: a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.server.engine_support import add_user
from twapserver.db import make_engine, make_sessionmaker, upgrade_database

POSTGRES_URL = os.environ.get(
    "TWAP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/twap_test"
)
# Taken for the whole of each PostgreSQL test, so two test runs sharing the
# database wait for each other instead of dropping each other's tables.
_TEST_DATABASE_LOCK_ID = 0x7477_6170_7465  # "twapte"


def _asyncpg_params(url: str) -> dict[str, object]:
    parsed = make_url(url)
    return {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "database": parsed.database,
    }


async def _ensure_postgres_database(url: str) -> None:
    params = _asyncpg_params(url)
    try:
        connection = await asyncpg.connect(**params, timeout=2)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(**{**params, "database": "postgres"}, timeout=2)
        try:
            await admin.execute(f'CREATE DATABASE "{params["database"]}"')
        except asyncpg.DuplicateDatabaseError:
            pass  # another test run created it between our two connects
        finally:
            await admin.close()
    else:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL test database (created when missing), or skip with why it is unreachable."""
    try:
        asyncio.run(_ensure_postgres_database(POSTGRES_URL))
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc!r}")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a database of each backend (a fresh file for SQLite)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def database_url(backend_url: str) -> AsyncIterator[str]:
    """An empty database of each backend."""
    if not backend_url.startswith("postgresql"):
        yield backend_url
        return
    connection = await asyncpg.connect(**_asyncpg_params(backend_url), timeout=2)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _TEST_DATABASE_LOCK_ID)
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        yield backend_url
    finally:
        await connection.close()  # also releases the advisory lock


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head."""
    await upgrade_database(database_url)
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with make_sessionmaker(engine)() as session:
        yield session


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """A session maker on the migrated database, with one user (alice)."""
    makers = make_sessionmaker(engine)
    await add_user(makers)
    return makers
