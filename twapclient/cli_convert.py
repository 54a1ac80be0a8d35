"""`twap convert`: raw exchange captures into a twap recording, or `--list` what they hold.

Exit codes: 0 everything converted; 3 converted, but some venues, symbols or
messages were skipped (each reported on stderr with the reason); 2 usage error
or nothing converted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console

from twapclient.cli import CliError, app
from twapcore.durations import parse_duration_ns
from twapcore.formatting import iso_ns

if TYPE_CHECKING:
    from twapcore.feeds.convert import ConvertStats
    from twapcore.feeds.listing import VenueListing

EXIT_SKIPPED = 3  # converted, with skips
EXIT_NOTHING = 2  # the usage-error code: nothing was converted

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _time_range(first: int | None, last: int | None) -> str:
    return "-" if first is None or last is None else f"{iso_ns(first)} .. {iso_ns(last)}"


def _print_listing(venues: list[VenueListing]) -> None:
    for venue in venues:
        span = _time_range(venue.first_ts, venue.last_ts)
        _out.print(f"{venue.venue}: {venue.messages} messages, {span}", markup=False)
        if venue.problem is not None:
            _out.print(f"  cannot convert: {venue.problem}", markup=False)
        for symbol in venue.symbols:
            note = "" if symbol.problem is None else f"  (cannot convert: {symbol.problem})"
            channels = ",".join(symbol.channels)
            _out.print(
                f"  {symbol.symbol:<24} {symbol.instrument_type:<10} {channels}{note}", markup=False
            )


def _report(stats: ConvertStats, out: Path) -> None:
    _err.print(
        f"wrote {stats.books_written} books and {stats.trades_written} trades "
        f"from {stats.messages_read} messages to {out}",
        markup=False,
    )
    for skipped in stats.skipped:
        _err.print(f"skipped {skipped.describe()}", markup=False)


@app.command("convert")
def convert_command(
    captures: Annotated[list[Path], typer.Argument(help="Raw capture file(s) to convert.")],
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Output .jsonl or .jsonl.gz file.")
    ] = None,
    depth: Annotated[int, typer.Option(help="Levels per side to keep.", min=1, max=1000)] = 20,
    every: Annotated[
        str | None, typer.Option(help="Write at most one book per symbol per period, e.g. 1s.")
    ] = None,
    list_only: Annotated[
        bool,
        typer.Option(
            "--list",
            help="Print venues, symbols, types, message counts and times; convert nothing.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --list: print JSON.")] = False,
) -> None:
    """Convert raw exchange captures into a twap recording (needs the feeds extra of twapcore).

    Exit code 0: all converted; 3: converted, with venues, symbols or messages
    skipped (reported on stderr); 2: usage error or nothing converted.
    """
    try:
        from twapcore.feeds.convert import convert_captures
        from twapcore.feeds.listing import describe_captures
    except ImportError as exc:  # cryptofeed is an optional extra of twapcore
        raise CliError(f"convert needs cryptofeed: pip install 'twapcore[feeds]' ({exc})") from exc
    if list_only:
        venues = describe_captures(captures)
        if as_json:
            _out.print(
                orjson.dumps([v.to_dict() for v in venues]).decode(), markup=False, soft_wrap=True
            )
        else:
            _print_listing(venues)
        return
    if as_json:
        raise CliError("--json goes with --list")
    if out is None:
        raise CliError("--out is required to convert (or use --list)")
    every_ns = None if every is None else parse_duration_ns(every)
    stats = convert_captures(captures, out, depth=depth, every_ns=every_ns)
    _report(stats, out)
    if stats.books_written + stats.trades_written == 0:
        out.unlink(missing_ok=True)
        _err.print("error: nothing converted", markup=False)
        raise typer.Exit(EXIT_NOTHING)
    if stats.skipped:
        raise typer.Exit(EXIT_SKIPPED)
