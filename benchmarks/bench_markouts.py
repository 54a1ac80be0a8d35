"""What markouts cost the server and the reports, measured side by side.

    python benchmarks/bench_markouts.py [BOOKS] [SLICES]

* book ingest: `MarketHub.on_book` of BOOKS ten-level books (from records, as the
  Redis view and the demo feed them) with no engine, with an engine's markout
  listener on a market it does not follow, and on one it follows (the listener
  then reads each book's best bid and ask, which builds the book's snapshot);
  ratios to the bare hub.
* tracking: `MarkoutTracker.expect` + `take_due` for SLICES filled slices (three
  horizons each), against building their report (`build_report`), per slice.
* reports: `apply_markouts` per fill against `build_report` per fill, on the
  same fills (the offline `with_markouts` is `apply_markouts` over a `MidTape`).

Each figure is the median of 5 interleaved runs.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from twapcore import (
    Level,
    MarketCounters,
    OrderExecution,
    OrderSpec,
    Side,
)
from twapcore.analytics import MidTape, build_report, with_markouts
from twapcore.models import BookSnapshot
from twapcore.recording import book_from_record
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.orders.markouts import MarkoutTracker

S = 1_000_000_000
T0 = 1_700_000_000 * S
SPEC = OrderSpec(
    exchange="binance",
    symbol="BTC-USDT",
    side=Side.BUY,
    quantity=Decimal(1000),
    limit_price=Decimal(100_000),
    duration_s=Decimal(3600),
    slices=3600,
    lot_size=Decimal("0.001"),
)


def _records(count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        bid = 64000 + (i % 50) / 10
        rows.append(
            {
                "type": "book", "exchange": "binance", "symbol": "BTC-USDT",
                "ts_event": T0 + i * S // 1000, "ts_recv": T0 + i * S // 1000, "seq": i,
                "bids": [[f"{bid - k:.1f}", "0.5"] for k in range(10)],
                "asks": [[f"{bid + 0.1 + k:.1f}", "0.5"] for k in range(10)],
            }
        )  # fmt: skip
    return rows


def _hub() -> MarketHub:
    hub = MarketHub(5)
    hub.register(InstrumentInfo("binance", "BTC-USDT", Decimal("0.1"), Decimal("0.00001")))
    return hub


def ingest(records: list[dict[str, Any]], mode: str) -> float:
    """Seconds per book for `mode`: bare, unfollowed or followed."""
    hub = _hub()
    if mode != "bare":
        tracker = MarkoutTracker(hub)
        hub.book_listeners.append(tracker.on_book)
        if mode == "followed":
            first = records[0]
            hub.on_book("binance", "BTC-USDT", partial(book_from_record, first), T0)
            tracker.watch(SPEC, T0)
    on_book = hub.on_book
    started = time.perf_counter()
    for record in records:
        provider = partial(book_from_record, record)  # what the Redis view and the demo hand in
        on_book("binance", "BTC-USDT", provider, record["ts_recv"])
    return (time.perf_counter() - started) / len(records)


def _execution(slices: int) -> OrderExecution:
    execution = OrderExecution(SPEC, T0)
    asks = tuple(Level(Decimal(101 + k), Decimal("0.1")) for k in range(3))
    bids = (Level(Decimal(99), Decimal(1)),)
    for i in range(slices):
        at = T0 + i * S
        execution.step(at, BookSnapshot("binance", "BTC-USDT", bids, asks, at, at, None, i + 1))
    return execution


def tracking(execution: OrderExecution) -> float:
    """Seconds per filled slice to owe and measure its three markouts."""
    hub = _hub()
    snapshot = BookSnapshot(
        "binance", "BTC-USDT", (Level(Decimal(99), Decimal(1)),),
        (Level(Decimal(101), Decimal(1)),), T0, T0,
    )  # fmt: skip
    hub.on_book("binance", "BTC-USDT", lambda: snapshot, T0)
    tracker = MarkoutTracker(hub)
    results = execution.results
    started = time.perf_counter()
    for n, result in enumerate(results):
        tracker.expect(0, SPEC, [result], result.executed_ns)
        if n % 100 == 0:
            tracker.take_due(result.executed_ns)
    tracker.take_due(T0 + 10**6 * S)
    return (time.perf_counter() - started) / len(results)


def report(execution: OrderExecution) -> float:
    """Seconds per fill of `build_report`."""
    started = time.perf_counter()
    built = build_report(execution, Decimal(100), Decimal(100), MarketCounters().totals(0))
    return (time.perf_counter() - started) / len(built.fills)


def markouts(execution: OrderExecution) -> float:
    """Seconds per fill of `with_markouts` (`apply_markouts` over a tape)."""
    built = build_report(execution, Decimal(100), Decimal(100), MarketCounters().totals(0))
    tape = MidTape()
    for i in range(len(execution.results) * 10):
        tape.record(T0 + i * S // 10, Decimal(100) + i % 13)
    started = time.perf_counter()
    with_markouts(built, tape, T0 + 10**6 * S)
    return (time.perf_counter() - started) / len(built.fills)


@dataclass(frozen=True, slots=True)
class MarkoutBench:
    bare_s: float
    unfollowed_s: float
    followed_s: float
    track_s: float  # per filled slice
    report_s: float  # per fill
    markouts_s: float  # per fill


def _median(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def run(books: int = 50_000, slices: int = 2000, runs: int = 5) -> MarkoutBench:
    records = _records(books)
    execution = _execution(slices)
    results: dict[str, list[float]] = {}
    for _ in range(runs):  # interleaved, so a noisy moment hits every figure
        for mode in ("bare", "unfollowed", "followed"):
            results.setdefault(mode, []).append(ingest(records, mode))
        results.setdefault("track", []).append(tracking(execution))
        results.setdefault("report", []).append(report(execution))
        results.setdefault("markouts", []).append(markouts(execution))
    med = {name: statistics.median(values) for name, values in results.items()}
    return MarkoutBench(
        med["bare"], med["unfollowed"], med["followed"],
        med["track"], med["report"], med["markouts"],
    )  # fmt: skip


def main() -> None:
    books = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    slices = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    b = run(books, slices)
    us = 1e6
    print(f"hub.on_book, bare:                 {b.bare_s * us:6.2f} us/book")
    print(
        f"  + markout listener, not followed: {b.unfollowed_s * us:6.2f} us/book "
        f"({b.unfollowed_s / b.bare_s:.2f}x bare)"
    )
    print(
        f"  + markout listener, followed:     {b.followed_s * us:6.2f} us/book "
        f"({b.followed_s / b.bare_s:.2f}x bare)"
    )
    print(
        f"tracking 3 horizons:               {b.track_s * us:6.2f} us/filled slice "
        f"({b.track_s / b.report_s:.2f}x build_report per fill)"
    )
    print(
        f"with_markouts:                     {b.markouts_s * us:6.2f} us/fill "
        f"({b.markouts_s / b.report_s:.2f}x build_report per fill)"
    )


if __name__ == "__main__":
    main()
