"""`twap`: the command line of twap (offline tools today; server commands use the SDK)."""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from twapclient._exceptions import TwapClientError
from twapclient.report import print_report
from twapcore import (
    FILL_MODELS,
    Side,
    TwapError,
    TwapOrderSpec,
    normalize_exchange,
    normalize_symbol,
    simulate,
)
from twapcore.durations import parse_duration_ns
from twapcore.recording import demo_recording

app = typer.Typer(
    name="twap",
    help="twap: TWAP paper trading on real order books. Offline tools need no server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A user mistake: shown as one line, exit code 2."""


def _decimal(value: str, option: str) -> Decimal:
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise CliError(f"{option} {value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise CliError(f"{option} {value!r} must be a finite number")
    return parsed


@app.command("simulate")
def simulate_command(
    recordings: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Recording file(s) (.jsonl or .jsonl.gz), read in order as one stream."
        ),
    ] = None,
    exchange: Annotated[str, typer.Option(help="Exchange of the order.")] = "binance",
    symbol: Annotated[str, typer.Option(help="Symbol, e.g. BTC-USDT.")] = "BTC-USDT",
    side: Annotated[Side, typer.Option(help="buy or sell.")] = Side.BUY,
    quantity: Annotated[str, typer.Option(help="Total quantity in base units.")] = "1",
    limit_price: Annotated[
        str | None, typer.Option(help="Worst price to trade at (default: no practical limit).")
    ] = None,
    duration: Annotated[str, typer.Option(help="Order duration in seconds.")] = "60",
    slices: Annotated[int | None, typer.Option(help="Number of slices.")] = None,
    interval: Annotated[
        str | None, typer.Option(help="Seconds between slices (instead of --slices).")
    ] = None,
    fill_model: Annotated[
        str, typer.Option(help=f"One of: {', '.join(sorted(FILL_MODELS))}.")
    ] = "walk_book",
    catch_up_cap: Annotated[
        str, typer.Option(help="A slice may trade at most this many planned slices.")
    ] = "3",
    max_book_age: Annotated[
        str, typer.Option(help="Skip slices on books older than this (s).")
    ] = "5",
    lot_size: Annotated[
        str | None, typer.Option(help="Lot size (default: the recording's, else 1e-8).")
    ] = None,
    start_ns: Annotated[
        int | None, typer.Option(help="Start time (ns since epoch); default: first book.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Use the bundled demo recording.")] = False,
) -> None:
    """Run a TWAP order over recorded books with the server's execution engine."""
    paths = list(recordings or [])
    if demo:
        paths.append(demo_recording())
    if not paths:
        raise CliError("give a RECORDING file or --demo")
    if slices is None and interval is None:
        slices = 10
    spec = TwapOrderSpec(
        exchange=normalize_exchange(exchange),
        symbol=normalize_symbol(symbol),
        side=side,
        quantity=_decimal(quantity, "--quantity"),
        limit_price=(
            _decimal(limit_price, "--limit-price")
            if limit_price is not None
            else (Decimal("1e12") if side is Side.BUY else Decimal("1e-12"))
        ),
        duration_s=_decimal(duration, "--duration"),
        slices=slices,
        interval_s=None if interval is None else _decimal(interval, "--interval"),
        fill_model=fill_model,
        catch_up_cap=_decimal(catch_up_cap, "--catch-up-cap"),
        max_book_age_s=_decimal(max_book_age, "--max-book-age"),
        lot_size=None if lot_size is None else _decimal(lot_size, "--lot-size"),
    )
    result = simulate(paths, [spec], [start_ns])
    report = result.reports[0]
    if as_json:
        sys.stdout.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_report(report, Console())


@app.command("convert")
def convert_command(
    captures: Annotated[list[Path], typer.Argument(help="Raw capture file(s) to convert.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output .jsonl or .jsonl.gz file.")],
    depth: Annotated[int, typer.Option(help="Levels per side to keep.", min=1, max=1000)] = 20,
    every: Annotated[
        str | None, typer.Option(help="Write at most one book per symbol per period, e.g. 1s.")
    ] = None,
) -> None:
    """Convert raw exchange captures into a twap recording (needs twapcore[feeds])."""
    try:
        from twapcore.feeds.convert import convert_captures
    except ImportError as exc:  # cryptofeed is an optional extra of twapcore
        raise CliError(f"convert needs cryptofeed: pip install 'twapcore[feeds]' ({exc})") from exc
    every_ns = None if every is None else parse_duration_ns(every)
    stats = convert_captures(captures, out, depth=depth, every_ns=every_ns)
    _err.print(
        f"wrote {stats.books_written} books and {stats.trades_written} trades "
        f"from {stats.messages_read} messages to {out}"
    )


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, no traceback.

    Option-parsing errors are reported by typer itself (usage and the error, exit 2).
    """
    try:
        app()
    except (CliError, TwapError, TwapClientError, OSError) as exc:
        _err.print(f"error: {exc}", markup=False)
        raise SystemExit(2) from None


# The server commands (login, submit, watch, …) register themselves on `app`; imported
# last because they use `app` and `CliError` from above.
from twapclient import cli_server  # noqa: E402, F401
