"""schemathesis against the OpenAPI of a real uvicorn server, anonymous and logged in.

The schema is this app's own document (built at import, checked equal to what the
live server serves); every operation gets its documented examples, schemathesis'
coverage cases (boundaries, each constraint broken) and a bounded, deterministic
set of generated requests. No answer may be a 5xx, and every answer must be
documented (status code, content type) and match its documented schema.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.server.test_input_hardening import Live, live_server
from tests.server.test_orders_api import SECRET
from twapserver.app import create_app
from twapserver.settings import Settings

SPEC = create_app(
    Settings(collect=False, jwt_secret=SECRET, database_url="sqlite+aiosqlite://")
).openapi()
schema = schemathesis.openapi.from_dict(SPEC)
# Each login costs an argon2 verification: that operation gets a smaller budget of its own.
LOGIN = "/auth/token"
logins = schema.include(path=LOGIN)
without_logins = schema.exclude(path=LOGIN)
secured = schema.include(lambda ctx: bool(ctx.operation.definition.raw.get("security")))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.specs.openapi.checks.status_code_conformance,
    schemathesis.specs.openapi.checks.content_type_conformance,
    schemathesis.specs.openapi.checks.response_schema_conformance,
]
BOUNDED = settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
BOUNDED_LOGINS = settings(BOUNDED, max_examples=10, phases=[Phase.generate])
# Known markets in two of three requests, so that generated orders and klines queries
# also get past the exchange/symbol check to the rules behind it (quantity, lot size,
# schedule, candles); ETH-USDT has no instrument info. The third keeps what was generated.
_EXCHANGES = itertools.cycle(["binance", "binance", None])
_SYMBOLS = itertools.cycle(["BTC-USDT", "ETH-USDT", None])


def _known_market(values: Any) -> Any:
    if not isinstance(values, dict):
        return values
    exchange, symbol = next(_EXCHANGES), next(_SYMBOLS)
    if "exchange" in values and exchange is not None:
        values = {**values, "exchange": exchange}
    if "symbol" in values and symbol is not None:
        values = {**values, "symbol": symbol}
    return values


@schema.hook
def map_body(context: Any, body: Any) -> Any:
    return _known_market(body)


@schema.hook
def map_path_parameters(context: Any, path_parameters: Any) -> Any:
    return _known_market(path_parameters)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("schemathesis") / "twap.db"
    with live_server(f"sqlite+aiosqlite:///{database}") as running:
        yield running


@pytest.fixture(scope="module")
def auth(live: Live) -> dict[str, str]:
    return live.auth("schemathesis")


def test_the_live_server_serves_the_schema_under_test(live: Live) -> None:
    assert httpx.get(live.base + "/openapi.json").json() == SPEC


@BOUNDED
@without_logins.parametrize()
def test_anonymous_answers_conform_and_are_never_5xx(case: Any, live: Live) -> None:
    case.call_and_validate(base_url=live.base, checks=CHECKS)


@BOUNDED_LOGINS
@logins.parametrize()
def test_login_answers_conform_and_are_never_5xx(case: Any, live: Live) -> None:
    case.call_and_validate(base_url=live.base, checks=CHECKS)


@BOUNDED
@secured.parametrize()
def test_authenticated_answers_conform_and_are_never_5xx(
    case: Any, live: Live, auth: dict[str, str]
) -> None:
    case.call_and_validate(base_url=live.base, headers=auth, checks=CHECKS)
