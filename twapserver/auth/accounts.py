"""What a token's holder must still be: the account facts tokens are checked against, cached.

A token names its user's id, name and token version; it is honoured only while
that user exists under that name, is not disabled, and is still at that token
version (disabling, a password change or a refresh-token reuse bumps it).
Reading those facts from the database on every request would put a round
trip on every authenticated call, so `AccountCache` keeps them for a short TTL:
a revocation made by another process (the `twapserver users` CLI, another API
worker) applies within that TTL; one made by this process applies at once
(`invalidate`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapserver.auth.tokens import InvalidToken, TokenClaims, TokenError
from twapserver.db.models import UserRow

__all__ = ["Account", "AccountCache", "AccountDisabled", "TokenRevoked", "check_token_holder"]


class AccountDisabled(TokenError):
    """The user was disabled (`twapserver users disable`): no login, no token works."""


class TokenRevoked(TokenError):
    """The token predates the user's current token version (password changed, disabled, ...)."""


@dataclass(frozen=True, slots=True)
class Account:
    """The facts about a user that authentication checks; `id` is never reused."""

    id: int
    username: str
    token_version: int
    disabled: bool

    @classmethod
    def of(cls, user: UserRow) -> Account:
        """The account facts of a users row."""
        return cls(user.id, user.username, user.token_version, user.disabled)


def check_token_holder(claims: TokenClaims, account: Account | None) -> Account:
    """`account` if the token with `claims` still speaks for it; else a `TokenError`.

    `account` is the current state of the user with id `claims.user_id` (None
    when there is no such user).
    """
    # Matching the name as well as the id guards databases whose ids were reused
    # before migration 0002 made them AUTOINCREMENT.
    if account is None or account.username != claims.username:
        raise InvalidToken("user no longer exists")
    if account.disabled:
        raise AccountDisabled("user is disabled")
    if account.token_version != claims.version:
        raise TokenRevoked("token revoked")
    return account


class AccountCache:
    """Accounts by user id, each kept `ttl_s` seconds (monotonic `clock`), at most `max_entries`.

    A missing user is cached too (as None), so a valid token of a deleted user
    does not cost a query per request either.
    """

    def __init__(
        self,
        ttl_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max_entries = max_entries
        # Oldest entry first, so expiry and the size bound both pop from the front.
        self._entries: OrderedDict[int, tuple[float, Account | None]] = OrderedDict()
        self._loading: dict[int, asyncio.Future[Account | None]] = {}

    def __len__(self) -> int:
        """Entries held (fresh or not yet swept)."""
        return len(self._entries)

    async def get(self, sessions: async_sessionmaker[AsyncSession], user_id: int) -> Account | None:
        """The account of `user_id`: from the cache while fresh, else read with `sessions`."""
        now = self._clock()
        self._sweep(now)
        entry = self._entries.get(user_id)
        if entry is not None:
            return entry[1]
        # One query per user however many requests miss at once (a client's
        # concurrent requests all miss when its entry expires).
        loading = self._loading.get(user_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(sessions, user_id, now))
            self._loading[user_id] = loading
            loading.add_done_callback(lambda done: self._forget_load(user_id, done))
        return await asyncio.shield(loading)

    async def _load(
        self, sessions: async_sessionmaker[AsyncSession], user_id: int, now: float
    ) -> Account | None:
        async with sessions() as session:
            user = await session.get(UserRow, user_id)
            account = None if user is None else Account.of(user)
        # Not if `invalidate` ran meanwhile: this read may predate the change.
        if self.ttl_s > 0 and self._loading.get(user_id) is asyncio.current_task():
            self._entries[user_id] = (now + self.ttl_s, account)
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return account

    def invalidate(self, user_id: int) -> None:
        """Forget `user_id`: this process just changed the account, the next request reads it."""
        self._entries.pop(user_id, None)
        self._loading.pop(user_id, None)

    def _forget_load(self, user_id: int, done: asyncio.Future[Account | None]) -> None:
        if self._loading.get(user_id) is done:
            del self._loading[user_id]

    def _sweep(self, now: float) -> None:
        # Entries are inserted with one TTL, so they expire in insertion order.
        while self._entries:
            expires, _ = next(iter(self._entries.values()))
            if expires > now:
                return
            self._entries.popitem(last=False)
