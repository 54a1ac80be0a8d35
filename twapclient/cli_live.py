"""Live views of the `twap` CLI over the WebSocket: order progress (`watch`), books (`book`)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from itertools import zip_longest

import orjson
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from twapclient._async_client import AsyncTwapClient
from twapclient._exceptions import TwapClientError
from twapclient._models import BookMessage, ErrorMessage, Order, OrderDetail, OrderMessage
from twapclient.report import format_time

__all__ = ["follow_order", "show_books"]

# Re-read the order over REST after this long without a WebSocket update for it,
# so a missed message can never leave `watch` hanging.
RESYNC_S = 10.0

Show = Callable[[Order | OrderMessage], None]


async def follow_order(
    client: AsyncTwapClient, token_id: str, *, poll_interval_s: float, console: Console
) -> OrderDetail:
    """Show a progress bar of `token_id` on `console` until it ends; return it then.

    Updates come from the WebSocket orders channel; if the socket cannot be
    used, the order is polled over REST every `poll_interval_s` seconds.
    """
    order = await client.order(token_id)
    if order.status.is_final:
        return order
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
    )
    with progress:
        task = progress.add_task(token_id, total=float(order.quantity), detail="")

        def show(update: Order | OrderMessage) -> None:
            detail = (
                f"{update.filled_qty} / {order.quantity} filled · "
                f"slice {update.slices_done}/{update.slices_total} · {update.status.value}"
            )
            progress.update(task, completed=float(update.filled_qty), detail=detail)

        show(order)
        try:
            await _follow_stream(client, token_id, show)
        except TwapClientError as error:
            console.print(
                f"live updates unavailable ({error}); polling every {poll_interval_s:g} s",
                markup=False,
            )
            await _poll(client, token_id, poll_interval_s, show)
    return await client.order(token_id)


async def _follow_stream(client: AsyncTwapClient, token_id: str, show: Show) -> None:
    async with client.stream() as stream:
        await stream.subscribe_orders()
        # The order may have moved, or ended, before the subscription took effect.
        current: Order | OrderMessage = await client.order(token_id)
        while True:
            show(current)
            if current.status.is_final:
                return
            try:
                message = await asyncio.wait_for(anext(stream), RESYNC_S)
            except TimeoutError:
                current = await client.order(token_id)
                continue
            if isinstance(message, OrderMessage) and message.token_id == token_id:
                current = message


async def _poll(client: AsyncTwapClient, token_id: str, interval_s: float, show: Show) -> None:
    while True:
        current = await client.order(token_id)
        show(current)
        if current.status.is_final:
            return
        await asyncio.sleep(interval_s)


def book_table(book: BookMessage) -> Table:
    """Bids and asks side by side, best first."""
    table = Table(
        title=f"{book.exchange} {book.symbol} · {format_time(book.ts_event)} UTC"
        + ("" if book.seq is None else f" · seq {book.seq}")
    )
    for column in ("bid qty", "bid", "ask", "ask qty"):
        table.add_column(column, justify="right")
    for bid, ask in zip_longest(book.bids, book.asks):
        table.add_row(
            "" if bid is None else str(bid.qty),
            "" if bid is None else str(bid.price),
            "" if ask is None else str(ask.price),
            "" if ask is None else str(ask.qty),
        )
    if book.bids and book.asks:
        spread = book.asks[0].price - book.bids[0].price
        table.caption = f"mid {(book.asks[0].price + book.bids[0].price) / 2} · spread {spread}"
    return table


async def show_books(
    client: AsyncTwapClient,
    exchange: str,
    symbol: str,
    count: int | None,
    out: Console,
    err: Console,
    as_json: bool,
) -> None:
    """Print each book update of `exchange` `symbol` (a live table, or JSON lines).

    Stops after `count` updates (None: never).
    """
    shown = 0
    live = contextlib.nullcontext() if as_json else Live(console=out, auto_refresh=False)
    async with client.stream() as stream:
        await stream.subscribe_book(exchange, symbol)
        with live:
            async for message in stream:
                if isinstance(message, ErrorMessage):
                    err.print(f"server: {message.message} ({message.code})", markup=False)
                if not isinstance(message, BookMessage) or (message.exchange, message.symbol) != (
                    exchange,
                    symbol,
                ):
                    continue
                shown += 1
                if isinstance(live, Live):
                    live.update(book_table(message), refresh=True)
                else:
                    line = orjson.dumps(message.model_dump(mode="json")).decode()
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
                if count is not None and shown >= count:
                    return
