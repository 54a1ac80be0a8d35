"""Paper trading end to end: cryptofeed -> fake exchange -> real uvicorn -> orders -> engine,
checked against `twap simulate` run on the very books the engine traded on.

The engine runs on an injected clock (one slice every 10 "seconds" without waiting 60 s);
market data is real-time from the fake exchange, so between slices the test waits (bounded)
for the book to change, the way ten seconds of a live market would change it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.fake_venues import (
    BINANCE_SYMBOLS,
    cryptofeed_captures,
    fake_exchange,
    serving,
    venue_settings,
    wait_for,
)
from twapcore import BookSnapshot, RecordingWriter
from twapserver.app import create_app
from twapserver.auth.users import create_user

S = 1_000_000_000
SYMBOL = "NKN-USDT"
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now


class FrozenBooks:
    """Makes the hub serve one fixed NKN-USDT book per engine tick, and remembers it.

    Market data keeps flowing while the engine awaits its database writes, so two
    orders due at the same instant could otherwise read two different books.
    """

    def __init__(self, hub: Any) -> None:
        self._read: Callable[[str, str], BookSnapshot | None] = hub.book
        self._frozen: BookSnapshot | None = None
        self.ticks: list[tuple[int, BookSnapshot]] = []
        hub.book = self.book

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        if symbol == SYMBOL and self._frozen is not None:
            return self._frozen
        return self._read(exchange, symbol)

    def freeze(self, now_ns: int) -> None:
        self._frozen = self._read("binance", SYMBOL)
        assert self._frozen is not None
        self.ticks.append((now_ns, self._frozen))

    def thaw(self) -> None:
        self._frozen = None


def _simulate(recording: Path, start_ns: int, order: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", "from twapclient.cli import main; main()", "simulate",
         str(recording), "--exchange", "binance", "--symbol", SYMBOL, "--side", order["side"],
         "--quantity", order["quantity"], "--limit-price", order["limit_price"],
         "--duration", "60", "--slices", "6", "--start-ns", str(start_ns),
         "--max-book-age", "3600", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.slow
async def test_engine_fills_match_twap_simulate_on_the_same_books(
    shared_data: Path, tmp_path: Path
) -> None:
    captures = cryptofeed_captures(shared_data)
    clock = Clock()
    buy = {"token_id": "buy-1", "side": "buy", "quantity": "30000", "limit_price": "1"}
    sell = {"token_id": "sell-1", "side": "sell", "quantity": "600", "limit_price": "100"}
    common = {"exchange": "binance", "symbol": SYMBOL, "duration_s": 60, "slices": 6}

    with fake_exchange(captures, speed=1.0) as fake:
        settings = venue_settings(
            fake, tmp_path, exchanges={"binance": BINANCE_SYMBOLS}, max_book_age_s=3600
        )
        app = create_app(settings, clock=clock, run_engine=False)
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
            hub = app.state.hub
            await wait_for(lambda: hub.book("binance", SYMBOL) is not None, "the first book")
            async with app.state.sessions() as session, session.begin():
                await create_user(session, "alice", PASSWORD, now_ns=0)
            login = await http.post("/auth/token", data={"username": "alice", "password": PASSWORD})
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            books = FrozenBooks(hub)
            start = clock.now
            for order in (buy, sell):
                response = await http.post("/orders/twap", json=order | common, headers=auth)
                assert response.status_code == 201, response.text
            version = -1
            for i in range(6):
                await wait_for(
                    lambda v=version: hub.book("binance", SYMBOL).version != v, "a book change"
                )
                clock.now = start + i * 10 * S
                books.freeze(clock.now)
                await app.state.engine.run_due(clock.now)
                books.thaw()
                version = books.ticks[-1][1].version
            bought = (await http.get("/orders/buy-1", headers=auth)).json()
            unsold = (await http.get("/orders/sell-1", headers=auth)).json()
            lot = next(i.lot_size for i in hub.instruments("binance") if i.symbol == SYMBOL)

    recording = tmp_path / "engine-books.jsonl"
    with RecordingWriter(recording) as writer:
        writer.write_record(
            {"type": "instrument", "exchange": "binance", "symbol": SYMBOL, "lot_size": str(lot)}
        )
        for now, book in books.ticks:
            writer.write(
                BookSnapshot(book.exchange, book.symbol, book.bids, book.asks, now, now, book.seq)
            )
    simulated = _simulate(recording, start, buy)

    assert bought["status"] == simulated["status"] == "completed"
    assert Decimal(bought["filled_qty"]) == Decimal(simulated["filled_qty"]) == Decimal("30000")
    assert [(s["index"], Decimal(s["filled_qty"])) for s in bought["slices"]] == [
        (s["index"], Decimal(s["filled_qty"])) for s in simulated["slices"]
    ]
    engine_prices = {}
    for fill in bought["fills"]:
        engine_prices.setdefault(fill["slice_index"], []).append(
            (Decimal(fill["price"]), Decimal(fill["qty"]))
        )
    for row in simulated["slices"]:
        fills = engine_prices[row["index"]]
        average = sum(p * q for p, q in fills) / sum(q for _, q in fills)
        assert average == Decimal(row["average_price"])
    assert Decimal(bought["average_price"]) == Decimal(simulated["average_price"])
    assert max(len(fills) for fills in engine_prices.values()) > 1  # slices walked the book
    assert (unsold["status"], unsold["filled_qty"], len(unsold["fills"])) == ("expired", "0", 0)
    assert [s["reason"] for s in unsold["slices"]] == ["limit_price"] * 6
