"""benchmarks/bench_ingest.py's two paths agree on a few hundred messages (no timing asserted)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptofeed.defines import L2_BOOK, TRADES

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_ingest")


def _assert_same(result: Any) -> None:
    assert result.parser_messages == result.collector_messages
    assert sum(result.parser_callbacks.values()) == result.hub_messages
    assert result.parser_tops == result.hub_tops
    assert all(top is not None for top in result.hub_tops.values())
    assert result.same
    assert (result.held, result.gaps) == (0, 0)


def test_binance_paths_agree(bench: ModuleType, shared_data: Path) -> None:
    spot = shared_data / "hftbacktest" / "spot"
    paths = [spot / "btcusdt_20240808.gz", spot / "btcusdt_20240809.gz"]
    workload = bench.load(paths, "binance", limit=400)

    result = bench.check(workload)

    assert result.parser_messages == 400
    assert result.parser_callbacks[L2_BOOK] > 0 and result.parser_callbacks[TRADES] > 0
    _assert_same(result)


def test_aggregated_trades_keep_books_and_volume(bench: ModuleType, shared_data: Path) -> None:
    spot = shared_data / "hftbacktest" / "spot"
    workload = bench.load([spot / "btcusdt_20240808.gz"], "binance", limit=400)
    merged = bench.aggregate_trades(workload, "merged")

    raw, agg = bench.check(workload), bench.check(merged)

    assert agg.parser_callbacks[L2_BOOK] == raw.parser_callbacks[L2_BOOK]
    assert 0 < agg.parser_callbacks[TRADES] < raw.parser_callbacks[TRADES]
    assert agg.hub_tops == raw.hub_tops
    _assert_same(agg)


def test_kraken_paths_agree(bench: ModuleType, shared_data: Path) -> None:
    workload = bench.load([shared_data / "cryptofeed" / "KRAKEN"], "kraken", limit=300)

    result = bench.check(workload)

    assert result.parser_messages == 300
    _assert_same(result)


def test_timing_and_snapshot_helpers_run(bench: ModuleType, shared_data: Path) -> None:
    spot = shared_data / "hftbacktest" / "spot"
    workload = bench.load([spot / "btcusdt_20240808.gz"], "binance", limit=300)

    result = bench.compare(workload, rounds=2)
    costs = bench.snapshot_costs(workload, depth=10, reads=50)

    assert len(result.parser) == len(result.collector) == 2
    assert result.ratio > 0
    assert set(costs) == {"on_book", "cold", "cached"}
