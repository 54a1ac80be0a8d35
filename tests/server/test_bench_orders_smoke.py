"""benchmarks/bench_orders.py runs at tiny sizes and counts right (no timing asserted)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_orders")


def test_every_server_accepts_every_request_with_both_clients(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    results = bench.http_bench(
        requests=40, warmup=5, rounds=2, clients=["httpx", "raw"], databases=["sqlite"]
    )

    targets = ("twap", "bare-jwt", "bare")
    assert set(results) == {(c, t) for c in ("httpx", "raw") for t in targets}
    for runs in results.values():
        assert len(runs) == 2
        for run in runs:
            assert run.statuses == {201: 40}
            assert len(run.latencies) == 40
            assert run.server_cpu_s >= 0
    bench.print_http(results, 2)
    bench.print_summary(results)
    assert "twap / bare-jwt req/s" in capsys.readouterr().out
