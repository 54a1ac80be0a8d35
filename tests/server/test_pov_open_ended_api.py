"""`POST /orders` with a pov order without an end time: accepted, capped, run, expired."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.server.test_orders_api import Api, Clock, order, running_api
from twapcore import Side, Trade
from twapserver.orders.algorithms import OPEN_ENDED_POV_EXAMPLE
from twapserver.orders.schemas import MAX_DURATION_S, MAX_SLICES

S = 1_000_000_000


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with running_api(database_url, Clock()) as running:
        yield running


def _open_pov(interval_s: object, **changes: object) -> dict[str, object]:
    return order(
        algorithm="pov",
        participation="0.5",
        duration_s=None,
        slices=None,
        interval_s=interval_s,
        **changes,
    )


def _trade(api: Api, qty: str) -> None:
    hub = api.app.state.hub
    now = api.clock.now
    hub.on_trade(Trade("binance", "BTC-USDT", Side.SELL, Decimal(100), Decimal(qty), now, now))


async def test_open_ended_pov_is_accepted_with_its_cap_as_schedule_and_slices_total(
    api: Api,
) -> None:
    auth = await api.login("alice")
    start = api.clock.now

    response = await api.client.post("/orders", json=_open_pov(1), headers=auth)

    assert response.status_code == 201, response.text
    accepted = response.json()
    # life = min(MAX_DURATION_S, MAX_SLICES × interval_s) = 1000 s: a step every second
    assert accepted["order"]["slices_total"] == MAX_SLICES == len(accepted["schedule"])
    assert accepted["order"]["next_slice_ns"] == start
    assert accepted["schedule"][-1]["due_ns"] == start + (MAX_SLICES - 1) * S


async def test_a_long_interval_is_capped_by_the_maximum_order_life(api: Api) -> None:
    auth = await api.login("alice")
    interval = MAX_DURATION_S / 4

    accepted = (
        await api.client.post("/orders", json=_open_pov(str(interval)), headers=auth)
    ).json()

    assert accepted["order"]["slices_total"] == 4
    assert accepted["schedule"][-1]["due_ns"] - accepted["schedule"][0]["due_ns"] == int(
        3 * interval * S
    )


async def test_its_steps_fall_exactly_interval_s_apart_within_the_cap(api: Api) -> None:
    auth = await api.login("alice")

    accepted = (await api.client.post("/orders", json=_open_pov(1000), headers=auth)).json()

    dues = [step["due_ns"] for step in accepted["schedule"]]
    assert len(dues) == int(MAX_DURATION_S // 1000) == 604  # 604000 s of the 604800 s cap
    assert {b - a for a, b in itertools.pairwise(dues)} == {1000 * S}


async def test_open_ended_pov_runs_on_the_engine_and_expires_at_its_cap(api: Api) -> None:
    auth = await api.login("alice")
    interval = MAX_DURATION_S / 2  # two steps: now and at half the maximum life
    body = _open_pov(str(interval), quantity="0.6")
    assert (await api.client.post("/orders", json=body, headers=auth)).status_code == 201
    await api.tick(0)  # step 0: nothing traded yet, it waits
    _trade(api, "0.2")

    await api.tick(float(interval))  # step 1: half of 0.2; the last step of its life

    detail = (await api.client.get("/orders/t-1", headers=auth)).json()
    assert detail["status"] == "expired"
    assert (detail["filled_qty"], detail["slices_done"], detail["slices_total"]) == (
        "0.1",
        2,
        2,
    )
    assert detail["next_slice_ns"] is None


async def test_open_ended_pov_completes_once_filled_before_its_cap(api: Api) -> None:
    auth = await api.login("alice")
    body = _open_pov("10", quantity="0.1")
    assert (await api.client.post("/orders", json=body, headers=auth)).status_code == 201
    await api.tick(0)
    _trade(api, "0.4")

    await api.tick(10)

    detail = (await api.client.get("/orders/t-1", headers=auth)).json()
    assert (detail["status"], detail["filled_qty"], detail["slices_done"]) == (
        "completed",
        "0.1",
        2,
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (order(algorithm="twap", duration_s=None), "duration_s"),
        (order(algorithm="vwap", duration_s=None), "duration_s"),
        (order(algorithm="pov", participation="0.1", duration_s=None), "slices"),
        (order(algorithm="pov", participation="0.1", duration_s=None, slices=None), "interval_s"),
    ],
)
async def test_a_missing_end_time_is_a_422_naming_the_field(
    api: Api, body: dict[str, object], named: str
) -> None:
    auth = await api.login("alice")

    response = await api.client.post("/orders", json=body, headers=auth)

    assert response.status_code == 422, response.text
    rejection = response.json()
    assert rejection["detail"][0]["loc"] == ["body", named]
    assert named in rejection["message"]


async def test_post_orders_twap_still_requires_duration_s(api: Api) -> None:
    auth = await api.login("alice")

    response = await api.client.post("/orders/twap", json=order(duration_s=None), headers=auth)

    assert response.status_code == 422
    assert "duration_s" in response.json()["message"]


async def test_the_open_ended_example_is_accepted_and_in_the_openapi_document(api: Api) -> None:
    auth = await api.login("alice")
    document = (await api.client.get("/openapi.json")).json()
    examples = document["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]

    accepted = await api.client.post(
        "/orders", json={**OPEN_ENDED_POV_EXAMPLE, "symbol": "BTC-USDT"}, headers=auth
    )

    assert examples["pov_until_filled"]["value"] == OPEN_ENDED_POV_EXAMPLE
    assert "duration_s" not in OPEN_ENDED_POV_EXAMPLE
    assert accepted.status_code == 201, accepted.text


async def test_algorithms_say_which_fields_each_requires(api: Api) -> None:
    listed = {a["name"]: a for a in (await api.client.get("/algorithms")).json()}

    assert "duration_s" in listed["twap"]["required_fields"]
    assert "duration_s" not in listed["pov"]["required_fields"]
    assert "participation" in listed["pov"]["required_fields"]
