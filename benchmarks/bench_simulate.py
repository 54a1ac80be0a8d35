"""Simulation throughput vs a bare parse of the same recording, measured side by side.

    python benchmarks/bench_simulate.py [RECORDING]

Without RECORDING it converts the 10-minute Binance BTC-USDT capture from the
shared data folder first (needs twapcore[feeds]). It prints messages/s for a
bare `orjson.loads` of every line, and for `twapcore.simulate` running one TWAP
order and then 20 concurrent orders (buys and sells, 60 slices each) over the
same file, with their ratios to the bare parse (target >= 0.5). Each figure is
the median of 5 interleaved runs.
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
from twapcore.recording import open_binary

REPO = Path(__file__).resolve().parent.parent
CAPTURE = REPO.parent / "shared" / "data" / "hftbacktest" / "spot"


def bare_parse(path: Path) -> int:
    count = 0
    loads = orjson.loads
    with open_binary(path) as handle:
        for line in handle:
            loads(line)
            count += 1
    return count


def _orders(count: int, slices: int) -> list[TwapOrderSpec]:
    return [
        TwapOrderSpec(
            exchange="binance",
            symbol="BTC-USDT",
            side=Side.BUY if i % 2 == 0 else Side.SELL,
            quantity=Decimal("0.5") + Decimal(i) / 10,
            limit_price=Decimal(70000) if i % 2 == 0 else Decimal(50000),
            duration_s=Decimal(600 - 10 * i),
            slices=slices,
        )
        for i in range(count)
    ]


ONE_ORDER = _orders(1, 60)
TWENTY_ORDERS = _orders(20, 60)


def simulate_one(path: Path) -> int:
    return simulate(path, ONE_ORDER).messages


def simulate_twenty(path: Path) -> int:
    return simulate(path, TWENTY_ORDERS).messages


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
    rates: dict[str, list[float]] = {"parse": [], "one": [], "twenty": []}
    for _ in range(5):
        median_rate(bare_parse, recording, rates["parse"])
        median_rate(simulate_one, recording, rates["one"])
        median_rate(simulate_twenty, recording, rates["twenty"])
    parse, one, twenty = (statistics.median(rates[k]) for k in ("parse", "one", "twenty"))
    print(f"bare orjson parse           : {parse:12,.0f} msgs/s")
    print(f"simulate, 1 order x 60      : {one:12,.0f} msgs/s  ratio {one / parse:.2f}")
    print(f"simulate, 20 orders x 60    : {twenty:12,.0f} msgs/s  ratio {twenty / parse:.2f}")
    print("target ratio >= 0.5")


if __name__ == "__main__":
    main()
