"""Pieces shared by the venues: replay pacing and WebSocket connection bookkeeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

LOG = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Without pacing, yield to the loop this often so control calls, REST requests and other
# connections are not starved by a replay that never has to wait.
_UNPACED_YIELD_EVERY = 256

# Close-handshake timeout, s: a client whose event loop is blocked must not hold up a drop or a
# shutdown for aiohttp's default 10 s.
_CLOSE_TIMEOUT_S = 2.0


class Pacer:
    """Spreads one replay over wall-clock time.

    A message captured at ``ts`` (Unix seconds) is due ``(ts - origin) / speed`` seconds after
    the pacer was created. ``speed`` 1.0 is real time, 50.0 is 50x faster, ``0``/``None``
    sends as fast as the connection takes it.
    """

    def __init__(self, speed: float | None, origin: float) -> None:
        self._speed = speed or None
        self._origin = origin
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._unpaced = 0

    async def wait(self, ts: float) -> None:
        """Sleep until the message captured at ``ts`` (Unix seconds) is due."""
        if self._speed is None:
            self._unpaced += 1
            if self._unpaced % _UNPACED_YIELD_EVERY == 0:
                await asyncio.sleep(0)
            return
        delay = self._start + (ts - self._origin) / self._speed - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


class OneShotFaults:
    """Faults armed by a test; each is consumed by the first message it matches."""

    def __init__(self) -> None:
        self._armed: list[str | None] = []  # a key (symbol, pair) or None for any

    def arm(self, key: str | None) -> None:
        """Arm one fault for messages of ``key``, or of any key when None."""
        self._armed.append(key)

    def take(self, key: str) -> bool:
        """Consume and report the first fault armed for ``key`` or for any key."""
        for i, armed in enumerate(self._armed):
            if armed is None or armed == key:
                del self._armed[i]
                return True
        return False


class WebSocketVenue:
    """Base of a fake venue: accepts WebSocket clients, counts them and can drop them, stall
    them or refuse them (down).

    Subclasses start their replay in :meth:`on_open` and answer client messages in
    :meth:`on_text`; both return the tasks they started so they die with the connection.
    """

    name = "venue"

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self.connections = 0  # WebSocket connections accepted since start
        self.sent = 0  # WebSocket messages sent, all connections
        self.refused = 0  # requests (upgrades and REST) answered 503 while down
        self.down = False  # take_down(): every request of this venue gets 503
        self._open: set[web.WebSocketResponse] = set()
        self._flowing = asyncio.Event()  # cleared while stalled: sockets open, nothing sent
        self._flowing.set()

    # -- faults every venue has -------------------------------------------------------------

    def stall(self) -> None:
        """Stop sending on every connection, new ones included; sockets stay open and
        WebSocket pings are still answered (aiohttp does that), as a venue that hangs."""
        self._flowing.clear()

    def resume(self) -> None:
        """End a stall: what fell due meanwhile is sent at once, then the pacing goes on."""
        self._flowing.set()

    def take_down(self) -> None:
        """Answer 503 to every request (WebSocket upgrade or REST); :meth:`drop` closes the
        sockets already open."""
        self.down = True

    def bring_up(self) -> None:
        """Serve requests again after :meth:`take_down`."""
        self.down = False

    def route(self, path: str, handler: Handler) -> web.RouteDef:
        """A GET route of this venue that answers 503 while the venue is down."""

        async def unless_down(request: web.Request) -> web.StreamResponse:
            if self.down:
                self.refused += 1
                return web.Response(status=503, text=f"{self.name} is down")
            return await handler(request)

        return web.get(path, unless_down)

    async def send(self, ws: web.WebSocketResponse, text: str | bytes) -> None:
        """Send ``text`` (bytes: a binary frame) once the venue is not stalled; every replay
        sends through here."""
        await self._flowing.wait()
        if isinstance(text, bytes):
            await ws.send_bytes(text)
        else:
            await ws.send_str(text)
        self.sent += 1

    # -- connections --------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler of one WebSocket connection, from upgrade to close (register it
        with :meth:`route`)."""
        # No compression: cryptofeed offers permessage-deflate, but loopback does not need it
        # and uncompressed frames are written in one piece, so concurrent replays on one
        # connection cannot interleave frames.
        ws = web.WebSocketResponse(compress=False, timeout=_CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        self.connections += 1
        self._open.add(ws)
        LOG.info("%s: connection %d from %s", self.name, self.connections, request.remote)
        tasks: list[asyncio.Task[None]] = []
        try:
            tasks += [self._spawn(c) for c in self.on_open(ws, request)]
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    tasks += [self._spawn(c) for c in self.on_text(ws, message.data)]
        finally:
            self._open.discard(ws)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return ws

    def on_open(
        self, ws: web.WebSocketResponse, request: web.Request
    ) -> list[Coroutine[Any, Any, None]]:
        """Coroutines to run for a new connection (e.g. a replay)."""
        return []

    def on_text(self, ws: web.WebSocketResponse, text: str) -> list[Coroutine[Any, Any, None]]:
        """Coroutines to run in answer to a client text message (e.g. a subscribe)."""
        return []

    async def drop(self) -> None:
        """Close every open connection with 1001 "going away".

        1001 is a normal closure to the ``websockets`` client, so cryptofeed reconnects at once
        instead of backing off as after an error.
        """
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.GOING_AWAY) for ws in list(self._open)),
            return_exceptions=True,
        )

    @staticmethod
    def _spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(_quiet_on_disconnect(coro))


async def _quiet_on_disconnect(coro: Coroutine[Any, Any, None]) -> None:
    """Run a replay; a client that went away mid-send just ends it."""
    try:
        await coro
    except ConnectionError as exc:
        # aiohttp raises ClientConnectionResetError when writing to a closing transport.
        LOG.debug("replay ended by disconnect: %s", exc)
