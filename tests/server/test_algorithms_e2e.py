"""Every algorithm through the server equals `twap simulate` on the same books and trades.

The demo recording (binance BTC-USDT: books and ~20 000 trades) is fed into the hub of
a real server (uvicorn, real database) up to each engine tick, on an injected clock;
orders go in over HTTP. `twap simulate --demo` then runs the same order from the same
start: slice for slice, fill for fill, the two must agree — including the market
volume pov was told at each step, and the markouts: the replay hands the hub every
book with its recorded receive time, so the engine's mid history holds the books
`twap simulate` sees, and the engine measures each horizon after it passed (the
recording runs 10 minutes, past every horizon, so offline none is missing either).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.fake_venues import serving
from tests.server.test_trading_e2e import PASSWORD, Clock
from twapcore import NS_PER_SECOND, Candle, candles_from_trades, iter_records, plan_twap
from twapcore.analytics import MARKOUT_HORIZONS_S
from twapcore.recording import book_from_record, demo_recording, trade_from_record
from twapserver.app import create_app
from twapserver.auth.users import create_user
from twapserver.db.candles import upsert_candles
from twapserver.demo import register_recording
from twapserver.hub import MarketHub
from twapserver.orders.profiles import DAY_NS
from twapserver.settings import Settings

pytestmark = pytest.mark.slow

S = NS_PER_SECOND
ORDER = {
    "exchange": "binance",
    "symbol": "BTC-USDT",
    "side": "buy",
    "quantity": "2",
    "limit_price": "1000000",
    "duration_s": 60,
    "slices": 6,
}
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    # algorithm: (request parameters, the same as `twap simulate` flags)
    "twap": ({}, []),
    "twap_random": ({"seed": 11, "jitter": "0.4"}, ["--seed", "11", "--jitter", "0.4"]),
    "pov": (
        {"participation": "0.05", "max_slice_qty": "0.3", "min_slice_qty": "0.001"},
        ["--participation", "0.05", "--max-slice-qty", "0.3", "--min-slice-qty", "0.001"],
    ),
}


class Replay:
    """The demo recording pushed into a hub up to a given time, like a live feed would."""

    def __init__(self, hub: MarketHub) -> None:
        self.hub = hub
        self.records = [r for r in iter_records(demo_recording()) if r["type"] in ("book", "trade")]
        self.next = 0

    @property
    def first_ts(self) -> int:
        return int(self.records[0]["ts_recv"])

    def until(self, now_ns: int) -> None:
        while self.next < len(self.records) and self.records[self.next]["ts_recv"] <= now_ns:
            record = self.records[self.next]
            self.next += 1
            if record["type"] == "book":
                self.hub.on_book(
                    record["exchange"],
                    record["symbol"],
                    lambda r=record: book_from_record(r),  # type: ignore[misc]
                    record["ts_recv"],
                )
            else:
                self.hub.on_trade(trade_from_record(record))


def _simulate(
    start_ns: int, algorithm: str, flags: list[str], order: dict[str, Any] = ORDER
) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", "from twapclient.cli import main; main()", "simulate", "--demo",
         "--exchange", "binance", "--symbol", "BTC-USDT", "--side", "buy",
         "--quantity", order["quantity"], "--limit-price", order["limit_price"],
         "--duration", str(order["duration_s"]), "--slices", str(order["slices"]),
         "--start-ns", str(start_ns),
         "--max-book-age", "3600", "--algorithm", algorithm, *flags, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


async def _run_on_server(
    database_url: str, body: dict[str, Any], history: bool = False
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Submit `body` at 30 s into the recording, tick the engine at every due time (and
    at the start); the start, the 201 answer and the order's detail. With `history`,
    the recording's 1m candles, moved a day back, are in the klines store."""
    clock = Clock()
    settings = Settings(
        collect=False,
        exchanges={"binance": ["BTC-USDT"]},
        database_url=database_url,
        jwt_secret="algorithms-e2e-" + "x" * 40,
        max_book_age_s=3600,
    )
    app = create_app(settings, clock=clock, run_engine=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        register_recording(app.state.hub, demo_recording())
        replay = Replay(app.state.hub)
        start = clock.now = replay.first_ts + 30 * S
        replay.until(start)
        async with app.state.sessions() as session, session.begin():
            await create_user(session, "alice", PASSWORD, now_ns=0)
            if history:
                await upsert_candles(session, _yesterday(replay))
        login = await http.post("/auth/token", data={"username": "alice", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        accepted = await http.post("/orders", json={"token_id": "o-1", **body}, headers=auth)
        assert accepted.status_code == 201, accepted.text
        ticks = sorted({start, *(s["due_ns"] for s in accepted.json()["schedule"])})
        ticks.append(ticks[-1] + (max(MARKOUT_HORIZONS_S) + 2) * S)  # every horizon measured
        for tick in ticks:
            replay.until(tick)
            clock.now = tick
            await app.state.engine.run_due(tick)
        detail = (await http.get("/orders/o-1", headers=auth)).json()
    return start, accepted.json(), detail


def _yesterday(replay: Replay) -> list[Candle]:
    trades = [trade_from_record(r) for r in replay.records if r["type"] == "trade"]
    return [replace(c, open_ns=c.open_ns - DAY_NS) for c in candles_from_trades(trades, "1m")]


def _slices(rows: list[dict[str, Any]]) -> list[tuple[int, Decimal, str | None]]:
    return [(r["index"], Decimal(r["filled_qty"]), r["reason"]) for r in rows]


def _fills(detail: dict[str, Any]) -> list[tuple[int, Decimal, Decimal]]:
    return [(f["slice_index"], Decimal(f["price"]), Decimal(f["qty"])) for f in detail["fills"]]


def _simulated_fills(report: dict[str, Any]) -> list[tuple[int, Decimal, Decimal]]:
    return [(f["slice_index"], Decimal(f["price"]), Decimal(f["qty"])) for f in report["fills"]]


_MARKOUTS = [f"markout_{h}s_bps" for h in MARKOUT_HORIZONS_S]


def _markouts(report: dict[str, Any]) -> list[list[str | None]]:
    """Each fill's markouts, then the averages (decimal strings)."""
    return [[f[m] for m in _MARKOUTS] for f in report["fills"]] + [[report[m] for m in _MARKOUTS]]


@pytest.mark.parametrize("algorithm", sorted(CASES))
async def test_the_server_trades_like_twap_simulate(database_url: str, algorithm: str) -> None:
    params, flags = CASES[algorithm]

    start, _, served = await _run_on_server(
        database_url, {**ORDER, "algorithm": algorithm, **params}
    )
    simulated = _simulate(start, algorithm, flags)

    assert served["status"] == simulated["status"]
    assert _slices(served["slices"]) == _slices(simulated["slices"])
    assert _fills(served) == _simulated_fills(simulated)
    assert Decimal(served["filled_qty"]) == Decimal(simulated["filled_qty"]) > 0
    assert _markouts(served["analytics"]) == _markouts(simulated)
    assert served["analytics"]["markouts_note"] is simulated["markouts_note"] is None
    if algorithm == "pov":
        told = [Decimal(s["market_volume"]) for s in served["slices"]]
        assert told == [Decimal(s["market_volume"]) for s in simulated["slices"]]
        assert sum(told) > 0
        assert served["filled_qty"] != ORDER["quantity"]  # participation, not the schedule


async def test_vwap_without_candles_plans_as_twap_like_simulate_without_a_profile(
    database_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "no-history.json"
    empty.write_text("[0]")

    start, accepted, served = await _run_on_server(database_url, {**ORDER, "algorithm": "vwap"})
    simulated = _simulate(start, "vwap", ["--profile", str(empty)])

    assert "no volume history" in accepted["algorithm_note"]
    assert "planned as TWAP" in simulated["algorithm_note"]
    twap = plan_twap(Decimal(2), start, Decimal(60), slices=6, lot_size=Decimal("0.00001"))
    assert [Decimal(s["qty"]) for s in accepted["schedule"]] == [p.qty for p in twap]
    assert _slices(served["slices"]) == _slices(simulated["slices"])
    assert _fills(served) == _simulated_fills(simulated)


async def test_vwap_with_candles_trades_like_simulate_with_the_same_profile(
    database_url: str, tmp_path: Path
) -> None:
    order = {**ORDER, "duration_s": 540, "slices": 9}

    start, accepted, served = await _run_on_server(
        database_url, {**order, "algorithm": "vwap", "profile_days": 1}, history=True
    )
    weights = served["parameters"]["profile_weights"]
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(weights))
    simulated = _simulate(start, "vwap", ["--profile", str(profile)], order)

    assert accepted["algorithm_note"] is None and len(weights) == 9
    assert len({s["qty"] for s in accepted["schedule"]}) > 2  # sized by volume, not equal
    targets = [Decimal(s["target_qty"]) for s in served["slices"]]
    assert targets == [Decimal(s["target_qty"]) for s in simulated["slices"]]
    assert _slices(served["slices"]) == _slices(simulated["slices"])
    assert _fills(served) == _simulated_fills(simulated)
