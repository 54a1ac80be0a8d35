"""`twap`: the command line of twap (offline tools today; server commands use the SDK)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from twapclient._exceptions import TwapClientError
from twapcore import (
    TwapError,
)
from twapcore.durations import parse_duration_ns

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
    """`value` of command-line `option` as an exact finite Decimal, or `CliError`."""
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise CliError(f"{option} {value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise CliError(f"{option} {value!r} must be a finite number")
    return parsed


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


# The simulate and server commands (login, submit, watch, …) register themselves on `app`;
# imported last because they use `app` and `CliError` from above.
from twapclient import cli_server, cli_simulate  # noqa: E402, F401
