"""`AccessControl`: one app's authentication state — account cache, login gate, rate limiters."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapserver.auth.accounts import Account, AccountCache, check_token_holder
from twapserver.auth.passwords import VerificationGate
from twapserver.auth.tokens import TokenCodec, TokenType
from twapserver.ratelimit import RateLimiter
from twapserver.settings import Settings

__all__ = ["AccessControl"]


@dataclass(slots=True)
class AccessControl:
    """Everything in memory that guards one app's accounts; times on one monotonic clock.

    * `accounts`: token holders' account facts, cached `user_cache_ttl_s`;
    * `passwords`: at most `login_concurrency` password verifications at once;
    * `per_ip`, `per_username`: requests to the /auth routes;
    * `orders_per_user`: order submissions.
    """

    accounts: AccountCache
    passwords: VerificationGate
    per_ip: RateLimiter
    per_username: RateLimiter
    orders_per_user: RateLimiter

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> AccessControl:
        """The state for `settings`, with every TTL and bucket on `clock` (seconds)."""
        return cls(
            accounts=AccountCache(settings.user_cache_ttl_s, clock=clock),
            passwords=VerificationGate(settings.login_concurrency, settings.login_queue_timeout_s),
            per_ip=RateLimiter(settings.auth_ip_limit, clock=clock),
            per_username=RateLimiter(settings.auth_username_limit, clock=clock),
            orders_per_user=RateLimiter(settings.order_limit, clock=clock),
        )

    async def account_for_token(
        self,
        sessions: async_sessionmaker[AsyncSession],
        codec: TokenCodec,
        token: str,
        expected: TokenType,
        *,
        now_s: float,
    ) -> Account:
        """The account a valid `expected` token speaks for at `now_s` (s since the epoch).

        Like `user_for_token`, but the account comes from the cache: no database
        round trip while it is fresh. Raises a `TokenError`.
        """
        claims = codec.decode(token, expected, now_s=now_s)
        return check_token_holder(claims, await self.accounts.get(sessions, claims.user_id))
