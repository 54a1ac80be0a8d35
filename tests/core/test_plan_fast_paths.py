"""Faster plans equal the plans computed the plain way.

vwap: `_resample` scales every slice weight by one common factor (the lcm of
the profile weights' denominators) instead of building `Fraction`s, and
`allocate_lots` splits lots with integer shares and remainders; both are
checked against the fraction arithmetic they replace. twap_random: due times
are jittered in one decimal context instead of one per slice — the same
draws, in the same order, to the same times.
"""

from __future__ import annotations

import random
from decimal import Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from twapcore.algorithms.twap import _DRAW_STEPS, _jittered_times
from twapcore.algorithms.vwap import _resample, allocate_lots
from twapcore.schedule import PLAN_PRECISION

WEIGHT = st.one_of(
    st.decimals("0", "1000", places=4),
    st.decimals("0", "1E+6", places=0),
    st.sampled_from([Decimal("1E+3"), Decimal("0.000001"), Decimal("2.50"), Decimal(0)]),
)


def _resample_in_fractions(weights: list[Decimal], slices: int) -> list[Fraction]:
    """The computation `_resample` replaced, verbatim."""
    buckets = len(weights)
    out = [Fraction(0)] * slices
    for b, weight in enumerate(weights):
        if not weight:
            continue
        lo, hi = b * slices, (b + 1) * slices
        for i in range(lo // buckets, (hi - 1) // buckets + 1):
            overlap = min(hi, (i + 1) * buckets) - max(lo, i * buckets)
            out[i] += Fraction(weight) * overlap
    return out


def _allocate_in_fractions(total_lots: int, weights: list[Fraction]) -> list[int]:
    """The computation `allocate_lots` replaced, verbatim."""
    whole = sum(weights, Fraction(0))
    shares = [total_lots * w / whole for w in weights]
    lots = [int(share) for share in shares]
    left = total_lots - sum(lots)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - lots[i]), i))
    for i in by_remainder[:left]:
        lots[i] += 1
    return lots


@settings(max_examples=300, deadline=None)
@given(weights=st.lists(WEIGHT, min_size=1, max_size=30), slices=st.integers(1, 40))
def test_resampled_weights_are_the_fractions_times_one_factor(
    weights: list[Decimal], slices: int
) -> None:
    whole_numbers = _resample(weights, slices)

    fractions = _resample_in_fractions(weights, slices)
    if any(fractions):
        factor = next(Fraction(w) / f for w, f in zip(whole_numbers, fractions, strict=True) if f)
        assert factor > 0
        assert [Fraction(w) for w in whole_numbers] == [f * factor for f in fractions]
    else:
        assert not any(whole_numbers)


@settings(max_examples=400, deadline=None)
@given(
    total_lots=st.integers(0, 10**6),
    weights=st.lists(
        st.one_of(st.integers(0, 10**9), st.fractions(min_value=0, max_value=10**6)),
        max_size=40,
    ),
)
def test_lots_split_in_whole_numbers_as_in_fractions(
    total_lots: int, weights: list[Fraction | int]
) -> None:
    if not sum(weights):  # fractions divide by zero then, as before
        return
    reference = _allocate_in_fractions(total_lots, [Fraction(w) for w in weights])

    lots = allocate_lots(total_lots, weights)

    assert lots == reference
    assert sum(lots) == total_lots


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(WEIGHT, min_size=1, max_size=30), slices=st.integers(1, 40))
def test_a_vwap_split_is_that_of_the_fraction_weights(weights: list[Decimal], slices: int) -> None:
    fractions = _resample_in_fractions(weights, slices)
    if not any(fractions):
        return

    assert allocate_lots(997, _resample(weights, slices)) == _allocate_in_fractions(997, fractions)


def _jittered_time(due_ns: int, jitter: Decimal, interval_ns: int, rng: random.Random) -> int:
    """The computation `_jittered_times` replaced (per slice), verbatim."""
    draw = rng.randint(-_DRAW_STEPS, _DRAW_STEPS)
    with localcontext() as context:
        context.prec = PLAN_PRECISION
        return due_ns + int(jitter * interval_ns * draw / _DRAW_STEPS)


@settings(max_examples=200, deadline=None)
@given(
    dues=st.lists(st.integers(0, 2**62), max_size=60),
    jitter=st.decimals("0", "1", places=3),
    interval_ns=st.integers(1, 10**12),
    seed=st.integers(0, 2**32),
)
def test_jittered_times_are_those_drawn_slice_by_slice(
    dues: list[int], jitter: Decimal, interval_ns: int, seed: int
) -> None:
    plain_rng, rng = random.Random(seed), random.Random(seed)
    plain = [_jittered_time(due, jitter, interval_ns, plain_rng) for due in dues]

    times = _jittered_times(dues, jitter, interval_ns, rng)

    assert times == plain
    assert rng.random() == plain_rng.random()  # as many draws: the sizes draw on after them
