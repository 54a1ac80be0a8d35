"""The snapshot a client gets when it (re)subscribes to `orders`, read from the database.

The user's open orders (their committed state) and, when asked with `since_ns`,
the orders that ended since then: a client that reconnects and passes the time
of the last update it saw misses nothing. Read a page at a time, each in its
own short session, so a slow client never holds a database connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapserver.db.models import OrderRow
from twapserver.orders.repository import OPEN_STATUSES, list_orders
from twapserver.orders.updates import order_row_message
from twapserver.ws.messages import dumps

__all__ = ["PAGE_ROWS", "order_row_message", "snapshot_messages"]

PAGE_ROWS = 200


async def snapshot_messages(
    sessions: async_sessionmaker[AsyncSession], user_id: int, since_ns: int | None
) -> AsyncIterator[tuple[int, str]]:
    """(order id, `{"type":"order",…}` text) of the user's open orders, then of those
    that reached a final state at or after `since_ns` (ns since the epoch; None: none)."""
    after: int | None = None
    while True:
        async with sessions() as session:
            rows, after = await list_orders(session, user_id, "open", limit=PAGE_ROWS, after=after)
        for row in rows:
            yield row.id, dumps(order_row_message(row))
        if after is None:
            break
    if since_ns is None:
        return
    last_id = 0
    while rows := await _ended_since(sessions, user_id, since_ns, last_id):
        for row in rows:
            yield row.id, dumps(order_row_message(row))
        last_id = rows[-1].id


async def _ended_since(
    sessions: async_sessionmaker[AsyncSession], user_id: int, since_ns: int, after_id: int
) -> list[OrderRow]:
    """A page of the user's orders that ended at or after `since_ns`, by id above `after_id`.

    Lives here rather than in the orders repository because only the snapshot asks it.
    """
    query = (
        select(OrderRow)
        .where(
            OrderRow.user_id == user_id,
            OrderRow.status.not_in(OPEN_STATUSES),
            OrderRow.updated_ns >= since_ns,
            OrderRow.id > after_id,
        )
        .order_by(OrderRow.id)
        .limit(PAGE_ROWS)
    )
    async with sessions() as session:
        return list((await session.execute(query)).scalars())
