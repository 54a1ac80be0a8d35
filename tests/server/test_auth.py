"""Accounts and tokens over HTTP: login, refresh, registration, `CurrentUser`, secret policy.

The app runs in-process with its lifespan, on SQLite in tmp_path, with an
injected token clock so expiry is tested without sleeping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import delete

from twapserver.api.deps import CurrentUser
from twapserver.app import create_app
from twapserver.auth import InsecureSecretError, TokenCodec, create_user
from twapserver.db.models import UserRow
from twapserver.settings import DEFAULT_JWT_SECRET, Settings

SECRET = "test-secret-long-enough-for-hs256-0123456789"
PASSWORD = "correct horse battery"
ACCESS_TTL_S = 900
REFRESH_TTL_S = 7 * 86400


class FakeClock:
    """Seconds since the epoch, moved only by `advance`."""

    def __init__(self) -> None:
        self.now_s = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass
class Server:
    app: FastAPI
    http: httpx.AsyncClient
    clock: FakeClock
    alice_id: int

    async def login(self, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
        return await self.http.post(
            "/auth/token", data={"username": username, "password": password}
        )

    async def tokens(self) -> dict[str, Any]:
        response = await self.login()
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def me(self, token: str) -> httpx.Response:
        return await self.http.get("/me", headers={"Authorization": f"Bearer {token}"})


@asynccontextmanager
async def serve(tmp_path: Path, **overrides: Any) -> AsyncIterator[Server]:
    """The app with its lifespan running, a user `alice`, and a `/me` probe behind `CurrentUser`."""
    settings = Settings(
        collect=False,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        **{"jwt_secret": SECRET, **overrides},
    )
    app = create_app(settings)
    clock = FakeClock()
    app.state.token_clock = clock

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {"id": user.id, "username": user.username}

    async with app.router.lifespan_context(app):
        async with app.state.sessions() as session:
            alice = await create_user(session, "alice", PASSWORD, now_ns=0)
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twap") as http:
            yield Server(app, http, clock, alice.id)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serve(tmp_path) as running:
        yield running


# --- login ----------------------------------------------------------------


async def test_login_returns_a_bearer_token_pair(server: Server) -> None:
    response = await server.login()

    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", ACCESS_TTL_S)


async def test_access_token_opens_a_protected_route(server: Server) -> None:
    tokens = await server.tokens()

    response = await server.me(tokens["access_token"])

    assert response.status_code == 200
    assert response.json() == {"id": server.alice_id, "username": "alice"}


async def test_tokens_carry_the_documented_claims(server: Server) -> None:
    tokens = await server.tokens()

    access = jwt.decode(tokens["access_token"], SECRET, ["HS256"], options={"verify_exp": False})
    refresh = jwt.decode(tokens["refresh_token"], SECRET, ["HS256"], options={"verify_exp": False})
    assert access["sub"] == refresh["sub"] == "alice"
    assert access["uid"] == refresh["uid"] == server.alice_id
    assert (access["type"], refresh["type"]) == ("access", "refresh")
    assert access["iat"] == int(server.clock())
    assert access["exp"] - access["iat"] == ACCESS_TTL_S
    assert refresh["exp"] - refresh["iat"] == REFRESH_TTL_S
    assert access["jti"] != refresh["jti"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password"), ("mallory", PASSWORD)],
    ids=["wrong-password", "unknown-user"],
)
async def test_bad_credentials_are_401_with_a_bearer_challenge(
    server: Server, username: str, password: str
) -> None:
    response = await server.login(username, password)

    assert response.status_code == 401
    assert response.json()["detail"] == "incorrect username or password"
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- CurrentUser refusals ---------------------------------------------------


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    # A middle character: the last one may only carry padding bits.
    i = len(signature) // 2
    flipped = "A" if signature[i] != "A" else "B"
    return ".".join([header, payload, signature[:i] + flipped + signature[i + 1 :]])


def _signed_elsewhere(server: Server) -> str:
    other = TokenCodec(secret="another-secret-also-long-enough-0123456789")
    return other.issue_pair(server.alice_id, "alice", version=0, now_s=server.clock()).access_token


def _unsigned(server: Server) -> str:
    claims = jwt.decode(_signed_elsewhere(server), options={"verify_signature": False})
    return jwt.encode(claims, "", algorithm="none")


ForgeToken = Callable[[Server, dict[str, Any]], str]


@pytest.mark.parametrize(
    ("forge", "detail"),
    [
        (lambda server, tokens: "not-a-jwt", "invalid token"),
        (lambda server, tokens: _tampered(tokens["access_token"]), "invalid token"),
        (lambda server, tokens: _signed_elsewhere(server), "invalid token"),
        (lambda server, tokens: _unsigned(server), "invalid token"),
        (lambda server, tokens: tokens["refresh_token"], "wrong token type"),
    ],
    ids=["malformed", "tampered", "wrong-secret", "alg-none", "refresh-as-access"],
)
async def test_bad_tokens_are_refused_with_the_reason(
    server: Server, forge: ForgeToken, detail: str
) -> None:
    token = forge(server, await server.tokens())

    response = await server.me(token)

    assert response.status_code == 401
    assert response.json()["detail"] == detail
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_missing_token_is_not_authenticated(server: Server) -> None:
    response = await server.http.get("/me")

    assert response.status_code == 401
    assert response.json()["detail"] == "not authenticated"


async def test_access_token_expires_after_its_ttl(server: Server) -> None:
    tokens = await server.tokens()

    server.clock.advance(ACCESS_TTL_S - 1)
    still_valid = await server.me(tokens["access_token"])
    server.clock.advance(1)
    expired = await server.me(tokens["access_token"])

    assert still_valid.status_code == 200
    assert (expired.status_code, expired.json()["detail"]) == (401, "token expired")


async def test_token_of_a_deleted_user_is_refused(server: Server) -> None:
    tokens = await server.tokens()
    async with server.app.state.sessions() as session:
        await session.execute(delete(UserRow).where(UserRow.username == "alice"))
        await session.commit()

    response = await server.me(tokens["access_token"])

    assert (response.status_code, response.json()["detail"]) == (401, "user no longer exists")


# --- refresh ----------------------------------------------------------------


async def test_refresh_after_access_expiry_returns_a_new_working_pair(server: Server) -> None:
    old = await server.tokens()
    server.clock.advance(ACCESS_TTL_S + 1)

    response = await server.http.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})

    new = response.json()
    assert response.status_code == 200
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert (await server.me(new["access_token"])).status_code == 200


async def test_access_token_is_refused_as_a_refresh_token(server: Server) -> None:
    tokens = await server.tokens()

    response = await server.http.post(
        "/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )

    assert (response.status_code, response.json()["detail"]) == (401, "wrong token type")


async def test_refresh_token_expires_after_its_ttl(server: Server) -> None:
    tokens = await server.tokens()
    server.clock.advance(REFRESH_TTL_S)

    response = await server.http.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )

    assert (response.status_code, response.json()["detail"]) == (401, "token expired")


# --- registration -----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"username": "bob", "password": PASSWORD}, {"username": "b b", "password": "short"}],
    ids=["valid", "invalid"],
)
async def test_registration_is_404_unless_enabled(server: Server, body: dict[str, str]) -> None:
    response = await server.http.post("/auth/register", json=body)

    assert (response.status_code, response.json()["detail"]) == (404, "registration is disabled")


@pytest.fixture
async def open_server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serve(tmp_path, allow_registration=True) as running:
        yield running


async def test_registered_user_can_log_in(open_server: Server) -> None:
    response = await open_server.http.post(
        "/auth/register", json={"username": "bob", "password": PASSWORD}
    )

    assert response.status_code == 201
    assert response.json()["username"] == "bob"
    assert (await open_server.login("bob")).status_code == 200


async def test_registering_a_taken_name_is_409(open_server: Server) -> None:
    response = await open_server.http.post(
        "/auth/register", json={"username": "alice", "password": PASSWORD}
    )

    assert (response.status_code, response.json()["detail"]) == (
        409,
        "user 'alice' already exists",
    )


@pytest.mark.parametrize("username", ["ab", "a" * 65, "bob smith", "bob/1", "bøb"])
async def test_invalid_username_is_422_naming_it(open_server: Server, username: str) -> None:
    response = await open_server.http.post(
        "/auth/register", json={"username": username, "password": PASSWORD}
    )

    assert response.status_code == 422
    assert f"username {username!r} must be 3 to 64 characters" in response.text


async def test_short_password_is_422_without_echoing_it(open_server: Server) -> None:
    response = await open_server.http.post(
        "/auth/register", json={"username": "bob", "password": "s3cr3t"}
    )

    assert response.status_code == 422
    assert "password is 6 characters long; at least 8 are required" in response.text
    assert "s3cr3t" not in response.text


# --- documentation ----------------------------------------------------------


async def test_openapi_documents_auth_routes_and_their_401s(server: Server) -> None:
    paths = (await server.http.get("/openapi.json")).json()["paths"]

    token_responses = paths["/auth/token"]["post"]["responses"]
    refresh_401 = paths["/auth/refresh"]["post"]["responses"]["401"]
    assert "incorrect username or password" in str(token_responses["401"])
    assert "wrong token type" in str(refresh_401)
    assert set(paths["/auth/register"]["post"]["responses"]) >= {"201", "404", "409", "422"}


# --- secret policy ----------------------------------------------------------


@pytest.mark.parametrize(
    "secret", ["", DEFAULT_JWT_SECRET, "x" * 31], ids=["empty", "default", "short"]
)
def test_weak_secret_is_refused_outside_demo_mode(tmp_path: Path, secret: str) -> None:
    settings = Settings(collect=False, jwt_secret=secret)

    with pytest.raises(InsecureSecretError, match="TWAP_JWT_SECRET"):
        create_app(settings)


# The forged token is signed with the short default secret on purpose.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_demo_mode_replaces_the_default_secret(tmp_path: Path) -> None:
    async with serve(tmp_path, demo=True, jwt_secret=DEFAULT_JWT_SECRET) as demo:
        default_codec = TokenCodec(secret=DEFAULT_JWT_SECRET)
        forged = default_codec.issue_pair(demo.alice_id, "alice", version=0, now_s=demo.clock())

        forged_response = await demo.me(forged.access_token)
        own_response = await demo.me((await demo.tokens())["access_token"])

    assert (forged_response.status_code, forged_response.json()["detail"]) == (401, "invalid token")
    assert own_response.status_code == 200


def test_run_without_a_secret_exits_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAP_")}
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"
    command = [sys.executable, "-c", "from twapserver.cli import main; main()", "run"]

    result = subprocess.run(
        [*command, "--port", "0", "--database-url", database_url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: TWAP_JWT_SECRET is not set")
