"""The `twap` commands that talk to a twap server, registered on the `twap` app of `cli`.

`twap login URL USERNAME` saves the server URL and the session (see `_config`);
the other commands use them, refreshing and re-saving tokens as needed.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from twapclient._async_client import AsyncTwapClient
from twapclient._client import TwapClient
from twapclient._config import Credentials, delete_credentials, load_credentials, save_credentials
from twapclient._exceptions import TwapClientError
from twapclient._models import Order, OrderDetail, SymbolInfo, Tokens
from twapclient._protocol import normalize_base_url
from twapclient.cli import CliError, app
from twapclient.cli import _err as err_console
from twapclient.cli_format import MarketSizes, json_text, print_json_line, time_cell
from twapclient.cli_live import follow_order, show_books
from twapclient.cli_options import (
    AlgorithmOption,
    CatchUpCapOption,
    DurationOption,
    ExchangeOption,
    FillModelOption,
    IntervalOption,
    JitterOption,
    LimitPriceOption,
    MaxSliceQtyOption,
    MinSliceQtyOption,
    ParticipationOption,
    QuantityOption,
    SeedOption,
    SideOption,
    SlicesOption,
    SymbolOption,
    VenuesOption,
    algorithm_options,
    order_fields,
    typed_options,
    venue_names,
)
from twapclient.report import print_report
from twapcore import normalize_exchange, normalize_symbol
from twapcore.formatting import format_decimal

_out = Console(highlight=False, soft_wrap=True)
if not _out.is_terminal:
    # Piped or captured: no terminal width to respect, so never cut a price short.
    _out.width = max(_out.width, 200)

Url = Annotated[
    str | None,
    typer.Option(
        "--url", envvar="TWAP_URL", help="Server URL (default: the one you logged in to)."
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


class OrderFilter(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    ALL = "all"


@dataclass(frozen=True)
class _Target:
    """The server a command talks to, and the saved session if it is for that server."""

    url: str
    saved: Credentials | None

    @classmethod
    def of(cls, url: str | None) -> _Target:
        saved = load_credentials()
        if url is None:
            if saved is None:
                raise CliError("not logged in: run `twap login URL USERNAME` (or pass --url)")
            url = saved.url
        url = normalize_base_url(url)
        return cls(url, saved if saved is not None and saved.url == url else None)

    def options(self) -> dict[str, Any]:
        """Client keyword arguments: the saved tokens, saved again whenever they change."""
        saved = self.saved
        if saved is None:
            return {}

        def save(tokens: Tokens) -> None:
            save_credentials(saved.model_copy(update={"tokens": tokens}))

        def stored() -> Tokens | None:
            # Another `twap` process may have refreshed (and so spent) our refresh token.
            latest = load_credentials()
            return latest.tokens if latest is not None and latest.url == saved.url else None

        return {"tokens": saved.tokens, "on_tokens": save, "stored_tokens": stored}

    def client(self) -> TwapClient:
        return TwapClient(self.url, **self.options())

    def async_client(self) -> AsyncTwapClient:
        return AsyncTwapClient(self.url, **self.options())


def _print_json(value: BaseModel | Iterable[BaseModel]) -> None:
    data = value if isinstance(value, BaseModel) else list(value)
    sys.stdout.write(json_text(data, indent=True) + "\n")


@dataclass
class _Sizes:
    """Tick and lot sizes of the markets a command shows: one `symbols` request per exchange."""

    client: TwapClient
    known: dict[str, list[SymbolInfo]] = field(default_factory=dict)

    def of(self, exchange: str, symbol: str) -> MarketSizes:
        if exchange not in self.known:
            try:
                self.known[exchange] = self.client.symbols(exchange)
            except TwapClientError:  # sizes are cosmetic here: show the values as they are
                self.known[exchange] = []
        return MarketSizes.of(self.known[exchange], symbol)


def _table(title: str | None, columns: str, rows: Iterable[Iterable[object]]) -> Table:
    """A table; columns named with a trailing `>` are right-aligned (numbers)."""
    table = Table(title=title)
    for name in columns.split(","):
        right = name.endswith(">")
        table.add_column(name.rstrip(">").strip(), justify="right" if right else "left")
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    return table


# --- session --------------------------------------------------------------


@app.command("login")
def login_command(
    url: Annotated[str, typer.Argument(help="Server URL, e.g. http://127.0.0.1:8000.")],
    username: Annotated[str, typer.Argument(help="Your account name on that server.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
) -> None:
    """Log in to a twap server and save the session for the other commands."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: no password on stdin")
    else:
        password = typer.prompt("Password", hide_input=True)
    with TwapClient(url) as client:
        tokens = client.login(username, password)
        saved = Credentials(url=client.base_url, username=username, tokens=tokens)
    path = save_credentials(saved)
    _out.print(f"logged in to {saved.url} as {username} (session saved in {path})", markup=False)


@app.command("logout")
def logout_command() -> None:
    """Forget the saved session."""
    saved = delete_credentials()
    if saved is None:
        _out.print("not logged in")
    else:
        _out.print(f"logged out of {saved.url} ({saved.username})", markup=False)


# --- public market data ---------------------------------------------------


@app.command("exchanges")
def exchanges_command(url: Url = None, as_json: Json = False) -> None:
    """Exchanges the server collects, with their symbols."""
    with _Target.of(url).client() as client:
        exchanges = client.exchanges()
    if as_json:
        _print_json(exchanges)
        return
    rows = ((e.name, ", ".join(e.symbols)) for e in exchanges)
    _out.print(_table("exchanges", "exchange,symbols", rows))


@app.command("symbols")
def symbols_command(
    exchange: Annotated[str, typer.Argument(help="e.g. binance")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Symbols collected on EXCHANGE, with tick and lot sizes and book freshness."""
    with _Target.of(url).client() as client:
        symbols = client.symbols(normalize_exchange(exchange))
    if as_json:
        _print_json(symbols)
        return
    rows = (
        (
            s.symbol,
            None if s.tick_size is None else format_decimal(s.tick_size),
            None if s.lot_size is None else format_decimal(s.lot_size),
            "yes" if s.has_book else "no",
            "yes" if s.stale else "",
        )
        for s in symbols
    )
    _out.print(_table(f"{exchange} symbols", "symbol,tick size>,lot size>,book,stale", rows))


@app.command("klines")
def klines_command(
    exchange: Annotated[str, typer.Argument(help="e.g. binance")],
    symbol: Annotated[str, typer.Argument(help="e.g. BTC-USDT")],
    interval: Annotated[str, typer.Option(help="1m, 3m, 5m, 15m, 30m, 1h, 4h or 1d.")] = "1m",
    limit: Annotated[int, typer.Option(help="Number of candles (1..1000).")] = 20,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """The latest OHLCV candles of SYMBOL on EXCHANGE, oldest first."""
    exchange, symbol = normalize_exchange(exchange), normalize_symbol(symbol)
    with _Target.of(url).client() as client:
        klines = client.klines(exchange, symbol, interval=interval, limit=limit)
        sizes = MarketSizes() if as_json else _Sizes(client).of(exchange, symbol)
    if as_json:
        _print_json(klines)
        return
    rows = (
        (
            time_cell(k.open_ns),
            *map(sizes.price, (k.open, k.high, k.low, k.close)),
            sizes.qty(k.volume),
            k.trades,
            "yes" if k.partial else "",
        )
        for k in klines
    )
    title = f"{exchange} {symbol} {interval}"
    columns = "open (UTC),open>,high>,low>,close>,volume>,trades>,partial"
    _out.print(_table(title, columns, rows))


@app.command("health")
def health_command(url: Url = None, as_json: Json = False) -> None:
    """Feed health per exchange and symbol."""
    with _Target.of(url).client() as client:
        health = client.health()
    if as_json:
        _print_json(health)
        return
    rows = (
        (
            f.exchange,
            f.symbol,
            "yes" if f.connected else "no",
            "yes" if f.stale else "",
            None if f.last_message_age_s is None else f"{f.last_message_age_s:.2f}",
            f.messages,
            f.reconnects,
            f.gaps,
            f.last_error,
        )
        for f in health.feeds
    )
    columns = "exchange,symbol,connected,stale,age (s)>,messages>,reconnects>,gaps>,last error"
    _out.print(_table(f"status: {health.status}", columns, rows))


# --- orders ---------------------------------------------------------------


def _order_rows(orders: Iterable[Order], sizes: _Sizes) -> Iterable[tuple[object, ...]]:
    for o in orders:
        market = sizes.of(o.exchange, o.symbol)
        yield (
            o.token_id,
            o.algorithm,
            o.status.value,
            o.side.value,
            f"{o.exchange} {o.symbol}",
            f"{market.qty(o.filled_qty)} / {market.qty(o.quantity)}",
            market.average(o.average_price),
            market.price(o.limit_price),
            f"{o.slices_done} / {o.slices_total}",
            time_cell(o.created_ns),
        )


_ORDER_COLUMNS = (
    "token_id,algorithm,status,side,market,filled>,avg price>,limit>,slices>,created (UTC)"
)


@app.command("submit")
def submit_command(
    symbol: SymbolOption,
    side: SideOption,
    quantity: QuantityOption,
    limit_price: LimitPriceOption,
    duration: DurationOption = None,
    exchange: ExchangeOption = None,
    venues: VenuesOption = None,
    slices: SlicesOption = None,
    interval: IntervalOption = None,
    fill_model: FillModelOption = None,
    catch_up_cap: CatchUpCapOption = None,
    algorithm: AlgorithmOption = "twap",
    participation: ParticipationOption = None,
    min_slice_qty: MinSliceQtyOption = None,
    max_slice_qty: MaxSliceQtyOption = None,
    seed: SeedOption = None,
    jitter: JitterOption = None,
    profile_days: Annotated[
        int | None,
        typer.Option(help="vwap: days of the market's 1m candles to profile (server default 7)."),
    ] = None,
    token_id: Annotated[
        str | None, typer.Option(help="Your id for the order (default: a new random one).")
    ] = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Submit an order (--algorithm twap, twap_random, vwap or pov); prints its schedule,
    or the reason it was rejected (exit 2). The order and algorithm flags are `twap
    simulate`'s; pov without --duration runs until filled (see --duration)."""
    fields = order_fields(
        quantity=quantity,
        limit_price=limit_price,
        duration=duration,
        slices=slices,
        interval=interval,
        fill_model=fill_model,
        catch_up_cap=catch_up_cap,
    )
    params = typed_options(
        algorithm_options(participation, min_slice_qty, max_slice_qty, seed, jitter)
    )
    with _Target.of(url).client() as client:
        accepted = client.submit(
            algorithm=algorithm,
            profile_days=profile_days,
            **params,
            token_id=token_id
            or f"{algorithm}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}",
            exchange=None if exchange is None else normalize_exchange(exchange),
            venues=venue_names(venues),
            symbol=normalize_symbol(symbol),
            side=side,
            **fields,
        )
        if as_json:
            _print_json(accepted)
            return
        order = accepted.order
        sizes = _Sizes(client).of(order.exchange, order.symbol)
    _out.print(
        f"accepted {order.token_id}: {order.side.value} {format_decimal(order.quantity)} "
        f"{order.symbol} on {order.exchange}, limit {format_decimal(order.limit_price)}, "
        f"{len(accepted.schedule)} slices, {order.algorithm}",
        markup=False,
    )
    if accepted.algorithm_note:
        _out.print(f"note: {accepted.algorithm_note}", markup=False)
    rows = ((p.index, time_cell(p.due_ns), sizes.qty(p.qty)) for p in accepted.schedule)
    _out.print(_table("schedule", "#>,due (UTC),quantity>", rows))


@app.command("orders")
def orders_command(
    status: Annotated[OrderFilter, typer.Option(help="open, closed or all.")] = OrderFilter.ALL,
    token_id: Annotated[str | None, typer.Option(help="Only this token_id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many orders.", min=1)] = 50,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Your orders, newest first."""
    with _Target.of(url).client() as client:
        orders = list(
            itertools.islice(client.iter_orders(status.value, token_id, min(limit, 500)), limit)
        )
        if as_json:
            _print_json(orders)
        elif not orders:
            which = "" if status is OrderFilter.ALL else f"{status.value} "
            matching = f" with token_id {token_id}" if token_id else ""
            _out.print(f"no {which}orders{matching}", markup=False)
        else:
            rows = list(_order_rows(orders, _Sizes(client)))
            _out.print(_table(f"orders ({status.value})", _ORDER_COLUMNS, rows))


def _print_detail(order: OrderDetail, sizes: _Sizes) -> None:
    _out.print(_table(None, _ORDER_COLUMNS, _order_rows([order], sizes)))
    market = sizes.of(order.exchange, order.symbol)
    if order.parameters:
        shown = ", ".join(
            f"{name} {value}"
            for name, value in order.parameters.items()
            if name != "profile_weights"
        )
        _out.print(f"{order.algorithm}: {shown}", markup=False)
    if order.next_slice_ns is not None:
        _out.print(f"next slice due {time_cell(order.next_slice_ns)}")
    print_report(order.report(), _out)
    fills = (
        (f.slice_index, time_cell(f.ts_ns), market.price(f.price), market.qty(f.qty))
        for f in order.fills
    )
    _out.print(_table("fills", "slice>,time (UTC),price>,quantity>", fills))


@app.command("order")
def order_command(
    token_id: Annotated[str, typer.Argument(help="The order's token_id.")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """One order: progress, analytics, slices (with skip reasons) and fills."""
    with _Target.of(url).client() as client:
        order = client.order(token_id)
        if as_json:
            _print_json(order)
        else:
            _print_detail(order, _Sizes(client))


@app.command("cancel")
def cancel_command(
    token_id: Annotated[str, typer.Argument(help="The order's token_id.")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Cancel a working order; what filled stays filled."""
    with _Target.of(url).client() as client:
        order = client.cancel(token_id)
    if as_json:
        _print_json(order)
        return
    filled = f"{format_decimal(order.filled_qty)} / {format_decimal(order.quantity)}"
    _out.print(f"{order.token_id} {order.status.value}: filled {filled}", markup=False)


# --- live -----------------------------------------------------------------


def _run_live(target: _Target, run: Callable[[AsyncTwapClient], Any]) -> Any:
    async def main() -> Any:
        async with target.async_client() as client:
            return await run(client)

    return asyncio.run(main())


@app.command("watch")
def watch_command(
    token_id: Annotated[str, typer.Argument(help="The order's token_id.")],
    poll_interval: Annotated[
        float, typer.Option(help="Seconds between polls when the WebSocket is unavailable.")
    ] = 1.0,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Follow an order live (WebSocket, else polling) until it ends; then print it.

    With --json: one JSON line per state, the last one the final order in full.
    Ctrl-C stops watching only: the order keeps working on the server.
    """
    target = _Target.of(url)
    try:
        final: OrderDetail = _run_live(
            target,
            lambda client: follow_order(
                client,
                token_id,
                poll_interval_s=poll_interval,
                console=err_console,
                as_json=as_json,
            ),
        )
    except KeyboardInterrupt:
        err_console.print(
            f"stopped watching: {token_id} keeps working on the server; "
            f"cancel it with `twap cancel {token_id}`",
            markup=False,
        )
        raise typer.Exit(130) from None
    if as_json:
        print_json_line(final)
    else:
        with target.client() as client:
            _print_detail(final, _Sizes(client))


@app.command("book")
def book_command(
    exchange: Annotated[str, typer.Argument(help="e.g. binance")],
    symbol: Annotated[str, typer.Argument(help="e.g. BTC-USDT")],
    count: Annotated[
        int | None, typer.Option(help="Stop after this many updates (default: run until Ctrl-C).")
    ] = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """The live top-10 book of SYMBOL on EXCHANGE, updated every second."""
    if count is not None and count < 1:
        raise CliError(f"--count {count} must be at least 1")
    target = _Target.of(url)
    exchange, symbol = normalize_exchange(exchange), normalize_symbol(symbol)
    _run_live(
        target,
        lambda client: show_books(client, exchange, symbol, count, _out, err_console, as_json),
    )
