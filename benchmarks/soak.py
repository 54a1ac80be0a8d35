"""Soak: `twapserver run --demo` under steady mixed load; errors, missed slices, RSS slope.

    python benchmarks/soak.py [--duration 600] [--rest 64] [--rest-rps 100] [--ws 1000]
                              [--orders 1000] [--users 4] [--late-s 2]

The server is a real process on a free 127.0.0.1 port (SQLite in a temp dir, the bundled
demo recording), its users made with `twapserver users add --password-stdin`. Limits that
would refuse a soak's traffic by design (login/order rate limits, /ws connection caps) are
raised through `TWAP_` variables, so every refusal counted here is a fault. Load, for
`--duration` seconds after the set-up:

* `--orders` working TWAP orders (half buys, half sells, marketable, one lot a slice, a
  slice every ~20 s, lasting past the end);
* `--rest` keep-alive connections sending `--rest-rps` requests/s in all: GET /orders,
  GET /klines and POST /orders/twap (short orders: 3 slices over 20 s);
* `--ws` WebSocket clients subscribed to the demo's books, one in ten also to its orders,
  reading everything.

Printed: requests and errors by kind (non-2xx, transport errors, /ws closes and error
messages, server log tracebacks before shutdown), missed slices (a slice skipped with
`server_down` or `engine_error`, or started over `--late-s` after it was due; read from every
order's slice rows through the API) and the server's RSS: samples of /proc/<pid>/status VmRSS
every 5 s, the least-squares slope in MB/min after a warm-up of a fifth of the run (at least
30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import websockets

PASSWORD = "soak test battery staple"
RSS_EVERY_S = 5.0
SERVER_MODULE = "from twapserver.cli import main; main()"
GENEROUS = {
    # Rate limits and caps that protect a real server from abuse; the soak is not abuse.
    "TWAP_AUTH_IP_LIMIT": json.dumps({"burst": 100_000, "per_minute": 1_000_000}),
    "TWAP_AUTH_USERNAME_LIMIT": json.dumps({"burst": 100_000, "per_minute": 1_000_000}),
    "TWAP_ORDER_LIMIT": json.dumps({"burst": 1_000_000, "per_minute": 10_000_000}),
    "TWAP_WS_MAX_UNAUTHENTICATED": "5000",
    "TWAP_ACCESS_TOKEN_TTL_S": "86400",
}


@dataclass
class Tally:
    """What went right and wrong, by kind."""

    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_times: list[float] = field(default_factory=list)  # time.monotonic() of each
    ws_messages: int = 0
    orders: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (token, auth)

    def error(self, kind: str) -> None:
        self.errors[kind] += 1
        self.error_times.append(time.monotonic())


# -- the server process ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _add_users(env: dict[str, str], names: list[str]) -> None:
    for name in names:
        subprocess.run(
            [sys.executable, "-c", SERVER_MODULE, "users", "add", name, "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )


def _tail(path: Path, chars: int = 2000) -> str:
    return path.read_text()[-chars:]


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) samples, per minute (0 for < 2 samples)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return cov / var * 60


# -- load ----------------------------------------------------------------------------------


@dataclass
class Market:
    exchange: str
    symbol: str
    lot: Decimal
    price: Decimal  # a recent close, for marketable limits


def _order(token: str, market: Market, side: str, duration_s: int, slices: int) -> dict[str, Any]:
    limit = market.price * (Decimal(2) if side == "buy" else Decimal("0.5"))
    return {
        "token_id": token,
        "exchange": market.exchange,
        "symbol": market.symbol,
        "side": side,
        "quantity": str(market.lot * slices),
        "limit_price": str(limit.quantize(Decimal("0.01"))),
        "duration_s": duration_s,
        "slices": slices,
    }


async def _submit(
    http: httpx.AsyncClient, auth: dict[str, str], order: dict[str, Any], tally: Tally
) -> None:
    tally.requests["POST /orders/twap"] += 1
    try:
        response = await http.post("/orders/twap", json=order, headers=auth)
    except httpx.HTTPError as exc:
        tally.error(f"POST /orders/twap {type(exc).__name__}")
        return
    if response.status_code == 201:
        tally.orders.append((order["token_id"], auth))
    else:
        tally.error(f"POST /orders/twap {response.status_code} {response.text[:80]}")


async def _rest_worker(
    base: str,
    auths: list[dict[str, str]],
    market: Market,
    tally: Tally,
    stop: asyncio.Event,
    period_s: float,
    worker: int,
) -> None:
    rng = random.Random(worker)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        n = 0
        while not stop.is_set():
            auth = auths[rng.randrange(len(auths))]
            pick = rng.random()
            if pick < 0.2:
                n += 1
                side = "buy" if n % 2 else "sell"
                order = _order(f"soak-w{worker}-{n}", market, side, 20, 3)
                await _submit(http, auth, order, tally)
            else:
                if pick < 0.6:
                    kind, url = "GET /orders", "/orders?status=open&limit=50"
                else:
                    kind = "GET /klines"
                    url = f"/klines/{market.exchange}/{market.symbol}?interval=1m&limit=100"
                tally.requests[kind] += 1
                try:
                    response = await http.get(url, headers=auth)
                    if response.status_code != 200:
                        tally.error(f"{kind} {response.status_code}")
                except httpx.HTTPError as exc:
                    tally.error(f"{kind} {type(exc).__name__}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=period_s * rng.uniform(0.5, 1.5))


async def _ws_client(
    url: str, token: str, market: Market, orders: bool, tally: Tally, stop: asyncio.Event
) -> None:
    """One reading /ws client; a close before the end is an error, then it reconnects."""
    while not stop.is_set():
        try:
            async with websockets.connect(url, open_timeout=30, max_size=2**20) as ws:
                await ws.send(json.dumps({"op": "auth", "token": token}))
                reply = await ws.recv()
                if '"status":"ok"' not in reply:
                    tally.error(f"ws auth refused: {str(reply)[:100]}")
                    await asyncio.sleep(1)
                    continue
                book = {"op": "subscribe", "channel": "book", "exchange": market.exchange}
                await ws.send(json.dumps(book | {"symbol": market.symbol}))
                if orders:
                    await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
                reader = asyncio.ensure_future(_read(ws, tally))
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait([reader, stopping], return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if reader.done():
                    reader.result()
                    tally.error(f"ws closed by the server {ws.close_code} {ws.close_reason}")
                else:
                    reader.cancel()
                    return
        except (OSError, websockets.WebSocketException, TimeoutError) as exc:
            if stop.is_set():
                return
            tally.error(f"ws {type(exc).__name__}: {str(exc)[:60]}")
        await asyncio.sleep(1)


async def _read(ws: Any, tally: Tally) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in ws:
            tally.ws_messages += 1
            if '"type":"error"' in message:
                tally.error(f"ws error message {message[:80]}")


# -- the run ---------------------------------------------------------------------------------


async def _login(http: httpx.AsyncClient, name: str) -> str:
    response = await http.post("/auth/token", data={"username": name, "password": PASSWORD})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def _market(http: httpx.AsyncClient) -> Market:
    exchange = (await http.get("/exchanges")).json()[0]
    symbol = exchange["symbols"][0]
    infos = (await http.get(f"/exchanges/{exchange['name']}/symbols")).json()
    info = next(i for i in infos if i["symbol"] == symbol)
    klines = (await http.get(f"/klines/{exchange['name']}/{symbol}?limit=1")).json()
    if not klines:
        raise RuntimeError(f"no klines for {exchange['name']} {symbol}: cannot price orders")
    lot = Decimal(info["lot_size"] or "0.00001")
    return Market(exchange["name"], symbol, lot, Decimal(klines[-1]["close"]))


async def _slice_rows(
    http: httpx.AsyncClient, orders: list[tuple[str, dict[str, str]]]
) -> list[dict[str, Any]]:
    """The slice rows of every (token, owner's auth) order, read through the API."""
    rows: list[dict[str, Any]] = []
    limit = asyncio.Semaphore(16)

    async def one(token: str, auth: dict[str, str]) -> None:
        async with limit:
            response = await http.get(f"/orders/{token}", headers=auth)
        response.raise_for_status()
        rows.extend(response.json()["slices"])

    await asyncio.gather(*(one(*order) for order in orders))
    return rows


def _missed(row: dict[str, Any], late_s: float) -> bool:
    late = (row["executed_ns"] - row["due_ns"]) / 1e9
    return row["reason"] in ("server_down", "engine_error") or late > late_s


@dataclass
class Outcome:
    slices: list[dict[str, Any]] = field(default_factory=list)  # every order's slice rows
    rss: list[tuple[float, float]] = field(default_factory=list)  # (s since load, MB)
    load_started: float = 0.0  # time.monotonic() when the load began
    load_started_ns: int = 0  # time.time_ns() then
    server_cpu_s: float = 0.0  # during the load
    client_cpu_s: float = 0.0  # this process, during the load


async def _load(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    base: str,
    names: list[str],
    tally: Tally,
    log_path: Path,
) -> Outcome:
    outcome = Outcome()
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{_tail(log_path)}")
            await asyncio.sleep(0.2)
        tokens = {name: await _login(http, name) for name in names}
        auths = {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}
        market = await _market(http)
        print(f"market {market.exchange} {market.symbol}, lot {market.lot}, ~{market.price}")

        duration_s = int(args.duration) + 120
        slices = max(2, min(1000, duration_s // 20))
        auth_list = list(auths.values())
        submit = asyncio.Semaphore(64)

        async def working(i: int) -> None:
            async with submit:
                side = "buy" if i % 2 else "sell"
                order = _order(f"soak-{i}", market, side, duration_s, slices)
                await _submit(http, auth_list[i % len(auth_list)], order, tally)

        await asyncio.gather(*(working(i) for i in range(args.orders)))
        print(f"{len(tally.orders)} working orders submitted", flush=True)

        stop = asyncio.Event()
        ws_url = base.replace("http", "ws", 1) + "/ws"
        ws_tasks = []
        token_list = list(tokens.values())
        for i in range(args.ws):
            client = _ws_client(
                ws_url, token_list[i % len(token_list)], market, i % 10 == 0, tally, stop
            )
            ws_tasks.append(asyncio.create_task(client))
            if i % 50 == 49:
                await asyncio.sleep(0.2)  # a ramp, not a thundering herd
        period_s = args.rest / args.rest_rps
        rest_tasks = [
            asyncio.create_task(_rest_worker(base, auth_list, market, tally, stop, period_s, w))
            for w in range(args.rest)
        ]
        print(f"load on: {args.ws} ws clients, {args.rest} REST connections", flush=True)

        start = outcome.load_started = time.monotonic()
        outcome.load_started_ns = time.time_ns()
        cpu = _cpu_s(server.pid), time.process_time()
        while (elapsed := time.monotonic() - start) < args.duration:
            outcome.rss.append((elapsed, _rss_mb(server.pid)))
            if server.poll() is not None:
                raise RuntimeError("server exited during the soak")
            await asyncio.sleep(min(RSS_EVERY_S, args.duration - elapsed))
        outcome.rss.append((time.monotonic() - start, _rss_mb(server.pid)))
        outcome.server_cpu_s = _cpu_s(server.pid) - cpu[0]
        outcome.client_cpu_s = time.process_time() - cpu[1]
        stop.set()
        await asyncio.gather(*rest_tasks, *ws_tasks)
        await asyncio.sleep(args.late_s + 1)  # slices due at the very end get their turn
        outcome.slices = await _slice_rows(http, tally.orders)
    return outcome


def soak(args: argparse.Namespace, workdir: Path) -> None:
    """Start the server, load it for ``args.duration`` s, stop it, print the figures."""
    port = _free_port()
    env = {
        **os.environ,
        **GENEROUS,
        "TWAP_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'twap.db'}",
        "TWAP_JWT_SECRET": secrets.token_urlsafe(48),
    }
    names = [f"soak{i}" for i in range(args.users)]
    _add_users(env, names)
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER_MODULE, "run", "--demo", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    tally = Tally()
    try:
        outcome = asyncio.run(
            _load(args, server, f"http://127.0.0.1:{port}", names, tally, log_path)
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log_text = log_path.read_text()
    if args.server_log:
        args.server_log.write_text(log_text)
    # Uvicorn logs "Shutting down" on SIGTERM: what follows is the shutdown, not the load.
    running_log, _, shutdown_log = log_text.partition("Shutting down")
    tracebacks = running_log.count("Traceback")
    samples = outcome.rss
    warmup = max(30.0, args.duration / 5)
    steady = [s for s in samples if s[0] >= warmup] or samples
    errors = sum(tally.errors.values()) + tracebacks
    print(f"duration {args.duration:.0f} s, requests {dict(tally.requests)}")
    print(f"ws messages received {tally.ws_messages}")
    print(f"errors {errors}: {dict(tally.errors)}, server tracebacks {tracebacks}")
    print(f"server tracebacks while shutting down: {shutdown_log.count('Traceback')}")
    if tally.error_times:
        first, last = (
            t - outcome.load_started for t in (tally.error_times[0], tally.error_times[-1])
        )
        print(f"  errors from {first:.0f} s to {last:.0f} s after the load began")
    print(
        f"CPU during the load: server {outcome.server_cpu_s / args.duration:.0%}, "
        f"client {outcome.client_cpu_s / args.duration:.0%} of one core"
    )
    missed = [row for row in outcome.slices if _missed(row, args.late_s)]
    lateness = sorted((r["executed_ns"] - r["due_ns"]) / 1e9 for r in outcome.slices) or [0.0]
    print(
        f"slices run {len(outcome.slices)}, missed {len(missed)} (started over {args.late_s} s "
        f"late or skipped server_down/engine_error: {Counter(r['reason'] for r in missed)})"
    )
    if missed:
        dues = [(r["due_ns"] - outcome.load_started_ns) / 1e9 for r in missed]
        print(f"  due from {min(dues):.0f} s to {max(dues):.0f} s after the load began")
    print(
        f"slice lateness p50 {lateness[len(lateness) // 2]:.3f} s, "
        f"p99 {lateness[int(len(lateness) * 0.99)]:.3f} s, max {lateness[-1]:.3f} s"
    )
    print(
        f"server RSS {samples[0][1]:.0f} -> {samples[-1][1]:.0f} MB, max "
        f"{max(v for _, v in samples):.0f} MB; slope after {warmup:.0f} s warm-up "
        f"{slope_per_minute(steady):+.2f} MB/min ({len(steady)} samples)"
    )
    if "Traceback" in log_text:
        print("first server traceback:\n" + log_text[log_text.index("Traceback") :][:1500])


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and run the soak."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--rest", type=int, default=64, help="REST connections")
    parser.add_argument("--rest-rps", type=float, default=100.0, help="REST requests/s in all")
    parser.add_argument("--ws", type=int, default=1000, help="WebSocket clients")
    parser.add_argument("--orders", type=int, default=1000, help="working TWAP orders")
    parser.add_argument("--users", type=int, default=4, help="accounts sharing the load")
    parser.add_argument("--late-s", type=float, default=2.0, help="a later slice is missed")
    parser.add_argument("--server-log", type=Path, help="keep the server's log in this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        soak(args, Path(workdir))


if __name__ == "__main__":
    main()
