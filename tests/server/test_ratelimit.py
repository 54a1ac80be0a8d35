"""Rate limits: the token bucket itself, 429s on /auth/*, the per-user order limit, the login gate.

The buckets run on a fake monotonic clock; HTTP goes through the app in process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.test_auth import PASSWORD, FakeClock, Server, serve
from twapserver.auth import (
    AccessControl,
    VerificationBusy,
    VerificationGate,
    create_user,
    passwords,
)
from twapserver.ratelimit import RateLimit, RateLimited, RateLimiter

ORDER = {
    "token_id": "t-1",
    "exchange": "binance",
    "symbol": "BTC-USDT",
    "side": "buy",
    "quantity": "0.01",
    "limit_price": "70000",
    "duration_s": 60,
    "slices": 6,
}


# --- the limiter ---------------------------------------------------------------


def test_a_burst_passes_then_the_next_request_waits_for_one_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(burst=3, per_minute=6), clock=clock)  # a token per 10 s

    for _ in range(3):
        limiter.take("k")
    with pytest.raises(RateLimited) as refused:
        limiter.take("k")

    assert refused.value.retry_after_s == pytest.approx(10)
    assert refused.value.retry_after_header == "10"


def test_tokens_come_back_at_the_configured_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(burst=2, per_minute=60), clock=clock)
    limiter.take("k")
    limiter.take("k")

    clock.advance(0.5)
    with pytest.raises(RateLimited) as early:
        limiter.take("k")
    clock.advance(0.5)
    limiter.take("k")  # one second: one token back

    assert early.value.retry_after_s == pytest.approx(0.5)


def test_keys_have_separate_buckets() -> None:
    limiter = RateLimiter(RateLimit(burst=1, per_minute=1), clock=FakeClock())
    limiter.take("alice")

    limiter.take("bob")
    with pytest.raises(RateLimited):
        limiter.take("alice")


def test_refilled_buckets_are_forgotten() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(burst=2, per_minute=60), clock=clock)
    for i in range(1000):
        limiter.take(f"client-{i}")
    assert len(limiter) == 1000

    clock.advance(1.0)  # every bucket is full again
    limiter.take("late")

    assert len(limiter) == 1


def test_memory_stays_bounded_under_many_busy_keys() -> None:
    limiter = RateLimiter(RateLimit(burst=5, per_minute=1), clock=FakeClock(), max_keys=100)

    for i in range(10_000):
        limiter.take(f"client-{i}")

    assert len(limiter) == 100


# --- /auth routes ----------------------------------------------------------------


@pytest.fixture
async def tight(tmp_path: Path) -> AsyncIterator[tuple[Server, FakeClock]]:
    """A server allowing 3 auth requests per IP and 2 per username (one back per 10 s)."""
    limits: dict[str, Any] = {
        "auth_ip_limit": RateLimit(burst=3, per_minute=6),
        "auth_username_limit": RateLimit(burst=2, per_minute=6),
        "order_limit": RateLimit(burst=2, per_minute=6),
        "allow_registration": True,
    }
    async with serve(tmp_path, **limits) as server:
        clock = FakeClock()
        server.app.state.access_control = AccessControl.from_settings(
            server.app.state.settings, clock=clock
        )
        yield server, clock


def _assert_429(response: httpx.Response, retry_after: str, *named: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == retry_after
    assert all(name in response.json()["detail"] for name in named), response.json()


async def test_logins_per_username_are_limited(tight: tuple[Server, FakeClock]) -> None:
    server, clock = tight
    first, second = await server.login(), await server.login(password="wrong password")

    third = await server.login()
    clock.advance(10)
    after_wait = await server.login()

    assert (first.status_code, second.status_code) == (200, 401)
    _assert_429(third, "10", "user 'alice'", "2 at once, 6 per minute")
    assert after_wait.status_code == 200


async def test_auth_requests_per_ip_are_limited_across_routes(
    tight: tuple[Server, FakeClock],
) -> None:
    server, _ = tight
    await server.login("mallory", "wrong password")
    await server.login("trudy", "wrong password")
    await server.http.post("/auth/refresh", json={"refresh_token": "not-a-jwt"})

    refused = await server.http.post(
        "/auth/register", json={"username": "eve", "password": PASSWORD}
    )

    _assert_429(refused, "10", "from 127.0.0.1", "3 at once")


async def test_refreshes_count_against_the_token_s_username(
    tight: tuple[Server, FakeClock],
) -> None:
    server, _ = tight
    tokens = await server.tokens()  # the IP's 1st request and alice's
    rotated = (await server.http.post("/auth/refresh", json=tokens)).json()

    refused = await server.http.post("/auth/refresh", json=rotated)  # the IP's 3rd: allowed

    _assert_429(refused, "10", "user 'alice'")


# --- orders ----------------------------------------------------------------------


async def _bearer(server: Server, username: str) -> dict[str, str]:
    response = await server.login(username)
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_order_submissions_per_user_are_limited(tight: tuple[Server, FakeClock]) -> None:
    server, clock = tight
    async with server.app.state.sessions() as session:
        await create_user(session, "bob", PASSWORD, now_ns=0)
        await session.commit()
    alice, bob = await _bearer(server, "alice"), await _bearer(server, "bob")

    allowed = [await server.http.post("/orders/twap", json=ORDER, headers=alice) for _ in range(2)]
    refused = await server.http.post("/orders/twap", json=ORDER, headers=alice)
    other_user = await server.http.post("/orders/twap", json=ORDER, headers=bob)
    clock.advance(10)
    after_wait = await server.http.post("/orders/twap", json=ORDER, headers=alice)

    # No market data in this app: accepted by the limiter, then refused by validation.
    assert all(response.status_code != 429 for response in allowed)
    _assert_429(refused, "10", "user 'alice'", "2 at once, 6 per minute")
    assert other_user.status_code != 429
    assert after_wait.status_code != 429


# --- the password-verification gate --------------------------------------------------


async def _unknown_user() -> str | None:
    return None


async def test_the_gate_runs_no_more_verifications_than_its_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = VerificationGate(concurrency=2, queue_timeout_s=30)
    running = most = 0
    real = passwords.verify_password

    def counting_verify(password: str, password_hash: str) -> bool:  # a spy: still verifies
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            return real(password, password_hash)
        finally:
            running -= 1

    monkeypatch.setattr(passwords, "verify_password", counting_verify)

    results = await asyncio.gather(*(gate.verify("guess", _unknown_user) for _ in range(6)))

    assert results == [False] * 6
    assert most == 2


async def test_a_login_that_waits_too_long_for_the_gate_is_busy() -> None:
    gate = VerificationGate(concurrency=1, queue_timeout_s=0.01)
    first = asyncio.create_task(gate.verify("guess", _unknown_user))
    await asyncio.sleep(0)  # let the first take the only slot

    with pytest.raises(VerificationBusy) as busy:
        await gate.verify("guess", _unknown_user)
    assert await first is False
    assert busy.value.retry_after_s == 0.01


async def test_registration_waits_for_the_gate_and_gets_503_when_it_stays_full(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path, allow_registration=True) as server:
        control = AccessControl.from_settings(server.app.state.settings)
        control.passwords = VerificationGate(concurrency=1, queue_timeout_s=0.01)
        server.app.state.access_control = control
        occupying = asyncio.create_task(control.passwords.verify("guess", _unknown_user))
        await asyncio.sleep(0)  # it takes the only slot

        refused = await server.http.post(
            "/auth/register", json={"username": "bob", "password": PASSWORD}
        )
        await occupying
        accepted = await server.http.post(
            "/auth/register", json={"username": "bob", "password": PASSWORD}
        )

    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert refused.json()["detail"].startswith("too many password checks in progress")
    assert accepted.status_code == 201
