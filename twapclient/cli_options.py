"""Command-line options of the execution algorithms, shared by `twap simulate` and `twap submit`.

One definition of each flag, so both commands spell and explain them the same way.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from twapcore import ALGORITHMS, normalize_exchange

__all__ = [
    "ALGORITHM_NAMES",
    "AlgorithmOption",
    "JitterOption",
    "MaxSliceQtyOption",
    "MinSliceQtyOption",
    "ParticipationOption",
    "SeedOption",
    "VenuesOption",
    "algorithm_options",
    "venue_names",
]

ALGORITHM_NAMES = ", ".join(sorted(ALGORITHMS))

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

VenuesOption = Annotated[
    str | None,
    typer.Option(
        help="Cross-venue: comma-separated venues, e.g. binance,kraken; every slice walks "
        "their consolidated book (the order's exchange is the first venue)."
    ),
]


def venue_names(venues: str | None) -> tuple[str, ...] | None:
    """`--venues binance,kraken` as canonical exchange names (None: not given)."""
    if venues is None:
        return None
    return tuple(normalize_exchange(v) for v in venues.split(",") if v.strip())


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
