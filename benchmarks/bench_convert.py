"""`twap convert` throughput per venue vs cryptofeed's parser alone, same captures, same run.

    python benchmarks/bench_convert.py [--rounds N] [--venue NAME ...]

For every venue captured in the shared data folder ($TWAP_SHARED_DATA, else
../shared/data: cryptofeed's BINANCE and KRAKEN samples, hftbacktest's BTCUSDT
session), two paths are timed, alternating, N rounds (default 3):

* convert: `convert_captures` end to end, files in, recording out (reading and
  gzip, cryptofeed's own exchange class driven through its subscribe path,
  snapshot buffering, normalization, JSON lines written);
* parser alone: the same cryptofeed exchange class, no-op callbacks, fed the
  same websocket payloads already in memory, every REST snapshot available up
  front, one `coro.send(None)` per message: the floor no converter built on
  cryptofeed can go under.

Printed per venue: websocket messages, median msgs/s of each path (the same
message count divides both) and the ratio convert/parser of the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed.symbols import Symbols

from twapcore.feeds._captures import (
    CapturedMessage,
    CryptofeedCapture,
    HftbacktestCapture,
    MessageKind,
    locate_captures,
    snapshot_key,
)
from twapcore.feeds._replay import exchange_ids, load_symbols, source_for
from twapcore.feeds.convert import convert_captures

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("TWAP_SHARED_DATA") or REPO.parent / "shared" / "data")
VENUES = {
    "binance (cryptofeed)": [DATA / "cryptofeed" / "BINANCE"],
    "kraken (cryptofeed)": [DATA / "cryptofeed" / "KRAKEN"],
    "binance BTCUSDT (hftbacktest)": [
        DATA / "hftbacktest" / "spot" / "btcusdt_20240808.gz",
        DATA / "hftbacktest" / "spot" / "btcusdt_20240809.gz",
    ],
}


async def noop(obj: Any, receipt_timestamp: float) -> None:
    return None


class Connection:
    """The websocket a payload came in on, for handlers that read or write it."""

    def __init__(self, uuid: str, subscription: dict[str, Any]) -> None:
        self.uuid = self.id = uuid
        self.subscription = subscription
        self.address = ""

    async def write(self, msg: str) -> None:
        return None


def run(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("cryptofeed waited on I/O")


@dataclass(frozen=True, slots=True)
class Parser:
    """cryptofeed's class, built and subscribed, and the payloads it will be fed."""

    feed: Any
    connections: dict[str, Connection]
    payloads: list[tuple[str, str | bytes, float]]  # (connection, payload, receive time s)

    @classmethod
    def build(cls, paths: list[Path]) -> Parser:
        [capture] = locate_captures(paths, exchange_ids())
        assert isinstance(capture, CryptofeedCapture | HftbacktestCapture)
        source = source_for(capture)
        venue = load_symbols(source)
        messages: list[CapturedMessage] = list(capture.messages())
        snapshots: dict[str, list[str]] = {}
        for m in messages:
            if m.kind is MessageKind.SNAPSHOT:
                snapshots.setdefault(m.key, []).append(str(m.text))
        if source.configuration is None:
            subscribed = sorted(venue.mapping)
        else:
            subscribed = sorted({s for c in (L2_BOOK, TRADES) for s in source.configuration[c]})
        Symbols.set(venue.feed_class.id, venue.mapping, venue.info)
        try:
            feed = venue.feed_class(
                subscription={L2_BOOK: subscribed, TRADES: subscribed},
                callbacks={L2_BOOK: noop, TRADES: noop},
                checksum_validation=True,
                config={"uvloop": False},
            )
        finally:
            Symbols.clear()

        async def read(address: str, *args: Any, **kwargs: Any) -> str:
            return snapshots[snapshot_key(address)].pop(0)

        feed.http_conn.read = read
        whole = {c: list(s) for c, s in feed.subscription.items()}
        connections: dict[str, Connection] = {}
        payloads = []
        for m in messages:
            if m.kind is MessageKind.WS:
                if m.connection not in connections:
                    connections[m.connection] = Connection(m.connection, whole)
                    run(feed.subscribe(connections[m.connection]))
                payloads.append((m.connection, m.text, m.ts_ns / 1e9))
        return cls(feed, connections, payloads)

    def drive(self) -> None:
        handler = self.feed.message_handler
        connections = self.connections
        for connection, payload, ts in self.payloads:
            run(handler(payload, connections[connection], ts))


def time_parser(paths: list[Path]) -> tuple[int, float]:
    parser = Parser.build(paths)  # set-up (symbols, payloads in memory) is not timed
    start = time.perf_counter()
    parser.drive()
    return len(parser.payloads), time.perf_counter() - start


def time_convert(paths: list[Path], folder: Path) -> float:
    start = time.perf_counter()
    convert_captures(paths, folder / "out.jsonl")
    return time.perf_counter() - start


def bench(name: str, paths: list[Path], rounds: int) -> tuple[str, int, float, float]:
    convert_s: list[float] = []
    parser_s: list[float] = []
    messages = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(rounds):
            # Which path goes first alternates: the machine's speed drifts.
            if index % 2 == 0:
                convert_s.append(time_convert(paths, Path(tmp)))
                messages, seconds = time_parser(paths)
                parser_s.append(seconds)
            else:
                messages, seconds = time_parser(paths)
                parser_s.append(seconds)
                convert_s.append(time_convert(paths, Path(tmp)))
    return (
        name,
        messages,
        messages / statistics.median(convert_s),
        messages / statistics.median(parser_s),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venue", action="append", choices=sorted(VENUES), default=None)
    args = parser.parse_args()
    names = args.venue or list(VENUES)
    print(f"{'venue':<32} {'ws msgs':>8} {'convert msg/s':>14} {'parser msg/s':>13} {'ratio':>6}")
    for name in names:
        venue, messages, convert_rate, parser_rate = bench(name, VENUES[name], args.rounds)
        print(
            f"{venue:<32} {messages:>8} {convert_rate:>14,.0f} {parser_rate:>13,.0f}"
            f" {convert_rate / parser_rate:>6.2f}"
        )


if __name__ == "__main__":
    main()
