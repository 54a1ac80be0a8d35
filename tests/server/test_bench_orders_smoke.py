"""benchmarks/bench_orders.py's core runs at tiny sizes and counts right (no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    path = REPO_ROOT / "benchmarks" / "bench_orders.py"
    spec = importlib.util.spec_from_file_location("bench_orders", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_orders", module)
    spec.loader.exec_module(module)
    return module


def test_both_servers_accept_every_request_with_both_clients(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    results = bench.http_bench(requests=40, warmup=5, rounds=2, clients=["httpx", "raw"])

    assert set(results) == {(c, t) for c in ("httpx", "raw") for t in ("twap", "bare")}
    for runs in results.values():
        assert len(runs) == 2
        for run in runs:
            assert run.statuses == {201: 40}
            assert len(run.latencies) == 40
            assert run.server_cpu_s >= 0
    bench.print_http(results, 2)
    bench.print_summary(results, None)
    assert "ratio twap/bare" in capsys.readouterr().out


async def test_engine_persists_one_fill_per_slice(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = await bench.engine_bench(20, 2, 0.5, tmp_path, lead_s=0.3, timeout_s=30)

    assert (result.slices, result.fills) == (40, 40)
    assert result.slice_statuses == {"filled:-": 40}
    assert result.order_statuses == {"completed": 20}
    assert len(result.start_lateness_ns) == len(result.commit_lateness_ns) == 40
    assert all(late >= 0 for late in result.commit_lateness_ns)
    bench.print_engine(result)
    bench.print_summary(None, result)
    assert "fills/s" in capsys.readouterr().out
