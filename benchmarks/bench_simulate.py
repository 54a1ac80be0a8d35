"""Simulation throughput vs a bare parse of the same recording, measured side by side.

    python benchmarks/bench_simulate.py [RECORDING]

Without RECORDING it converts the 10-minute Binance BTC-USDT capture from the
shared data folder first (needs twapcore[feeds]). It prints messages/s for a
bare `orjson.loads` of every line and for `twapcore.simulate` running 20 TWAP
orders (buys and sells, 60 slices each) over the same file, and their ratio
(target >= 0.5). Each is the median of 5 alternating runs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import orjson

from twapcore import Side, TwapOrderSpec, simulate
from twapcore.recording import open_text

REPO = Path(__file__).resolve().parent.parent
CAPTURE = REPO.parent / "shared" / "data" / "hftbacktest" / "spot"


def bare_parse(path: Path) -> int:
    count = 0
    with open_text(path) as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def run_simulation(path: Path) -> int:
    specs = [
        TwapOrderSpec(
            exchange="binance",
            symbol="BTC-USDT",
            side=Side.BUY if i % 2 == 0 else Side.SELL,
            quantity=Decimal("0.5") + Decimal(i) / 10,
            limit_price=Decimal(70000) if i % 2 == 0 else Decimal(50000),
            duration_s=Decimal(300 + 10 * i),
            slices=60,
        )
        for i in range(20)
    ]
    return simulate(path, specs).messages


def median_rate(fn: object, path: Path, rates: list[float]) -> None:
    started = time.perf_counter()
    count = fn(path)  # type: ignore[operator]
    rates.append(count / (time.perf_counter() - started))


def main() -> None:
    if len(sys.argv) > 1:
        recording = Path(sys.argv[1])
    else:
        from twapcore.feeds.convert import convert_captures

        recording = Path(tempfile.mkdtemp()) / "btcusdt.jsonl.gz"
        captures = [CAPTURE / "btcusdt_20240808.gz", CAPTURE / "btcusdt_20240809.gz"]
        stats = convert_captures(captures, recording, depth=20)
        print(f"converted {stats.messages_read} capture lines -> {recording}")
    parse_rates: list[float] = []
    sim_rates: list[float] = []
    for _ in range(5):
        median_rate(bare_parse, recording, parse_rates)
        median_rate(run_simulation, recording, sim_rates)
    parse, sim = statistics.median(parse_rates), statistics.median(sim_rates)
    print(f"bare orjson parse : {parse:12,.0f} msgs/s")
    print(f"simulate (20 TWAP): {sim:12,.0f} msgs/s")
    print(f"ratio             : {sim / parse:12.2f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
