"""Order events over Redis: delivery between processes' buses, reconnects, failures."""

from __future__ import annotations

import logging

import pytest
from redis.asyncio import Redis

from tests.server.redis_support import bus_prefix, redis_url, wait_for
from twapserver.bus import OrderUpdate, is_memory_bus, order_events_for
from twapserver.bus.memory import MemoryOrderEvents
from twapserver.bus.redis import RedisOrderEvents
from twapserver.settings import Settings

__all__ = ["bus_prefix", "redis_url"]  # fixtures


async def _pair(url: str, prefix: str) -> tuple[RedisOrderEvents, RedisOrderEvents]:
    api, engine = RedisOrderEvents(url, prefix), RedisOrderEvents(url, prefix)
    await api.start()
    await engine.start()
    return api, engine


async def test_events_published_by_one_bus_reach_the_listeners_of_another(
    redis_url: str, bus_prefix: str
) -> None:
    api, engine = await _pair(redis_url, bus_prefix)
    submitted: list[int] = []
    cancelled: list[int] = []
    updates: list[OrderUpdate] = []
    engine.on_submitted(submitted.append)
    engine.on_cancel(cancelled.append)
    api.on_update(updates.append)
    update = OrderUpdate(7, 42, "tok-1", True, '{"type":"order","token_id":"tok-1"}')
    try:
        for order_id in range(1, 51):
            api.order_submitted(order_id)
        api.cancel_requested(3)
        engine.order_updated(update)
        await wait_for(lambda: len(submitted) == 50 and cancelled and updates, "events")
    finally:
        await api.stop()
        await engine.stop()

    assert submitted == list(range(1, 51))  # in publication order, each once
    assert cancelled == [3]
    assert updates == [update]


async def test_a_failing_listener_does_not_keep_the_event_from_the_others(
    redis_url: str, bus_prefix: str
) -> None:
    api, engine = await _pair(redis_url, bus_prefix)
    received: list[int] = []

    def broken(order_id: int) -> None:
        raise RuntimeError(f"listener broke on {order_id}")

    engine.on_submitted(broken)
    engine.on_submitted(received.append)
    try:
        api.order_submitted(1)
        api.order_submitted(2)
        await wait_for(lambda: received == [1, 2], "both submissions")
    finally:
        await api.stop()
        await engine.stop()


async def test_the_subscriber_resubscribes_after_its_connection_is_killed(
    redis_url: str, bus_prefix: str
) -> None:
    api, engine = await _pair(redis_url, bus_prefix)
    received: list[int] = []
    engine.on_submitted(received.append)
    admin = Redis.from_url(redis_url)
    try:
        api.order_submitted(1)
        await wait_for(lambda: received == [1], "the first event")
        clients = await admin.client_list()
        mine = [c["id"] for c in clients if c.get("name") == engine.link.name]
        assert mine, f"no Redis connection named {engine.link.name}"
        for client_id in mine:
            await admin.client_kill_filter(_id=client_id)
        await wait_for(lambda: not engine.link.subscribed.is_set(), "the lost subscription")
        await wait_for(engine.link.subscribed.is_set, "the resubscription")
        api.order_submitted(2)
        await wait_for(lambda: received == [1, 2], "the event after the reconnect")
    finally:
        await admin.aclose()
        await api.stop()
        await engine.stop()


async def test_publishing_without_redis_never_blocks_and_logs_each_failure_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Port 1 on loopback: nothing listens, every connect is refused at once.
    bus = RedisOrderEvents("redis://127.0.0.1:1/0", "twaptest-down")
    caplog.set_level(logging.WARNING, logger="twapserver.bus")
    await bus.link.start()  # not start(): that would wait for the subscription
    try:
        bus.order_submitted(1)  # returns at once: the sender task does the I/O
        await wait_for(lambda: bus.link.dropped >= 1, "a dropped command")
        bus.order_submitted(2)
        await wait_for(lambda: bus.link.dropped >= 2, "a second dropped command")
    finally:
        await bus.stop()

    failures = [r for r in caplog.records if "publishing failed" in r.getMessage()]
    assert len(failures) == 2
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in failures)


def test_the_bus_url_chooses_the_implementation() -> None:
    memory = order_events_for(Settings(bus_url="memory://"))
    redis_bus = order_events_for(Settings(bus_url="redis://127.0.0.1:6379/3", bus_prefix="x"))

    assert isinstance(memory, MemoryOrderEvents)
    assert isinstance(redis_bus, RedisOrderEvents)


def test_an_unknown_bus_url_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'kafka://broker:9092'"):
        is_memory_bus("kafka://broker:9092")


async def test_stop_writes_what_is_still_queued(redis_url: str, bus_prefix: str) -> None:
    api, engine = await _pair(redis_url, bus_prefix)
    received: list[int] = []
    engine.on_submitted(received.append)
    for order_id in range(10):
        api.order_submitted(order_id)
    await api.stop()  # before the sender task had a chance to run
    try:
        await wait_for(lambda: len(received) == 10, "the events queued before stop")
    finally:
        await engine.stop()
    assert received == list(range(10))
