"""Feed chaos: a venue that hangs, then a venue down for minutes; time back to healthy.

    python benchmarks/feed_chaos.py [--outage-s 120] [--stall-s 10] [--silence-s 3]
                                    [--max-book-age-s 1] [--reconnect-max-s 5]

The server (real uvicorn on a free port, engine driven by this script) collects Binance
BTC-USDT from the fake exchange replaying the 10-minute hftbacktest capture in real time,
through cryptofeed's real Binance class. A TWAP order (one slice every 0.6 s) runs throughout;
its due slices are executed at the end of each phase, so every slice of a phase sees that
phase's market. Printed per scenario:

* stall (socket open, silent, `--stall-s`): seconds until /health flags the book stale, the
  watchdog reconnects (after `--silence-s` of silence), then after the venue resumes the
  seconds until /health is healthy again, and the reasons of the slices run meanwhile;
* outage (every request refused with 503 and sockets closed, `--outage-s`): the same, plus
  the connection attempts the venue refused. Time back to healthy is bounded by the
  collectors' reconnect back-off cap (`--reconnect-max-s`) plus one snapshot;
* baseline (unless `--no-baseline`): the outage again on a new server whose back-off doubles
  without a cap, as cryptofeed's own does. Its time back depends on where the outage ends in
  the doubling (attempts 0.5, 1.5, 3.5, 7.5, 15.5, ... s in): up to the outage's length.

The scenarios are the functions `stall` and `outage`; tests/server/test_feed_chaos.py runs
them with short durations and asserts on the reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptofeed.symbols import Symbols

from twapserver.app import create_app
from twapserver.auth.users import create_user
from twapserver.fake_exchange import FakeExchange
from twapserver.settings import Settings

SYMBOL = "BTC-USDT"
PASSWORD = "chaos monkey battery staple"
POLL_S = 0.05  # /health polling period while measuring
WAIT_S = 30.0  # bound of every wait for a state the scenario expects
UNCAPPED_S = 1e9  # a reconnect back-off cap that never binds
ORDER = {
    "exchange": "binance",
    "symbol": SYMBOL,
    "side": "buy",
    "quantity": "0.6",  # 1,000 slices of 0.0006 BTC (lot 0.00001), one every 0.6 s
    "limit_price": "1000000",  # always marketable: a skip can only come from the book
    "duration_s": 600,
    "slices": 1000,
}


@dataclass(frozen=True)
class ChaosReport:
    """What one fault did, as the API and /health showed it (seconds are wall time)."""

    fault_s: float  # how long the fault lasted
    stale_after_s: float  # from the fault until /health flagged the book stale
    health_during: dict[str, Any]  # the feed's /health row just before the fault ended
    back_to_healthy_s: float  # from the fault's end until /health was "ok" again
    reasons_before: list[str | None]  # skip reasons (None = executed) of the slices run
    reasons_during: list[str | None]  # ... while the fault lasted
    reasons_after: list[str | None]  # ... once healthy again
    connections: int  # WebSocket connections the venue accepted during the fault
    refused: int  # requests the venue answered 503 during the fault


@dataclass
class ChaosServer:
    """The fake venue, the server collecting from it and a client with a working order."""

    fake: FakeExchange
    app: Any
    http: httpx.AsyncClient
    auth: dict[str, str]
    token_id: str = "chaos-1"
    _slices_seen: int = 0

    async def feed(self) -> dict[str, Any]:
        """The /health row of binance BTC-USDT ({} while the collector has not registered it)."""
        body = (await self.http.get("/health")).json()
        row: dict[str, Any] = next((f for f in body["feeds"] if f["symbol"] == SYMBOL), {})
        return row

    async def healthy(self) -> bool:
        feed = await self.feed()
        return bool(feed.get("connected") and not feed.get("stale"))

    async def submit(self) -> None:
        order = {"token_id": self.token_id, **ORDER}
        response = await self.http.post("/orders/twap", json=order, headers=self.auth)
        if response.status_code != 201:
            raise RuntimeError(f"order refused: {response.status_code} {response.text}")

    async def run_slices(self) -> list[str | None]:
        """Run the slices due now (waiting for the next one if none is); their skip reasons
        (None = executed), in order."""
        await wait_until(self._ran_some, "a slice to fall due")
        response = await self.http.get(f"/orders/{self.token_id}", headers=self.auth)
        slices = sorted(response.json()["slices"], key=lambda s: s["index"])
        new, self._slices_seen = slices[self._slices_seen :], len(slices)
        return [s["reason"] for s in new]

    async def _ran_some(self) -> bool:
        return bool(await self.app.state.engine.run_due(time.time_ns()))


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str) -> float:
    """Poll ``condition`` every POLL_S; the seconds it took. Fails naming ``what``."""
    start = time.monotonic()
    while not await condition():
        if time.monotonic() - start > WAIT_S:
            raise AssertionError(f"timed out after {WAIT_S} s waiting for {what}")
        await asyncio.sleep(POLL_S)
    return time.monotonic() - start


def chaos_settings(fake: FakeExchange, workdir: Path, **overrides: Any) -> Settings:
    """Collect binance BTC-USDT from ``fake``; no candle backfill (not under test)."""
    ca_file = workdir / "fake-exchange-ca.pem"
    ca_file.write_bytes(fake.ca_pem)
    fields: dict[str, Any] = {
        "exchanges": {"binance": [SYMBOL]},
        "venue_endpoints": {"binance": {"ws_url": fake.binance_ws_url, "rest_url": fake.rest_url}},
        "venue_ca_file": ca_file,
        "database_url": f"sqlite+aiosqlite:///{workdir / 'twap.db'}",
        "jwt_secret": secrets.token_urlsafe(48),
        "backfill_minutes": 0,
    }
    return Settings(**(fields | overrides))


@contextlib.asynccontextmanager
async def chaos_server(
    data_dir: Path, workdir: Path, **overrides: Any
) -> AsyncIterator[ChaosServer]:
    """Fake exchange at real speed, the server (engine run by the caller) on a free port, a
    user logged in, the order submitted once the book is fresh. ``overrides``: settings."""
    Symbols.clear()  # cryptofeed caches symbols per exchange for the process
    try:
        with FakeExchange(data_dir, speed=1.0) as fake:
            app = create_app(chaos_settings(fake, workdir, **overrides), run_engine=False)
            config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
            server = uvicorn.Server(config)
            serving = asyncio.create_task(server.serve())
            try:
                while not server.started:
                    if serving.done():
                        raise RuntimeError(f"uvicorn did not start: {serving.exception()!r}")
                    await asyncio.sleep(0.01)
                host, port = server.servers[0].sockets[0].getsockname()[:2]
                async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
                    async with app.state.sessions() as session, session.begin():
                        await create_user(session, "chaos", PASSWORD, now_ns=0)
                    login = await http.post(
                        "/auth/token", data={"username": "chaos", "password": PASSWORD}
                    )
                    login.raise_for_status()
                    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
                    chaos = ChaosServer(fake, app, http, auth)
                    await wait_until(chaos.healthy, "a fresh BTC-USDT book")
                    await chaos.submit()
                    yield chaos
            finally:
                server.should_exit = True
                await asyncio.wait_for(serving, timeout=15)
    finally:
        Symbols.clear()


async def _fault(
    chaos: ChaosServer,
    begin: Callable[[], None],
    end: Callable[[], None],
    fault_s: float,
) -> ChaosReport:
    """Run slices healthy, apply a fault for ``fault_s``, run slices in it, end it, wait until
    healthy, run slices again."""
    reasons_before = await chaos.run_slices()
    connections, refused = chaos.fake.connections("binance"), chaos.fake.refused("binance")
    started = time.monotonic()
    begin()
    stale_after_s = await wait_until(
        lambda: _stale(chaos), "/health to flag the book stale during the fault"
    )
    await asyncio.sleep(max(0.0, fault_s - (time.monotonic() - started)))  # the fault lasts
    health_during = await chaos.feed()
    reasons_during = await chaos.run_slices()
    fault_s = time.monotonic() - started
    end()
    back_to_healthy_s = await wait_until(chaos.healthy, "/health healthy after the fault")
    return ChaosReport(
        fault_s=fault_s,
        stale_after_s=stale_after_s,
        health_during=health_during,
        back_to_healthy_s=back_to_healthy_s,
        reasons_before=reasons_before,
        reasons_during=reasons_during,
        reasons_after=await chaos.run_slices(),
        connections=chaos.fake.connections("binance") - connections,
        refused=chaos.fake.refused("binance") - refused,
    )


async def _stale(chaos: ChaosServer) -> bool:
    return bool((await chaos.feed())["stale"])


async def stall(chaos: ChaosServer, stall_s: float) -> ChaosReport:
    """The venue goes silent with its sockets open for ``stall_s``, then resumes."""
    return await _fault(
        chaos,
        lambda: chaos.fake.stall("binance"),
        lambda: chaos.fake.resume("binance"),
        stall_s,
    )


async def outage(chaos: ChaosServer, outage_s: float) -> ChaosReport:
    """The venue is down (sockets closed, every request 503) for ``outage_s``, then back."""
    return await _fault(
        chaos,
        lambda: chaos.fake.take_down("binance"),
        lambda: chaos.fake.bring_up("binance"),
        outage_s,
    )


def _print(name: str, report: ChaosReport) -> None:
    during = sorted({str(r) for r in report.reasons_during})
    print(f"{name}: {report.fault_s:.1f} s")
    print(f"  stale on /health after        {report.stale_after_s:6.2f} s")
    print(f"  back to healthy after the end {report.back_to_healthy_s:6.2f} s")
    print(f"  slices run during the fault   {len(report.reasons_during)}, reasons {during}")
    print(
        f"  slices executed before/after  {report.reasons_before.count(None)}/"
        f"{len(report.reasons_before)}, {report.reasons_after.count(None)}/"
        f"{len(report.reasons_after)}"
    )
    print(f"  venue: {report.connections} connections accepted, {report.refused} refused (503)")
    print(f"  /health during: {report.health_during}")


async def _main(args: argparse.Namespace) -> None:
    settings = {"max_book_age_s": args.max_book_age_s, "feed_silence_s": args.silence_s}
    with tempfile.TemporaryDirectory() as workdir:
        async with chaos_server(
            args.data_dir, Path(workdir), feed_reconnect_max_s=args.reconnect_max_s, **settings
        ) as chaos:
            _print("stall", await stall(chaos, args.stall_s))
            capped = await outage(chaos, args.outage_s)
            _print("outage", capped)
    if args.no_baseline:
        return
    with tempfile.TemporaryDirectory() as workdir:
        async with chaos_server(
            args.data_dir, Path(workdir), feed_reconnect_max_s=UNCAPPED_S, **settings
        ) as chaos:
            uncapped = await outage(chaos, args.outage_s)
    _print("outage, baseline: back-off doubling without a cap (as cryptofeed's own)", uncapped)
    print(
        f"time back to healthy: capped {capped.back_to_healthy_s:.2f} s vs uncapped "
        f"{uncapped.back_to_healthy_s:.2f} s "
        f"({capped.back_to_healthy_s / uncapped.back_to_healthy_s:.2f}x)"
    )


def main(argv: list[str] | None = None) -> None:
    """Run both scenarios and print their reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("TWAP_SHARED_DATA", "../shared/data")),
        help="folder holding cryptofeed/ and hftbacktest/ (default: $TWAP_SHARED_DATA)",
    )
    parser.add_argument("--outage-s", type=float, default=120.0, help="venue down this long")
    parser.add_argument("--stall-s", type=float, default=10.0, help="venue silent this long")
    parser.add_argument("--silence-s", type=float, default=3.0, help="TWAP_FEED_SILENCE_S")
    parser.add_argument("--max-book-age-s", type=float, default=1.0, help="TWAP_MAX_BOOK_AGE_S")
    parser.add_argument(
        "--reconnect-max-s", type=float, default=5.0, help="TWAP_FEED_RECONNECT_MAX_S"
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the outage with an uncapped back-off"
    )
    args = parser.parse_args(argv)
    if not (args.data_dir / "hftbacktest" / "spot").is_dir():
        sys.exit(f"error: no hftbacktest BTCUSDT capture under {args.data_dir}")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
