"""A perpetual and a spot market collected by one server from the fake exchange, and a TWAP
order on the perpetual paper-filled in contracts.

The perpetual is Binance USD-M ``SUSHI-USDT-PERP`` from a real cryptofeed capture, served by the
generic fake (`tests/core/data/cryptofeed-samples`, see PROVENANCE.md) to cryptofeed's real
``BinanceFutures``; the spot market is Binance ``NKN-USDT`` from the shared captures. The engine
runs on an injected clock; the expected fills are computed from the book the engine traded on.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.fake_venues import cryptofeed_captures, fake_exchange, serving, wait_for
from tests.server.test_venues_fake_generic import TOP, VENUES, futures_books, generic_settings
from twapserver.app import create_app
from twapserver.auth.users import create_user

S = 1_000_000_000
PERP = ("binance_futures", "SUSHI-USDT-PERP")
SPOT = ("binance", "NKN-USDT")
PASSWORD = "correct horse battery"


def walk(asks: list[tuple[Decimal, Decimal]], qty: Decimal) -> list[tuple[Decimal, Decimal]]:
    """The fills of a market buy of ``qty`` against ``asks`` (best first)."""
    fills = []
    for price, available in asks:
        take = min(qty, available)
        fills.append((price, take))
        qty -= take
        if qty == 0:
            return fills
    raise AssertionError("the book is too thin for the test order")


@pytest.mark.slow
async def test_a_perpetual_and_a_spot_market_are_collected_and_the_perp_order_fills_in_contracts(
    shared_data: Path, tmp_path: Path
) -> None:
    captures = cryptofeed_captures(shared_data)
    start_ns = time.time_ns()
    order: dict[str, Any] = {
        "token_id": "perp-1",
        "exchange": PERP[0],
        "symbol": PERP[1],
        "side": "buy",
        "quantity": "80",  # contracts: 40 a slice, more than the best ask holds
        "limit_price": "8",
        "duration_s": 60,
        "slices": 2,
    }
    with fake_exchange(captures, speed=0, venues=[VENUES]) as fake:
        markets = {SPOT[0]: [SPOT[1]], PERP[0]: [PERP[1]]}
        settings = generic_settings(fake, tmp_path, exchanges=markets)
        app = create_app(settings, clock=lambda: start_ns, run_engine=False)
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
            hub = app.state.hub
            final = futures_books()[PERP[1]]
            await wait_for(
                lambda: (
                    hub.book(*SPOT) is not None
                    and (book := hub.book(*PERP)) is not None
                    and (list(book.bids[:TOP]), list(book.asks[:TOP])) == final
                ),
                "a book of both markets, the perpetual's as its capture ends",
            )
            feeds = (await http.get("/health")).json()["feeds"]
            symbols = (await http.get(f"/exchanges/{PERP[0]}/symbols")).json()
            async with app.state.sessions() as session, session.begin():
                await create_user(session, "alice", PASSWORD, now_ns=0)
            login = await http.post("/auth/token", data={"username": "alice", "password": PASSWORD})
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            response = await http.post("/orders/twap", json=order, headers=auth)
            assert response.status_code == 201, response.text
            asks = [(level.price, level.qty) for level in hub.book(*PERP).asks]
            for index in range(2):
                await app.state.engine.run_due(start_ns + index * 30 * S)
            filled = (await http.get("/orders/perp-1", headers=auth)).json()

    health = {(f["exchange"], f["symbol"]): f for f in feeds}
    assert all(health[m]["connected"] for m in (SPOT, PERP))
    (perp,) = symbols
    assert (perp["symbol"], perp["type"], perp["quantity_unit"]) == (
        "SUSHI-USDT-PERP",
        "perpetual",
        "contracts",
    )
    assert (Decimal(perp["lot_size"]), Decimal(perp["contract_size"])) == (1, 1)
    assert filled["status"] == "completed"
    assert Decimal(filled["filled_qty"]) == Decimal(80)
    assert filled["analytics"]["units"]["filled_qty"] == "contracts"
    # The book does not change once the capture ends: the second slice walks what the first
    # left of it (one liquidity ledger per book version).
    first = walk(asks, Decimal(40))
    taken = dict(first)
    left = [(price, qty - taken.get(price, 0)) for price, qty in asks if qty > taken.get(price, 0)]
    expected = first + walk(left, Decimal(40))
    assert [(Decimal(f["price"]), Decimal(f["qty"])) for f in filled["fills"]] == expected
    assert len(expected) > 2  # a slice walked past the best ask
