"""Simulation throughput vs a bare parse of the same recording, measured side by side.

    python benchmarks/bench_simulate.py [RECORDING] [--runs N]

Without RECORDING it converts the 10-minute Binance BTC-USDT capture from the
shared data folder first (needs twapcore[feeds]). It prints messages/s for a
bare `orjson.loads` of every line (the baseline of issue 12's target), for a
bare msgspec parse of the same lines (the typed decoding `simulate` itself uses,
`twapcore._typed_lines.read_lines`: only the fields it reads, book levels left
as raw JSON until a step walks them — so it is faster than the orjson parse), and for
`twapcore.simulate` running one order and then 20 concurrent orders (buys and
sells, 60 slices each) over the same file, for every algorithm (twap,
twap_random, vwap with the `trades` profile — which reads this file once, keeping
its lines, as it reads any recording of up to 100,000 lines, and a longer one
twice —, pov), with their ratios to both bare parses side by side (target >= 0.5 of the
orjson parse, 1 and 20 orders). Each figure is the median of N interleaved runs
(5 by default).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import orjson

from twapcore import OrderSpec, Side, TwapOrderSpec, simulate
from twapcore._typed_lines import read_lines
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


def bare_msgspec_parse(path: Path) -> int:
    return sum(map(len, read_lines(path)))


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
_PARAMS: dict[str, dict[str, object]] = {
    "twap": {},
    "twap_random": {"seed": 7, "jitter": Decimal("0.2")},
    "vwap": {"profile": "trades"},
    "pov": {"participation": Decimal("0.1")},
}
BY_ALGORITHM = {
    name: [replace(ONE_ORDER[0], algorithm=name, **params)] for name, params in _PARAMS.items()
}
TWENTY_BY_ALGORITHM = {
    name: [replace(spec, algorithm=name, **params) for spec in TWENTY_ORDERS]
    for name, params in _PARAMS.items()
}


def _runner(specs: list[OrderSpec]) -> Callable[[Path], int]:
    return lambda path: simulate(path, specs).messages


def median_rate(fn: Callable[[Path], int], path: Path, rates: list[float]) -> None:
    started = time.perf_counter()
    count = fn(path)
    rates.append(count / (time.perf_counter() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "recording", nargs="?", type=Path, help="a JSONL(.gz) recording (default: convert one)"
    )
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per figure")
    args = parser.parse_args()
    if args.recording is not None:
        recording = args.recording
    else:
        from twapcore.feeds.convert import convert_captures

        recording = Path(tempfile.mkdtemp()) / "btcusdt.jsonl.gz"
        captures = [CAPTURE / "btcusdt_20240808.gz", CAPTURE / "btcusdt_20240809.gz"]
        stats = convert_captures(captures, recording, depth=20)
        print(f"converted {stats.messages_read} capture lines -> {recording}")
    runs: dict[str, Callable[[Path], int]] = {
        "bare orjson parse": bare_parse,
        "bare msgspec parse": bare_msgspec_parse,
    }
    for name in _PARAMS:
        runs[f"simulate, 1 {name} x 60"] = _runner(BY_ALGORITHM[name])
        runs[f"simulate, 20 {name} x 60"] = _runner(TWENTY_BY_ALGORITHM[name])
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.runs):
        for name, fn in runs.items():
            median_rate(fn, recording, rates[name])
    parse = statistics.median(rates["bare orjson parse"])
    typed = statistics.median(rates["bare msgspec parse"])
    print(f"{'':<30}  {'':>12}         vs orjson  vs msgspec")
    for name in runs:
        rate = statistics.median(rates[name])
        print(f"{name:<30}: {rate:12,.0f} msgs/s  {rate / parse:9.2f}  {rate / typed:10.2f}")
    print("target: >= 0.5 of the bare orjson parse (issue 12), 1 order and 20 orders")


if __name__ == "__main__":
    main()
