"""`twap simulate`: run orders of any algorithm over a recording, offline."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from twapclient.cli import CliError, app
from twapclient.cli import _decimal as decimal_option
from twapclient.cli_options import (
    ALGORITHM_NAMES,
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
    runs_until_filled,
    typed_options,
    venue_names,
)
from twapclient.report import print_comparison, print_report
from twapcore import (
    ALGORITHMS,
    OrderSpec,
    Side,
    load_profile,
    normalize_exchange,
    normalize_symbol,
    simulate,
)
from twapcore.algorithms import PROFILE_TRADES
from twapcore.analytics import NO_LIMIT_PRICE, ExecutionReport
from twapcore.formatting import format_decimal
from twapcore.recording import demo_recording

# The what-if defaults of an order (see twapclient.cli_options for why `twap submit` has none).
_DEFAULT_DURATION_S = "60"
_DEFAULT_SLICES = 10

# --sweep NAME: the order field it sets and how its values are read.
_SWEEPABLE: dict[str, str] = {
    "slices": "slices",
    "duration": "duration_s",
    "interval": "interval_s",
    "quantity": "quantity",
    "limit_price": "limit_price",
    "catch_up_cap": "catch_up_cap",
    "max_book_age": "max_book_age_s",
    "participation": "participation",
    "min_slice_qty": "min_slice_qty",
    "max_slice_qty": "max_slice_qty",
    "jitter": "jitter",
    "seed": "seed",
    "algorithm": "algorithm",
}
_INT_FIELDS = ("slices", "seed")
_SWEEP_TABLE: tuple[tuple[str, str], ...] = (
    ("filled", "filled_qty"),
    ("avg price", "average_price"),
    ("IS", "implementation_shortfall_bps"),
    ("exec", "execution_cost_bps"),
    ("timing", "timing_cost_bps"),
    ("opport", "opportunity_cost_bps"),
    ("vs VWAP", "vwap_slippage_bps"),
    ("part %", "participation_pct"),
    ("mo 60s", "markout_60s_bps"),
)


def _algorithm_params(algorithm: str, options: dict[str, Any], *, own_only: bool) -> dict[str, Any]:
    """The algorithm options given, typed. With `own_only` (--compare, one command line for
    several algorithms) only `algorithm`'s own; else all, and the spec refuses foreign ones."""
    if algorithm not in ALGORITHMS:
        raise CliError(f"algorithm {algorithm!r} is not one of: {ALGORITHM_NAMES}")
    params = typed_options(options)
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
    exchange: ExchangeOption = "binance",
    venues: VenuesOption = None,
    symbol: SymbolOption = "BTC-USDT",
    side: SideOption = Side.BUY,
    quantity: QuantityOption = "1",
    limit_price: LimitPriceOption = None,
    duration: DurationOption = None,
    slices: SlicesOption = None,
    interval: IntervalOption = None,
    fill_model: FillModelOption = "walk_book",
    catch_up_cap: CatchUpCapOption = "3",
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
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=V1,V2,… (repeatable): run every combination and print one table; "
            f"NAME is one of: {', '.join(_SWEEPABLE)}."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Write a PNG chart (needs twapcore[plot]): price, fills and progress; "
            "with --sweep, cost vs the parameters; with --compare, one file per algorithm."
        ),
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option("--csv", help="Write fills, slices, venues and summary CSV files here."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Use the bundled demo recording.")] = False,
) -> None:
    """Run an order over recorded books with the server's execution engine.

    With --compare, each algorithm trades the same books as if alone and one
    table shows them side by side (JSON: a list of reports). With --sweep, the
    same for every combination of the swept values (JSON: a list of
    {"parameters", "report"}).
    """
    paths = list(recordings or [])
    if demo:
        paths.append(demo_recording())
    if not paths:
        raise CliError("give a RECORDING file or --demo")
    until_filled = compare is None and runs_until_filled(algorithm, duration, interval)
    if slices is None and interval is None:
        slices = _DEFAULT_SLICES
    fields = order_fields(
        quantity=quantity,
        limit_price=limit_price,
        duration=duration if duration is not None or until_filled else _DEFAULT_DURATION_S,
        slices=slices,
        interval=interval,
        fill_model=fill_model,
        catch_up_cap=catch_up_cap,
    )
    if fields["limit_price"] is None:
        fields["limit_price"] = NO_LIMIT_PRICE[side]
    common: dict[str, Any] = {
        "exchange": normalize_exchange(exchange or ""),
        "symbol": normalize_symbol(symbol),
        "side": side,
        **fields,
        "max_book_age_s": decimal_option(max_book_age, "--max-book-age"),
        "lot_size": None if lot_size is None else decimal_option(lot_size, "--lot-size"),
    }
    names = venue_names(venues)
    if names is not None:  # cross-venue: the exchange is the first venue
        common["exchange"], common["venues"] = (names[0] if names else ""), names
    options = {
        **algorithm_options(participation, min_slice_qty, max_slice_qty, seed, jitter),
        "profile": profile,
    }
    outputs = _Outputs(paths, plot, csv_dir, names)
    if sweep:
        if compare is not None:
            raise CliError(
                "--sweep and --compare do not combine: sweep algorithm=twap,vwap instead"
            )
        outputs.check()
        _run_sweep(paths, sweep, common, options, algorithm, start_ns, as_json, outputs)
        return
    if compare is None:
        params = _algorithm_params(algorithm, options, own_only=False)
        spec = OrderSpec(algorithm=algorithm, **common, **params)
        outputs.check()
        report = simulate(paths, [spec], [start_ns]).reports[0]
        if as_json:
            _write_json(report.to_dict())
        else:
            print_report(report, Console())
        outputs.write({report.algorithm: report})
        return
    names = [name.strip() for name in compare.split(",") if name.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise CliError(f"--compare {compare!r} needs two or more different algorithms")
    specs = [
        OrderSpec(algorithm=name, **common, **_algorithm_params(name, options, own_only=True))
        for name in names
    ]
    outputs.check()
    reports = simulate(paths, specs, [start_ns] * len(specs), independent=True).reports
    if as_json:
        _write_json([r.to_dict() for r in reports])
    else:
        print_comparison(reports, Console())
    outputs.write({r.algorithm: r for r in reports})


def _write_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


@dataclass(frozen=True, slots=True)
class _Outputs:
    """The files asked for with --plot and --csv (messages go to stderr: stdout may be JSON)."""

    recordings: list[Path]
    plot: Path | None
    csv_dir: Path | None
    venues: tuple[str, ...] | None = None  # a cross-venue order's: the chart's market is theirs

    def check(self) -> None:
        """Fail before the run when a chart is asked for and matplotlib is missing."""
        if self.plot is None:
            return
        try:
            import matplotlib  # noqa: F401
        except ModuleNotFoundError:
            raise CliError("--plot needs matplotlib: pip install 'twapcore[plot]'") from None

    def write(self, reports: dict[str, ExecutionReport]) -> None:
        from twapcore.export import write_csv
        from twapcore.plot import market_series, plot_report

        err = Console(stderr=True)
        if self.csv_dir is not None:
            for path in write_csv(reports, self.csv_dir):
                err.print(f"wrote {path}", markup=False, highlight=False)
        if self.plot is None:
            return
        for name, report in reports.items():
            path = self.plot
            if len(reports) > 1:
                path = path.with_name(f"{path.stem}-{name}{path.suffix or '.png'}")
            market = market_series(
                self.recordings,
                self.venues or report.exchange,
                report.symbol,
                report.start_ns,
                report.end_ns,
            )
            plot_report(report, path, market=market)
            err.print(f"wrote {path}", markup=False, highlight=False)

    def write_sweep(self, runs: list[tuple[dict[str, str], ExecutionReport]]) -> None:
        from twapcore.export import write_csv
        from twapcore.plot import plot_sweep

        err = Console(stderr=True)
        if self.csv_dir is not None:
            keyed = {_label(params): report for params, report in runs}
            for path in write_csv(keyed, self.csv_dir):
                err.print(f"wrote {path}", markup=False, highlight=False)
        if self.plot is not None:
            plot_sweep(runs, self.plot)
            err.print(f"wrote {self.plot}", markup=False, highlight=False)


def _label(params: dict[str, str]) -> str:
    return ",".join(f"{name}={value}" for name, value in params.items())


def _parse_sweeps(sweeps: Sequence[str]) -> list[tuple[str, list[str]]]:
    grid: list[tuple[str, list[str]]] = []
    for item in sweeps:
        name, eq, values_text = item.partition("=")
        name = name.strip().replace("-", "_")
        values = [v.strip() for v in values_text.split(",") if v.strip()]
        if not eq or name not in _SWEEPABLE:
            raise CliError(
                f"--sweep {item!r}: expected NAME=V1,V2,… with NAME one of: {', '.join(_SWEEPABLE)}"
            )
        if not values or len(set(values)) != len(values):
            raise CliError(f"--sweep {item!r} needs one or more different values")
        if any(name == seen for seen, _ in grid):
            raise CliError(f"--sweep {name} is given twice")
        grid.append((name, values))
    return grid


def _sweep_spec(
    params: dict[str, str], common: dict[str, Any], options: dict[str, Any], algorithm: str
) -> OrderSpec:
    order = dict(common)
    opts = dict(options)
    name = params.get("algorithm", algorithm)
    for key, value in params.items():
        if key == "algorithm":
            continue
        field = _SWEEPABLE[key]
        parsed: Any
        if key in _INT_FIELDS:
            try:
                parsed = int(value)
            except ValueError:
                raise CliError(f"--sweep {key} value {value!r} is not a whole number") from None
        else:
            parsed = decimal_option(value, f"--sweep {key}")
        if field in opts:
            opts[field] = parsed if key == "seed" else value
        else:
            order[field] = parsed
            if key == "slices":
                order["interval_s"] = None
            elif key == "interval":
                order["slices"] = None
    own_only = "algorithm" in params
    return OrderSpec(algorithm=name, **order, **_algorithm_params(name, opts, own_only=own_only))


def _run_sweep(
    paths: list[Path],
    sweeps: Sequence[str],
    common: dict[str, Any],
    options: dict[str, Any],
    algorithm: str,
    start_ns: int | None,
    as_json: bool,
    outputs: _Outputs,
) -> None:
    """Every combination of the swept values, in one pass over the recording."""
    grid = _parse_sweeps(sweeps)
    names = [name for name, _ in grid]
    combos = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(values for _, values in grid))
    ]
    specs = [_sweep_spec(params, common, options, algorithm) for params in combos]
    reports = simulate(paths, specs, [start_ns] * len(specs), independent=True).reports
    runs = list(zip(combos, reports, strict=True))
    if as_json:
        _write_json([{"parameters": p, "report": r.to_dict()} for p, r in runs])
    else:
        console = Console()
        # a table as wide as it needs when it goes to a file or pipe (rich assumes 80 columns)
        _print_sweep(runs, names, console if console.is_terminal else Console(width=160))
    outputs.write_sweep(runs)


def _figure(value: Decimal | None, places: int) -> str:
    if value is None:
        return "-"
    return format_decimal(value.quantize(Decimal(1).scaleb(-places)))


def _print_sweep(
    runs: list[tuple[dict[str, str], ExecutionReport]], names: list[str], console: Console
) -> None:
    first = runs[0][1]
    table = Table(
        title=f"{first.side} {format_decimal(first.quantity)} {first.exchange} {first.symbol}: "
        f"sweep of {', '.join(names)}; costs in bps, + = cost (IS = exec + timing + opport)"
    )
    for name in names:
        table.add_column(name)
    for header, _ in _SWEEP_TABLE:
        table.add_column(header, justify="right")
    for params, report in runs:
        cells = []
        for _, field in _SWEEP_TABLE:
            value = getattr(report, field)
            cells.append(_figure(value, 2 if field.endswith(("_bps", "_pct")) else 8))
        table.add_row(*(params[name] for name in names), *cells)
    console.print(table)
