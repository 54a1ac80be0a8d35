"""Fixtures shared by twapcore tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@dataclass(frozen=True)
class WheelVenv:
    """A fresh virtualenv with only the twapcore wheel (and its one dependency) installed."""

    wheel: Path
    python: Path
    env: dict[str, str]  # a clean environment: no PYTHONPATH shadowing the wheel


@pytest.fixture(scope="session")
def twapcore_wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    """Built once per session (slow: a wheel build, a venv and a pip install)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(root / "dist"),
            str(REPO_ROOT / "packaging" / "twapcore"),
        ],
        check=True,
    )
    wheel = next((root / "dist").glob("twapcore-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return WheelVenv(wheel, python, env)
