"""Fixtures shared by the client tests: a demo server per module, a CLI logged in to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.cli_process import run_twap
from tests.client.demo_server import DemoServer, demo_server


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoServer]:
    """A real `twapserver run --demo`, shared by the tests of one module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    with demo_server(tmp_path_factory.mktemp(f"{module}-demo")) as running:
        yield running


@pytest.fixture
def config(server: DemoServer, tmp_path: Path) -> Path:
    """A config folder logged in to the demo server."""
    folder = tmp_path / "config"
    login = run_twap(
        "login", server.url, server.username, "--password-stdin",
        config=folder, stdin=server.password + "\n",
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    return folder
