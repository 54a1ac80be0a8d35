"""A real `twapserver run --demo` process with one user, for the client's end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tests.server.server_process import twapserver

SECRET = "client-tests-secret-0123456789abcdefghij"  # 40 characters
USERNAME = "alice"
PASSWORD = "correct horse battery"

T = TypeVar("T")


@dataclass(frozen=True)
class DemoServer:
    url: str
    username: str
    password: str


@contextmanager
def demo_server(workdir: Path) -> Iterator[DemoServer]:
    """A demo server (replaying binance BTC-USDT) on a fresh database holding `alice`."""
    database = f"sqlite+aiosqlite:///{workdir / 'twap.db'}"
    command = [sys.executable, "-c", "from twapserver.cli import main; main()", "users", "add"]
    added = subprocess.run(
        [*command, USERNAME, "--password-stdin", "--database-url", database],
        input=PASSWORD + "\n",
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    env = {"TWAP_JWT_SECRET": SECRET}
    with twapserver("--demo", "--database-url", database, cwd=workdir, env=env) as url:
        yield DemoServer(url, USERNAME, PASSWORD)


def eventually(read: Callable[[], T], done: Callable[[T], bool], what: str, within_s: float) -> T:
    """Call `read` until `done(result)`, for at most `within_s` seconds; return the result."""
    deadline = time.monotonic() + within_s
    while True:
        result = read()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within_s} s; last: {result!r}")
        time.sleep(0.1)
