"""Engine leases on orders: claim, renew, release; cancel requests.

An engine works an order only while it holds its lease (`lease_owner` = its
id, `lease_until` in the future). Every claim bumps `version`, the fencing token
that each of the engine's writes must still match (see `repository.record_slices`).

Claims are one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)
RETURNING`: on PostgreSQL concurrent engines skip each other's rows instead of
waiting; SQLite ignores the locking clause and needs none — it has a single
writer, so the conditional UPDATE is atomic there too, and two engines on one
SQLite file never hold the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from twapcore import OrderStatus
from twapserver.db.models import OrderRow
from twapserver.orders.repository import OPEN_STATUSES

__all__ = [
    "CLAIM_BATCH",
    "FIRST_CLAIM_VERSION",
    "Claimed",
    "LeaseState",
    "cancel_unleased",
    "claim",
    "release",
    "renew",
    "request_cancel",
]

CLAIM_BATCH = 1000  # orders claimed per statement
_ORDERS = cast(Table, OrderRow.__table__)
_c = _ORDERS.c
_OPEN = _c.status.in_(OPEN_STATUSES)
_FREE = _c.lease_owner.is_(None)
# Another engine's lease that ran out: taking it over is what LEASE_TAKEOVERS counts.
_EXPIRED = and_(
    _c.lease_owner.is_not(None),
    _c.lease_owner != bindparam("owner"),
    _c.lease_until < bindparam("now"),
)


# New rows start at version 0 and every claim bumps it: an order at version 1 is on
# its first claim (never held before: nothing of it can have been missed by a crash).
FIRST_CLAIM_VERSION = 1


@dataclass(frozen=True, slots=True)
class Claimed:
    """An order this engine now leases, at fencing token `version`."""

    order_id: int
    version: int


@dataclass(frozen=True, slots=True)
class LeaseState:
    """Who holds an order, as seen when a cancel was requested."""

    version: int
    lease_owner: str | None
    lease_until: int | None

    def is_live(self, now_ns: int) -> bool:
        """An engine holds the order (its lease has not run out)."""
        return self.lease_owner is not None and (self.lease_until or 0) >= now_ns


def _claim_statement(condition: ColumnElement[bool], by_id: bool) -> object:
    where = [_OPEN, condition]
    if by_id:
        where.append(_c.id.in_(bindparam("ids", expanding=True)))
    candidates = (select(_c.id).where(*where).order_by(_c.id).limit(CLAIM_BATCH)).with_for_update(
        skip_locked=True
    )
    return (
        update(_ORDERS)
        # The condition again: on PostgreSQL the row may have changed since the snapshot.
        .where(_c.id.in_(candidates.scalar_subquery()), _OPEN, condition)
        .values(
            lease_owner=bindparam("owner"),
            lease_until=bindparam("until"),
            version=_c.version + 1,
        )
        .returning(_c.id, _c.version)
    )


_CLAIM_FREE_IDS = _claim_statement(_FREE, by_id=True)
_CLAIM_FREE = _claim_statement(_FREE, by_id=False)
_TAKE_OVER = _claim_statement(_EXPIRED, by_id=False)


async def claim(
    session: AsyncSession,
    owner: str,
    now_ns: int,
    until_ns: int,
    *,
    ids: Sequence[int] | None = None,
    expired: bool = False,
) -> list[Claimed]:
    """Lease up to `CLAIM_BATCH` open orders to `owner` until `until_ns` (own transaction).

    Free orders (never leased, or released) — only those in `ids` if given — or,
    with `expired`, orders whose other owner's lease ran out before `now_ns`.
    """
    params: dict[str, Any]
    if ids is not None:
        statement, params = _CLAIM_FREE_IDS, {"ids": list(ids)}
    else:
        statement, params = (_TAKE_OVER if expired else _CLAIM_FREE), {}
    params |= {"owner": owner, "now": now_ns, "until": until_ns}
    async with session.begin():
        rows = await session.execute(statement, params)  # type: ignore[call-overload]
        return [Claimed(row.id, row.version) for row in rows]


_HELD = select(_c.id, _c.cancel_requested_ns).where(_c.lease_owner == bindparam("owner"), _OPEN)
_RENEW = (
    update(_ORDERS)
    .where(_c.lease_owner == bindparam("owner"), _OPEN, _c.lease_until < bindparam("before"))
    .values(lease_until=bindparam("until"))
)


async def renew(
    session: AsyncSession, owner: str, until_ns: int, before_ns: int
) -> dict[int, int | None]:
    """Extend `owner`'s leases that end before `before_ns` to `until_ns` (own transaction).

    Returns every open order `owner` holds: order id -> its cancel request (ns or None).
    Only leases running low are rewritten, so a heartbeat costs little for orders
    whose writes renewed their lease anyway (see `repository.record_slices`).
    """
    params = {"owner": owner, "until": until_ns, "before": before_ns}
    async with session.begin():
        await session.execute(_RENEW, params)
        rows = await session.execute(_HELD, params)
        return {row.id: row.cancel_requested_ns for row in rows}


async def release(session: AsyncSession, owner: str) -> None:
    """Give up every lease of `owner` (a clean shutdown: others may claim at once)."""
    async with session.begin():
        await session.execute(
            update(_ORDERS)
            .where(_c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


async def request_cancel(session: AsyncSession, order_id: int, now_ns: int) -> LeaseState | None:
    """Mark an open order's cancel as requested (own transaction); None if it already ended."""
    async with session.begin():
        row = (
            await session.execute(
                update(_ORDERS)
                .where(_c.id == order_id, _OPEN)
                .values(cancel_requested_ns=func.coalesce(_c.cancel_requested_ns, now_ns))
                .returning(_c.version, _c.lease_owner, _c.lease_until)
            )
        ).one_or_none()
    return None if row is None else LeaseState(row.version, row.lease_owner, row.lease_until)


async def cancel_unleased(session: AsyncSession, order_id: int, version: int, now_ns: int) -> bool:
    """Cancel an order no engine holds, if it is still at `version` (own transaction).

    What filled stays filled: only status, end and next due change. False if an
    engine claimed or wrote the order meanwhile (then that engine applies it).
    """
    async with session.begin():
        row = (
            await session.execute(
                update(_ORDERS)
                .where(
                    _c.id == order_id,
                    _c.version == version,
                    _OPEN,
                    (_c.lease_owner.is_(None)) | (_c.lease_until < now_ns),
                )
                .values(
                    status=OrderStatus.CANCELLED.value,
                    ended_ns=now_ns,
                    next_due_ns=None,
                    updated_ns=now_ns,
                    lease_owner=None,
                    lease_until=None,
                    version=_c.version + 1,
                )
                .returning(_c.id)
            )
        ).one_or_none()
    return row is not None
