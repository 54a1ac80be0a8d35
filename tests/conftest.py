"""Shared test helpers: where the recorded exchange captures live."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_benchmark(name: str) -> ModuleType:
    """`benchmarks/<name>.py` as the module `name` (benchmarks/ is not a package)."""
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def shared_data_dir() -> Path | None:
    """The shared captures folder: $TWAP_SHARED_DATA, else <repo>/../shared/data; None if absent."""
    configured = os.environ.get("TWAP_SHARED_DATA")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    """The shared captures folder, or skip the test with the reason."""
    found = shared_data_dir()
    if found is None:
        pytest.skip("shared captures not found: set TWAP_SHARED_DATA or place ../shared/data")
    return found
