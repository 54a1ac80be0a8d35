"""One wire schema: the server answers with twapcore's wire models, the SDK parses into them,
and the fast dict builders of `/ws` messages and recorder lines write exactly their shape.

Every response body (and every `/ws` order or book message) parses with the twapcore
model and that model writes the same bytes back: no field, order or decimal rule of
the server is missing from the one definition. SQLite only: the shapes do not depend
on the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

import twapclient
from tests.core.builders import S, levels
from tests.server.test_orders_api import Api, Clock, order, running_api
from twapcore import BookSnapshot, Side, Trade, iter_records, wire
from twapcore.recording import book_to_record
from twapserver.api import orders as orders_api
from twapserver.api import public as public_api
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.recorder import Recorder
from twapserver.ws.broadcast import BOOK_DEPTH
from twapserver.ws.messages import dumps, error_message
from twapserver.ws.snapshot import snapshot_messages

ALICE = 1  # the user id of the first (and only) account


@pytest.fixture
def backend_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with running_api(database_url, Clock()) as running:
        running.app.state.hub.register(
            InstrumentInfo("kraken", "BTC-USDT", Decimal("0.1"), Decimal("0.0001"))
        )
        yield running


def _publish(api: Api, kraken_age_s: int) -> None:
    """Books on both venues (kraken's `kraken_age_s` old: stale past 5 s) and one trade."""
    hub, now = api.app.state.hub, api.clock.now
    for venue, ask, age_s in (("binance", "101.50", 0), ("kraken", "101.2", kraken_age_s)):
        ts = now - age_s * S
        book = BookSnapshot(
            venue, "BTC-USDT", levels(("99.00", "5")), levels((ask, "0.25"), ("105", "50")), ts, ts
        )
        hub.on_book(venue, "BTC-USDT", lambda book=book: book, ts)
    hub.on_trade(
        Trade("binance", "BTC-USDT", Side.BUY, Decimal("101.50"), Decimal("0.4"), now, now, "1")
    )


def _same_bytes(adapter: TypeAdapter[Any], body: bytes) -> None:
    assert adapter.dump_json(adapter.validate_json(body)) == body


async def _responses(api: Api) -> dict[str, tuple[TypeAdapter[Any], bytes]]:
    """The raw body of every endpoint that answers with a wire model, with its model."""
    auth = await api.login("alice")
    _publish(api, kraken_age_s=0)
    bodies: dict[str, tuple[Any, bytes]] = {}

    async def call(name: str, model: Any, method: str, url: str, **kwargs: Any) -> None:
        response = await api.client.request(method, url, headers=auth, **kwargs)
        assert response.status_code < 300, response.text
        bodies[name] = (model, response.content)

    cross = order(token_id="cross", exchange=None, venues=["binance", "kraken"])
    await call("twap", wire.OrderAccepted, "POST", "/orders/twap", json=order())
    await call("cross", wire.OrderAccepted, "POST", "/orders", json=cross)
    pov = order(token_id="pov", algorithm="pov", participation="0.5", quantity="0.3")
    await call("pov", wire.OrderAccepted, "POST", "/orders", json=pov)
    await call("doomed", wire.OrderAccepted, "POST", "/orders/twap", json=order(token_id="doomed"))
    for n in range(4):
        api.clock.now += 10 * S if n else 0
        _publish(api, kraken_age_s=60 if n == 2 else 0)
        await api.app.state.engine.run_due(api.clock.now)
    for token_id in ("t-1", "cross", "pov"):
        await call(f"detail {token_id}", wire.OrderDetail, "GET", f"/orders/{token_id}")
    await call("page", wire.OrderList, "GET", "/orders?limit=2")
    await call("cancel", wire.OrderPublic, "DELETE", "/orders/doomed")
    await call("exchanges", list[wire.ExchangePublic], "GET", "/exchanges")
    await call("symbols", list[wire.SymbolPublic], "GET", "/exchanges/kraken/symbols")
    await call("klines", list[wire.KlinePublic], "GET", "/klines/binance/BTC-USDT")
    return {name: (TypeAdapter(model), body) for name, (model, body) in bodies.items()}


async def test_every_response_is_a_twapcore_wire_model_byte_for_byte(api: Api) -> None:
    responses = await _responses(api)

    detail = orjson.loads(responses["detail cross"][1])
    assert {"kraken": "stale_book"} in [s["venues_left_out"] for s in detail["slices"]]
    assert orjson.loads(responses["klines"][1]) != []
    for adapter, body in responses.values():
        _same_bytes(adapter, body)


async def test_the_sdk_reads_every_response_into_the_same_models(api: Api) -> None:
    responses = await _responses(api)
    sdk = {
        "twap": twapclient.OrderAccepted,
        "detail t-1": twapclient.OrderDetail,
        "page": twapclient.OrderPage,
        "cancel": twapclient.Order,
        "exchanges": list[twapclient.ExchangeInfo],
        "symbols": list[twapclient.SymbolInfo],
        "klines": list[twapclient.Kline],
    }

    for name, model in sdk.items():
        _same_bytes(TypeAdapter(model), responses[name][1])
    detail = twapclient.OrderDetail.model_validate_json(responses["detail t-1"][1])
    assert detail.report().filled_qty == detail.filled_qty


def test_the_routes_answer_with_the_twapcore_models() -> None:
    routes = [*orders_api.router.routes, *public_api.router.routes]
    models = {
        (tuple(route.methods), route.path): route.response_model
        for route in routes
        if isinstance(route, APIRoute)
    }

    assert models[(("POST",), "/orders/twap")] is wire.OrderAccepted
    assert models[(("POST",), "/orders")] is wire.OrderAccepted
    assert models[(("GET",), "/orders")] is wire.OrderList
    assert models[(("GET",), "/orders/{token_id}")] is wire.OrderDetail
    assert models[(("DELETE",), "/orders/{token_id}")] is wire.OrderPublic
    assert models[(("GET",), "/exchanges")] == list[wire.ExchangePublic]
    assert models[(("GET",), "/exchanges/{exchange}/symbols")] == list[wire.SymbolPublic]
    assert models[(("GET",), "/klines/{exchange}/{symbol}")] == list[wire.KlinePublic]


def test_the_sdk_models_are_the_twapcore_models_or_subclasses_of_them() -> None:
    same = {
        twapclient.Order: wire.OrderPublic,
        twapclient.Fill: wire.FillPublic,
        twapclient.SliceRecord: wire.SlicePublic,
        twapclient.PlannedSlice: wire.PlannedSlicePublic,
        twapclient.OrderAccepted: wire.OrderAccepted,
        twapclient.OrderPage: wire.OrderList,
        twapclient.ExchangeInfo: wire.ExchangePublic,
        twapclient.BookMessage: wire.BookMessage,
        twapclient.OrderMessage: wire.OrderMessage,
        twapclient.ErrorMessage: wire.ErrorMessage,
    }
    extended = {
        twapclient.OrderDetail: wire.OrderDetail,  # + report()
        twapclient.Kline: wire.KlinePublic,  # close_ns optional (older servers)
        twapclient.SymbolInfo: wire.SymbolPublic,  # type, quantity_unit optional
    }

    assert all(sdk is model for sdk, model in same.items())
    assert all(issubclass(sdk, model) for sdk, model in extended.items())
    assert all(list(sdk.model_fields) == list(m.model_fields) for sdk, m in extended.items())


async def test_ws_order_updates_and_snapshots_are_exactly_order_messages(api: Api) -> None:
    payloads: list[str] = []
    api.app.state.order_events.on_update(lambda update: payloads.append(update.payload))

    await _responses(api)  # runs three orders and cancels a fourth
    sessions = api.app.state.sessions
    snapshot = [text async for _, text in snapshot_messages(sessions, ALICE, since_ns=0)]

    assert len(payloads) >= 10 and len(snapshot) == 4
    fields = list(wire.OrderMessage.model_fields)
    for text in payloads + snapshot:
        message = wire.OrderMessage.model_validate_json(text)
        assert list(orjson.loads(text)) == fields
        assert message.model_dump_json(exclude_unset=True) == text
    slices = [orjson.loads(text)["slice"] for text in payloads]
    assert {"kraken": "stale_book"} in [s.get("venues_left_out") for s in slices if s]
    venues = {orjson.loads(text)["venues"] is None for text in payloads + snapshot}
    assert venues == {True, False}  # the cross-venue order's updates name its venues
    crossed = [orjson.loads(t)["venues"] for t in payloads + snapshot if orjson.loads(t)["venues"]]
    assert all(v[0] == "binance" and "kraken" in v for v in crossed)


def test_ws_book_payloads_are_exactly_book_messages() -> None:
    hub = MarketHub()
    hub.register(InstrumentInfo("binance", "BTC-USDT"))
    deep = levels(*[(f"{100 + n}.10", "0.50") for n in range(15)])
    snapshot = BookSnapshot("binance", "BTC-USDT", deep[::-1], deep, S, 2 * S, 7)
    hub.on_book("binance", "BTC-USDT", lambda: snapshot, S)

    payload = dumps(book_to_record(hub.book("binance", "BTC-USDT"), BOOK_DEPTH))

    message = wire.BookMessage.model_validate_json(payload)
    assert len(message.bids) == BOOK_DEPTH
    assert message.model_dump_json() == payload


def test_ws_errors_are_exactly_error_messages() -> None:
    text = dumps(error_message("unknown_channel", "channel 'trades' is not one of: book, orders"))

    message = wire.ErrorMessage.model_validate_json(text)

    assert list(orjson.loads(text)) == list(wire.ErrorMessage.model_fields)
    assert message.model_dump_json() == text


def test_recorder_lines_are_exactly_their_wire_messages(tmp_path: Path) -> None:
    hub = MarketHub()
    hub.register(InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.00001")))
    book = BookSnapshot(
        "binance", "BTC-USDT", levels(("99.10", "1E-7")), levels(("101", "2.000")), S, S, 3
    )
    hub.on_book("binance", "BTC-USDT", lambda: book, S)
    recorder = Recorder(hub, tmp_path, clock=lambda: S)
    path = recorder.open()
    hub.on_trade(
        Trade("binance", "BTC-USDT", Side.SELL, Decimal("99.10"), Decimal("0.5"), S, S, None)
    )
    recorder.close()
    models: dict[str, type[wire.WireModel]] = {
        "instrument": wire.InstrumentMessage,
        "book": wire.BookMessage,
        "trade": wire.TradeMessage,
    }

    records = list(iter_records(path))

    assert [r["type"] for r in records] == ["instrument", "book", "trade"]
    for record in records:
        model = models[record["type"]]
        text = orjson.dumps(record).decode()
        assert list(record) == list(model.model_fields)
        assert model.model_validate_json(text).model_dump_json() == text
