"""`redis://host:port/db`: the bus over Redis pub/sub, for roles in separate processes.

`RedisLink` is the one piece of Redis plumbing: a synchronous command queue that a
sender task writes in pipelines, and a subscriber task that dispatches messages by
channel; both survive Redis restarts (exponential backoff, one log line per failure).
`RedisOrderEvents` (here) and the market-data publisher/view
(`twapserver.market.redis`) are built on it.

Delivery is at most once (see `twapserver.bus`): commands that fail while Redis is
unreachable are dropped, and a subscriber misses what was published while it was
disconnected; `on_subscribed` lets a reader re-read the state it must not miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from twapserver.bus import OrderUpdate, deliver
from twapserver.tasks import cancel_and_wait

__all__ = ["RedisLink", "RedisOrderEvents"]

log = logging.getLogger("twapserver.bus")

BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 5.0
PIPELINE_MAX = 1000  # commands per pipeline round trip
QUEUE_MAX = 100_000  # queued commands kept while Redis is unreachable (oldest dropped)
STOP_FLUSH_S = 2.0  # how long `stop` waits to write what is still queued
EVENTS_PER_MESSAGE = 1000  # order events packed into one PUBLISH

_link_ids = itertools.count(1)

Handler = Callable[[bytes], None]
OnSubscribed = Callable[[Redis], Awaitable[None]]


class RedisLink:
    """A publisher and a subscriber on one Redis URL (see the module docstring).

    `send(*command)` queues one Redis command (`"PUBLISH", channel, data`,
    `"SET", key, data`, …) without waiting; the sender task writes everything
    queued in one pipeline. The subscriber task listens on the channels of
    `handlers` and calls each message's handler with its data; after every
    (re)subscription it awaits `on_subscribed(client)` and sets `subscribed`.
    """

    def __init__(
        self,
        url: str,
        name: str,
        handlers: Mapping[str, Handler] | None = None,
        on_subscribed: OnSubscribed | None = None,
    ) -> None:
        # Unique per link, so `CLIENT LIST` tells which process and which link it is.
        self.name = f"{name}-{os.getpid()}-{next(_link_ids)}"
        self.client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=2,
            client_name=self.name,
            # A connection idle for a second is PINGed before use: one killed by a Redis
            # restart is replaced instead of failing (and dropping) the next pipeline.
            health_check_interval=1,
        )
        self.subscribed = asyncio.Event()
        self.dropped = 0  # commands dropped: queue overflow or a failed pipeline
        self._handlers = {
            channel.encode(): handler for channel, handler in (handlers or {}).items()
        }
        self._on_subscribed = on_subscribed
        self._queue: deque[tuple[Any, ...]] = deque()
        self._pending = asyncio.Event()
        self._stopping = False
        self._sender: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the sender (and the subscriber, when there are handlers)."""
        self._stopping = False
        self._sender = asyncio.create_task(self._send_forever())
        if self._handlers:
            self._listener = asyncio.create_task(self._listen_forever())

    async def stop(self) -> None:
        """Stop listening, let the sender write what is queued (at most `STOP_FLUSH_S`), close."""
        listener, self._listener = self._listener, None
        await cancel_and_wait(listener)
        sender, self._sender = self._sender, None
        if sender is not None:
            self._stopping = True
            self._pending.set()
            # Not cancelled at once: a pipeline in flight would be lost half-written.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(sender), STOP_FLUSH_S)
            await cancel_and_wait(sender)
        await self.client.aclose()

    def send(self, *command: Any) -> None:
        """Queue one Redis command; never waits (the sender task writes it)."""
        if len(self._queue) >= QUEUE_MAX:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(command)
        self._pending.set()

    async def _flush(self) -> None:
        while self._queue:
            count = min(len(self._queue), PIPELINE_MAX)
            batch = [self._queue.popleft() for _ in range(count)]
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for command in batch:
                        pipe.execute_command(*command)
                    await pipe.execute()
            except Exception:
                self.dropped += len(batch)  # at most once: never re-sent out of order
                raise

    async def _send_forever(self) -> None:
        delay = BACKOFF_MIN_S
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                await self._flush()
                delay = BACKOFF_MIN_S
                if self._stopping:
                    return
            except Exception as error:
                log.warning(
                    "redis %s: publishing failed (%s); %d commands dropped so far, "
                    "retrying in %.1f s",
                    self.name,
                    error,
                    self.dropped,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                self._pending.set()

    async def _listen_forever(self) -> None:
        delay = BACKOFF_MIN_S
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(*self._handlers)
                    if self._on_subscribed is not None:
                        await self._on_subscribed(self.client)
                    self.subscribed.set()
                    delay = BACKOFF_MIN_S
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.subscribed.clear()
                log.warning(
                    "redis %s: subscription lost (%s); resubscribing in %.1f s",
                    self.name,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        try:
            self._handlers[channel](data)
        except Exception:  # one bad message must not end the subscription
            log.exception("redis %s: cannot handle a message on %s", self.name, channel)


class RedisOrderEvents:
    """`OrderEvents` over Redis pub/sub: channels `<prefix>:orders:{submitted,cancel,update}`.

    Events of one event-loop pass go out together, one message per channel holding a
    JSON array (at most `EVENTS_PER_MESSAGE`): an engine committing a thousand slices
    costs its subscribers one message to parse, not a thousand.
    """

    def __init__(self, url: str, prefix: str = "twap") -> None:
        self._submitted_channel = f"{prefix}:orders:submitted"
        self._cancel_channel = f"{prefix}:orders:cancel"
        self._update_channel = f"{prefix}:orders:update"
        self._submitted: list[Callable[[int], None]] = []
        self._cancel: list[Callable[[int], None]] = []
        self._update: list[Callable[[OrderUpdate], None]] = []
        self._outgoing: dict[str, list[Any]] = {}  # channel -> events of this loop pass
        self.link = RedisLink(
            url,
            f"{prefix}-order-events",
            {
                self._submitted_channel: self._on_submitted,
                self._cancel_channel: self._on_cancel,
                self._update_channel: self._on_update,
            },
        )

    async def start(self) -> None:
        """Connect; returns once subscribed (or after 5 s of trying, logged)."""
        await self.link.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.link.subscribed.wait(), 5.0)

    async def stop(self) -> None:
        for channel in list(self._outgoing):
            self._publish(channel)
        await self.link.stop()

    def order_submitted(self, order_id: int) -> None:
        self._queue(self._submitted_channel, order_id)

    def cancel_requested(self, order_id: int) -> None:
        self._queue(self._cancel_channel, order_id)

    def order_updated(self, update: OrderUpdate) -> None:
        self._queue(
            self._update_channel,
            {
                "user_id": update.user_id,
                "order_id": update.order_id,
                "token_id": update.token_id,
                "final": update.final,
                "payload": update.payload,
            },
        )

    def on_submitted(self, listener: Callable[[int], None]) -> None:
        self._submitted.append(listener)

    def on_cancel(self, listener: Callable[[int], None]) -> None:
        self._cancel.append(listener)

    def on_update(self, listener: Callable[[OrderUpdate], None]) -> None:
        self._update.append(listener)

    # --- batching ------------------------------------------------------------------------
    def _queue(self, channel: str, event: Any) -> None:
        batch = self._outgoing.get(channel)
        if batch is None:
            batch = self._outgoing[channel] = []
            asyncio.get_running_loop().call_soon(self._publish, channel)
        batch.append(event)
        if len(batch) >= EVENTS_PER_MESSAGE:
            self._publish(channel)

    def _publish(self, channel: str) -> None:
        batch = self._outgoing.pop(channel, None)
        if batch:  # None when a full batch already went out in this pass
            self.link.send("PUBLISH", channel, orjson.dumps(batch))

    def _on_submitted(self, data: bytes) -> None:
        for order_id in orjson.loads(data):
            deliver(self._submitted, int(order_id))

    def _on_cancel(self, data: bytes) -> None:
        for order_id in orjson.loads(data):
            deliver(self._cancel, int(order_id))

    def _on_update(self, data: bytes) -> None:
        for fields in orjson.loads(data):
            update = OrderUpdate(
                user_id=int(fields["user_id"]),
                order_id=int(fields["order_id"]),
                token_id=str(fields["token_id"]),
                final=bool(fields["final"]),
                payload=str(fields["payload"]),
            )
            deliver(self._update, update)
