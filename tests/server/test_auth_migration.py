"""Migration 0002 on a database that already has users and orders (SQLite and PostgreSQL).

Upgrades go to 0002, not head: later migrations rewrite order states these tests do not fake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from sqlalchemy import Connection, text

from twapserver.db.engine import alembic_config, make_engine, upgrade_database

_ORDER_COLUMNS = (
    "user_id, token_id, exchange, symbol, side, status, spec, state, quantity, filled, "
    "created_ns, updated_ns, next_due_ns"
)


def _at_0001_with_two_users_and_an_order(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "0001")
    connection.execute(
        text(
            "INSERT INTO users (username, password_hash, created_ns) "
            "VALUES ('alice', 'hash-a', 1), ('bob', 'hash-b', 2)"
        )
    )
    connection.execute(
        text(
            f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES "
            "(2, 't1', 'binance', 'BTC-USDT', 'buy', 'working', '{}', '{}', '1', '0', 1, 1, 5)"
        )
    )


async def _run(database_url: str, step: Callable[[Connection], Any]) -> Any:
    """`step` on one connection, committed; SQLite's foreign keys off, as `upgrade_database` does."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            result = await connection.run_sync(step)
            await connection.commit()
            return result
    finally:
        await engine.dispose()


def _users_and_orders(connection: Connection) -> tuple[list[tuple[Any, ...]], list[int]]:
    users = connection.execute(
        text("SELECT id, username, token_version, disabled FROM users ORDER BY id")
    )
    orders = connection.execute(text("SELECT user_id FROM orders"))
    return [tuple(row) for row in users], [row[0] for row in orders]


def _delete_bob_then_add_carol(connection: Connection) -> int:
    connection.execute(text("DELETE FROM users WHERE username = 'bob'"))
    return int(
        connection.execute(
            text(
                "INSERT INTO users (username, password_hash, created_ns) "
                "VALUES ('carol', 'hash-c', 3) RETURNING id"
            )
        ).scalar_one()
    )


async def test_upgrade_keeps_users_and_their_orders(database_url: str) -> None:
    await _run(database_url, _at_0001_with_two_users_and_an_order)

    await upgrade_database(database_url, "0002")

    users, order_owners = await _run(database_url, _users_and_orders)
    assert users == [(1, "alice", 0, False), (2, "bob", 0, False)]
    assert order_owners == [2]


async def test_after_upgrade_the_id_of_a_deleted_user_is_not_reused(database_url: str) -> None:
    await _run(database_url, _at_0001_with_two_users_and_an_order)
    await upgrade_database(database_url, "0002")

    carol_id = await _run(database_url, _delete_bob_then_add_carol)

    assert carol_id == 3


async def test_downgrade_to_0001_keeps_the_users(database_url: str) -> None:
    await _run(database_url, _at_0001_with_two_users_and_an_order)
    await upgrade_database(database_url, "0002")

    await _run(database_url, lambda c: command.downgrade(alembic_config(c), "0001"))

    rows = await _run(
        database_url,
        lambda c: [tuple(r) for r in c.execute(text("SELECT id, username FROM users ORDER BY id"))],
    )
    assert rows == [(1, "alice"), (2, "bob")]


def _at_head_with_a_cross_venue_order(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
    connection.execute(
        text("INSERT INTO users (username, password_hash, created_ns) VALUES ('alice', 'h', 1)")
    )
    connection.execute(
        text(
            "INSERT INTO orders (user_id, token_id, exchange, symbol, side, status, spec, "
            "quantity, filled, notional, slices_done, slices_total, start_ns, created_ns, "
            "updated_ns, version) VALUES (1, 'xv', 'binance', 'BTC-USDT', 'buy', 'working', "
            """'{"venues": ["binance", "kraken"]}', '1', '0', '0', 0, 2, 1, 1, 1, 0)"""
        )
    )


async def test_downgrade_below_0005_refuses_while_cross_venue_orders_exist(
    database_url: str,
) -> None:
    await _run(database_url, _at_head_with_a_cross_venue_order)

    try:
        await _run(database_url, lambda c: command.downgrade(alembic_config(c), "0004"))
    except RuntimeError as refused:
        message = str(refused)
    else:
        raise AssertionError("the downgrade went through")

    assert message.startswith("cannot downgrade below 0005: 1 cross-venue orders")
    columns = await _run(database_url, lambda c: c.execute(text("SELECT venue FROM fills")).keys())
    assert list(columns) == ["venue"]  # nothing was dropped
