"""`/ws` book fan-out of one API worker vs a bare `websockets` server, in one run.

    python benchmarks/bench_ws.py [--clients N] [--seconds S] [--procs P] [--rounds R]

Servers (each a subprocess on a free 127.0.0.1 port, uvloop where uvicorn would use it):

* twap: `twapserver run --demo` (1 worker, SQLite in a temp dir, user `bench` made with
  `twapserver users add`, WS limits lifted by TWAP_ env vars). It is started through
  `--serve-twap`, which wraps `Broadcaster.tick` to append the wall-clock time at which
  each tick starts (and its length) to a file: the book messages carry the book's
  `ts_event`/`ts_recv`, not the tick time, and this is the only change to the server.
* bare: `websockets.asyncio.server` answering the same auth and subscribe messages and,
  on a fixed 1 s grid, `websockets.broadcast` of the same bytes: the four book messages
  a probe client took from the twap server before the run (the library's own fan-out,
  which writes every frame synchronously: the fastest bare baseline).

Clients: `--procs` processes (fork), each running its share of `--clients` raw
WebSocket clients (asyncio protocols, a minimal RFC 6455 framer: the `websockets`
client would cost the client side more CPU than the servers). Every client sends
`{"op":"auth","token":…}` (one access token shared by all: the server checks it per
connection), subscribes to 4 markets of GET /exchanges and records the receipt time
of every book message. Once all are connected, a window of `--seconds` starts; each
message is matched to a tick (see `_ticks_of`; both ends read the same wall clock) and
its delay is receipt - tick start. Also printed: the spread of one
tick's receipt times across clients (max - min: the fan-out's own length), delivered
messages per second (target: twap >= 0.7x bare), server and client CPU per message.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TextIO
from unittest import mock

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_orders import PASSWORD, SECRET, Server, free_port, pct, start_server

MARKETS = 4
SETTLE_S = 2.0  # after the last client subscribed, before the window opens
GRACE_S = 1.0  # receipts of the window's last tick may arrive after its end
CONNECTS_AT_ONCE = 64  # per client process
CONNECT_TIMEOUT_S = 120.0
IDLE_CPU = 0.15  # a server at or under this CPU / wall is done with the previous run
ENV = {
    "TWAP_JWT_SECRET": SECRET,
    "TWAP_COLLECT": "false",
    "TWAP_WS_MAX_UNAUTHENTICATED": "100000",
    "TWAP_WS_AUTH_TIMEOUT_S": "120",
    "TWAP_WS_IDLE_TIMEOUT_S": "120",
}


# --- servers -------------------------------------------------------------------------------------


def serve_twap(tick_log: str, argv: list[str], uvicorn_ws: str | None) -> None:
    """`twapserver ARGV`, logging "start length" (s) of every `Broadcaster.tick` to `tick_log`.

    `uvicorn_ws` (an experiment, `--uvicorn-ws`) replaces uvicorn's WebSocket implementation.
    """
    import uvicorn

    from twapserver.cli import main
    from twapserver.ws.broadcast import Broadcaster

    if uvicorn_ws is not None:
        run = uvicorn.run
        uvicorn.run = lambda *a, **kw: run(*a, **kw, ws=uvicorn_ws)

    original = Broadcaster.tick
    out = open(tick_log, "a", buffering=1)  # noqa: SIM115 - open for the process' life

    def tick(self: Broadcaster) -> None:
        started = time.time()
        original(self)
        out.write(f"{started!r} {time.time() - started!r}\n")

    Broadcaster.tick = tick  # type: ignore[method-assign]
    sys.argv = ["twapserver", *argv]
    main()


async def _bare(port: int, payloads: list[str], tick_log: TextIO) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()
    ok = orjson.dumps({"type": "auth", "status": "ok", "user": "bench"}).decode()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # the auth message: accepted unchecked
        await ws.send(ok)
        for _ in range(MARKETS):
            request = orjson.loads(await ws.recv())
            await ws.send(orjson.dumps({"type": "subscribed", **request}).decode())
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    loop = asyncio.get_running_loop()
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
        next_tick = loop.time()
        while True:  # the same fixed grid as Broadcaster._tick_forever
            next_tick = max(next_tick + 1.0, loop.time())
            await asyncio.sleep(next_tick - loop.time())
            started = time.time()
            for payload in payloads:
                broadcast(clients, payload)
            tick_log.write(f"{started!r} {time.time() - started!r}\n")


def serve_bare(port: int, payload_file: str, tick_log: str) -> None:
    """The bare baseline (see the module docstring) until killed."""
    payloads = orjson.loads(Path(payload_file).read_bytes())
    with open(tick_log, "a", buffering=1) as out:
        _run(_bare(port, payloads, out))


def _run(coro: object) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
        return
    uvloop.run(coro)  # type: ignore[arg-type]


@dataclass
class Target:
    server: Server
    port: int
    tick_log: Path


def start_targets(
    workdir: Path, uvicorn_ws: str | None = None
) -> tuple[list[Target], str, list[tuple[str, str]]]:
    """The twap and bare servers, the access token and the 4 markets subscribed to."""
    url = f"sqlite+aiosqlite:///{workdir / 'twap.db'}"
    add_user = ["users", "add", "bench", "--password-stdin", "--database-url", url]
    subprocess.run(
        [sys.executable, "-c", "from twapserver.cli import main; main()", *add_user],
        input=PASSWORD + "\n",
        text=True,
        env={**os.environ, **ENV},
        check=True,
        capture_output=True,
    )
    me = str(Path(__file__).resolve())
    port = free_port()
    twap_ticks = workdir / "twap.ticks"
    args = [
        me,
        "--serve-twap",
        str(twap_ticks),
        *(["--uvicorn-ws", uvicorn_ws] if uvicorn_ws else []),
    ]
    args += ["--", "run", "--demo", "--database-url", url]
    with mock.patch.dict(os.environ, ENV):  # start_server adds bench_orders.ENV to os.environ
        twap = start_server("twap", [*args, "--port", str(port)], workdir / "twap.log", port)
    targets = [Target(twap, port, twap_ticks)]
    try:
        form = {"username": "bench", "password": PASSWORD}
        token = httpx.post(twap.base + "/auth/token", data=form, timeout=10).json()["access_token"]
        exchanges = httpx.get(twap.base + "/exchanges", timeout=10).json()
        markets = [(e["name"], s) for e in exchanges for s in e["symbols"]][:MARKETS]
        if len(markets) < MARKETS:
            raise RuntimeError(f"the demo serves {len(markets)} markets, fewer than {MARKETS}")
        payloads = _run_probe(port, token, markets)
        payload_file = workdir / "payloads.json"
        payload_file.write_bytes(orjson.dumps(payloads))
        port = free_port()
        bare_ticks = workdir / "bare.ticks"
        args = [me, "--serve-bare", str(port), "--payloads", str(payload_file)]
        args += ["--tick-log", str(bare_ticks)]
        bare = _start_tcp("bare", args, workdir / "bare.log", port)
        targets.append(Target(bare, port, bare_ticks))
    except BaseException:
        for target in targets:
            target.server.stop()
        raise
    return targets, token, markets


def _start_tcp(name: str, args: list[str], log: Path, port: int) -> Server:
    """Like `start_server` for a server without /health: ready when its port accepts."""
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, *args], stdout=out, stderr=out)
    server = Server(name, process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} server exited early:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{name} server did not listen within 30 s") from None
            time.sleep(0.05)


def _run_probe(port: int, token: str, markets: list[tuple[str, str]]) -> list[str]:
    """One book message per market, as the twap server sends it."""

    async def probe() -> list[str]:
        loop = asyncio.get_running_loop()
        client = WsClient(markets, token, f"127.0.0.1:{port}", keep_text=True)
        await loop.create_connection(lambda: client, "127.0.0.1", port)
        await asyncio.wait_for(client.authed, 10)
        client.subscribe()
        await asyncio.wait_for(client.ready, 10)
        await asyncio.wait_for(client.all_books.wait(), 15)
        client.transport.close()
        return [client.texts[i] for i in range(MARKETS)]

    return asyncio.run(probe())


# --- clients -------------------------------------------------------------------------------------


@dataclass
class Window:
    """The measured interval (wall clock, s) and what one client process saw in it."""

    start: float = float("inf")
    end: float = float("inf")
    receipts: list[list[float]] = field(default_factory=lambda: [[] for _ in range(MARKETS)])
    receivers: list[array[int]] = field(
        default_factory=lambda: [array("i") for _ in range(MARKETS)]
    )


class WsClient(asyncio.Protocol):
    """A minimal WebSocket client: handshake, auth, subscribe; then it times book messages."""

    def __init__(
        self,
        markets: list[tuple[str, str]],
        token: str,
        host: str,
        window: Window | None = None,
        keep_text: bool = False,
    ) -> None:
        self.markets = markets
        self.prefixes = {
            orjson.dumps({"type": "book", "exchange": e, "symbol": s})[:-1]: i
            for i, (e, s) in enumerate(markets)
        }
        self.token, self.host = token, host
        self.window = window or Window()
        self.keep_text = keep_text
        self.texts: dict[int, str] = {}
        self.all_books = asyncio.Event()  # texts holds a message of every market
        loop = asyncio.get_running_loop()
        self.authed: asyncio.Future[None] = loop.create_future()
        self.ready: asyncio.Future[None] = loop.create_future()  # subscribed to every market
        self.acks = 0
        self.id = -1  # its index in its process, once subscribed
        self.closed = False
        self.buffer = bytearray()
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET /ws HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(f"closed before subscribing: {exc}"))

    def _fail(self, error: Exception) -> None:
        for future in (self.authed, self.ready):
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: the caller may be waiting on the other one

    def send(self, message: dict[str, object]) -> None:
        self.transport.write(frame(0x1, orjson.dumps(message)))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(ConnectionError(bytes(buffer[:head_end]).decode()))
                self.transport.close()
                return
            del buffer[: head_end + 4]
            self.upgraded = True
            self.send({"op": "auth", "token": self.token})
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < start + length:
                return
            if not buffer[0] & 0x80:
                raise ValueError("fragmented frames are not expected from these servers")
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            self.on_frame(opcode, payload, now)

    def on_frame(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == 0x9:  # ping: uvicorn closes a client that does not answer
            self.transport.write(frame(0xA, payload))
            return
        if opcode == 0x8:
            self.transport.write(frame(0x8, payload[:2]))
            self.transport.close()
            return
        prefix_end = payload.find(b',"ts_event"', 0, 120)
        index = self.prefixes.get(payload[:prefix_end]) if prefix_end > 0 else None
        if index is not None:
            window = self.window
            if now >= window.start:
                window.receipts[index].append(now)
                window.receivers[index].append(self.id)
            if self.keep_text:
                self.texts.setdefault(index, payload.decode())
                if len(self.texts) == MARKETS:
                    self.all_books.set()
            return
        reply = orjson.loads(payload)
        if reply.get("type") == "auth":
            self.authed.set_result(None)
        elif reply.get("type") == "subscribed":
            self.acks += 1
            if self.acks == MARKETS:
                self.ready.set_result(None)
        elif reply.get("type") == "error":
            self._fail(ConnectionError(reply.get("message")))

    def subscribe(self) -> None:
        """Subscribe to the book of every market; `ready` is done once all are acknowledged."""
        for exchange, symbol in self.markets:
            self.send(
                {"op": "subscribe", "channel": "book", "exchange": exchange, "symbol": symbol}
            )


def frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame (masked, as RFC 6455 requires of clients)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@dataclass
class FleetResult:
    """What one client process reports: receipts per market, per-client counts, its CPU."""

    connected: int
    errors: list[str]
    receipts: list[bytes]  # array("d") per market, wall-clock seconds
    receivers: list[bytes]  # array("i") per market: the client of each receipt
    closed: int  # clients whose connection ended during the run
    cpu_s: float  # this process' CPU seconds over the window


def client_process(
    conn: Connection, port: int, token: str, markets: list[tuple[str, str]], count: int
) -> None:
    """Entry point of one client process (see `_fleet`)."""
    try:
        _run(_fleet(conn, port, token, markets, count))
    except BaseException as error:
        conn.send(error)
        raise


async def _fleet(
    conn: Connection, port: int, token: str, markets: list[tuple[str, str]], count: int
) -> None:
    """Connect and authenticate `count` clients, then subscribe them all, report, take the
    window from `conn`, record, report. (Subscribing only once all are connected keeps the
    fan-out of the first ones from slowing down the connection of the others.)"""
    loop = asyncio.get_running_loop()
    window = Window()
    connected: list[WsClient] = []  # authenticated
    clients: list[WsClient] = []  # subscribed
    errors: list[str] = []
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def connect() -> None:
        async with gate:
            client = WsClient(markets, token, f"127.0.0.1:{port}", window)
            try:
                await loop.create_connection(lambda: client, "127.0.0.1", port)
                await asyncio.wait_for(client.authed, CONNECT_TIMEOUT_S)
                connected.append(client)
            except (OSError, ConnectionError, TimeoutError) as error:
                errors.append(repr(error))
                if hasattr(client, "transport"):
                    client.transport.close()

    started = time.monotonic()
    await asyncio.gather(*(connect() for _ in range(count)))
    connect_s = time.monotonic() - started
    for client in connected:
        client.subscribe()
    for client in connected:
        try:
            await asyncio.wait_for(
                client.ready, max(1.0, started + 2 * CONNECT_TIMEOUT_S - time.monotonic())
            )
            client.id = len(clients)
            clients.append(client)
        except (ConnectionError, TimeoutError) as error:
            errors.append(repr(error))
            client.transport.close()
    conn.send((len(clients), errors[:3], connect_s, time.monotonic() - started - connect_s))
    window.start, window.end = await loop.run_in_executor(None, conn.recv)
    await asyncio.sleep(max(0.0, window.start - time.time()))
    cpu = time.process_time()
    await asyncio.sleep(max(0.0, window.end - time.time()))
    cpu = time.process_time() - cpu
    await asyncio.sleep(GRACE_S)
    receipts = [array("d", times).tobytes() for times in window.receipts]
    receivers = [ids.tobytes() for ids in window.receivers]
    closed = sum(c.closed for c in clients)
    conn.send(FleetResult(len(clients), errors[:3], receipts, receivers, closed, cpu))
    for client in clients:
        client.transport.close()


# --- one run against one server ------------------------------------------------------------------


@dataclass
class RunResult:
    target: str
    asked: int
    connected: int
    closed: int
    seconds: float
    ticks: int  # ticks the server started inside the window
    delays: list[float]  # s, every message of those ticks: receipt - tick start
    spreads: list[float]  # s, per (tick, market): last receipt - first receipt
    expected: int  # connected clients x markets x ticks
    per_client: list[float]  # book messages per client per second, divided by MARKETS
    tick_lengths: list[float]  # s the server spent inside one tick
    server_cpu_s: float
    idle_cpu: float  # the server's CPU/wall before the clients came (the demo replay, ...)
    client_cpu_s: float
    procs: int
    errors: list[str] = field(default_factory=list)
    connect_s: float = 0.0  # connecting and authenticating every client (slowest process)
    subscribe_s: float = 0.0  # then subscribing all of them

    @property
    def delivered(self) -> int:
        return len(self.delays)

    @property
    def rate(self) -> float:
        """Book messages delivered per second."""
        return self.delivered / self.seconds

    @property
    def server_us_per_message(self) -> float:
        busy = self.server_cpu_s - self.idle_cpu * self.seconds
        return busy / max(1, self.delivered) * 1e6


def _idle_cpu(server: Server) -> float:
    """The server's CPU / wall once it is done with a previous run's clients (up to 20 s)."""
    for _ in range(20):
        cpu, wall = server.cpu_s(), time.monotonic()
        time.sleep(1.0)
        idle = (server.cpu_s() - cpu) / (time.monotonic() - wall)
        if idle < IDLE_CPU:
            break
    return idle


def _receive(conn: Connection, timeout: float) -> object:
    if not conn.poll(timeout):
        raise RuntimeError(f"a client process sent nothing within {timeout:g} s")
    message = conn.recv()
    if isinstance(message, BaseException):
        raise RuntimeError(f"a client process failed: {message!r}")
    return message


def run_fleet(
    target: Target,
    token: str,
    markets: list[tuple[str, str]],
    clients: int,
    procs: int,
    seconds: float,
) -> RunResult:
    """`clients` clients over `procs` processes against `target` for `seconds`."""
    idle = _idle_cpu(target.server)
    context = multiprocessing.get_context("fork")
    shares = [clients // procs + (i < clients % procs) for i in range(procs)]
    pipes, processes = [], []
    for share in shares:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=client_process, args=(theirs, target.port, token, markets, share), daemon=True
        )
        process.start()
        pipes.append(ours)
        processes.append(process)
    try:
        readies: list[tuple[int, list[str], float, float]] = [
            _receive(conn, 2 * CONNECT_TIMEOUT_S + 60)  # type: ignore[misc]
            for conn in pipes
        ]
        start = time.time() + SETTLE_S
        end = start + seconds
        for conn in pipes:
            conn.send((start, end))
        time.sleep(max(0.0, start - time.time()))
        cpu = target.server.cpu_s()
        time.sleep(max(0.0, end - time.time()))
        cpu = target.server.cpu_s() - cpu
        fleets: list[FleetResult] = [_receive(conn, 60) for conn in pipes]  # type: ignore[misc]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    result = analyse(target, clients, fleets, start, end, cpu, idle)
    result.errors = [e for _, errs, _, _ in readies for e in errs]
    result.connect_s = max(r[2] for r in readies)
    result.subscribe_s = max(r[3] for r in readies)
    return result


def _ticks_of(receipts: list[float], starts: list[float]) -> list[int]:
    """The tick of each of one client's messages of one market (receipt order).

    Each tick sends a client at most one message per market, and in order: so the last
    message is from the last tick started before it arrived, and each earlier one from
    an earlier tick than the one after it. Exact when no message was dropped (a message
    later than one interval is not taken for the next tick's); with drops, the latest
    possible tick, i.e. the smallest delay consistent with the order.
    """
    ticks = [0] * len(receipts)
    after = len(starts)
    for i in range(len(receipts) - 1, -1, -1):
        after = min(bisect.bisect_right(starts, receipts[i]) - 1, after - 1)
        ticks[i] = after
    return ticks


def analyse(
    target: Target,
    asked: int,
    fleets: list[FleetResult],
    start: float,
    end: float,
    server_cpu_s: float,
    idle_cpu: float,
) -> RunResult:
    """Attribute every receipt to the last tick started before it (see the module docstring)."""
    lines = [line.split() for line in target.tick_log.read_text().splitlines()]
    ticks = sorted((float(s), float(n)) for s, n in lines)
    starts = [s for s, _ in ticks]
    first, last = bisect.bisect_left(starts, start), bisect.bisect_left(starts, end)
    seconds = end - start
    delays: list[float] = []
    spans: dict[tuple[int, int], list[float]] = {}
    per_client: list[float] = []
    for fleet in fleets:
        received = [0] * fleet.connected
        for market, raw in enumerate(fleet.receipts):
            per_client_receipts: list[list[float]] = [[] for _ in range(fleet.connected)]
            receivers = array("i", fleet.receivers[market])
            for receipt, client in zip(array("d", raw), receivers, strict=True):
                per_client_receipts[client].append(receipt)
            for client, receipts in enumerate(per_client_receipts):
                for receipt, tick in zip(receipts, _ticks_of(receipts, starts), strict=True):
                    if first <= tick < last:
                        received[client] += 1
                        delays.append(receipt - starts[tick])
                        span = spans.setdefault((tick, market), [receipt, receipt])
                        span[0], span[1] = min(span[0], receipt), max(span[1], receipt)
        per_client += [n / MARKETS / seconds for n in received]
    connected = sum(f.connected for f in fleets)
    return RunResult(
        target=target.server.name,
        asked=asked,
        connected=connected,
        closed=sum(f.closed for f in fleets),
        seconds=seconds,
        ticks=last - first,
        delays=delays,
        spreads=[b - a for a, b in spans.values()],
        expected=connected * MARKETS * (last - first),
        per_client=per_client,
        tick_lengths=[n for _, n in ticks[first:last]],
        server_cpu_s=server_cpu_s,
        idle_cpu=idle_cpu,
        client_cpu_s=sum(f.cpu_s for f in fleets),
        procs=len(fleets),
    )


def ws_bench(
    clients: int, seconds: float, procs: int, rounds: int, uvicorn_ws: str | None = None
) -> dict[str, list[RunResult]]:
    """Both servers, one fleet run each per round (the order alternating)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * clients + 1024)), hard))
    results: dict[str, list[RunResult]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
        targets, token, markets = start_targets(Path(tmp), uvicorn_ws)
        try:
            for n in range(rounds):
                for target in targets[n % 2 :] + targets[: n % 2]:
                    result = run_fleet(target, token, markets, clients, procs, seconds)
                    results.setdefault(result.target, []).append(result)
        finally:
            for target in targets:
                target.server.stop()
    return results


# --- report -------------------------------------------------------------------------------------


def _ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1e3:.1f}" if values else "-"


def print_runs(results: dict[str, list[RunResult]]) -> None:
    """One line per run; times in ms, CPU% of one core."""
    print(
        "\ntick delay = receipt - server tick start; spread = last - first receipt of one "
        "(tick, market); tick() = server time spent inside one tick"
    )
    header = (
        f"{'target':6} {'clients':>11} {'closed':>6} {'ticks/cl/s':>10} {'delivered':>9} "
        f"{'msg/s':>7} {'delay p50/p99/max':>19} {'spread p50/p99':>14} {'tick() p50/max':>14} "
        f"{'srv CPU%':>8} {'idle%':>5} {'srv us/msg':>10} {'cl CPU%':>7} {'cl us/msg':>9}"
    )
    print(header)
    print("-" * len(header))
    for runs in results.values():
        for r in runs:
            per_client = f"{statistics.median(r.per_client):.2f}" if r.per_client else "-"
            delay = f"{_ms(r.delays, 50)}/{_ms(r.delays, 99)}/{_ms(r.delays, 100)}"
            spread = f"{_ms(r.spreads, 50)}/{_ms(r.spreads, 99)}"
            tick_ms = f"{_ms(r.tick_lengths, 50)}/{_ms(r.tick_lengths, 100)}"
            client_cpu = r.client_cpu_s / r.seconds / r.procs * 100
            print(
                f"{r.target:6} {f'{r.connected}/{r.asked}':>11} {r.closed:6} {per_client:>10} "
                f"{r.delivered / max(1, r.expected):9.1%} {r.rate:7.0f} {delay:>19} "
                f"{spread:>14} {tick_ms:>14} {r.server_cpu_s / r.seconds * 100:8.0f} "
                f"{r.idle_cpu * 100:5.0f} {r.server_us_per_message:10.1f} {client_cpu:7.0f} "
                f"{r.client_cpu_s / max(1, r.delivered) * 1e6:9.1f}"
            )
            print(f"       connect+auth {r.connect_s:.1f} s, subscribe {r.subscribe_s:.1f} s")
            for error in r.errors:
                print(f"       connect error: {error}")
    print(
        "srv us/msg: server CPU per delivered message less its idle CPU (the demo replay, "
        "the engine); cl CPU% is per client process (100 = one core)."
    )


def print_summary(results: dict[str, list[RunResult]]) -> None:
    med = statistics.median
    twap, bare = results["twap"], results["bare"]
    rate_ratio = med(t.rate / b.rate for t, b in zip(twap, bare, strict=True))
    cost_ratio = med(
        b.server_us_per_message / t.server_us_per_message for t, b in zip(twap, bare, strict=True)
    )
    client_us = med(r.client_cpu_s / max(1, r.delivered) * 1e6 for r in twap + bare)
    rows = [
        ("twap / bare delivered messages per second", f"{rate_ratio:.2f}", ">= 0.7"),
        ("twap / bare server capacity (bare us/msg / twap us/msg)", f"{cost_ratio:.2f}", ""),
        (
            "twap tick delay p50 / p99 ms",
            f"{med(pct(r.delays, 50) for r in twap) * 1e3:.0f}"
            f" / {med(pct(r.delays, 99) for r in twap) * 1e3:.0f}",
            "p99 < 100",
        ),
        (
            "bare tick delay p50 / p99 ms",
            f"{med(pct(r.delays, 50) for r in bare) * 1e3:.0f}"
            f" / {med(pct(r.delays, 99) for r in bare) * 1e3:.0f}",
            "",
        ),
    ]
    for runs in (twap, bare):
        us = med(r.server_us_per_message for r in runs)
        rows.append(
            (
                f"{runs[0].target} clients per server core at {MARKETS} msg/s (from us/msg)",
                f"{1e6 / max(us, 1e-9) / MARKETS:.0f}",
                "",
            )
        )
    rows.append(
        (
            f"client side: clients per client core at {MARKETS} msg/s",
            f"{1e6 / max(client_us, 1e-9) / MARKETS:.0f}",
            "",
        )
    )
    print("\nSUMMARY")
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:{width}}  {value:>9}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--rounds", type=int, default=1, help="runs per server, order alternating")
    parser.add_argument(
        "--uvicorn-ws", help="experiment: the twap server's uvicorn `ws` (e.g. websockets-sansio)"
    )
    parser.add_argument("--serve-twap", metavar="TICK_LOG", help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--payloads", help=argparse.SUPPRESS)
    parser.add_argument("--tick-log", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.serve_twap:
        serve_twap(args.serve_twap, [a for a in rest if a != "--"], args.uvicorn_ws)
        return
    if args.serve_bare:
        serve_bare(args.serve_bare, args.payloads, args.tick_log)
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{os.cpu_count()} CPUs, load average {load}; {args.clients} clients over "
        f"{args.procs} processes, {MARKETS} markets, {args.seconds:g} s per run; twap on "
        f"uvicorn ws={args.uvicorn_ws or 'auto'}, bare: websockets.broadcast"
    )
    results = ws_bench(args.clients, args.seconds, args.procs, args.rounds, args.uvicorn_ws)
    print_runs(results)
    print_summary(results)
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
