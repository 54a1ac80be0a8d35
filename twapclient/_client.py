"""`TwapClient`: the synchronous client of the twap server's REST API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from twapclient._models import (
    ExchangeInfo,
    Health,
    Kline,
    Order,
    OrderAccepted,
    OrderDetail,
    OrderPage,
    SymbolInfo,
    Tokens,
)
from twapclient._protocol import (
    ClientSession,
    Flow,
    Number,
    Protocol,
    TokensListener,
    TokensSource,
    submit_options,
    transport_error,
)
from twapclient._wait import OrderWait, UpdateListener
from twapcore import Side

__all__ = ["TwapClient"]

T = TypeVar("T")


class TwapClient(ClientSession):
    """Talks to a twap server over HTTP (blocking).

    `transport` replaces the network (e.g. `httpx.MockTransport` in tests);
    `timeout` is in seconds per request. Pass `tokens` to resume a saved session;
    `on_tokens` is called with every new token pair (after login and refreshes),
    so a caller can save them; `stored_tokens` returns the session as saved by
    another process sharing it (adopted instead of refreshing when newer); `clock`
    (epoch seconds) decides when tokens are due for refresh. Use as a context
    manager, or call `close()`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10,
        tokens: Tokens | None = None,
        on_tokens: TokensListener | None = None,
        stored_tokens: TokensSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._protocol = Protocol(
            base_url,
            timeout=timeout,
            tokens=tokens,
            on_tokens=on_tokens,
            stored_tokens=stored_tokens,
            clock=clock,
        )
        self._http = httpx.Client(transport=transport, timeout=timeout)

    def __enter__(self) -> TwapClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, flow: Flow[T]) -> T:
        try:
            request = next(flow)
            while True:
                try:
                    response = self._http.send(request)
                except httpx.TransportError as error:
                    raise transport_error(self.base_url, error) from None
                request = flow.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    # --- session ----------------------------------------------------------------

    def login(self, username: str, password: str) -> Tokens:
        """Log in (POST /auth/token); later calls carry and refresh the tokens."""
        return self._run(self._protocol.login(username, password))

    def refresh(self) -> Tokens:
        """Trade the refresh token for a new pair now (done automatically when needed)."""
        return self._run(self._protocol.refresh())

    # --- public market data -----------------------------------------------------

    def exchanges(self) -> list[ExchangeInfo]:
        """Exchanges the server collects, with their symbols."""
        return self._run(self._protocol.exchanges())

    def symbols(self, exchange: str) -> list[SymbolInfo]:
        """Symbols of `exchange` with tick and lot sizes; `NotFoundError` if not collected."""
        return self._run(self._protocol.symbols(exchange))

    def klines(
        self,
        exchange: str,
        symbol: str,
        interval: str = "1m",
        limit: int = 100,
        start: int | None = None,
        end: int | None = None,
    ) -> list[Kline]:
        """Up to `limit` candles of `interval`, oldest first; `start`/`end` in ns since epoch."""
        return self._run(self._protocol.klines(exchange, symbol, interval, limit, start, end))

    def health(self) -> Health:
        """Feed health per exchange and symbol, and the candle backfill."""
        return self._run(self._protocol.health())

    # --- orders -----------------------------------------------------------------

    def submit_twap(
        self,
        token_id: str,
        exchange: str | None,
        symbol: str,
        side: Side | str,
        quantity: Number,
        limit_price: Number,
        duration_s: Number,
        slices: int | None = None,
        interval_s: Number | None = None,
        fill_model: str | None = None,
        catch_up_cap: Number | None = None,
        venues: Sequence[str] | None = None,
    ) -> OrderAccepted:
        """Submit a TWAP order; `OrderRejected` (with `reason`) if the server refuses it.

        `quantity` and `limit_price` are sent as exact decimal strings; give
        `slices` or `interval_s` (seconds). `token_id` is yours to choose, unique forever.
        `venues` (e.g. ["binance", "kraken"]) trades the consolidated book of those
        venues; `exchange` may then be None (or must be the first venue).
        """
        options = submit_options(
            slices=slices,
            interval_s=interval_s,
            fill_model=fill_model,
            catch_up_cap=catch_up_cap,
            venues=venues,
        )
        flow = self._protocol.submit(
            "/orders/twap", token_id, exchange, symbol, side, quantity, limit_price, duration_s,
            options,
        )  # fmt: skip
        return self._run(flow)

    def submit(
        self,
        token_id: str,
        exchange: str | None,
        symbol: str,
        side: Side | str,
        quantity: Number,
        limit_price: Number,
        duration_s: Number | None = None,
        algorithm: str = "twap",
        slices: int | None = None,
        interval_s: Number | None = None,
        fill_model: str | None = None,
        catch_up_cap: Number | None = None,
        venues: Sequence[str] | None = None,
        **params: Number | None,
    ) -> OrderAccepted:
        """Submit an order of any `algorithm` (twap, twap_random, vwap, pov) with its `params`.

        twap_random: `seed`, `jitter`; vwap: `profile_days`; pov: `participation`,
        `min_slice_qty`, `max_slice_qty` (see `GET /algorithms`). The server
        rejects (`OrderRejected`, naming it) a parameter of another algorithm.
        `venues` (any algorithm): cross-venue execution, as for `submit_twap`.
        `duration_s` is required except for pov: without it a pov order steps every
        `interval_s` until filled (the server caps its life; see `slices_total`).
        """
        options = submit_options(
            algorithm=algorithm,
            slices=slices,
            interval_s=interval_s,
            fill_model=fill_model,
            catch_up_cap=catch_up_cap,
            venues=venues,
            params=params,
        )
        flow = self._protocol.submit(
            "/orders", token_id, exchange, symbol, side, quantity, limit_price, duration_s,
            options,
        )  # fmt: skip
        return self._run(flow)

    def orders(
        self,
        status: str = "all",
        token_id: str | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> OrderPage:
        """One page of the user's orders (`open`, `closed` or `all`), newest first."""
        return self._run(self._protocol.orders(status, token_id, limit, after))

    def iter_orders(
        self, status: str = "all", token_id: str | None = None, page_size: int = 50
    ) -> Iterator[Order]:
        """Every order matching, newest first, fetching page after page as needed."""
        after: int | None = None
        while True:
            page = self.orders(status, token_id, page_size, after)
            yield from page.orders
            if page.next_after is None:
                return
            after = page.next_after

    def order(self, token_id: str) -> OrderDetail:
        """An order with fills, slices and analytics; `NotFoundError` if not yours."""
        return self._run(self._protocol.order(token_id))

    def cancel(self, token_id: str) -> Order:
        """Cancel a working order (what filled stays filled); harmless if cancelled already."""
        return self._run(self._protocol.cancel(token_id))

    def wait(
        self,
        token_id: str,
        timeout: float | None = None,
        *,
        poll_interval_s: float = 1.0,
        on_update: UpdateListener | None = None,
    ) -> OrderDetail:
        """Block until order `token_id` ends (completed, expired, cancelled); return it.

        Polls `GET /orders/{token_id}` every `poll_interval_s` seconds, calling
        `on_update` with each new state. Raises `WaitTimeout` after `timeout`
        seconds (None: no limit); the order keeps working on the server.
        """
        waiting = OrderWait(token_id, timeout, poll_interval_s, time.monotonic(), on_update)
        while True:
            order = self.order(token_id)
            if waiting.seen(order):
                return order
            time.sleep(waiting.pause(time.monotonic()))
