"""Revoking tokens: refresh rotation and reuse, disabled, deleted and re-added users, the cache.

In process (httpx ASGI transport) with the app's lifespan, on SQLite in tmp_path;
the token clock and the monotonic clock of the account cache are both fakes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.server.test_auth import PASSWORD, SECRET, FakeClock, Server, serve
from twapserver.app import create_app
from twapserver.auth import (
    AccessControl,
    AccountDisabled,
    InsecureSecretError,
    create_user,
    make_token_codec,
    user_for_token,
)
from twapserver.auth.admin import change_password, delete_user, set_disabled
from twapserver.settings import Settings

CACHE_TTL_S = 2.0
REUSE_GRACE_S = 10.0  # the default TWAP_REFRESH_REUSE_GRACE_S


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serve(tmp_path, user_cache_ttl_s=CACHE_TTL_S) as running:
        yield running


@pytest.fixture
def monotonic(server: Server) -> FakeClock:
    """The clock of the account cache and rate limiters, moved by hand."""
    clock = FakeClock()
    server.app.state.access_control = AccessControl.from_settings(
        server.app.state.settings, clock=clock
    )
    return clock


async def _refresh(server: Server, refresh_token: str) -> Any:
    return await server.http.post("/auth/refresh", json={"refresh_token": refresh_token})


# --- refresh rotation --------------------------------------------------------


async def test_a_refresh_token_works_once(server: Server, monotonic: FakeClock) -> None:
    first = await server.tokens()

    rotated = await _refresh(server, first["refresh_token"])
    server.clock.advance(REUSE_GRACE_S + 1)
    again = await _refresh(server, first["refresh_token"])

    assert rotated.status_code == 200
    assert (again.status_code, again.json()["detail"]) == (
        401,
        "refresh token reused: every session of this user is revoked",
    )


async def test_reusing_a_refresh_token_revokes_its_whole_family_at_once(
    server: Server, monotonic: FakeClock
) -> None:
    stolen = await server.tokens()
    newest = (await _refresh(server, stolen["refresh_token"])).json()
    assert (await server.me(newest["access_token"])).status_code == 200

    server.clock.advance(REUSE_GRACE_S + 1)
    await _refresh(server, stolen["refresh_token"])  # the replay

    refreshed = await _refresh(server, newest["refresh_token"])
    accessed = await server.me(newest["access_token"])  # no cache wait: same process
    assert (refreshed.status_code, refreshed.json()["detail"]) == (401, "token revoked")
    assert (accessed.status_code, accessed.json()["detail"]) == (401, "token revoked")


async def test_after_a_reuse_the_user_can_log_in_again(
    server: Server, monotonic: FakeClock
) -> None:
    stolen = await server.tokens()
    await _refresh(server, stolen["refresh_token"])
    server.clock.advance(REUSE_GRACE_S + 1)
    await _refresh(server, stolen["refresh_token"])

    fresh = await server.tokens()

    assert (await server.me(fresh["access_token"])).status_code == 200
    assert (await _refresh(server, fresh["refresh_token"])).status_code == 200


async def test_two_refreshes_racing_with_one_token_both_get_working_pairs(
    server: Server, monotonic: FakeClock
) -> None:
    tokens = await server.tokens()

    first = await _refresh(server, tokens["refresh_token"])
    server.clock.advance(REUSE_GRACE_S - 1)
    second = await _refresh(server, tokens["refresh_token"])  # e.g. another process of the user

    assert (first.status_code, second.status_code) == (200, 200)
    for pair in (first.json(), second.json()):
        assert (await server.me(pair["access_token"])).status_code == 200
        assert (await _refresh(server, pair["refresh_token"])).status_code == 200


# --- disabled and deleted users ------------------------------------------------


async def test_disabled_user_token_is_refused_once_the_cache_expires(
    server: Server, monotonic: FakeClock
) -> None:
    tokens = await server.tokens()
    assert (await server.me(tokens["access_token"])).status_code == 200  # now cached
    async with server.app.state.sessions() as session:
        await set_disabled(session, "alice", True)  # as the CLI does, from "another process"

    monotonic.advance(CACHE_TTL_S - 0.1)
    within_ttl = await server.me(tokens["access_token"])
    monotonic.advance(0.2)
    after_ttl = await server.me(tokens["access_token"])
    refreshed = await _refresh(server, tokens["refresh_token"])

    assert within_ttl.status_code == 200
    assert (after_ttl.status_code, after_ttl.json()["detail"]) == (401, "user is disabled")
    assert (refreshed.status_code, refreshed.json()["detail"]) == (401, "user is disabled")


async def test_disabled_user_cannot_log_in_and_enabling_needs_a_new_login(
    server: Server, monotonic: FakeClock
) -> None:
    before = await server.tokens()
    async with server.app.state.sessions() as session:
        await set_disabled(session, "alice", True)
    refused = await server.login()
    async with server.app.state.sessions() as session:
        await set_disabled(session, "alice", False)
    monotonic.advance(CACHE_TTL_S)

    assert (refused.status_code, refused.json()["detail"]) == (401, "user is disabled")
    assert (await server.me(before["access_token"])).json()["detail"] == "token revoked"
    assert (await server.login()).status_code == 200


async def test_changing_the_password_revokes_every_token(
    server: Server, monotonic: FakeClock
) -> None:
    tokens = await server.tokens()
    async with server.app.state.sessions() as session:
        await change_password(session, "alice", "a brand new password")
    monotonic.advance(CACHE_TTL_S)

    response = await server.me(tokens["access_token"])

    assert (response.status_code, response.json()["detail"]) == (401, "token revoked")
    assert (await server.login(password=PASSWORD)).status_code == 401
    assert (await server.login(password="a brand new password")).status_code == 200


async def test_deleted_and_re_added_user_gets_a_new_id_and_the_old_token_stays_dead(
    server: Server, monotonic: FakeClock
) -> None:
    old = await server.tokens()
    async with server.app.state.sessions() as session:
        await delete_user(session, "alice")
        again = await create_user(session, "alice", PASSWORD, now_ns=1)
        await session.commit()
    monotonic.advance(CACHE_TTL_S)

    response = await server.me(old["access_token"])
    new = await server.tokens()

    assert again.id != server.alice_id
    assert (response.status_code, response.json()["detail"]) == (401, "user no longer exists")
    assert (await server.me(new["access_token"])).json() == {"id": again.id, "username": "alice"}


async def test_authenticated_requests_read_the_account_once_per_ttl_even_concurrently(
    server: Server, monotonic: FakeClock
) -> None:
    tokens = await server.tokens()
    statements: list[str] = []
    engine = server.app.state.sessions.kw["bind"]

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        for _ in range(5):
            assert (await server.me(tokens["access_token"])).status_code == 200
        monotonic.advance(CACHE_TTL_S)
        concurrent = await asyncio.gather(*(server.me(tokens["access_token"]) for _ in range(5)))
        assert [response.status_code for response in concurrent] == [200] * 5
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)

    assert len([s for s in statements if "FROM users" in s]) == 2


# --- secrets and passwords ------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    ["a" * 32, "ab" * 20, "abc" * 11],
    ids=["one-char", "two-chars", "three-chars"],
)
def test_low_entropy_secret_is_refused_naming_the_variable(secret: str) -> None:
    with pytest.raises(InsecureSecretError, match="TWAP_JWT_SECRET is too predictable"):
        make_token_codec(Settings(collect=False, jwt_secret=secret))


def test_a_random_hex_secret_of_32_characters_is_accepted() -> None:
    codec = make_token_codec(Settings(collect=False, jwt_secret="9f86d081884c7d659a2feaa0c55ad015"))

    assert codec.secret == "9f86d081884c7d659a2feaa0c55ad015"


@pytest.fixture
async def open_server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serve(tmp_path, allow_registration=True) as running:
        yield running


async def test_registration_without_a_json_content_type_is_415_without_echoing_the_body(
    open_server: Server,
) -> None:
    body = b'{"username": "bob", "password": "s3cr3t-but-long-enough"}'

    response = await open_server.http.post("/auth/register", content=body)

    assert (response.status_code, response.json()["detail"]) == (
        415,
        "content type '(none)' is not application/json",
    )
    assert "s3cr3t" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"username": "bob", "password": "s3cr3t"},
        {"username": "b b", "password": "s3cr3t-but-long-enough"},
        {"username": "bob", "password": 12345678901},
        {"username": "bob", "password": ["s3cr3t-in-a-list"]},
    ],
    ids=["short", "bad-username", "number", "list"],
)
async def test_registration_errors_never_echo_the_password(
    open_server: Server, body: dict[str, Any]
) -> None:
    response = await open_server.http.post("/auth/register", json=body)

    assert response.status_code == 422
    secret = body["password"]
    assert str(secret[0] if isinstance(secret, list) else secret) not in response.text


# --- the uncached check (used by /ws) --------------------------------------------


async def test_user_for_token_refuses_a_disabled_user_without_waiting_for_a_cache(
    server: Server,
) -> None:
    tokens = await server.tokens()
    async with server.app.state.sessions() as session:
        await set_disabled(session, "alice", True)

    async with server.app.state.sessions() as session:
        with pytest.raises(AccountDisabled, match="user is disabled"):
            await user_for_token(
                session,
                server.app.state.tokens,
                tokens["access_token"],
                "access",
                now_s=server.clock(),
            )


# --- names no account can have ---------------------------------------------------


@pytest.mark.parametrize("username", ["a\x00b", "x" * 5000], ids=["nul", "huge"])
async def test_login_with_an_impossible_username_is_401_on_every_backend(
    database_url: str, username: str
) -> None:
    settings = Settings(collect=False, database_url=database_url, jwt_secret=SECRET)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twap") as http:
            response = await http.post(
                "/auth/token", data={"username": username, "password": PASSWORD}
            )

    assert (response.status_code, response.json()["detail"]) == (
        401,
        "incorrect username or password",
    )
