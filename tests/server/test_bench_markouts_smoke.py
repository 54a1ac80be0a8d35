"""benchmarks/bench_markouts.py runs on small inputs (no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO_ROOT


def _bench() -> ModuleType:
    path = REPO_ROOT / "benchmarks" / "bench_markouts.py"
    spec = importlib.util.spec_from_file_location("bench_markouts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_markouts", module)
    spec.loader.exec_module(module)
    return module


def test_every_figure_is_measured() -> None:
    result = _bench().run(books=300, slices=20, runs=1)

    figures = (result.bare_s, result.unfollowed_s, result.followed_s, result.track_s)
    assert all(figure > 0 for figure in (*figures, result.report_s, result.markouts_s))
