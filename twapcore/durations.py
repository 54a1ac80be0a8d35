"""Human durations (`500ms`, `1s`, `2m`) as integer nanoseconds."""

from __future__ import annotations

import re
from decimal import Decimal

from twapcore.errors import InvalidDuration

__all__ = ["parse_duration_ns"]

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)\s*")


def parse_duration_ns(text: str) -> int:
    """Parse `<number><unit>` into nanoseconds; units ns, us (or µs), ms, s, m, h.

    `"500ms"` -> 500_000_000, `"1.5s"` -> 1_500_000_000. The result must be a
    positive whole number of nanoseconds.
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise InvalidDuration(
            f"duration {text!r} is not <number><unit> with unit one of {', '.join(_UNIT_NS)}"
            " (e.g. 500ms, 1s, 2m)"
        )
    ns = Decimal(match[1]) * _UNIT_NS[match[2]]
    if ns <= 0 or ns != ns.to_integral_value():
        raise InvalidDuration(f"duration {text!r} is not a positive whole number of nanoseconds")
    return int(ns)
