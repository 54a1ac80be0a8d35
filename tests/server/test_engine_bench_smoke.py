"""benchmarks/bench_engine.py runs at tiny sizes and counts right (no timing asserted)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_engine")


async def test_every_slice_is_persisted_once_and_measured(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await bench.engine_bench("sqlite", 20, 2, 0.5, tmp_path, timeout_s=60)

    assert (result.slices, result.fills) == (40, 40)
    assert result.slice_statuses == {"filled:-": 40}
    assert result.order_statuses == {"completed": 20}
    assert len(result.skew_s) == len(result.lateness_s) == len(result.committed_s) == 40
    assert all(late >= 0 for late in result.committed_s)
    assert result.bare_s > 0
    bench.print_result(result)
    bench.print_summary([result])
    assert "slices/s persisted" in capsys.readouterr().out
