"""Refresh-token rotation with reuse detection.

A login starts a *family*; each refresh token is recorded by its `jti`, and
trading it at POST /auth/refresh marks it used and issues the next pair of the
same family. A refresh token presented a second time means two parties hold
it (a stolen token, or a replay), and the server cannot tell which is
legitimate: the user's token version is bumped, which revokes that family and
every other token of the user. Everyone logs in again. The family is recorded
with each token and logged on a reuse: it names the login that was compromised.

A second use within `reuse_grace_s` of the first is not a theft but a race (two
requests of one client, or two processes sharing its stored tokens, refreshing
at once): it gets a pair of the same family too. The window is the price: a
thief who replays within it is not detected.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from twapserver.auth.accounts import Account, check_token_holder
from twapserver.auth.tokens import InvalidToken, TokenClaims, TokenCodec, TokenError, TokenPair
from twapserver.db.models import RefreshTokenRow, UserRow

__all__ = ["RefreshReused", "issue_login_pair", "rotate_refresh_token"]

log = logging.getLogger("twapserver.auth")


class RefreshReused(TokenError):
    """A refresh token was presented after it had been used; `user_id`'s tokens are revoked."""

    def __init__(self, user_id: int) -> None:
        super().__init__("refresh token reused: every session of this user is revoked")
        self.user_id = user_id


async def issue_login_pair(
    session: AsyncSession, codec: TokenCodec, user: UserRow, *, now_s: float
) -> TokenPair:
    """A new pair (a new family) for `user` at `now_s`, recorded and committed.

    Also deletes the user's expired refresh-token records, so the table holds
    at most what the user issued within one refresh-token lifetime.
    """
    pair = codec.issue_pair(user.id, user.username, version=user.token_version, now_s=now_s)
    await session.execute(
        delete(RefreshTokenRow).where(
            RefreshTokenRow.user_id == user.id, RefreshTokenRow.expires_s <= int(now_s)
        )
    )
    session.add(_record(pair.refresh))
    await session.commit()
    return pair


async def rotate_refresh_token(
    session: AsyncSession, codec: TokenCodec, token: str, *, now_s: float, reuse_grace_s: float
) -> TokenPair:
    """The next pair for a valid, unused refresh `token`, committed; the token is used up.

    Raises a `TokenError` like any token check, and `RefreshReused` (after
    committing the revocation) when `token` had been used more than
    `reuse_grace_s` seconds before `now_s` (s since the epoch).
    """
    claims = codec.decode(token, "refresh", now_s=now_s)
    now_ns = int(now_s * 1e9)
    user = await session.get(UserRow, claims.user_id)
    check_token_holder(claims, None if user is None else Account.of(user))
    assert user is not None  # check_token_holder refused a missing user
    # One conditional UPDATE decides: of two concurrent uses, exactly one finds
    # the token unused (PostgreSQL re-checks the WHERE after the row lock).
    claimed = await session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.jti == claims.jti, RefreshTokenRow.used_ns.is_(None))
        .values(used_ns=now_ns)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await _check_second_use(session, claims, now_ns - int(reuse_grace_s * 1e9))
    pair = codec.issue_pair(
        user.id, user.username, version=user.token_version, family=claims.family, now_s=now_s
    )
    session.add(_record(pair.refresh))
    await session.commit()
    return pair


async def _check_second_use(session: AsyncSession, claims: TokenClaims, grace_from_ns: int) -> None:
    """Return for a race (first used after `grace_from_ns`); revoke and raise for a reuse."""
    row = await session.get(RefreshTokenRow, claims.jti)
    if row is None:
        # Signed by us yet never recorded: its records went with an expiry sweep
        # or a deleted user. Nothing to revoke.
        await session.rollback()
        raise InvalidToken("invalid token")
    if row.used_ns is not None and row.used_ns >= grace_from_ns:
        return
    await session.execute(
        update(UserRow)
        .where(UserRow.id == claims.user_id)
        .values(token_version=UserRow.token_version + 1)
    )
    await session.commit()
    log.warning(
        "refresh token %s of family %s (user %s) used twice: all the user's tokens revoked",
        claims.jti,
        claims.family,
        claims.user_id,
    )
    raise RefreshReused(claims.user_id)


def _record(claims: TokenClaims) -> RefreshTokenRow:
    assert claims.family is not None  # refresh tokens always belong to a family
    return RefreshTokenRow(
        jti=claims.jti, family=claims.family, user_id=claims.user_id, expires_s=claims.expires_at_s
    )
