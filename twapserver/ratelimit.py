"""Token-bucket rate limiting per key (client IP, username, user id), in memory.

A bucket holds up to `burst` tokens and refills at `per_minute / 60` tokens per
second; each request takes one, and a request that finds the bucket empty is
refused with how long until a token is back (the `Retry-After` of a 429). Time
is monotonic seconds from an injected clock, so tests move it by hand.

Memory is bounded: a bucket that has refilled completely carries no
information (a fresh one would be identical) and is dropped, and past
`max_keys` live buckets the least recently used one goes. Limits are per
process: with N API workers a client gets up to N times the limit.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

__all__ = ["RateLimit", "RateLimited", "RateLimiter"]


class RateLimit(BaseModel):
    """A token bucket's shape: `burst` requests at once, then `per_minute` on average."""

    model_config = {"frozen": True}

    burst: int = Field(ge=1, description="Requests allowed at once (the bucket's size).")
    per_minute: float = Field(gt=0, description="Sustained requests per minute (refill rate).")

    def __str__(self) -> str:
        return f"{self.burst} at once, {self.per_minute:g} per minute"


class RateLimited(Exception):
    """A refused request: `key` ran out of tokens; one is back after `retry_after_s` seconds."""

    def __init__(self, key: str, retry_after_s: float) -> None:
        super().__init__(f"rate limit of {key!r} reached; retry after {retry_after_s:.1f} s")
        self.key = key
        self.retry_after_s = retry_after_s

    @property
    def retry_after_header(self) -> str:
        """Whole seconds for `Retry-After` (rounded up, at least 1)."""
        return str(max(1, math.ceil(self.retry_after_s)))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """One token bucket per key, all with the same `limit`."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._rate_per_s = limit.per_minute / 60
        # Least recently touched first: eviction pops from the front.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        """Buckets currently held (not yet refilled or evicted)."""
        return len(self._buckets)

    def take(self, key: str) -> None:
        """Spend one token of `key`'s bucket; raises `RateLimited` when it is empty."""
        now = self._clock()
        self._drop_refilled(now)
        bucket = self._buckets.pop(key, None)
        tokens = self._refilled(bucket, now) if bucket is not None else float(self.limit.burst)
        if tokens < 1:
            self._buckets[key] = _Bucket(tokens, now)
            raise RateLimited(key, (1 - tokens) / self._rate_per_s)
        self._buckets[key] = _Bucket(tokens - 1, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        elapsed = max(0.0, now - bucket.updated_s)
        return min(float(self.limit.burst), bucket.tokens + elapsed * self._rate_per_s)

    def _drop_refilled(self, now: float) -> None:
        # From the least recently touched end, stopping at the first bucket still
        # refilling: O(evicted + 1) per call. A newer bucket may be full before an
        # older, emptier one and wait for a later call; `max_keys` bounds the rest.
        while self._buckets:
            key, bucket = next(iter(self._buckets.items()))
            if self._refilled(bucket, now) < self.limit.burst:
                return
            del self._buckets[key]
