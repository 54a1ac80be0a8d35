"""`AsyncTwapClient`: the asyncio client of the twap server's REST API and WebSocket."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import TypeVar, Unpack

import httpx

from twapclient._exceptions import StreamError, TransportError
from twapclient._models import (
    ExchangeInfo,
    Health,
    Kline,
    Order,
    OrderAccepted,
    OrderDetail,
    OrderMessage,
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
from twapclient._stream import StreamOptions, TwapStream, ws_url
from twapclient._wait import RESYNC_S, OrderUpdate, OrderWait, UpdateListener
from twapcore import Side

__all__ = ["AsyncTwapClient"]

T = TypeVar("T")

_log = logging.getLogger("twapclient")


class AsyncTwapClient(ClientSession):
    """The asyncio twin of `TwapClient` (same methods, awaited), plus `stream()`.

    `transport` replaces the network (e.g. `httpx.MockTransport`); see
    `TwapClient` for `timeout`, `tokens`, `on_tokens` and `clock`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
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
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    async def __aenter__(self) -> AsyncTwapClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, flow: Flow[T]) -> T:
        try:
            request = next(flow)
            while True:
                try:
                    response = await self._http.send(request)
                except httpx.TransportError as error:
                    raise transport_error(self.base_url, error) from None
                request = flow.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    # --- session ----------------------------------------------------------------

    async def login(self, username: str, password: str) -> Tokens:
        """Log in (POST /auth/token); later calls carry and refresh the tokens."""
        return await self._run(self._protocol.login(username, password))

    async def refresh(self) -> Tokens:
        """Trade the refresh token for a new pair now (done automatically when needed)."""
        return await self._run(self._protocol.refresh())

    async def access_token(self, refresh: bool = False) -> str:
        """A usable access token (refreshed first if due, or if `refresh`)."""
        return await self._run(self._protocol.access_token(force_refresh=refresh))

    def stream(self, **options: Unpack[StreamOptions]) -> TwapStream:
        """The server's live WebSocket: `async with client.stream() as s: …`.

        `options` tune `TwapStream` (timeouts, ping interval, reconnection backoff).
        """
        return TwapStream(ws_url(self.base_url), self.access_token, **options)

    # --- public market data -----------------------------------------------------

    async def exchanges(self) -> list[ExchangeInfo]:
        """Exchanges the server collects, with their symbols."""
        return await self._run(self._protocol.exchanges())

    async def symbols(self, exchange: str) -> list[SymbolInfo]:
        """Symbols of `exchange` with tick and lot sizes; `NotFoundError` if not collected."""
        return await self._run(self._protocol.symbols(exchange))

    async def klines(
        self,
        exchange: str,
        symbol: str,
        interval: str = "1m",
        limit: int = 100,
        start: int | None = None,
        end: int | None = None,
    ) -> list[Kline]:
        """Up to `limit` candles of `interval`, oldest first; `start`/`end` in ns since epoch."""
        return await self._run(self._protocol.klines(exchange, symbol, interval, limit, start, end))

    async def health(self) -> Health:
        """Feed health per exchange and symbol, and the candle backfill."""
        return await self._run(self._protocol.health())

    # --- orders -----------------------------------------------------------------

    async def submit_twap(
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
        return await self._run(flow)

    async def submit(
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
        return await self._run(flow)

    async def orders(
        self,
        status: str = "all",
        token_id: str | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> OrderPage:
        """One page of the user's orders (`open`, `closed` or `all`), newest first."""
        return await self._run(self._protocol.orders(status, token_id, limit, after))

    async def iter_orders(
        self, status: str = "all", token_id: str | None = None, page_size: int = 50
    ) -> AsyncIterator[Order]:
        """Every order matching, newest first, fetching page after page as needed."""
        after: int | None = None
        while True:
            page = await self.orders(status, token_id, page_size, after)
            for order in page.orders:
                yield order
            if page.next_after is None:
                return
            after = page.next_after

    async def order(self, token_id: str) -> OrderDetail:
        """An order with fills, slices and analytics; `NotFoundError` if not yours."""
        return await self._run(self._protocol.order(token_id))

    async def cancel(self, token_id: str) -> Order:
        """Cancel a working order (what filled stays filled); harmless if cancelled already."""
        return await self._run(self._protocol.cancel(token_id))

    async def wait(
        self,
        token_id: str,
        # The sync twin's parameter: the wait needs its deadline before the stream opens.
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        poll_interval_s: float = 1.0,
        on_update: UpdateListener | None = None,
    ) -> OrderDetail:
        """Wait until order `token_id` ends (completed, expired, cancelled); return it.

        Follows the WebSocket orders channel, calling `on_update` with each new
        state; if the stream cannot be used, polls `GET /orders/{token_id}` every
        `poll_interval_s` seconds instead (logged as a warning on `twapclient`).
        Raises `WaitTimeout` after `timeout` seconds (None: no limit); the order
        keeps working on the server.
        """
        loop = asyncio.get_running_loop()
        waiting = OrderWait(token_id, timeout, poll_interval_s, loop.time(), on_update)
        try:
            async with asyncio.timeout_at(waiting.deadline):
                try:
                    await self._follow_stream(waiting)
                except (TransportError, StreamError) as error:
                    _log.warning(
                        "live updates of order %r unavailable (%s); polling every %g s",
                        token_id, error, poll_interval_s,
                    )  # fmt: skip
                    await self._poll(waiting)
        except TimeoutError:
            raise waiting.timed_out() from None
        return await self.order(token_id)  # with its fills and analytics

    async def _follow_stream(self, waiting: OrderWait) -> None:
        async with self.stream() as stream:
            await stream.subscribe_orders()
            # The order may have moved, or ended, before the subscription took effect.
            current: OrderUpdate = await self.order(waiting.token_id)
            while not waiting.seen(current):
                try:
                    # Not asyncio.wait_for: on 3.11 it drops a cancellation (Ctrl-C) that
                    # arrives as a message does, and the wait would go on.
                    async with asyncio.timeout(RESYNC_S):
                        message = await anext(stream)
                except TimeoutError:
                    current = await self.order(waiting.token_id)
                    continue
                if isinstance(message, OrderMessage) and message.token_id == waiting.token_id:
                    current = message

    async def _poll(self, waiting: OrderWait) -> None:
        loop = asyncio.get_running_loop()
        while True:
            order = await self.order(waiting.token_id)
            if waiting.seen(order):
                return
            await asyncio.sleep(waiting.pause(loop.time()))
