"""Account administration (`twapserver users …`): list, disable, enable, delete, change password.

Every change that must end the user's sessions bumps `token_version`, which
revokes all their tokens (within the servers' account-cache TTL). Each function
takes the caller's session and commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from twapserver.auth.passwords import hash_password
from twapserver.auth.users import AccountError, check_password
from twapserver.db.models import OrderRow, UserRow

__all__ = [
    "UnknownUser",
    "UserSummary",
    "change_password",
    "delete_user",
    "list_users",
    "set_disabled",
]


class UnknownUser(AccountError):
    """No user has this name."""


class UserSummary(NamedTuple):
    """One user as `twapserver users list` shows it; `created_ns` is ns since the epoch."""

    id: int
    username: str
    disabled: bool
    created_ns: int
    orders: int


async def list_users(session: AsyncSession) -> list[UserSummary]:
    """Every user with their number of orders, by id."""
    orders = select(func.count()).where(OrderRow.user_id == UserRow.id).scalar_subquery()
    columns = (UserRow.id, UserRow.username, UserRow.disabled, UserRow.created_ns, orders)
    rows = await session.execute(select(*columns).order_by(UserRow.id))
    return [UserSummary(*row) for row in rows]


async def set_disabled(session: AsyncSession, username: str, disabled: bool) -> int:
    """Disable (revoking every token) or re-enable `username`; returns the user's id."""
    values: dict[str, object] = {"disabled": disabled}
    if disabled:
        values["token_version"] = UserRow.token_version + 1
    return await _update(session, username, values)


async def change_password(session: AsyncSession, username: str, password: str) -> int:
    """Set `username`'s password (revoking every token); returns the user's id.

    Raises `InvalidAccount` for a password that breaks the rules, `UnknownUser`.
    """
    check_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    values = {"password_hash": password_hash, "token_version": UserRow.token_version + 1}
    return await _update(session, username, values)


async def delete_user(session: AsyncSession, username: str) -> tuple[int, int]:
    """Delete `username` with their orders; returns (their id, orders deleted).

    The id is never given to another user, so tokens of the deleted user stay invalid.
    """
    user_id = await _id_of(session, username)
    orders = await session.scalar(select(func.count()).where(OrderRow.user_id == user_id))
    # The orders (with their slices and fills) and refresh tokens go by ON DELETE CASCADE.
    await session.execute(delete(UserRow).where(UserRow.id == user_id))
    await session.commit()
    return user_id, orders or 0


async def _update(session: AsyncSession, username: str, values: Mapping[str, object]) -> int:
    user_id: int | None = await session.scalar(
        update(UserRow).where(UserRow.username == username).values(values).returning(UserRow.id)
    )
    if user_id is None:
        await session.rollback()
        raise UnknownUser(f"no user {username!r}")
    await session.commit()
    return user_id


async def _id_of(session: AsyncSession, username: str) -> int:
    user_id: int | None = await session.scalar(
        select(UserRow.id).where(UserRow.username == username)
    )
    if user_id is None:
        raise UnknownUser(f"no user {username!r}")
    return user_id
