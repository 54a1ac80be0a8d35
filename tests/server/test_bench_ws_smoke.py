"""benchmarks/bench_ws.py runs at tiny sizes and counts right (no timing asserted)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_ws")


def test_every_client_of_both_servers_gets_the_books_of_every_tick(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    results = bench.ws_bench(clients=12, seconds=3, procs=2, rounds=1)

    assert set(results) == {"twap", "bare"}
    for (run,) in results.values():
        assert (run.connected, run.closed, run.errors) == (12, 0, [])
        assert run.procs == 2
        assert run.ticks >= 2  # one per second on both servers
        assert run.expected == 12 * bench.MARKETS * run.ticks
        # Every message is attributed to one tick of the window; a late one may fall to
        # the next tick, so only "nothing lost in bulk" is asserted, not exact equality.
        assert 0.9 * run.expected <= run.delivered <= run.expected
        assert len(run.per_client) == 12 and min(run.per_client) > 0
        assert all(0 <= delay < 1.5 for delay in run.delays)
        assert len(run.spreads) == bench.MARKETS * run.ticks
        assert run.server_cpu_s >= 0 and run.client_cpu_s >= 0
    bench.print_runs(results)
    bench.print_summary(results)
    out = capsys.readouterr().out
    assert "twap / bare delivered messages per second" in out
    assert "12/12" in out
