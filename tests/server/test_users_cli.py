"""`twapserver users …`: accounts managed from the command line, then used over HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from tests.server.server_process import free_port, twapserver
from twapserver.auth import verify_password
from twapserver.cli import app
from twapserver.db.engine import make_engine
from twapserver.db.models import UserRow

SECRET = "test-secret-long-enough-for-hs256-0123456789"
PASSWORD = "correct horse battery"


def _add_from_stdin(
    name: str, stdin: str, database_url: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """`twapserver users add NAME --password-stdin` in a fresh process."""
    command = [sys.executable, "-c", "from twapserver.cli import main; main()", "users", "add"]
    return subprocess.run(
        [*command, name, "--password-stdin", "--database-url", database_url],
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def database_file_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"


def test_added_user_logs_in_to_a_server_on_the_same_database(
    tmp_path: Path, database_file_url: str
) -> None:
    added = _add_from_stdin("alice", PASSWORD + "\n", database_file_url, tmp_path)
    env = {"TWAP_JWT_SECRET": SECRET, "TWAP_COLLECT": "false"}

    with twapserver("--database-url", database_file_url, cwd=tmp_path, env=env) as base:
        login = httpx.post(base + "/auth/token", data={"username": "alice", "password": PASSWORD})

    assert (added.returncode, added.stdout) == (0, "added user 'alice' (id 1)\n")
    assert login.status_code == 200
    assert login.json()["token_type"] == "bearer"


def test_adding_a_taken_name_exits_2_with_one_line(tmp_path: Path, database_file_url: str) -> None:
    _add_from_stdin("alice", PASSWORD + "\n", database_file_url, tmp_path)

    again = _add_from_stdin("alice", PASSWORD + "\n", database_file_url, tmp_path)

    assert again.returncode == 2
    assert again.stderr == "error: user 'alice' already exists\n"


def test_short_password_exits_2_without_echoing_it(tmp_path: Path, database_file_url: str) -> None:
    result = _add_from_stdin("alice", "s3cr3t\n", database_file_url, tmp_path)

    assert result.returncode == 2
    assert result.stderr == "error: password is 6 characters long; at least 8 are required\n"
    assert "s3cr3t" not in result.stdout + result.stderr


def test_invalid_username_exits_2_before_asking_for_a_password(
    tmp_path: Path, database_file_url: str
) -> None:
    result = CliRunner().invoke(
        app, ["users", "add", "bob smith", "--database-url", database_file_url]
    )

    assert result.exit_code == 2
    assert "username 'bob smith' must be 3 to 64 characters" in result.output
    assert "Password" not in result.output


def test_prompted_password_must_be_confirmed(tmp_path: Path, database_file_url: str) -> None:
    result = CliRunner().invoke(
        app,
        ["users", "add", "bob", "--database-url", database_file_url],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    assert result.output.endswith("added user 'bob' (id 1)\n")
    assert PASSWORD not in result.output


# --- list / disable / enable / delete / passwd --------------------------------


def _users(database_url: str, *args: str, stdin: str | None = None) -> Result:
    """`twapserver users ARGS --database-url URL`, in process."""
    return CliRunner().invoke(app, ["users", *args, "--database-url", database_url], input=stdin)


@pytest.fixture
def alice_and_bob(database_file_url: str) -> str:
    for name in ("alice", "bob"):
        assert (
            _users(database_file_url, "add", name, "--password-stdin", stdin=PASSWORD).exit_code
            == 0
        )
    return database_file_url


def test_list_shows_every_user_with_status_and_orders(alice_and_bob: str) -> None:
    _users(alice_and_bob, "disable", "bob")

    result = _users(alice_and_bob, "list")

    lines = result.output.splitlines()
    assert result.exit_code == 0
    assert lines[0].split() == ["id", "username", "status", "orders", "created"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["1", "alice", "active", "0"],
        ["2", "bob", "disabled", "0"],
    ]


def test_disable_and_enable_govern_logins_on_a_running_server(
    tmp_path: Path, alice_and_bob: str
) -> None:
    env = {"TWAP_JWT_SECRET": SECRET, "TWAP_COLLECT": "false", "TWAP_USER_CACHE_TTL_S": "0"}
    form = {"username": "alice", "password": PASSWORD}

    with twapserver("--database-url", alice_and_bob, cwd=tmp_path, env=env) as base:
        token = httpx.post(base + "/auth/token", data=form).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        disabled = _users(alice_and_bob, "disable", "alice")
        refused_token = httpx.get(base + "/orders", headers=bearer)
        refused_login = httpx.post(base + "/auth/token", data=form)
        enabled = _users(alice_and_bob, "enable", "alice")
        old_token = httpx.get(base + "/orders", headers=bearer)
        login_again = httpx.post(base + "/auth/token", data=form)

    assert disabled.output == "disabled user 'alice' (id 1); their tokens are revoked\n"
    assert (refused_token.status_code, refused_token.json()["detail"]) == (401, "user is disabled")
    assert (refused_login.status_code, refused_login.json()["detail"]) == (401, "user is disabled")
    assert enabled.output == "enabled user 'alice' (id 1)\n"
    assert (old_token.status_code, old_token.json()["detail"]) == (401, "token revoked")
    assert login_again.status_code == 200


def _password_hash(database_url: str, name: str) -> str:
    async def read() -> str:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as connection:
                query = select(UserRow.password_hash).where(UserRow.username == name)
                found: str = await connection.scalar(query)
                return found
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_passwd_replaces_the_password_without_echoing_it(alice_and_bob: str) -> None:
    result = _users(alice_and_bob, "passwd", "alice", "--password-stdin", stdin="new password 1\n")

    stored = _password_hash(alice_and_bob, "alice")
    assert (result.exit_code, result.output) == (
        0,
        "changed the password of 'alice' (id 1); their tokens are revoked\n",
    )
    assert verify_password("new password 1", stored)
    assert not verify_password(PASSWORD, stored)


def test_a_deleted_user_s_id_is_never_reused(alice_and_bob: str) -> None:
    deleted = _users(alice_and_bob, "delete", "bob", "--yes")
    readded = _users(alice_and_bob, "add", "bob", "--password-stdin", stdin=PASSWORD)

    assert deleted.output == "deleted user 'bob' (id 2) and 0 orders\n"
    assert readded.output == "added user 'bob' (id 3)\n"


def test_delete_asks_for_confirmation(alice_and_bob: str) -> None:
    declined = _users(alice_and_bob, "delete", "bob", stdin="n\n")

    assert declined.exit_code != 0
    assert "Delete user 'bob' and all their orders?" in declined.output
    assert "bob" in _users(alice_and_bob, "list").output


@pytest.mark.parametrize(
    "command",
    [["disable", "carol"], ["enable", "carol"], ["delete", "carol", "--yes"]],
    ids=["disable", "enable", "delete"],
)
def test_commands_on_an_unknown_user_exit_2_with_one_line(
    tmp_path: Path, alice_and_bob: str, command: list[str]
) -> None:
    cli = [sys.executable, "-c", "from twapserver.cli import main; main()", "users"]

    result = subprocess.run(
        [*cli, *command, "--database-url", alice_and_bob],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr == "error: no user 'carol'\n"


def test_passwd_refuses_a_short_password_without_echoing_it(alice_and_bob: str) -> None:
    result = _users(alice_and_bob, "passwd", "alice", "--password-stdin", stdin="s3cr3t\n")

    assert result.exit_code == 2
    assert "password is 6 characters long; at least 8 are required" in result.output
    assert "s3cr3t" not in result.output


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    cli = [sys.executable, "-c", "from twapserver.cli import main; main()", "users", "list"]
    url = f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{free_port()}/twap"

    result = subprocess.run(
        [*cli, "--database-url", url], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert result.stderr.startswith("error: database postgresql+asyncpg://postgres:***@127.0.0.1:")
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr
