"""`twapserver users add`: accounts created from the command line, then used over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.server.server_process import twapserver
from twapserver.cli import app

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
