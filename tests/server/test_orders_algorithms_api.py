"""`POST /orders` with every algorithm, `GET /algorithms`, and what orders show of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from tests.server.test_orders_api import Api, Clock, order, running_api
from twapcore import Candle
from twapserver.db.candles import upsert_candles
from twapserver.orders.profiles import DAY_NS, MINUTE_NS, profile_weights

S = 1_000_000_000

PARAMS = {
    "twap": {},
    "twap_random": {"seed": 7, "jitter": "0.5"},
    "vwap": {"profile_days": 2},
    "pov": {"participation": "0.25", "min_slice_qty": "0.01", "max_slice_qty": "0.3"},
}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    """On SQLite and on PostgreSQL (see tests/server/conftest.py)."""
    async with running_api(database_url, Clock()) as running:
        yield running


@pytest.mark.parametrize("algorithm", sorted(PARAMS))
async def test_each_algorithm_is_accepted_and_shows_in_detail_list_and_updates(
    api: Api, algorithm: str
) -> None:
    auth = await api.login("alice")
    body = order(algorithm=algorithm, **PARAMS[algorithm])

    accepted = await api.client.post("/orders", json=body, headers=auth)

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["order"]["algorithm"] == algorithm
    detail = (await api.client.get("/orders/t-1", headers=auth)).json()
    listed = (await api.client.get("/orders", headers=auth)).json()["orders"]
    assert (detail["algorithm"], listed[0]["algorithm"]) == (algorithm, algorithm)
    expected = {k: v for k, v in PARAMS[algorithm].items() if k != "profile_days"}
    if algorithm == "vwap":  # no candles stored: planned as TWAP, and it says why
        expected["profile"] = "candles"
        assert "planned as TWAP" in detail["algorithm_note"]
        assert accepted.json()["algorithm_note"] == detail["algorithm_note"]
    assert detail["parameters"] == {k: str(v) if k != "seed" else v for k, v in expected.items()}


async def test_twap_random_schedule_is_the_seeded_one_and_differs_from_twap(api: Api) -> None:
    auth = await api.login("alice")
    plans = []
    for token, seed in (("a", 7), ("b", 7), ("c", 8)):
        body = order(token_id=token, algorithm="twap_random", seed=seed, jitter="0.5")
        plans.append((await api.client.post("/orders", json=body, headers=auth)).json())
    quantities = [[s["qty"] for s in plan["schedule"]] for plan in plans]
    assert quantities[0] == quantities[1] != quantities[2]
    assert all(sum(Decimal(q) for q in qs) == Decimal("0.6") for qs in quantities)
    assert quantities[0] != ["0.100"] * 6


@pytest.mark.parametrize(
    ("algorithm", "extra", "named"),
    [
        ("twap", {"participation": "0.1"}, "participation"),
        ("pov", {"seed": 3, "participation": "0.1"}, "seed"),
        ("twap_random", {"seed": 1, "jitter": "0.1", "max_slice_qty": "1"}, "max_slice_qty"),
        ("pov", {"participation": "0.1", "profile_days": 3}, "profile_days"),
        ("pov", {}, "participation"),
        ("pov", {"participation": "1.5"}, "participation"),
        ("twap_random", {"seed": 1}, "jitter"),
        ("pov", {"participation": "0.1", "min_slice_qty": "2", "max_slice_qty": "1"}, "min_slice"),
        ("vwap", {"profile_days": 31}, "profile_days"),
        ("vwap", {"profile_days": 0}, "profile_days"),
    ],
)
async def test_a_wrong_or_missing_parameter_is_a_422_naming_it(
    api: Api, algorithm: str, extra: dict[str, object], named: str
) -> None:
    auth = await api.login("alice")

    response = await api.client.post(
        "/orders", json=order(algorithm=algorithm, **extra), headers=auth
    )

    assert response.status_code == 422, response.text
    assert named in response.json()["message"]
    assert (await api.client.get("/orders", headers=auth)).json()["orders"] == []


async def test_post_orders_twap_still_takes_only_twap_fields(api: Api) -> None:
    auth = await api.login("alice")

    refused = await api.client.post("/orders/twap", json=order(algorithm="pov"), headers=auth)
    accepted = await api.client.post("/orders/twap", json=order(), headers=auth)

    assert refused.status_code == 422 and "algorithm" in refused.text
    assert accepted.status_code == 201
    assert accepted.json()["order"]["algorithm"] == "twap"


async def test_algorithms_lists_each_with_parameters_and_bounds(api: Api) -> None:
    listed = (await api.client.get("/algorithms")).json()

    by_name = {a["name"]: a for a in listed}
    assert sorted(by_name) == ["pov", "twap", "twap_random", "vwap"]
    pov = {p["name"]: p for p in by_name["pov"]["parameters"]}
    assert (pov["participation"]["required"], pov["participation"]["maximum"]) == (True, "1")
    assert pov["participation"]["exclusive_minimum"] is True
    assert [p["name"] for p in by_name["twap_random"]["parameters"]] == ["seed", "jitter"]
    assert by_name["vwap"]["parameters"][0]["maximum"] == "30"
    for algorithm in listed:  # each example is an order the API accepts as it stands
        assert algorithm["example"]["algorithm"] == algorithm["name"]
        assert algorithm["description"]


async def test_vwap_sizes_slices_by_the_candles_at_the_same_time_of_day(api: Api) -> None:
    auth = await api.login("alice")
    start = api.clock.now
    price = (Decimal(100),) * 4
    candles = [
        Candle("binance", "BTC-USDT", "1m", open_ns, *price, Decimal(volume), 1)
        for open_ns, volume in (
            (start - DAY_NS, 3),
            (start - DAY_NS + MINUTE_NS, 1),
            (start - 3 * DAY_NS, 50),  # older than profile_days: left out
        )
    ]
    async with api.app.state.sessions() as session, session.begin():
        await upsert_candles(session, candles)

    body = order(algorithm="vwap", profile_days=2, duration_s=120)
    accepted = (await api.client.post("/orders", json=body, headers=auth)).json()

    assert [s["qty"] for s in accepted["schedule"]] == ["0.15"] * 3 + ["0.05"] * 3
    assert accepted["algorithm_note"] is None
    detail = (await api.client.get("/orders/t-1", headers=auth)).json()
    assert detail["parameters"]["profile_weights"] == ["3", "1"]


def test_profile_weights_fold_days_and_bucket_long_windows() -> None:
    start = 1_700_000_000 * S
    candles = [(start - DAY_NS + 5 * MINUTE_NS, Decimal(2)), (start - 2 * DAY_NS, Decimal(1))]

    short = profile_weights(candles, start, Decimal(600))
    week = profile_weights(candles, start, Decimal(7 * 86400))

    assert short == (Decimal(1), 0, 0, 0, 0, Decimal(2), 0, 0, 0, 0)
    assert week is not None and len(week) == 917  # 10080 minutes in 11-minute buckets (<= 1000)
    assert sum(week) == 7 * 3  # each time of day recurs on each of the 7 days
    assert profile_weights([], start, Decimal(60)) is None
