"""benchmarks/bench_convert.py runs on a small capture (no timing asserted)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_convert")


def test_both_paths_run_over_every_websocket_payload(bench: ModuleType, shared_data: Path) -> None:
    capture = shared_data / "cryptofeed" / "BINANCE"
    payloads = [
        line
        for line in (shared_data / "cryptofeed" / "BINANCE.ws.1.0").read_text().splitlines()
        if line[:1].isdigit()
    ]

    name, messages, convert_rate, parser_rate = bench.bench("binance", [capture], rounds=1)

    assert (name, messages) == ("binance", len(payloads))
    assert convert_rate > 0 and parser_rate > 0
