"""Redis for the bus tests: the URL, a per-test key prefix, and waiting on conditions."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis
from redis.asyncio import Redis

REDIS_URL = os.environ.get("TWAP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> str:
    """The test Redis URL, or skip the test saying why Redis is unreachable."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {exc!r}")
    return REDIS_URL


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
async def bus_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key/channel prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"twaptest-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Return once `condition()` holds; fail naming `what` after `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            # Any condition on state other tasks change: polled, not slept on a guess.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        pytest.fail(f"no {what} within {timeout_s} s")


__all__ = ["REDIS_URL", "bus_prefix", "redis_url", "require_redis", "wait_for"]
