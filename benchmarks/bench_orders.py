"""Orders API throughput vs a bare FastAPI endpoint, and engine slice lateness at 10k orders.

    python benchmarks/bench_orders.py [--requests N] [--warmup N] [--rounds N]
                                      [--client httpx|raw|both] [--orders N] [--slices N]
                                      [--spacing-s S] [--no-http] [--no-engine] [--profile]

HTTP (both servers real uvicorn processes on free 127.0.0.1 ports, 1 worker each,
default uvicorn settings incl. the access log, written to a file):

* twap: `twapserver run --demo` (replays the bundled Binance BTC-USDT recording,
  `TWAP_COLLECT=false`), SQLite (WAL) in a temp dir, one user made with
  `twapserver users add --password-stdin`, `POST /orders/twap` with its token;
* bare: a FastAPI app whose `POST /orders/twap` takes the same `TwapOrderCreate`
  and returns a small JSON (no auth, no DB).

Both get byte-identical requests (bodies prepared before timing, a unique token_id
each). Orders run 1 day in 2 slices, so the engine does one slice per accepted
order (the first is due at once: realistic, and part of the twap server's cost)
and then idles. Per run: `--warmup` requests, then `--requests` timed ones from 64
concurrent tasks over 64 keep-alive connections; per-request latency is taken in the
client. Targets alternate (and which goes first alternates) for `--rounds` rounds;
medians are printed. Two load generators (on uvloop when installed):
httpx.AsyncClient (max_connections=64) and a minimal raw HTTP/1.1 client on asyncio
streams, because httpx's own CPU cost per request grows with its pool size and at
64 connections it saturates a core before the bare server does. CPU seconds of each
server process (/proc, all its threads) and of the client are read around each run;
server CPU per request depends on the client far less than req/s does (it is ~20%
lower when the server is saturated).

Engine (in process): `--orders` orders on binance BTC-USDT, each `--slices` slices
`--spacing-s` apart, all starting at the same instant ~1.5 s after they were
submitted to a running `Engine` (real clock, its own loop), a synthetic book with
1,000,000 displayed at each side republished every 100 ms, temp SQLite (WAL).
Lateness is measured three ways: when the slice really starts (wall clock when
`_execute` is entered), `Engine.lateness_ns` (the loop's `now`, taken once per
`run_due` call), and when the slice's transaction has committed. fills/s = FillRow
rows / (last commit - first due). --profile adds a cProfile of the engine run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

from twapcore import BookSnapshot, Level, Side, SliceResult, TwapExecution, TwapOrderSpec
from twapserver.auth.users import create_user
from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database
from twapserver.db.models import FillRow, OrderRow, SliceRow
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.orders import repository
from twapserver.orders.engine import Engine
from twapserver.orders.schemas import TwapOrderCreate

PASSWORD = "bench-password-1"
SECRET = "bench-secret-" + "x" * 40
CONCURRENCY = 64
NS = 1_000_000_000
_SERVER_CLI = "from twapserver.cli import main; main()"


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# --- servers -------------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """The reference: same model, same route, no auth, no DB, a small JSON back."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/orders/twap", status_code=201)
    async def submit(body: TwapOrderCreate) -> dict[str, str]:
        return {"status": "accepted", "token_id": body.token_id}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base: str

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(name: str, args: list[str], port: int, log: Path, env: dict[str, str]) -> Server:
    with log.open("wb") as out:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, *args], env={**os.environ, **env}, stdout=out, stderr=out
        )
    server = Server(name, process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} server exited early:\n{log.read_text()}")
        try:
            httpx.get(server.base + "/health", timeout=1)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{name} server did not answer within 30 s") from None
            time.sleep(0.05)


def start_servers(workdir: Path) -> tuple[Server, Server, str]:
    """The twap server (demo mode, fresh SQLite DB, user `bench`), the bare one, a token."""
    url = f"sqlite+aiosqlite:///{workdir / 'twap.db'}"
    env = {"TWAP_JWT_SECRET": SECRET, "TWAP_COLLECT": "false"}
    add_user = ["users", "add", "bench", "--password-stdin", "--database-url", url]
    subprocess.run(
        [sys.executable, "-c", _SERVER_CLI, *add_user],
        input=PASSWORD + "\n",
        text=True,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    port = free_port()
    twap_args = ["-c", _SERVER_CLI, "run", "--demo", "--database-url", url, "--port", str(port)]
    twap = start_server("twap", twap_args, port, workdir / "twap.log", env)
    port = free_port()
    bare_args = [str(Path(__file__).resolve()), "--serve-bare", str(port)]
    try:
        bare = start_server("bare", bare_args, port, workdir / "bare.log", {})
    except Exception:
        twap.stop()
        raise
    form = {"username": "bench", "password": PASSWORD}
    token = httpx.post(twap.base + "/auth/token", data=form, timeout=10).json()["access_token"]
    return twap, bare, token


# --- load generators ---------------------------------------------------------------------------


def order_bodies(prefix: str, count: int) -> list[bytes]:
    """`count` valid order bodies with unique token_ids: 1 day, 2 slices, marketable buys."""
    return [
        orjson.dumps(
            {
                "token_id": f"{prefix}-{i}",
                "exchange": "binance",
                "symbol": "BTC-USDT",
                "side": "buy",
                "quantity": "0.002",
                "limit_price": "100000",
                "duration_s": 86400,
                "slices": 2,
            }
        )
        for i in range(count)
    ]


Send = Callable[[bytes], Awaitable[int]]  # one request -> status code


async def _drive(send: Send, bodies: list[bytes], latencies: list[float]) -> Counter[int]:
    """Send every body from CONCURRENCY tasks; per-request latency (s) into `latencies`."""
    statuses: Counter[int] = Counter()
    queue = iter(bodies)

    async def worker() -> None:
        for body in queue:  # one shared iterator: each body is sent once
            started = time.perf_counter()
            status = await send(body)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


class RawClient:
    """A minimal keep-alive HTTP/1.1 client: one connection per concurrent task."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        lines = [f"{k}: {v}" for k, v in {"Host": f"{self.host}:{port}", **headers}.items()]
        self.head = "POST /orders/twap HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n"
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self, body: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        self.idle.append((reader, writer))
        return int(head[9:12])

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


@dataclass
class LoadResult:
    target: str
    client: str
    latencies: list[float]
    wall_s: float
    statuses: Counter[int]
    server_cpu_s: float
    client_cpu_s: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall_s


async def load(
    server: Server, client: str, token: str, warmup: list[bytes], bodies: list[bytes]
) -> LoadResult:
    """Warm up, then time `bodies` against `server` with the `client` load generator."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if client == "raw":
        raw = RawClient(server.base, headers)
        send: Send = raw.send
    else:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        http = httpx.AsyncClient(base_url=server.base, headers=headers, limits=limits, timeout=60)

        async def send(body: bytes) -> int:
            return (await http.post("/orders/twap", content=body)).status_code

    try:
        await _drive(send, warmup, [])
        latencies: list[float] = []
        cpu0, client0, started = server.cpu_s(), time.process_time(), time.perf_counter()
        statuses = await _drive(send, bodies, latencies)
        wall = time.perf_counter() - started
        server_cpu, client_cpu = server.cpu_s() - cpu0, time.process_time() - client0
    finally:
        if client == "raw":
            raw.close()
        else:
            await http.aclose()
    return LoadResult(server.name, client, latencies, wall, statuses, server_cpu, client_cpu)


def http_bench(
    requests: int, warmup: int, rounds: int, clients: list[str]
) -> dict[tuple[str, str], list[LoadResult]]:
    """Alternate twap and bare for `rounds` rounds per client; every LoadResult by target."""
    results: dict[tuple[str, str], list[LoadResult]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        twap, bare, token = start_servers(Path(tmp))
        try:
            for client in clients:
                for n in range(rounds):
                    pair = (twap, bare) if n % 2 == 0 else (bare, twap)
                    for server in pair:
                        prefix = f"{client}-{n}-{server.name}"
                        run = load(
                            server,
                            client,
                            token,
                            order_bodies(prefix + "-w", warmup),
                            order_bodies(prefix, requests),
                        )
                        result = _run(run)
                        results.setdefault((client, server.name), []).append(result)
        finally:
            twap.stop()
            bare.stop()
    return results


def _run(coro: Awaitable[LoadResult]) -> LoadResult:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


# --- engine ------------------------------------------------------------------------------------


@dataclass
class EngineResult:
    orders: int
    slices: int
    fills: int
    wall_s: float
    start_lateness_ns: list[int]
    engine_lateness_ns: list[int]
    commit_lateness_ns: list[int]
    commit_s: float
    slice_statuses: Counter[str]
    order_statuses: Counter[str]
    insert_s: float


def synthetic_book(ts: int) -> BookSnapshot:
    big = Decimal(1_000_000)
    bids, asks = (Level(Decimal("59999"), big),), (Level(Decimal("60001"), big),)
    return BookSnapshot("binance", "BTC-USDT", bids, asks, ts, ts)


def engine_specs(orders: int, slices: int, spacing_s: float) -> list[TwapOrderSpec]:
    return [
        TwapOrderSpec(
            exchange="binance",
            symbol="BTC-USDT",
            side=Side.BUY if i % 2 == 0 else Side.SELL,
            quantity=Decimal("0.001") * slices,
            limit_price=Decimal(70000) if i % 2 == 0 else Decimal(50000),
            duration_s=Decimal(str(spacing_s)) * slices,
            slices=slices,
            lot_size=Decimal("0.00001"),
            token_id=f"e-{i}",
        )
        for i in range(orders)
    ]


async def engine_bench(
    orders: int,
    slices: int,
    spacing_s: float,
    workdir: Path,
    engine_factory: Callable[..., Any] | None = None,
    lead_s: float = 1.5,
    timeout_s: float = 600,
) -> EngineResult:
    """Run `orders` x `slices` slices, all orders due at the same instants, on a real clock.

    `engine_factory(sessions, hub)` builds the engine (default: `Engine`), so a
    candidate engine can be measured the same way. Timing wraps the engine's
    private `_execute` (slice start) and `_commit` (its transaction) on the instance.
    """
    url = f"sqlite+aiosqlite:///{workdir / 'engine.db'}"
    await upgrade_database(url)
    db = make_engine(url)
    sessions = make_sessionmaker(db)
    hub = MarketHub(max_book_age_s=5.0)
    hub.register(InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.00001")))

    def publish() -> None:
        snapshot = synthetic_book(time.time_ns())
        hub.on_book("binance", "BTC-USDT", lambda: snapshot, snapshot.ts_recv)

    async def republish_forever() -> None:
        while True:
            publish()
            await asyncio.sleep(0.1)

    engine = (engine_factory or Engine)(sessions, hub)
    commit_late: list[int] = []
    commit_s = [0.0]
    # Slice-start lateness is the engine's own measure (clock read when each slice starts).
    start_late = engine.lateness_ns
    commit = engine._commit

    async def timed_commit(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        await commit(*args, **kwargs)
        commit_s[0] += time.perf_counter() - started

    engine._commit = timed_commit  # type: ignore[method-assign]
    expected = orders * slices
    done = asyncio.Event()

    def on_slice(live: Any, result: SliceResult | None) -> None:
        if result is not None:
            commit_late.append(time.time_ns() - result.due_ns)
            if len(commit_late) == expected:
                done.set()

    engine.listeners.append(on_slice)
    publish()
    refresher = asyncio.create_task(republish_forever())
    try:
        async with sessions() as session, session.begin():
            user = await create_user(session, "bench", PASSWORD, now_ns=time.time_ns())
        await engine.start(run=True)  # empty database: nothing to reload
        # Rows first (placeholder start), then executions that all start at one instant;
        # the first slice's commit rewrites the row's state.
        specs = engine_specs(orders, slices, spacing_s)
        started = time.perf_counter()
        rows = []
        for chunk in range(0, orders, 500):
            async with sessions() as session, session.begin():
                for spec in specs[chunk : chunk + 500]:
                    placeholder = TwapExecution(spec, time.time_ns())
                    rows.append(await repository.insert_order(session, user.id, placeholder, 0))
        insert_s = time.perf_counter() - started
        first_due = time.time_ns() + int(lead_s * NS)
        for row, spec in zip(rows, specs, strict=True):
            engine.submit(row, TwapExecution(spec, first_due))
        await asyncio.wait_for(done.wait(), timeout_s)
        wall = (time.time_ns() - first_due) / NS
        async with sessions() as session:
            fills = await session.scalar(select(func.count()).select_from(FillRow)) or 0
            slice_rows = await session.execute(
                select(SliceRow.status, SliceRow.reason, func.count()).group_by(
                    SliceRow.status, SliceRow.reason
                )
            )
            slice_statuses = Counter({f"{s}:{r or '-'}": c for s, r, c in slice_rows})
            order_rows = await session.execute(
                select(OrderRow.status, func.count()).group_by(OrderRow.status)
            )
            order_statuses = Counter({status: count for status, count in order_rows})
    finally:
        refresher.cancel()
        await engine.stop()
        await db.dispose()
    return EngineResult(
        orders=orders,
        slices=expected,
        fills=fills,
        wall_s=wall,
        start_lateness_ns=start_late,
        engine_lateness_ns=list(engine.lateness_ns),
        commit_lateness_ns=commit_late,
        commit_s=commit_s[0],
        slice_statuses=slice_statuses,
        order_statuses=order_statuses,
        insert_s=insert_s,
    )


# --- report ------------------------------------------------------------------------------------

CLIENT_BOUND = 0.85  # load generator CPU / wall at or above which it, not the server, is the limit


@dataclass
class HttpSummary:
    """Medians over the rounds of one (client, target)."""

    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float  # CPU seconds / wall second (1.0 = one core)
    server_ms_per_request: float
    client_cpu: float
    failures: int

    @classmethod
    def of(cls, runs: list[LoadResult]) -> HttpSummary:
        med = statistics.median
        return cls(
            rate=med(r.rate for r in runs),
            p50_ms=med(pct(r.latencies, 50) for r in runs) * 1e3,
            p99_ms=med(pct(r.latencies, 99) for r in runs) * 1e3,
            max_ms=med(max(r.latencies) for r in runs) * 1e3,
            server_cpu=med(r.server_cpu_s / r.wall_s for r in runs),
            server_ms_per_request=med(r.server_cpu_s / len(r.latencies) for r in runs) * 1e3,
            client_cpu=med(r.client_cpu_s / r.wall_s for r in runs),
            failures=sum(n for r in runs for status, n in r.statuses.items() if status != 201),
        )


def http_ratio(results: dict[tuple[str, str], list[LoadResult]], client: str) -> float:
    """Median over rounds of twap/bare req/s (each round's pair ran back to back)."""
    pairs = zip(results[(client, "twap")], results[(client, "bare")], strict=True)
    return statistics.median(t.rate / b.rate for t, b in pairs)


def print_http(results: dict[tuple[str, str], list[LoadResult]], rounds: int) -> None:
    print(f"\nHTTP POST /orders/twap, {CONCURRENCY} connections, medians of {rounds} rounds")
    header = (
        f"{'client':6} {'target':6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'srv CPU%':>8} {'srv CPU ms/req':>14} {'client CPU%':>11} {'non-201':>7}"
    )
    print(header)
    print("-" * len(header))
    for client, target in results:
        m = HttpSummary.of(results[(client, target)])
        flag = "  <- load generator saturated" if m.client_cpu >= CLIENT_BOUND else ""
        print(
            f"{client:6} {target:6} {m.rate:7.0f} {m.p50_ms:8.1f} {m.p99_ms:8.1f} {m.max_ms:8.1f} "
            f"{m.server_cpu * 100:8.0f} {m.server_ms_per_request:14.3f} "
            f"{m.client_cpu * 100:11.0f} {m.failures:7}{flag}"
        )
    print(
        "srv CPU% = server process CPU / wall (100 = one core); srv CPU ms/req does not depend "
        f"on the client.\nClosed loop: mean latency = {CONCURRENCY} / req/s, so p99 < 50 ms "
        f"needs > {CONCURRENCY / 0.05:.0f} req/s."
    )


def print_engine(result: EngineResult) -> None:
    print(
        f"\nEngine: {result.orders} orders x {result.slices // result.orders} slices on one "
        f"symbol, all due at the same instants, real clock, SQLite "
        f"(orders inserted in {result.insert_s:.1f} s, not timed)"
    )
    header = f"{'slice lateness':36} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}"
    print(header)
    print("-" * len(header))
    for name, values in (
        ("start (wall clock entering _execute)", result.start_lateness_ns),
        ("Engine.lateness_ns (loop's now)", result.engine_lateness_ns),
        ("committed (fills persisted)", result.commit_lateness_ns),
    ):
        print(
            f"{name:36} {pct(values, 50) / 1e6:9.1f} {pct(values, 99) / 1e6:9.1f} "
            f"{max(values) / 1e6:9.1f}"
        )
    per_slice_ms = result.wall_s / result.slices * 1e3
    print(
        f"{result.fills} fills persisted in {result.wall_s:.2f} s (first due -> last commit) = "
        f"{result.fills / result.wall_s:,.0f} fills/s; per slice {per_slice_ms:.2f} ms, "
        f"{result.commit_s / result.slices * 1e3:.2f} ms of it in _commit (one DB transaction)"
    )
    print(f"slices: {dict(result.slice_statuses)}; orders: {dict(result.order_statuses)}")


def print_summary(
    http: dict[tuple[str, str], list[LoadResult]] | None, engine: EngineResult | None
) -> None:
    rows: list[tuple[str, str, str]] = []
    if http is not None:
        for client in dict.fromkeys(c for c, _ in http):
            twap, bare = (HttpSummary.of(http[(client, t)]) for t in ("twap", "bare"))
            note = f" (bare is {client}-bound)" if bare.client_cpu >= CLIENT_BOUND else ""
            rows += [
                (f"[{client}] req/s twap / bare", f"{twap.rate:.0f} / {bare.rate:.0f}", ""),
                (f"[{client}] ratio twap/bare{note}", f"{http_ratio(http, client):.2f}", ">= 0.7"),
                (
                    f"[{client}] twap p50 / p99 ms",
                    f"{twap.p50_ms:.0f} / {twap.p99_ms:.0f}",
                    "p99 < 50",
                ),
                (f"[{client}] bare p50 / p99 ms", f"{bare.p50_ms:.0f} / {bare.p99_ms:.0f}", ""),
                (
                    f"[{client}] server CPU ms/request twap / bare",
                    f"{twap.server_ms_per_request:.2f} / {bare.server_ms_per_request:.2f}",
                    "",
                ),
            ]
    if engine is not None:
        start = engine.start_lateness_ns
        rows += [
            (
                f"engine start lateness p50 / p99 ms ({engine.orders} orders)",
                f"{pct(start, 50) / 1e6:.0f} / {pct(start, 99) / 1e6:.0f}",
                "p99 < 50",
            ),
            ("engine fills/s persisted", f"{engine.fills / engine.wall_s:,.0f}", ""),
        ]
    print("\nSUMMARY")
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:{width}}  {value:>15}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per run")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", choices=["httpx", "raw", "both"], default="both")
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--slices", type=int, default=2, help="slices per order")
    parser.add_argument("--spacing-s", type=float, default=5.0, help="seconds between slices")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-engine", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the engine run")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load_avg}; python {sys.version.split()[0]}")
    http = engine = None
    if not args.no_http:
        clients = ["httpx", "raw"] if args.client == "both" else [args.client]
        http = http_bench(args.requests, args.warmup, args.rounds, clients)
        print_http(http, args.rounds)
    if not args.no_engine:
        profiler = cProfile.Profile() if args.profile else None
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            run = engine_bench(args.orders, args.slices, args.spacing_s, Path(tmp))
            if profiler is not None:
                profiler.enable()
            engine = asyncio.run(run)
            if profiler is not None:
                profiler.disable()
        print_engine(engine)
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print_summary(http, engine)
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
