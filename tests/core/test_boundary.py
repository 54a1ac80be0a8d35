"""twapcore stays framework-free: importing it loads no web, DB, HTTP or feed library."""

from __future__ import annotations

import subprocess
import sys

BANNED = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "httpx", "websockets", "typer")
BANNED += ("cryptofeed",)


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_importing_twapcore_loads_no_framework() -> None:
    loaded = _modules_loaded_by("import twapcore, twapcore.simulate, twapcore.analytics")

    assert loaded.isdisjoint(BANNED), sorted(loaded & set(BANNED))


def test_twapclient_does_not_depend_on_twapserver() -> None:
    loaded = _modules_loaded_by("import twapclient.cli")

    assert "twapserver" not in loaded
