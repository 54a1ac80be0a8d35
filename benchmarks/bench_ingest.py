"""Collector ingest throughput vs cryptofeed's parser alone, same capture, same run.

    python benchmarks/bench_ingest.py [--rounds N] [--kraken-repeat K] [--no-kraken]
                                      [--no-agg] [--profile]

Every captured message the server would receive is loaded into memory first
(file reading, gzip and the capture's own bookkeeping stay outside the
timings), then pushed, message by message, through two paths built on the
replay machinery of `twapcore.feeds` (the offline converter's: one
`coro.send(None)` per `message_handler` call, depth diffs held until their
REST snapshot arrives):

* parser alone: cryptofeed's own exchange class, the one the server uses
  (`twapserver.feeds.feed_class(exchange)`), L2_BOOK + TRADES, no-op async
  callbacks;
* collector path: what the server runs, `_observed(feed_class(exchange), hub)`
  with `Collectors._on_book` / `Collectors._on_trade` feeding a real
  `MarketHub` with the symbols registered.

The paths alternate for N rounds (which goes first alternates too). Printed:
median msgs/s of each, the ratio collector/parser (target >= 0.90) from the
medians and as the median of the per-round ratios (steadier when the machine's
speed drifts), and each path's fastest/slowest round as the noise seen.
Separately, not in the ratio: what a `hub.book()` read costs, cold (the book
changed: the top-N snapshot is built then) and cached. Below target, or with
--profile, a cProfile of both paths shows where the collector spends its extra
time.

Workloads:
* the 10-minute Binance BTCUSDT session of hftbacktest, its two gzip files read
  as one stream; its bookTicker lines (73%) are left out: the server does not
  subscribe to them;
* the same with its raw `@trade` messages merged as Binance's `aggTrade`
  stream (the one the server subscribes to) would have sent them: consecutive
  fills with the same time, price and side. An estimate of the live mix, which
  has ~43% fewer trades (--no-agg skips it);
* cryptofeed's 31-second Kraken sample (10 pairs, book checksums on, as the
  server runs Kraken), replayed K times per timing with fresh feeds since it
  is small (--no-kraken skips it).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import os
import pstats
import statistics
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from cryptofeed.defines import L2_BOOK, TRADES

from twapcore import CandleBuilder
from twapcore.feeds._captures import (
    Capture,
    CapturedMessage,
    CryptofeedCapture,
    HftbacktestCapture,
    MessageKind,
    locate_captures,
)
from twapcore.feeds._instruments import binance_exchange_info
from twapcore.feeds._replay import FeedReplay, ReplaySource, exchange_ids
from twapcore.feeds.normalize import canonical_symbol, exchange_name, trade_from_cryptofeed
from twapserver.collectors import Collectors, _observed
from twapserver.feeds import feed_class
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TWAP_SHARED_DATA") or REPO.parent / "shared" / "data")
BINANCE_CAPTURE = [
    DATA / "hftbacktest" / "spot" / "btcusdt_20240808.gz",
    DATA / "hftbacktest" / "spot" / "btcusdt_20240809.gz",
]
KRAKEN_CAPTURE = [DATA / "cryptofeed" / "KRAKEN"]
TARGET = 0.90
SNAPSHOT_DEPTH = 10

Callback = Callable[[Any, float], Coroutine[Any, Any, None]]


async def noop(obj: Any, receipt_timestamp: float) -> None:
    return None


def run_coro(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that never waits (a callback), without an event loop."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("a callback waited on I/O")


# --- workloads --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Workload:
    """One capture, in memory: what both paths replay."""

    name: str
    exchange_id: str  # cryptofeed's id: BINANCE
    exchange: str  # twap's name: binance
    info: Any  # the exchange info body cryptofeed reads its symbols from
    subscribed: tuple[str, ...] | None  # cryptofeed symbols; None: every symbol of `info`
    origin: str
    messages: tuple[CapturedMessage, ...]  # websocket payloads and REST depth snapshots


def load(paths: Sequence[Path], name: str, limit: int | None = None) -> Workload:
    """Read a capture into memory, without what the server does not subscribe to.

    `limit` keeps the first messages only (tests).
    """
    [capture] = locate_captures(paths, exchange_ids())
    messages: list[CapturedMessage] = []
    for message in capture.messages():
        if message.kind is MessageKind.IGNORED:
            continue
        messages.append(message)
        if limit is not None and len(messages) >= limit:
            break
    return _workload(capture, name, tuple(messages))


def _workload(capture: Capture, name: str, messages: tuple[CapturedMessage, ...]) -> Workload:
    # The same choices as twapcore.feeds._replay.source_for.
    if isinstance(capture, HftbacktestCapture):
        info: Any = binance_exchange_info(capture.symbol)
        origin = str(capture.paths[0])
        return Workload(name, "BINANCE", "binance", info, None, origin, messages)
    assert isinstance(capture, CryptofeedCapture)
    info, configuration = capture.read_info()
    subscribed = tuple(sorted({s for c in (L2_BOOK, TRADES) for s in configuration.get(c, ())}))
    exchange = exchange_name(capture.exchange_id)
    origin = str(capture.info_path)
    return Workload(name, capture.exchange_id, exchange, info, subscribed, origin, messages)


def aggregate_trades(workload: Workload, name: str) -> Workload:
    """`workload` with consecutive Binance trades of one time, price and side merged.

    hftbacktest recorded `@trade` (one message per fill, adapted to aggTrade by
    the capture reader); the server subscribes to `@aggTrade`, where Binance
    merges the fills of one taker order at one price into one message.
    """
    merged: list[CapturedMessage] = []
    pending: list[tuple[CapturedMessage, dict[str, Any]]] = []

    def flush() -> None:
        if not pending:
            return
        last, envelope = pending[-1]
        first = pending[0][1]["data"]
        data = dict(envelope["data"])
        data["a"], data["f"], data["l"] = first["a"], first["a"], data["a"]
        data["q"] = str(sum((Decimal(e["data"]["q"]) for _, e in pending), Decimal(0)))
        text = orjson.dumps({"stream": envelope["stream"], "data": data}).decode()
        merged.append(dataclasses.replace(last, text=text))
        pending.clear()

    for message in workload.messages:
        text = message.text
        if message.kind is MessageKind.WS and isinstance(text, str) and '"aggTrade"' in text:
            envelope = orjson.loads(text)
            data = envelope["data"]
            if pending:
                previous = pending[-1][1]["data"]
                if (data["T"], data["p"], data["m"]) != (
                    previous["T"],
                    previous["p"],
                    previous["m"],
                ):
                    flush()
            pending.append((message, envelope))
            continue
        flush()
        merged.append(message)
    flush()
    return dataclasses.replace(workload, name=name, messages=tuple(merged))


# --- the two paths -------------------------------------------------------------------


class BenchReplay(FeedReplay):
    """`FeedReplay` driving a given feed class whose callbacks cryptofeed calls directly.

    The rest is the converter's machinery unchanged: symbols from the capture's
    info, REST snapshots answered from the capture, diffs held until their
    snapshot arrives, one send() per message.
    """

    def __init__(
        self, workload: Workload, venue: type[Any], on_book: Callback, on_trade: Callback
    ) -> None:
        self._venue = venue
        self._callbacks = {L2_BOOK: on_book, TRADES: on_trade}
        self.feed: Any = None

        def unused(obj: Any, ts_ns: int) -> None:
            raise AssertionError("cryptofeed calls the benchmark's callbacks directly")

        subscribed = workload.subscribed
        configuration = None if subscribed is None else {c: subscribed for c in (L2_BOOK, TRADES)}
        info = workload.info
        source = ReplaySource(workload.exchange_id, workload.origin, info, (), configuration)
        super().__init__(source, unused, unused)

    def _build_feed(self, feed_class: Any, subscription: dict[str, list[str]]) -> Any:
        feed = super()._build_feed(self._venue, subscription)
        for channel, callback in self._callbacks.items():
            feed.callbacks[channel] = [callback]  # nothing of the replay's in between
        self.feed = feed
        return feed

    def symbols(self) -> list[str]:
        """twap's symbols (BTC-USDT) of the subscribed books."""
        return [canonical_symbol(s) for s in self.subscribed]


def parser_replay(
    workload: Workload, on_book: Callback = noop, on_trade: Callback = noop
) -> BenchReplay:
    """Path 1: the server's cryptofeed class, no-op callbacks unless given."""
    return BenchReplay(workload, feed_class(workload.exchange), on_book, on_trade)


def collector_replay(
    workload: Workload, book_depth: int = SNAPSHOT_DEPTH
) -> tuple[BenchReplay, MarketHub, Collectors]:
    """Path 2: the server's observed class and collector callbacks, into a real hub."""
    hub = MarketHub()
    collectors = Collectors(Settings(exchanges={}, collect=False, book_depth=book_depth), hub)
    venue = _observed(feed_class(workload.exchange), hub)
    replay = BenchReplay(workload, venue, collectors._on_book, collectors._on_trade)
    for symbol in replay.symbols():
        hub.register(InstrumentInfo(workload.exchange, symbol))
    return replay, hub, collectors


def drive(replay: FeedReplay, messages: Iterable[CapturedMessage]) -> int:
    """What is timed: every message through the replay, in order. Returns how many."""
    handle = replay.handle
    count = 0
    for message in messages:
        handle(message, message.ts_ns)
        count += 1
    return count


Top = tuple[tuple[Decimal, ...], tuple[Decimal, ...]]  # best bid and ask: (price, size)


def feed_top(replay: BenchReplay, symbol: str) -> Top | None:
    """Best bid and ask of cryptofeed's own book of `symbol` (twap's name)."""
    std = next(s for s in replay.subscribed if canonical_symbol(s) == symbol)
    book = replay.feed._l2_book.get(std)
    if book is None or not book.book.bids or not book.book.asks:
        return None
    return tuple(book.book.bids.index(0)), tuple(book.book.asks.index(0))


def hub_top(hub: MarketHub, exchange: str, symbol: str) -> Top | None:
    snapshot = hub.book(exchange, symbol)
    if snapshot is None or not snapshot.bids or not snapshot.asks:
        return None
    return tuple(snapshot.bids[0]), tuple(snapshot.asks[0])


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One untimed run of each path over the same messages."""

    parser_messages: int
    collector_messages: int
    parser_callbacks: dict[str, int]  # L2_BOOK / TRADES callbacks cryptofeed made
    hub_messages: int  # books + trades the hub counted
    parser_tops: dict[str, Top | None]
    hub_tops: dict[str, Top | None]
    held: int  # diffs still waiting for a snapshot
    gaps: int

    @property
    def same(self) -> bool:
        return (
            self.parser_messages == self.collector_messages
            and sum(self.parser_callbacks.values()) == self.hub_messages
            and self.parser_tops == self.hub_tops
            and all(top is not None for top in self.hub_tops.values())
        )


def check(workload: Workload) -> Check:
    counts = {L2_BOOK: 0, TRADES: 0}

    def counting(channel: str) -> Callback:
        async def callback(obj: Any, receipt_timestamp: float) -> None:
            counts[channel] += 1

        return callback

    parser = parser_replay(workload, counting(L2_BOOK), counting(TRADES))
    collector, hub, _ = collector_replay(workload)
    parsed = drive(parser, workload.messages)
    collected = drive(collector, workload.messages)
    symbols = collector.symbols()
    health = [hub.health(workload.exchange, s) for s in symbols]
    return Check(
        parser_messages=parsed,
        collector_messages=collected,
        parser_callbacks=counts,
        hub_messages=sum(h.messages for h in health),
        parser_tops={s: feed_top(parser, s) for s in symbols},
        hub_tops={s: hub_top(hub, workload.exchange, s) for s in symbols},
        held=parser.held_count + collector.held_count,
        gaps=sum(h.gaps for h in health),
    )


# --- timing ----------------------------------------------------------------------


def timed(build: Callable[[], FeedReplay], workload: Workload, repeat: int = 1) -> float:
    """msgs/s of one path: `repeat` fresh replays built first, then driven under the clock."""
    replays = [build() for _ in range(repeat)]
    gc.collect()
    started = time.perf_counter()
    handled = sum(drive(replay, workload.messages) for replay in replays)
    return handled / (time.perf_counter() - started)


def build_parser(workload: Workload) -> Callable[[], FeedReplay]:
    return lambda: parser_replay(workload)


def build_collector(workload: Workload) -> Callable[[], FeedReplay]:
    return lambda: collector_replay(workload)[0]


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    parser: list[float]  # msgs/s per round
    collector: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.collector) / statistics.median(self.parser)

    @property
    def paired(self) -> list[float]:
        return [c / p for p, c in zip(self.parser, self.collector, strict=True)]


def compare(workload: Workload, rounds: int, repeat: int = 1) -> Result:
    """Both paths `rounds` times, alternating, and alternating which goes first."""
    builds = (build_parser(workload), build_collector(workload))
    rates: tuple[list[float], list[float]] = ([], [])
    for i in range(rounds):
        for path in (0, 1) if i % 2 == 0 else (1, 0):
            rates[path].append(timed(builds[path], workload, repeat))
    return Result(*rates)


def snapshot_costs(workload: Workload, depth: int, reads: int = 2000) -> dict[str, float]:
    """Seconds per `hub.book()` read, cold (built) and cached, and per book callback."""
    replay, hub, collectors = collector_replay(workload, book_depth=depth)
    drive(replay, workload.messages)
    symbol = replay.symbols()[0]
    std = next(s for s in replay.subscribed if canonical_symbol(s) == symbol)
    book = replay.feed._l2_book[std]
    on_book, read, exchange = collectors._on_book, hub.book, workload.exchange

    def per_update(with_read: bool) -> float:
        started = time.perf_counter()
        for i in range(reads):
            run_coro(on_book(book, 1.7e9 + i))
            if with_read:
                read(exchange, symbol)
        return (time.perf_counter() - started) / reads

    update = min(per_update(False) for _ in range(5))
    cold = min(per_update(True) for _ in range(5)) - update
    cached = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(reads):
            read(exchange, symbol)
        cached.append((time.perf_counter() - started) / reads)
    return {"on_book": update, "cold": cold, "cached": min(cached)}


# --- profiling ----------------------------------------------------------------------


def _profile(replay: BenchReplay, workload: Workload) -> dict[Any, Any]:
    profiler = cProfile.Profile()
    profiler.enable()
    drive(replay, workload.messages)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return stats


def _key(function: Any) -> tuple[str, int, str]:
    code = function.__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def _short(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if not line:
        return name
    return f"{'/'.join(Path(path).parts[-2:])}:{line}({name})"


def profile_extra(workload: Workload, top: int = 12) -> None:
    """Where the collector path spends time the parser path does not (cProfile)."""
    parser = _profile(parser_replay(workload), workload)
    replay, _, _ = collector_replay(workload)
    collector = _profile(replay, workload)
    total_p = sum(v[2] for v in parser.values())
    total_c = sum(v[2] for v in collector.values())
    extra_total = total_c - total_p
    n = len(workload.messages)
    print(
        f"  cProfile: parser {total_p:.3f} s, collector {total_c:.3f} s, extra"
        f" {extra_total:.3f} s ({extra_total / n * 1e6:.2f} us/msg; profiling inflates"
        " call-heavy code, read the shares)"
    )

    def cumulative(function: Any) -> tuple[int, float]:
        calls, cum = 0, 0.0
        for key, (_, ncalls, _, cumtime, _) in collector.items():
            if key == _key(function):
                calls, cum = ncalls, cumtime
        return calls, cum

    venue = type(replay.feed)
    groups = [
        ("Collectors._on_trade, all of it", Collectors._on_trade),
        ("  trade_from_cryptofeed (-> twapcore Trade)", trade_from_cryptofeed),
        ("  MarketHub.on_trade, all of it", MarketHub.on_trade),
        ("    CandleBuilder.add (one per interval)", CandleBuilder.add),
        ("Collectors._on_book (incl. hub.on_book)", Collectors._on_book),
        ("Observed._check_update_id (incl. cryptofeed's)", venue._check_update_id),
    ]
    print(f"  {'cum s':>7} {'of extra':>8} {'calls':>9}  collector function")
    for label, function in groups:
        calls, cum = cumulative(function)
        share = cum / extra_total if extra_total > 0 else 0.0
        print(f"  {cum:7.3f} {share:8.0%} {calls:9,}  {label}")
    extra = []
    for key, (_, calls, tottime, _, _) in collector.items():
        before = parser.get(key, (0, 0, 0.0, 0.0, None))
        extra.append((tottime - before[2], calls - before[1], key))
    extra.sort(reverse=True)
    print(f"  {'self s':>7} {'of extra':>8} {'calls':>9}  top functions by extra self time")
    for delta, calls, key in extra[:top]:
        share = delta / extra_total if extra_total > 0 else 0.0
        print(f"  {delta:7.3f} {share:8.0%} {calls:9,}  {_short(key)}")


# --- report ------------------------------------------------------------------------


def report(workload: Workload, rounds: int, repeat: int, profile: bool) -> Result:
    verified = check(workload)
    books, trades = verified.parser_callbacks[L2_BOOK], verified.parser_callbacks[TRADES]
    print(
        f"\n== {workload.name}\n  {verified.parser_messages:,} messages per replay"
        f" ({books:,} book updates, {trades:,} trades), x{repeat} per timing, {rounds} rounds"
    )
    status = "same" if verified.same else "DIFFERENT"
    print(
        f"  check: {status} message count, callback count and final top of book on both"
        f" paths; diffs never bridged: {verified.held}; gaps: {verified.gaps}"
    )
    result = compare(workload, rounds, repeat)
    parser, collector = statistics.median(result.parser), statistics.median(result.collector)

    def line(label: str, median: float, rounds_: list[float]) -> None:
        each = " ".join(f"{v / 1000:5.1f}k" for v in rounds_)
        noise = max(rounds_) / min(rounds_)
        print(f"  {label}: {median:9,.0f} msgs/s  rounds {each}  (max/min {noise:.2f}x)")

    line("parser alone  ", parser, result.parser)
    line("collector path", collector, result.collector)
    paired = " ".join(f"{r:.3f}" for r in result.paired)
    print(
        f"  ratio collector/parser: {result.ratio:.3f} from the medians;"
        f" {statistics.median(result.paired):.3f} median per round ({paired}); target >= {TARGET}"
    )
    print(
        f"  per message: parser {1e6 / parser:.2f} us, collector {1e6 / collector:.2f} us,"
        f" extra {1e6 / collector - 1e6 / parser:+.2f} us"
    )
    if profile or result.ratio < TARGET:
        profile_extra(workload)
    return result


def report_snapshots(workload: Workload, collector_rate: float) -> None:
    print(f"\n== hub.book() reads on the {workload.name} book, not in the ratio")
    books = check(workload).parser_callbacks[L2_BOOK]
    for depth in (SNAPSHOT_DEPTH, 20):
        costs = snapshot_costs(workload, depth)
        every = costs["cold"] * books
        ingest = len(workload.messages) / collector_rate
        print(
            f"  top-{depth:<2} read: cold (book changed) {costs['cold'] * 1e6:6.2f} us,"
            f" cached {costs['cached'] * 1e6:4.2f} us; the book callback itself"
            f" {costs['on_book'] * 1e6:4.2f} us. Built on each of the {books:,} updates it would"
            f" add {every * 1e3:.0f} ms to a {ingest * 1e3:.0f} ms ingest (+{every / ingest:.0%})"
        )
    print(
        "  ingest stores a provider only; the snapshot is built by the first read after a"
        " change, then cached until the next change"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two paths")
    parser.add_argument("--kraken-repeat", type=int, default=10, help="Kraken replays per timing")
    parser.add_argument("--no-kraken", action="store_true", help="skip the Kraken capture")
    parser.add_argument("--no-agg", action="store_true", help="skip the aggTrade estimate")
    parser.add_argument("--profile", action="store_true", help="cProfile even above target")
    args = parser.parse_args()

    started = time.perf_counter()
    binance = load(BINANCE_CAPTURE, "Binance BTCUSDT, 10 min (hftbacktest, raw @trade)")
    workloads = [(binance, 1)]
    if not args.no_agg:
        name = "Binance BTCUSDT, 10 min, trades merged as @aggTrade would (live-mix estimate)"
        workloads.append((aggregate_trades(binance, name), 1))
    if not args.no_kraken:
        kraken = load(KRAKEN_CAPTURE, "Kraken, 10 pairs, 31 s (cryptofeed sample, checksums on)")
        workloads.append((kraken, args.kraken_repeat))
    print(f"captures preloaded in {time.perf_counter() - started:.1f} s (not timed)")

    results = [report(w, args.rounds, repeat, args.profile) for w, repeat in workloads]
    report_snapshots(binance, statistics.median(results[0].collector))
    print()
    for (workload, _), result in zip(workloads, results, strict=True):
        verdict = "meets" if result.ratio >= TARGET else "BELOW"
        print(f"{result.ratio:.3f} {verdict} the {TARGET:.2f} target: {workload.name}")


if __name__ == "__main__":
    main()
