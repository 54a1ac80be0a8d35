"""The SDK reads instrument types and contract sizes, and still reads older servers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from twapclient import TwapClient
from twapcore import InstrumentType

PERP_ROW = {
    "symbol": "BTC-USD-PERP",
    "type": "perpetual",
    "tick_size": "0.5",
    "lot_size": "1",
    "contract_size": "0.01",
    "quantity_unit": "contracts",
    "has_book": True,
    "stale": False,
}
# What a server from before derivatives support answers.
OLD_ROW = {"symbol": "ETH-USD-22K27", "tick_size": None, "lot_size": None}
OLD_ROW |= {"has_book": False, "stale": True}


def symbols_from(rows: list[dict[str, Any]]) -> tuple[list[Any], list[str]]:
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=rows)

    client = TwapClient("http://twap.test", transport=httpx.MockTransport(answer))
    return client.symbols("bit.com"), paths


def test_the_sdk_reads_type_contract_size_and_quantity_unit() -> None:
    (perp,), paths = symbols_from([PERP_ROW])

    assert paths == ["/exchanges/bit.com/symbols"]
    assert (perp.type, perp.contract_size, perp.quantity_unit) == (
        InstrumentType.PERPETUAL,
        Decimal("0.01"),
        "contracts",
    )
    assert perp.instrument_type is InstrumentType.PERPETUAL


def test_an_older_server_without_the_fields_still_parses() -> None:
    (future,), _ = symbols_from([OLD_ROW])

    assert (future.type, future.contract_size, future.quantity_unit) == (None, None, None)
    assert future.instrument_type is InstrumentType.FUTURE  # read from the symbol
