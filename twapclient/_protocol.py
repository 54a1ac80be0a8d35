"""The sans-I/O core shared by `TwapClient` and `AsyncTwapClient`.

Every API call is a *flow*: a generator that yields the `httpx.Request`s it
needs, receives each `httpx.Response`, and returns the parsed result (or raises
from the one exception tree). The flows hold all request building, response
parsing, error mapping and token refresh; the sync and async clients only
drive them, with `httpx.Client.send` or `await httpx.AsyncClient.send`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from twapclient._exceptions import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    OrderRejected,
    ServerError,
    TransportError,
    TwapClientError,
    ValidationError,
)
from twapclient._models import (
    ExchangeInfo,
    Health,
    Kline,
    Order,
    OrderAccepted,
    OrderDetail,
    OrderPage,
    SymbolInfo,
    TokenResponse,
    Tokens,
)
from twapcore import Side

T = TypeVar("T")

Flow = Generator[httpx.Request, httpx.Response, T]
"""Yields requests, is sent their responses, returns the result."""

Number = Decimal | int | float | str
TokensListener = Callable[[Tokens], None]
# The session as saved by whoever else shares it (e.g. another `twap` process), or None.
TokensSource = Callable[[], Tokens | None]

USER_AGENT = "twapclient/0.1.0"

_EXCHANGES = TypeAdapter(list[ExchangeInfo])
_SYMBOLS = TypeAdapter(list[SymbolInfo])
_KLINES = TypeAdapter(list[Kline])
_HEALTH = TypeAdapter(Health)
_TOKENS = TypeAdapter(TokenResponse)
_ACCEPTED = TypeAdapter(OrderAccepted)
_PAGE = TypeAdapter(OrderPage)
_DETAIL = TypeAdapter(OrderDetail)
_ORDER = TypeAdapter(Order)


def normalize_base_url(base_url: str) -> str:
    """`base_url` without a trailing slash; refuses anything but http(s)://host…"""
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise TwapClientError(
            f"server URL {base_url!r} must start with http:// or https:// and name a host"
        )
    return str(base_url).rstrip("/")


def transport_error(base_url: str, error: httpx.TransportError) -> TransportError:
    """Our `TransportError` for an httpx one, naming the server's URL."""
    if isinstance(error, httpx.TimeoutException):
        kind = type(error).__name__
        return TransportError(base_url, f"the twap server at {base_url} did not answer ({kind})")
    return TransportError(base_url, f"cannot reach the twap server at {base_url}: {error}")


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail_text(body: dict[str, Any], response: httpx.Response) -> str:
    message = body.get("message")
    if isinstance(message, str):
        return message
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if detail is not None:
        return str(detail)
    text = response.text.strip()[:200]
    return text or response.reason_phrase or "no detail"


def api_error(response: httpx.Response) -> ApiError:
    """The exception for an error response (status >= 400)."""
    status = response.status_code
    body = _error_body(response)
    if status in (409, 422) and body.get("status") == "rejected":
        return OrderRejected(str(body.get("reason")), _detail_text(body, response), status)
    detail = _detail_text(body, response)
    if status == 401:
        return AuthenticationError(status, detail)
    if status == 404:
        return NotFoundError(status, detail)
    if status == 422:
        errors = body.get("detail")
        return ValidationError(status, detail, errors if isinstance(errors, list) else None)
    if status >= 500:
        return ServerError(status, detail)
    return ApiError(status, detail)


def parse(response: httpx.Response, adapter: TypeAdapter[T]) -> T:
    """The body of a successful `response` as `adapter`'s type; raise for an error status."""
    if response.status_code >= 400:
        raise api_error(response)
    try:
        return adapter.validate_json(response.content)
    except PydanticValidationError as error:
        where = f"{response.request.method} {response.request.url}"
        raise ApiError(
            response.status_code, f"unexpected response to {where}: {error.errors()[0]['msg']}"
        ) from None


def _is_expired(response: httpx.Response) -> bool:
    return response.status_code == 401 and _error_body(response).get("detail") == "token expired"


def _text(value: Number | Side) -> str:
    # Decimals travel as strings so no float ever rounds a price or a size.
    return str(value.value if isinstance(value, Side) else value)


class ClientSession:
    """What the sync and async clients share on top of their `Protocol`."""

    _protocol: Protocol

    @property
    def base_url(self) -> str:
        return self._protocol.base_url

    @property
    def tokens(self) -> Tokens | None:
        """The current session, or None before `login()`."""
        return self._protocol.tokens


class Protocol:
    """The state of one client (server URL, session tokens) and a flow per API call."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout = 10,
        tokens: Tokens | None = None,
        on_tokens: TokensListener | None = None,
        stored_tokens: TokensSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.tokens = tokens
        self._timeout = httpx.Timeout(timeout)
        self._on_tokens = on_tokens
        self._stored_tokens = stored_tokens
        self._clock = clock

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> httpx.Request:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return httpx.Request(
            method,
            self.base_url + path,
            params=query,
            data=data,
            json=json,
            headers=headers,
            extensions={"timeout": self._timeout.as_dict()},
        )

    # --- session ------------------------------------------------------------

    def _store(self, response: httpx.Response) -> Tokens:
        self.tokens = Tokens.received(parse(response, _TOKENS), self._clock())
        if self._on_tokens is not None:
            self._on_tokens(self.tokens)
        return self.tokens

    def login(self, username: str, password: str) -> Flow[Tokens]:
        form = {"username": username, "password": password, "grant_type": "password"}
        response = yield self.request("POST", "/auth/token", data=form)
        return self._store(response)

    def refresh(self) -> Flow[Tokens]:
        tokens = self._require_tokens()
        body = {"refresh_token": tokens.refresh_token}
        response = yield self.request("POST", "/auth/refresh", json=body)
        if response.status_code == 401:
            detail = _error_body(response).get("detail", "refresh refused")
            raise AuthenticationError(
                401, f"{detail}: the session cannot be refreshed; log in again"
            )
        return self._store(response)

    def _require_tokens(self) -> Tokens:
        if self.tokens is None:
            raise AuthenticationError(None, f"not logged in to {self.base_url}: log in first")
        return self.tokens

    def access_token(self, *, force_refresh: bool = False) -> Flow[str]:
        """A usable access token: refreshed first when forced or about to expire.

        Before refreshing, a session saved by someone sharing it (`stored_tokens`)
        that is newer than ours is adopted instead: the server rotates refresh
        tokens and treats a second use of one as theft, so two processes sharing a
        saved session must never both spend the same refresh token.
        """
        due = force_refresh or self._clock() >= self._require_tokens().refresh_at
        if due and not self._adopt_stored_tokens():
            yield from self.refresh()
        return self._require_tokens().access_token

    def _adopt_stored_tokens(self) -> bool:
        """True if a different, not yet due session was saved by someone else (now ours)."""
        stored = self._stored_tokens() if self._stored_tokens is not None else None
        current = self._require_tokens()
        if stored is None or stored.refresh_token == current.refresh_token:
            return False
        if self._clock() >= stored.refresh_at:
            return False
        self.tokens = stored
        return True

    def _authorized(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Flow[httpx.Response]:
        token = yield from self.access_token()
        response = yield self.request(method, path, params=params, json=json, token=token)
        if _is_expired(response):
            # Expired in flight (or our clock is behind the server's): refresh once, retry once.
            token = yield from self.access_token(force_refresh=True)
            response = yield self.request(method, path, params=params, json=json, token=token)
        return response

    # --- public market data -------------------------------------------------

    def exchanges(self) -> Flow[list[ExchangeInfo]]:
        return parse((yield self.request("GET", "/exchanges")), _EXCHANGES)

    def symbols(self, exchange: str) -> Flow[list[SymbolInfo]]:
        path = f"/exchanges/{_segment(exchange)}/symbols"
        return parse((yield self.request("GET", path)), _SYMBOLS)

    def klines(
        self,
        exchange: str,
        symbol: str,
        interval: str,
        limit: int,
        start: int | None,
        end: int | None,
    ) -> Flow[list[Kline]]:
        path = f"/klines/{_segment(exchange)}/{_segment(symbol)}"
        params = {"interval": interval, "limit": limit, "start": start, "end": end}
        return parse((yield self.request("GET", path, params=params)), _KLINES)

    def health(self) -> Flow[Health]:
        return parse((yield self.request("GET", "/health")), _HEALTH)

    # --- orders -------------------------------------------------------------

    def submit(
        self,
        path: str,
        token_id: str,
        exchange: str | None,
        symbol: str,
        side: Side | str,
        quantity: Number,
        limit_price: Number,
        duration_s: Number | None,
        options: dict[str, Any],
    ) -> Flow[OrderAccepted]:
        """POST an order to `path`; `duration_s` and `options` (slices, algorithm
        parameters…) when not None.

        Decimals and numbers other than integers travel as exact strings.
        """
        body: dict[str, Any] = {
            "token_id": token_id,
            **({} if exchange is None else {"exchange": exchange}),
            "symbol": symbol,
            "side": _text(side),
            "quantity": _text(quantity),
            "limit_price": _text(limit_price),
            **({} if duration_s is None else {"duration_s": _text(duration_s)}),
        }
        for name, value in options.items():
            if isinstance(value, (list, tuple)):
                body[name] = [str(v) for v in value]
            elif value is not None:
                body[name] = value if isinstance(value, (int, str)) else _text(value)
        response = yield from self._authorized("POST", path, json=body)
        return parse(response, _ACCEPTED)

    def orders(
        self, status: str, token_id: str | None, limit: int, after: int | None
    ) -> Flow[OrderPage]:
        params = {"status": status, "token_id": token_id, "limit": limit, "after": after}
        response = yield from self._authorized("GET", "/orders", params=params)
        return parse(response, _PAGE)

    def order(self, token_id: str) -> Flow[OrderDetail]:
        response = yield from self._authorized("GET", f"/orders/{_segment(token_id)}")
        return parse(response, _DETAIL)

    def cancel(self, token_id: str) -> Flow[Order]:
        response = yield from self._authorized("DELETE", f"/orders/{_segment(token_id)}")
        return parse(response, _ORDER)


def submit_options(
    *,
    algorithm: str | None = None,
    slices: int | None = None,
    interval_s: Number | None = None,
    fill_model: str | None = None,
    catch_up_cap: Number | None = None,
    venues: Sequence[str] | None = None,
    params: Mapping[str, Number | None] | None = None,
) -> dict[str, Any]:
    """The optional fields of an order body, as `submit` sends them (None: left out).

    The one list of them for the sync and async clients' `submit` and `submit_twap`.
    """
    options: dict[str, Any] = {} if algorithm is None else {"algorithm": algorithm}
    options |= {
        "slices": slices,
        "interval_s": interval_s,
        "fill_model": fill_model,
        "catch_up_cap": catch_up_cap,
        "venues": None if venues is None else list(venues),
        **(params or {}),
    }
    return options


def _segment(value: str) -> str:
    """`value` as one path segment: a '/' or '?' in it cannot reach another route."""
    return quote(value, safe="")
