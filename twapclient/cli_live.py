"""Live views of the `twap` CLI over the WebSocket: order progress (`watch`), books (`book`)."""

from __future__ import annotations

import contextlib
from itertools import zip_longest

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from twapclient._async_client import AsyncTwapClient
from twapclient._models import BookMessage, ErrorMessage, Order, OrderDetail, OrderMessage
from twapclient.cli_format import MarketSizes, print_json_line, time_cell
from twapcore.formatting import format_decimal

__all__ = ["book_table", "follow_order", "show_books"]


async def follow_order(
    client: AsyncTwapClient,
    token_id: str,
    *,
    poll_interval_s: float,
    console: Console,
    as_json: bool = False,
) -> OrderDetail:
    """Follow `token_id` until it ends (`client.wait`); return it then.

    Shows a progress bar on `console`, or with `as_json` prints one JSON line
    per state on stdout; the caller prints the final order (the last line).
    """
    order = await client.order(token_id)
    if order.status.is_final:
        return order
    if as_json:

        def print_line(update: Order | OrderMessage) -> None:
            if not update.status.is_final:  # the final state follows, in full
                print_json_line(update)

        return await client.wait(token_id, poll_interval_s=poll_interval_s, on_update=print_line)
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
                f"{format_decimal(update.filled_qty)} / {format_decimal(order.quantity)} filled · "
                f"slice {update.slices_done}/{update.slices_total} · {update.status.value}"
            )
            progress.update(task, completed=float(update.filled_qty), detail=detail)

        return await client.wait(token_id, poll_interval_s=poll_interval_s, on_update=show)


def book_table(book: BookMessage, sizes: MarketSizes) -> Table:
    """Bids and asks side by side, best first; prices in the tick's decimals."""
    table = Table(
        title=f"{book.exchange} {book.symbol} · {time_cell(book.ts_event)}"
        + ("" if book.seq is None else f" · seq {book.seq}")
    )
    for column in ("bid qty", "bid", "ask", "ask qty"):
        table.add_column(column, justify="right")
    for bid, ask in zip_longest(book.bids, book.asks):
        table.add_row(
            "" if bid is None else sizes.qty(bid.qty),
            "" if bid is None else sizes.price(bid.price),
            "" if ask is None else sizes.price(ask.price),
            "" if ask is None else sizes.qty(ask.qty),
        )
    if book.bids and book.asks:
        spread = book.asks[0].price - book.bids[0].price
        mid = (book.asks[0].price + book.bids[0].price) / 2
        table.caption = f"mid {sizes.average(mid)} · spread {sizes.price(spread)}"
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
    sizes = MarketSizes() if as_json else MarketSizes.of(await client.symbols(exchange), symbol)
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
                    live.update(book_table(message, sizes), refresh=True)
                else:
                    print_json_line(message)
                if count is not None and shown >= count:
                    return
