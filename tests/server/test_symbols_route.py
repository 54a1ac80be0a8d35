"""GET /exchanges/{exchange}/symbols: instrument type, sizes and quantity unit, for a
dotted exchange id with a spot and a perpetual market (in-process, SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from twapcore import InstrumentInfo
from twapserver.app import create_app
from twapserver.settings import Settings

SECRET = "test-secret-" + "x" * 40


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = Settings(
        collect=False,
        exchanges={"BIT.COM": ["btc-usd-perp", "BTC/USDT"]},
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        jwt_secret=SECRET,
    )
    application = create_app(settings, run_engine=False)
    async with application.router.lifespan_context(application):
        # Without collection nothing registers the settings' markets: do what a venue would.
        ((exchange, symbols),) = settings.exchanges.items()
        perp, spot = symbols
        hub = application.state.hub
        hub.register(InstrumentInfo(exchange, perp, Decimal("0.5"), Decimal(1), Decimal("0.01")))
        hub.register(InstrumentInfo(exchange, spot, Decimal("0.01"), Decimal("0.00001")))
        yield application


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


def test_settings_read_a_dotted_exchange_and_derivative_symbols(tmp_path: Path) -> None:
    settings = Settings(
        collect=False, exchanges={"BIT.COM": ["btc-usd-perp", "BTC/USDT"]}, jwt_secret=SECRET
    )

    assert settings.exchanges == {"bit.com": ["BTC-USD-PERP", "BTC-USDT"]}


async def test_symbols_carry_type_contract_size_and_quantity_unit(app: FastAPI) -> None:
    response = await get(app, "/exchanges/bit.com/symbols")

    assert response.status_code == 200, response.text
    by_symbol = {row["symbol"]: row for row in response.json()}
    perp, spot = by_symbol["BTC-USD-PERP"], by_symbol["BTC-USDT"]
    assert (perp["type"], perp["tick_size"], perp["lot_size"], perp["contract_size"]) == (
        "perpetual",
        "0.5",
        "1",
        "0.01",
    )
    assert perp["quantity_unit"] == "contracts"
    assert (spot["type"], spot["contract_size"], spot["quantity_unit"]) == ("spot", None, "BTC")


async def test_a_dotted_exchange_is_listed_and_its_markets_reachable(app: FastAPI) -> None:
    exchanges = await get(app, "/exchanges")
    klines = await get(app, "/klines/bit.com/BTC-USD-PERP")

    assert exchanges.json() == [{"name": "bit.com", "symbols": ["BTC-USD-PERP", "BTC-USDT"]}]
    assert (klines.status_code, klines.json()) == (200, [])


def test_the_symbols_schema_documents_the_instrument_types(tmp_path: Path) -> None:
    settings = Settings(collect=False, database_url="sqlite+aiosqlite://", jwt_secret=SECRET)

    schema = create_app(settings, run_engine=False).openapi()["components"]["schemas"]

    assert schema["InstrumentType"]["enum"] == ["spot", "perpetual", "future", "option", "other"]
    assert {"type", "contract_size", "quantity_unit"} <= set(schema["SymbolPublic"]["properties"])
