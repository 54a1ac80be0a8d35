"""Command-line options of an order, shared by `twap submit` and `twap simulate`.

One definition of each flag (its name, type and help), so both commands spell
and explain them the same way, and one parser (`order_fields`) that turns them
into the order's fields by their API / `OrderSpec` names.

The defaults are the commands' own, and differ on purpose: `twap submit` sends a
real order, so it has none for what the order trades (market, side, quantity,
limit price) and leaves the rest to the server's defaults; `twap simulate` is a
what-if run over a recording, so everything has a default (binance BTC-USDT, buy
1 over 60 s in 10 slices, no practical limit) and a bare `twap simulate --demo`
runs. An end time follows the same rule in both: `--duration` is required, except
for pov, which without it steps every `--interval` until filled (`twap submit`:
for at most the server's maximum order life; `twap simulate`: until the recording
ends). `twap simulate` falls back to its 60 s for pov when `--interval` is not
given either, as it always has, and with `--compare`, whose algorithms share one
window.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer

from twapcore import ALGORITHMS, FILL_MODELS, Side, normalize_exchange
from twapcore.spec import OPEN_ENDED_ALGORITHMS

__all__ = [
    "ALGORITHM_NAMES",
    "AlgorithmOption",
    "CatchUpCapOption",
    "DurationOption",
    "ExchangeOption",
    "FillModelOption",
    "IntervalOption",
    "JitterOption",
    "LimitPriceOption",
    "MaxSliceQtyOption",
    "MinSliceQtyOption",
    "ParticipationOption",
    "QuantityOption",
    "SeedOption",
    "SideOption",
    "SlicesOption",
    "SymbolOption",
    "VenuesOption",
    "algorithm_options",
    "order_fields",
    "runs_until_filled",
    "typed_options",
    "venue_names",
]

ALGORITHM_NAMES = ", ".join(sorted(ALGORITHMS))
_UNTIL_FILLED = ", ".join(sorted(OPEN_ENDED_ALGORITHMS))

# --- the order ------------------------------------------------------------

ExchangeOption = Annotated[
    str | None, typer.Option(help="Exchange, e.g. binance (or give --venues).")
]
SymbolOption = Annotated[str, typer.Option(help="Symbol, e.g. BTC-USDT.")]
SideOption = Annotated[Side, typer.Option(help="buy or sell.")]
QuantityOption = Annotated[
    str,
    typer.Option(
        help="Total quantity in the venue's units (base units for spot, contracts for derivatives)."
    ),
]
LimitPriceOption = Annotated[
    str | None,
    typer.Option(
        help="Worst price to trade at: buys never above, sells never below "
        "(twap simulate: no practical limit unless given)."
    ),
]
DurationOption = Annotated[
    str | None,
    typer.Option(
        help=f"Order duration in seconds (twap simulate: 60 unless given). {_UNTIL_FILLED} "
        "may leave it out and give --interval: it then steps every --interval until filled "
        "(twap submit: at most the server's maximum order life; twap simulate: until the "
        "recording ends)."
    ),
]
SlicesOption = Annotated[
    int | None,
    typer.Option(
        help="Number of slices (pov: steps); or give --interval (twap simulate: 10 when "
        "neither is given)."
    ),
]
IntervalOption = Annotated[
    str | None, typer.Option(help="Seconds between slices (instead of --slices).")
]
FillModelOption = Annotated[
    str | None,
    typer.Option(help=f"One of: {', '.join(sorted(FILL_MODELS))} (walk_book unless given)."),
]
CatchUpCapOption = Annotated[
    str | None, typer.Option(help="A slice may trade at most this many planned slices.")
]
VenuesOption = Annotated[
    str | None,
    typer.Option(
        help="Cross-venue: comma-separated venues, e.g. binance,kraken; every slice walks "
        "their consolidated book (the order's exchange is the first venue)."
    ),
]

# --- the algorithm --------------------------------------------------------

AlgorithmOption = Annotated[str, typer.Option(help=f"One of: {ALGORITHM_NAMES}.")]
ParticipationOption = Annotated[
    str | None, typer.Option(help="pov: share of the traded volume to take, 0..1.")
]
MinSliceQtyOption = Annotated[
    str | None, typer.Option(help="pov: wait rather than trade less than this.")
]
MaxSliceQtyOption = Annotated[
    str | None, typer.Option(help="pov: trade at most this much per step.")
]
SeedOption = Annotated[int | None, typer.Option(help="twap_random: the jitter's seed.")]
JitterOption = Annotated[
    str | None, typer.Option(help="twap_random: ± share of the interval and size, 0..1.")
]


def venue_names(venues: str | None) -> tuple[str, ...] | None:
    """`--venues binance,kraken` as canonical exchange names (None: not given)."""
    if venues is None:
        return None
    return tuple(normalize_exchange(v) for v in venues.split(",") if v.strip())


def runs_until_filled(algorithm: str, duration: str | None, interval: str | None) -> bool:
    """Whether the order has no end time: an algorithm that may (pov), with --interval and
    without --duration."""
    return algorithm in OPEN_ENDED_ALGORITHMS and duration is None and interval is not None


def order_fields(
    *,
    quantity: str,
    limit_price: str | None,
    duration: str | None,
    slices: int | None,
    interval: str | None,
    fill_model: str | None,
    catch_up_cap: str | None,
) -> dict[str, Any]:
    """The order's options as its fields (`OrderSpec` / `POST /orders` names), numbers as
    exact Decimals; None where not given."""
    from twapclient.cli import _decimal  # the CLI's one parser of decimal flags

    def number(value: str | None, flag: str) -> Decimal | None:
        return None if value is None else _decimal(value, flag)

    return {
        "quantity": _decimal(quantity, "--quantity"),
        "limit_price": number(limit_price, "--limit-price"),
        "duration_s": number(duration, "--duration"),
        "slices": slices,
        "interval_s": number(interval, "--interval"),
        "fill_model": fill_model,
        "catch_up_cap": number(catch_up_cap, "--catch-up-cap"),
    }


def typed_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options given (not None), decimal ones parsed exactly (errors name the flag);
    integers (seed, profile_days) and a vwap `profile` (a name or a file) as they are."""
    from twapclient.cli import _decimal

    return {
        name: value
        if isinstance(value, int) or name == "profile"
        else _decimal(value, "--" + name.replace("_", "-"))
        for name, value in options.items()
        if value is not None
    }


def algorithm_options(
    participation: str | None,
    min_slice_qty: str | None,
    max_slice_qty: str | None,
    seed: int | None,
    jitter: str | None,
) -> dict[str, Any]:
    """The shared options by their spec / request field name (None: not given)."""
    return {
        "participation": participation,
        "min_slice_qty": min_slice_qty,
        "max_slice_qty": max_slice_qty,
        "seed": seed,
        "jitter": jitter,
    }
