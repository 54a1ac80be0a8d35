"""Accounts in the database: create, look up, check a password, resolve a token's user.

Every function takes the caller's `AsyncSession`; only `create_user` writes,
and it leaves the commit to the caller.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from twapserver.auth.passwords import hash_password, verify_password, waste_a_verification
from twapserver.auth.tokens import InvalidToken, TokenCodec, TokenType
from twapserver.db.models import UserRow

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountError",
    "InvalidAccount",
    "UserExists",
    "authenticate",
    "check_password",
    "check_username",
    "create_user",
    "get_user_by_name",
    "user_for_token",
]

MIN_PASSWORD_LENGTH = 8

_USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,64}")


class AccountError(Exception):
    """An account request that was refused; the message is meant for the user."""


class InvalidAccount(AccountError, ValueError):
    """A username or password that breaks the rules."""


class UserExists(AccountError):
    """The username is taken."""


def check_username(username: str) -> str:
    """`username` unchanged if it is 3–64 of `A-Z a-z 0-9 _ . -`; else `InvalidAccount`."""
    if not _USERNAME.fullmatch(username):
        raise InvalidAccount(
            f"username {username!r} must be 3 to 64 characters of letters, digits, '_', '.', '-'"
        )
    return username


def check_password(password: str) -> None:
    """`InvalidAccount` if `password` is shorter than `MIN_PASSWORD_LENGTH` characters.

    The message gives the length only: a password never appears in an error or a log.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidAccount(
            f"password is {len(password)} characters long; "
            f"at least {MIN_PASSWORD_LENGTH} are required"
        )


async def create_user(
    session: AsyncSession, username: str, password: str, *, now_ns: int
) -> UserRow:
    """Add a user (created at `now_ns`, ns since the epoch) and flush; the caller commits.

    Raises `InvalidAccount` for a bad username or password and `UserExists` when
    the name is taken; after `UserExists` the session has been rolled back.
    """
    check_username(username)
    check_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    user = UserRow(username=username, password_hash=password_hash, created_ns=now_ns)
    session.add(user)
    # Insert-and-catch rather than look-then-insert: the unique index decides,
    # so two concurrent registrations of one name cannot both succeed.
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise UserExists(f"user {username!r} already exists") from None
    return user


async def get_user_by_name(session: AsyncSession, username: str) -> UserRow | None:
    """The user called `username` (exact, case-sensitive match), or None."""
    found: UserRow | None = await session.scalar(
        select(UserRow).where(UserRow.username == username)
    )
    return found


async def authenticate(session: AsyncSession, username: str, password: str) -> UserRow | None:
    """The user if `password` is theirs; None for a wrong password or an unknown user."""
    user = await get_user_by_name(session, username)
    # argon2 is deliberately slow: in a thread it does not stall the event loop
    # (market data, the engine) for ~0.1 s per login.
    if user is None:
        await asyncio.to_thread(waste_a_verification, password)
        return None
    ok = await asyncio.to_thread(verify_password, password, user.password_hash)
    return user if ok else None


async def user_for_token(
    session: AsyncSession, codec: TokenCodec, token: str, expected: TokenType, *, now_s: float
) -> UserRow:
    """The user a valid token of type `expected` was issued to, at `now_s` (s since epoch).

    Raises a `TokenError`; `InvalidToken` also when that user no longer exists.
    """
    claims = codec.decode(token, expected, now_s=now_s)
    user = await session.get(UserRow, claims.user_id)
    # Matching the name as well as the id: SQLite may hand a deleted user's id
    # to the next new user, who must not inherit the old tokens.
    if user is None or user.username != claims.username:
        raise InvalidToken("user no longer exists")
    return user
