"""POST /orders/twap throughput vs bare FastAPI endpoints, on SQLite and PostgreSQL.

    python benchmarks/bench_orders.py [--requests N] [--warmup N] [--rounds N]
                                      [--client httpx|raw|both] [--database sqlite|postgresql|both]

Every server is a real uvicorn process on a free 127.0.0.1 port, 1 worker, default
uvicorn settings incl. the access log (written to a file):

* twap / twap-pg: `twapserver run --demo` (replays the bundled Binance BTC-USDT
  recording, `TWAP_COLLECT=false`) on SQLite (a temp file) or PostgreSQL
  (`$TWAP_BENCH_POSTGRES_URL`, default postgresql+asyncpg://postgres@127.0.0.1:5432/twap_bench,
  its `public` schema dropped first), one user made with `twapserver users add
  --password-stdin`, `POST /orders/twap` with its token. Each 201 is answered
  after the order's group commit; the in-process engine then claims it and runs
  its first slice (due at once; orders run 1 day in 2 slices), so the engine's
  work is part of the server's cost.
* bare-jwt: a FastAPI app whose `POST /orders/twap` takes the same
  `TwapOrderCreate` and the same authentication dependency as the twap route
  (`OrderingUser`: JWT check, cached account, per-user limit), and returns a small
  JSON (no order is stored);
* bare: the same without authentication.

The per-user order limit is lifted for the run (`TWAP_ORDER_LIMIT`). All targets get
byte-identical requests (bodies prepared before timing, a unique token_id each).
Per run: `--warmup` requests, then `--requests` timed ones from 64 concurrent tasks
over 64 keep-alive connections; per-request latency is taken in the client.
Targets take turns (the order rotates) for `--rounds` rounds; medians are printed,
with each twap target's req/s as a ratio of bare-jwt's (target >= 0.5) and of bare's.
Two load generators (on uvloop when installed): httpx.AsyncClient and a minimal raw
HTTP/1.1 client on asyncio streams (httpx's own CPU cost per request grows with
its pool size, so it saturates a core before the bare server does). CPU seconds of
each server process and of the client are read around each run.

The engine's throughput is measured by benchmarks/bench_engine.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from twapserver.orders.schemas import TwapOrderCreate

PASSWORD = "bench-password-1"
SECRET = "bench-7Rk2xQ9mVz4pL8wN3cT6yH1sJ5dF0gB-secret"
CONCURRENCY = 64
_SERVER_CLI = "from twapserver.cli import main; main()"
# Lifted for the run: the benchmark sends thousands of orders as one user.
ENV = {
    "TWAP_JWT_SECRET": SECRET,
    "TWAP_COLLECT": "false",
    "TWAP_ORDER_LIMIT": '{"burst": 100000000, "per_minute": 100000000}',
}
POSTGRES_URL = os.environ.get(
    "TWAP_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/twap_bench"
)


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


# --- servers -------------------------------------------------------------------------------------


def serve_bare(port: int, database_url: str | None) -> None:
    """A reference: same model, same route, a small JSON back, no DB write.

    With `database_url`, the route takes the twap route's authentication dependency
    (its account cache reads users from that database on a miss).
    """
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    if database_url is None:

        @app.post("/orders/twap", status_code=201)
        async def submit(body: TwapOrderCreate) -> dict[str, str]:
            return {"status": "accepted", "token_id": body.token_id}

    else:
        from fastapi import Depends

        from twapserver.api.deps import limit_orders_per_user
        from twapserver.auth import make_token_codec
        from twapserver.db.engine import make_engine, make_sessionmaker
        from twapserver.settings import Settings

        settings = Settings(database_url=database_url)
        app.state.settings = settings
        app.state.tokens = make_token_codec(settings)
        app.state.token_clock = time.time
        app.state.sessions = make_sessionmaker(make_engine(database_url))
        ordering_user = Depends(limit_orders_per_user)  # what `OrderingUser` stands for

        @app.post("/orders/twap", status_code=201)
        async def submit_authenticated(
            body: TwapOrderCreate, user: object = ordering_user
        ) -> dict[str, str]:
            return {"status": "accepted", "token_id": body.token_id}

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
    token: str = ""

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


def start_server(name: str, args: list[str], log: Path, port: int) -> Server:
    with log.open("wb") as out:  # the child keeps its own handle
        process = subprocess.Popen(
            [sys.executable, *args], env={**os.environ, **ENV}, stdout=out, stderr=out
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


def fresh_postgres(url: str) -> None:
    """Drop and recreate the public schema of `url`'s database (created when missing)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_engine import fresh_database

    assert url == POSTGRES_URL
    asyncio.run(fresh_database("postgresql", Path()))


def start_twap(name: str, url: str, workdir: Path) -> Server:
    """`twapserver run --demo` on `url` with user `bench`, and its access token."""
    add_user = ["users", "add", "bench", "--password-stdin", "--database-url", url]
    subprocess.run(
        [sys.executable, "-c", _SERVER_CLI, *add_user],
        input=PASSWORD + "\n",
        text=True,
        env={**os.environ, **ENV},
        check=True,
        capture_output=True,
    )
    port = free_port()
    args = ["-c", _SERVER_CLI, "run", "--demo", "--database-url", url, "--port", str(port)]
    server = start_server(name, args, workdir / f"{name}.log", port)
    form = {"username": "bench", "password": PASSWORD}
    response = httpx.post(server.base + "/auth/token", data=form, timeout=10)
    server.token = response.json()["access_token"]
    return server


def start_servers(workdir: Path, databases: list[str]) -> list[Server]:
    """The twap server per database, then bare-jwt (on the first one's users) and bare."""
    servers: list[Server] = []
    try:
        for database in databases:
            if database == "sqlite":
                url, name = f"sqlite+aiosqlite:///{workdir / 'twap.db'}", "twap"
            else:
                fresh_postgres(POSTGRES_URL)
                url, name = POSTGRES_URL, "twap-pg"
            servers.append(start_twap(name, url, workdir))
        users_url = (
            f"sqlite+aiosqlite:///{workdir / 'twap.db'}"
            if "sqlite" in databases
            else (POSTGRES_URL)
        )
        me = str(Path(__file__).resolve())
        for name, extra in (("bare-jwt", ["--users-url", users_url]), ("bare", [])):
            port = free_port()
            args = [me, "--serve-bare", str(port), *extra]
            servers.append(start_server(name, args, workdir / f"{name}.log", port))
        servers[-2].token = servers[-1].token = servers[0].token
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


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


async def load(server: Server, client: str, warmup: list[bytes], bodies: list[bytes]) -> LoadResult:
    """Warm up, then time `bodies` against `server` with the `client` load generator."""
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
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
    requests: int, warmup: int, rounds: int, clients: list[str], databases: list[str]
) -> dict[tuple[str, str], list[LoadResult]]:
    """Every target in turn (the order rotating) for `rounds` rounds per client."""
    results: dict[tuple[str, str], list[LoadResult]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        servers = start_servers(Path(tmp), databases)
        try:
            for client in clients:
                for n in range(rounds):
                    turn = n % len(servers)
                    for server in servers[turn:] + servers[:turn]:
                        prefix = f"{client}-{n}-{server.name}"
                        run = load(
                            server,
                            client,
                            order_bodies(prefix + "-w", warmup),
                            order_bodies(prefix, requests),
                        )
                        result = _run(run)
                        results.setdefault((client, server.name), []).append(result)
        finally:
            for server in servers:
                server.stop()
    return results


def _run(coro: Awaitable[LoadResult]) -> LoadResult:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    return uvloop.run(coro)  # type: ignore[arg-type]


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


def http_ratio(
    results: dict[tuple[str, str], list[LoadResult]], client: str, target: str, baseline: str
) -> float:
    """Median over rounds of target/baseline req/s (each round's runs ran back to back)."""
    pairs = zip(results[(client, target)], results[(client, baseline)], strict=True)
    return statistics.median(t.rate / b.rate for t, b in pairs)


def print_http(results: dict[tuple[str, str], list[LoadResult]], rounds: int) -> None:
    print(f"\nHTTP POST /orders/twap, {CONCURRENCY} connections, medians of {rounds} rounds")
    header = (
        f"{'client':6} {'target':8} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'srv CPU%':>8} {'srv CPU ms/req':>14} {'client CPU%':>11} {'non-201':>7}"
    )
    print(header)
    print("-" * len(header))
    for client, target in results:
        m = HttpSummary.of(results[(client, target)])
        flag = "  <- load generator saturated" if m.client_cpu >= CLIENT_BOUND else ""
        print(
            f"{client:6} {target:8} {m.rate:7.0f} {m.p50_ms:8.1f} {m.p99_ms:8.1f} "
            f"{m.max_ms:8.1f} {m.server_cpu * 100:8.0f} {m.server_ms_per_request:14.3f} "
            f"{m.client_cpu * 100:11.0f} {m.failures:7}{flag}"
        )
    print(
        "srv CPU% = server process CPU / wall (100 = one core); srv CPU ms/req does not depend "
        f"on the client.\nClosed loop: mean latency = {CONCURRENCY} / req/s, so p99 < 50 ms "
        f"needs > {CONCURRENCY / 0.05:.0f} req/s."
    )


def print_summary(results: dict[tuple[str, str], list[LoadResult]]) -> None:
    rows: list[tuple[str, str, str]] = []
    for client in dict.fromkeys(c for c, _ in results):
        for target in (t for c, t in results if c == client and t.startswith("twap")):
            twap = HttpSummary.of(results[(client, target)])
            rows += [
                (
                    f"[{client}] {target} / bare-jwt req/s",
                    f"{http_ratio(results, client, target, 'bare-jwt'):.2f}",
                    ">= 0.5",
                ),
                (
                    f"[{client}] {target} / bare req/s",
                    f"{http_ratio(results, client, target, 'bare'):.2f}",
                    "",
                ),
                (
                    f"[{client}] {target} p50 / p99 ms",
                    f"{twap.p50_ms:.0f} / {twap.p99_ms:.0f}",
                    "p99 < 50",
                ),
            ]
        for target in ("bare-jwt", "bare"):
            m = HttpSummary.of(results[(client, target)])
            rows.append((f"[{client}] {target} req/s, p99 ms", f"{m.rate:.0f}, {m.p99_ms:.0f}", ""))
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
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--users-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.users_url)
        return
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load_avg}; python {sys.version.split()[0]}")
    clients = ["httpx", "raw"] if args.client == "both" else [args.client]
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = http_bench(args.requests, args.warmup, args.rounds, clients, databases)
    print_http(results, args.rounds)
    print_summary(results)
    print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
