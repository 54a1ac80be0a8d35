"""Shared test helpers: where the recorded exchange captures live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


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
