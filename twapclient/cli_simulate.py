"""`twap simulate`: run orders of any algorithm over a recording, offline."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from twapclient.cli import CliError, app
from twapclient.cli import _decimal as decimal_option
from twapclient.cli_options import (
    ALGORITHM_NAMES,
    AlgorithmOption,
    JitterOption,
    MaxSliceQtyOption,
    MinSliceQtyOption,
    ParticipationOption,
    SeedOption,
    algorithm_options,
)
from twapclient.report import print_comparison, print_report
from twapcore import (
    ALGORITHMS,
    FILL_MODELS,
    OrderSpec,
    Side,
    load_profile,
    normalize_exchange,
    normalize_symbol,
    simulate,
)
from twapcore.algorithms import PROFILE_TRADES
from twapcore.recording import demo_recording


def _algorithm_params(algorithm: str, options: dict[str, Any], *, own_only: bool) -> dict[str, Any]:
    """The algorithm options given, typed. With `own_only` (--compare, one command line for
    several algorithms) only `algorithm`'s own; else all, and the spec refuses foreign ones."""
    if algorithm not in ALGORITHMS:
        raise CliError(f"algorithm {algorithm!r} is not one of: {ALGORITHM_NAMES}")
    params: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        if name in ("seed", "profile"):
            params[name] = value
        else:
            params[name] = decimal_option(value, "--" + name.replace("_", "-"))
    if algorithm == "vwap":
        params.setdefault("profile", PROFILE_TRADES)
        if params["profile"] != PROFILE_TRADES:
            params["profile_weights"] = load_profile(params["profile"])
    if own_only:
        own = ALGORITHMS[algorithm].parameters
        params = {name: value for name, value in params.items() if name in own}
    return params


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
    slices: Annotated[int | None, typer.Option(help="Number of slices (pov: steps).")] = None,
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
    algorithm: AlgorithmOption = "twap",
    participation: ParticipationOption = None,
    min_slice_qty: MinSliceQtyOption = None,
    max_slice_qty: MaxSliceQtyOption = None,
    seed: SeedOption = None,
    jitter: JitterOption = None,
    profile: Annotated[
        str | None,
        typer.Option(help="vwap: 'trades' (the recording's, default) or a JSON weights file."),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(help="Comma-separated algorithms to run side by side, e.g. twap,vwap,pov."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Use the bundled demo recording.")] = False,
) -> None:
    """Run an order over recorded books with the server's execution engine.

    With --compare, each algorithm trades the same books as if alone and one
    table shows them side by side (JSON: a list of reports).
    """
    paths = list(recordings or [])
    if demo:
        paths.append(demo_recording())
    if not paths:
        raise CliError("give a RECORDING file or --demo")
    if slices is None and interval is None:
        slices = 10
    common: dict[str, Any] = {
        "exchange": normalize_exchange(exchange),
        "symbol": normalize_symbol(symbol),
        "side": side,
        "quantity": decimal_option(quantity, "--quantity"),
        "limit_price": (
            decimal_option(limit_price, "--limit-price")
            if limit_price is not None
            else (Decimal("1e12") if side is Side.BUY else Decimal("1e-12"))
        ),
        "duration_s": decimal_option(duration, "--duration"),
        "slices": slices,
        "interval_s": None if interval is None else decimal_option(interval, "--interval"),
        "fill_model": fill_model,
        "catch_up_cap": decimal_option(catch_up_cap, "--catch-up-cap"),
        "max_book_age_s": decimal_option(max_book_age, "--max-book-age"),
        "lot_size": None if lot_size is None else decimal_option(lot_size, "--lot-size"),
    }
    options = {
        **algorithm_options(participation, min_slice_qty, max_slice_qty, seed, jitter),
        "profile": profile,
    }
    if compare is None:
        params = _algorithm_params(algorithm, options, own_only=False)
        spec = OrderSpec(algorithm=algorithm, **common, **params)
        report = simulate(paths, [spec], [start_ns]).reports[0]
        if as_json:
            _write_json(report.to_dict())
        else:
            print_report(report, Console())
        return
    names = [name.strip() for name in compare.split(",") if name.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise CliError(f"--compare {compare!r} needs two or more different algorithms")
    specs = [
        OrderSpec(algorithm=name, **common, **_algorithm_params(name, options, own_only=True))
        for name in names
    ]
    reports = simulate(paths, specs, [start_ns] * len(specs), independent=True).reports
    if as_json:
        _write_json([r.to_dict() for r in reports])
    else:
        print_comparison(reports, Console())


def _write_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
