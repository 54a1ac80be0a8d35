"""The Redis bus vs bare redis-py, same Redis, same run.

    python benchmarks/bench_bus.py [--redis redis://127.0.0.1:6379/0] [--markets 100]
                                   [--events 50000]

Three measurements, each printed with its baseline:

* publisher CPU: one `RedisMarketPublisher.publish_books()` pass over N markets
  whose books all changed (snapshot taken, serialised once, SET + PUBLISH queued)
  vs the bare minimum of any publisher: `hub.book()` + `orjson.dumps(book_to_record())`
  of the same books (prebuilt levels, so Decimal parsing is in neither). Gives the
  markets one collector core can publish at 10 Hz.
* book latency: collector hub -> Redis -> `MarketView`, per book, p50/p99, for N
  markets changing at 10 Hz, published every 10 ms (`TWAP_BUS_BOOK_EVERY_MS` adds
  up to its value on top: 100 ms by default).
* order events: `RedisOrderEvents` publish -> listener, events/s, vs bare redis-py
  pipelined PUBLISH -> pubsub of the same payloads, one per event (the bus packs
  the events of one event-loop pass into one message).

Needs a reachable Redis; keys and channels use a random prefix, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from decimal import Decimal

import orjson
from redis.asyncio import Redis

from twapcore import BookSnapshot, Level
from twapcore.recording import book_to_record
from twapserver.bus import OrderUpdate
from twapserver.bus.redis import RedisOrderEvents
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.market import MarketView
from twapserver.market.redis import RedisMarketPublisher, RedisMarketSubscriber

DEPTH = 20
THROTTLE_MS = 10  # publish cadence in the latency run (the setting's default is 100)


# Levels built once: the snapshot side then costs what the hub adds, not Decimal parsing.
BIDS = tuple(Level(Decimal(f"{60000 - i}.01"), Decimal("0.51234")) for i in range(DEPTH))
ASKS = tuple(Level(Decimal(f"{60001 + i}.01"), Decimal("0.51234")) for i in range(DEPTH))


def _book(symbol: str, ts: int) -> BookSnapshot:
    return BookSnapshot("binance", symbol, BIDS, ASKS, ts, ts, ts)


def _hub(markets: int) -> MarketHub:
    hub = MarketHub(max_book_age_s=5)
    for i in range(markets):
        hub.register(InstrumentInfo("binance", f"S{i}-USDT"))
    return hub


def _touch(hub: MarketHub, ts: int) -> None:
    for exchange, symbol in hub.markets():
        hub.on_book(exchange, symbol, lambda s=symbol, t=ts: _book(s, t), ts)


def publisher_cpu(url: str, prefix: str, markets: int, rounds: int = 30) -> None:
    hub = _hub(markets)
    publisher = RedisMarketPublisher(hub, url, prefix)  # not started: queues only
    build, publish = [], []
    for r in range(rounds):
        _touch(hub, r * 2 + 1)
        start = time.perf_counter()
        for market in hub.markets():
            book = hub.book(*market)
            assert book is not None
            orjson.dumps(book_to_record(book))
        build.append(time.perf_counter() - start)
        _touch(hub, r * 2 + 2)
        start = time.perf_counter()
        publisher.publish_books()
        publish.append(time.perf_counter() - start)
        publisher.link._queue.clear()  # not sent: this measures the CPU of one pass
    b, p = statistics.median(build), statistics.median(publish)
    per_market_hz = p / markets * 10
    print(f"publisher, {markets} markets x {DEPTH} levels, every book changed:")
    print(f"  snapshot + serialise alone {b / markets * 1e6:7.1f} us/market")
    print(f"  publish pass               {p / markets * 1e6:7.1f} us/market")
    print(f"  ratio bare/publisher: {b / p:.2f}")
    share = per_market_hz * 100
    print(f"  at 10 Hz: {share:.2f}% of a core per market, ~{1 / per_market_hz:,.0f} markets/core")


async def book_latency(url: str, prefix: str, markets: int, seconds: float = 5.0) -> None:
    hub = _hub(markets)
    publisher = RedisMarketPublisher(hub, url, prefix, every_ms=THROTTLE_MS)
    view = MarketView(max_book_age_s=5)
    subscriber = RedisMarketSubscriber(view, url, prefix)
    await publisher.start()
    await subscriber.start()
    latencies: list[float] = []
    seen: dict[tuple[str, str], int] = {}
    original = view.apply_book

    def timed(record: dict[str, object]) -> None:
        original(record)
        ts = int(record["ts_recv"])  # type: ignore[call-overload]
        market = (str(record["exchange"]), str(record["symbol"]))
        if seen.get(market) != ts:
            seen[market] = ts
            latencies.append((time.time_ns() - ts) / 1e6)

    view.apply_book = timed  # type: ignore[method-assign]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _touch(hub, time.time_ns())
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    await subscriber.stop()
    await publisher.stop()
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(len(latencies) * 0.99)]
    print(f"book latency hub -> Redis -> view, {markets} markets at 10 Hz, {len(latencies)} books:")
    print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms (incl. up to {THROTTLE_MS} ms publish throttle)")


async def order_events(url: str, prefix: str, count: int) -> None:
    payload = '{"type":"order","token_id":"bench","status":"working","filled_qty":"0.001"}'
    update = OrderUpdate(1, 1, "bench", False, payload)
    sender, receiver = RedisOrderEvents(url, prefix), RedisOrderEvents(url, prefix)
    got = asyncio.Event()
    received = [0]

    def listener(_: OrderUpdate) -> None:
        received[0] += 1
        if received[0] == count:
            got.set()

    receiver.on_update(listener)
    await sender.start()
    await receiver.start()
    start = time.perf_counter()
    for _ in range(count):
        sender.order_updated(update)
    await asyncio.wait_for(got.wait(), 120)
    bus_rate = count / (time.perf_counter() - start)
    await sender.stop()
    await receiver.stop()

    client, channel = Redis.from_url(url), f"{prefix}:bare"
    done = asyncio.Event()
    bare = [0]
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(channel)

        async def listen() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    bare[0] += 1
                    if bare[0] == count:
                        done.set()
                        return

        task = asyncio.create_task(listen())
        start = time.perf_counter()
        for offset in range(0, count, 1000):
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(min(1000, count - offset)):
                    pipe.publish(channel, payload)
                await pipe.execute()
        await asyncio.wait_for(done.wait(), 120)
        bare_rate = count / (time.perf_counter() - start)
        await task
    await client.aclose()
    print(f"order events publish -> listener, {count:,} updates:")
    print(f"  RedisOrderEvents {bus_rate:,.0f}/s, bare redis-py {bare_rate:,.0f}/s")
    print(f"  ratio bus/bare: {bus_rate / bare_rate:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--markets", type=int, default=100)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    prefix = f"benchbus-{uuid.uuid4().hex[:8]}"
    try:
        publisher_cpu(args.redis, prefix, args.markets)
        await book_latency(args.redis, prefix, min(args.markets, 20))
        await order_events(args.redis, prefix, args.events)
    finally:
        client = Redis.from_url(args.redis)
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
