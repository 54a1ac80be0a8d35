"""Accounts in the database: create, look up, check a password, resolve a token's user.

The functions take the caller's `AsyncSession` (`authenticate` a session
factory, see why there); only `create_user` writes, and it leaves the commit to
the caller. Administration (disable, delete, passwd) is in `twapserver.auth.admin`.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapserver.auth.accounts import Account, AccountDisabled, check_token_holder
from twapserver.auth.passwords import VerificationGate, hash_password
from twapserver.auth.tokens import TokenCodec, TokenType
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
    session: AsyncSession,
    username: str,
    password: str,
    *,
    now_ns: int,
    gate: VerificationGate | None = None,
) -> UserRow:
    """Add a user (created at `now_ns`, ns since the epoch) and flush; the caller commits.

    The password is hashed through `gate` when given (the server: bounded, may
    raise `VerificationBusy`), else in a worker thread (the CLI, tests). Raises
    `InvalidAccount` for a bad username or password and `UserExists` when the
    name is taken; after `UserExists` the session has been rolled back.
    """
    check_username(username)
    check_password(password)
    if gate is not None:
        password_hash = await gate.hash(password)
    else:
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


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    gate: VerificationGate,
    username: str,
    password: str,
) -> UserRow | None:
    """The user if `password` is theirs; None for a wrong password or an unknown user.

    Raises `AccountDisabled` for a disabled user's right password, and
    `VerificationBusy` when no verification slot frees up in time. The row is
    read inside the gate's slot, in a session closed before hashing starts:
    verification takes ~0.1 s (more under load), and holding a pooled
    connection that long (SQLite has one) stalled every other request during a
    login flood.
    """
    found: UserRow | None = None

    async def find_hash() -> str | None:
        nonlocal found
        # A name no account can have (a NUL byte, which PostgreSQL refuses in
        # text, or 64 KiB of form field) is not looked up: an unknown user.
        if _USERNAME.fullmatch(username):
            async with sessions() as session:
                found = await get_user_by_name(session, username)
        return None if found is None else found.password_hash

    if not await gate.verify(password, find_hash) or found is None:
        return None
    if found.disabled:
        raise AccountDisabled("user is disabled")
    return found


async def user_for_token(
    session: AsyncSession, codec: TokenCodec, token: str, expected: TokenType, *, now_s: float
) -> UserRow:
    """The user a valid token of type `expected` was issued to, at `now_s` (s since epoch).

    Reads the user's row (no cache). Raises a `TokenError`: `InvalidToken` also
    when that user no longer exists, `AccountDisabled`, or `TokenRevoked` when
    the user's token version moved on since the token was issued.
    """
    claims = codec.decode(token, expected, now_s=now_s)
    user = await session.get(UserRow, claims.user_id)
    check_token_holder(claims, None if user is None else Account.of(user))
    assert user is not None  # check_token_holder refused a missing user
    return user
