"""benchmarks/bench_markouts.py runs on small inputs (no timing asserted)."""

from __future__ import annotations

from types import ModuleType

from tests.conftest import load_benchmark


def _bench() -> ModuleType:
    return load_benchmark("bench_markouts")


def test_every_figure_is_measured() -> None:
    result = _bench().run(books=300, slices=20, runs=1)

    figures = (result.bare_s, result.unfollowed_s, result.followed_s, result.track_s)
    assert all(figure > 0 for figure in (*figures, result.report_s, result.markouts_s))
