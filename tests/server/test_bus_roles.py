"""Roles: the refusals that keep a role from starting where it cannot work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from twapserver.hub import MarketHub
from twapserver.market import MarketView
from twapserver.roles import RoleError, check_role, new_market
from twapserver.settings import Settings

REDIS = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("role", ["api", "engine", "collect"])
def test_a_separate_role_on_the_memory_bus_is_refused(role: str) -> None:
    with pytest.raises(RoleError, match=f"twapserver {role} .*TWAP_BUS_URL=redis://"):
        check_role(Settings(role=role, bus_url="memory://"))


def test_collect_on_the_memory_bus_may_still_record(tmp_path: Path) -> None:
    check_role(Settings(role="collect", bus_url="memory://", record_dir=tmp_path))


def test_several_api_workers_on_sqlite_are_refused_saying_why() -> None:
    settings = Settings(role="api", bus_url=REDIS, database_url="sqlite+aiosqlite:///x.db")

    with pytest.raises(RoleError, match="--workers 3 on SQLite: every worker would write"):
        check_role(settings, workers=3)
    check_role(settings, workers=1)
    check_role(settings.model_copy(update={"database_url": "postgresql+asyncpg://h/db"}), 3)


def test_reading_roles_get_a_view_and_collecting_roles_a_hub() -> None:
    assert isinstance(new_market(Settings(role="api", bus_url=REDIS)), MarketView)
    assert isinstance(new_market(Settings(role="engine", bus_url=REDIS)), MarketView)
    collected = new_market(Settings(role="collect", bus_url=REDIS))
    assert isinstance(collected, MarketHub) and not isinstance(collected, MarketView)


@pytest.mark.parametrize("command", [["api"], ["engine"], ["collect", "--demo"]])
def test_the_cli_refuses_in_one_line_with_exit_code_2(command: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from twapserver.cli import main; main()", *command],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TWAP_BUS_URL": "memory://"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: twapserver {command[0]} runs beside other roles")
