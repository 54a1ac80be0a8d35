"""What the user asked for: one `OrderSpec` for every algorithm.

Quantities and prices are in the symbol's units, times in seconds. Numbers are
accepted as `Decimal`, `int` or numeric `str` and converted exactly; floats
(which cannot say 0.1 exactly) and anything else are refused here, with
`InvalidOrder` naming the field, rather than deep inside an execution.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from twapcore.algorithms import ALGORITHMS, Pov, algorithm_named
from twapcore.errors import InvalidOrder
from twapcore.models import Side
from twapcore.venues import checked_venues

__all__ = ["OPEN_ENDED_ALGORITHMS", "OrderSpec", "TwapOrderSpec", "check_end_time"]

# The algorithms that may run without an end time (no duration_s): pov ends when filled.
OPEN_ENDED_ALGORITHMS = frozenset({Pov.name})

_DECIMAL_FIELDS = (
    "quantity",
    "limit_price",
    "duration_s",
    "interval_s",
    "catch_up_cap",
    "max_book_age_s",
    "lot_size",
    "participation",
    "min_slice_qty",
    "max_slice_qty",
    "jitter",
)
_REQUIRED = frozenset({"quantity", "limit_price", "catch_up_cap", "max_book_age_s"})
_INT_FIELDS = ("slices", "seed")
# The error codes the API already uses for these fields.
_REASONS = {
    "duration_s": "invalid_duration",
    "interval_s": "invalid_slices",
    "slices": "invalid_slices",
}
# Fields added with the algorithms: written by `to_dict` only when set, so a TWAP
# spec (and every order stored before them) serializes exactly as it always did.
_ALGORITHM_FIELDS = (
    "algorithm",
    "participation",
    "min_slice_qty",
    "max_slice_qty",
    "seed",
    "jitter",
    "profile",
    "profile_weights",
    "venues",
)


def _reason(name: str) -> str:
    return _REASONS.get(name, f"invalid_{name}")


def check_end_time(algorithm: str, duration_s: object, slices: object, interval_s: object) -> None:
    """Refuse (`InvalidOrder` naming the field) an order without `duration_s` unless its
    algorithm may run until filled (pov), and then it must step every `interval_s`."""
    if duration_s is not None:
        return
    if algorithm not in OPEN_ENDED_ALGORITHMS:
        raise InvalidOrder(
            f"duration_s is required for {algorithm} orders; only "
            f"{', '.join(sorted(OPEN_ENDED_ALGORITHMS))} may run without an end time",
            "invalid_duration",
        )
    if slices is not None:
        raise InvalidOrder(
            f"slices {slices} needs duration_s; a {algorithm} order without an end time "
            "steps every interval_s instead",
            "invalid_slices",
        )
    if interval_s is None:
        raise InvalidOrder(
            f"a {algorithm} order without duration_s (no end time) needs interval_s, "
            "the seconds between its steps",
            "invalid_slices",
        )


def _exact_decimal(name: str, value: object) -> Decimal:
    if isinstance(value, (bool, float)):
        raise InvalidOrder(
            f"{name} {value!r} is a {type(value).__name__}; give a Decimal, int or numeric str "
            "so the value is exact",
            _reason(name),
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidOrder(f"{name} {value!r} is not a number", _reason(name)) from None
    else:
        raise InvalidOrder(f"{name} {value!r} must be a Decimal, int or numeric str", _reason(name))
    if not number.is_finite():
        raise InvalidOrder(f"{name} {value!r} must be a finite number", _reason(name))
    return number


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """An order for any algorithm (`algorithm`: twap, twap_random, vwap or pov).

    Algorithm parameters (each allowed only with its algorithm):
    `seed`, `jitter` (twap_random: 0..1 of the interval and of the slice size);
    `profile`, `profile_weights` (vwap: where the profile came from, and its
    weights spread evenly over the window); `participation` (pov, 0..1],
    `min_slice_qty`, `max_slice_qty` (pov, base units).

    `duration_s` is required, except for pov: without it a pov order steps every
    `interval_s` until filled (or until whoever steps it ends it: the server at
    its maximum order life, `simulate` when the recording ends).
    """

    exchange: str
    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal
    duration_s: Decimal | None = None
    slices: int | None = None
    interval_s: Decimal | None = None
    fill_model: str = "walk_book"
    catch_up_cap: Decimal = Decimal(3)
    max_book_age_s: Decimal = Decimal(5)
    lot_size: Decimal | None = None  # None: the instrument's, else DEFAULT_LOT_SIZE
    token_id: str | None = None
    algorithm: str = "twap"
    participation: Decimal | None = None
    min_slice_qty: Decimal | None = None
    max_slice_qty: Decimal | None = None
    seed: int | None = None
    jitter: Decimal | None = None
    profile: str | None = None
    profile_weights: tuple[Decimal, ...] | None = None
    venues: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "venues", checked_venues(self.exchange, self.venues))
        for name in _DECIMAL_FIELDS:
            value = getattr(self, name)
            if value is None and name not in _REQUIRED:
                continue
            object.__setattr__(self, name, _exact_decimal(name, value))
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidOrder(f"{name} {value!r} must be an integer", _reason(name))
        try:
            object.__setattr__(self, "side", Side(self.side))
        except ValueError:
            raise InvalidOrder(f"side {self.side!r} is not buy or sell", "invalid_side") from None
        if self.profile_weights is not None:
            weights = tuple(_exact_decimal("profile_weights", w) for w in self.profile_weights)
            object.__setattr__(self, "profile_weights", weights)
        algorithm = algorithm_named(self.algorithm)
        for other in ALGORITHMS.values():
            for name in other.parameters:
                if other is not algorithm and getattr(self, name) is not None:
                    raise InvalidOrder(
                        f"{name} applies to {other.name} orders, not {self.algorithm}",
                        _reason(name),
                    )
        check_end_time(self.algorithm, self.duration_s, self.slices, self.interval_s)
        algorithm.validate(self)

    @property
    def venue_names(self) -> tuple[str, ...]:
        """The venues the order trades on: `venues`, else its one `exchange`."""
        return self.venues or (self.exchange,)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: decimals as strings; algorithm fields only when set."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _ALGORITHM_FIELDS and (value is None or value == f.default):
                continue
            if isinstance(value, tuple):
                value = [str(v) for v in value]
            out[f.name] = str(value) if isinstance(value, Decimal) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderSpec:
        """Inverse of `to_dict` (stored numbers may be JSON numbers: read via `str`)."""
        values = dict(data)
        for name in _DECIMAL_FIELDS:
            if values.get(name) is not None:
                values[name] = Decimal(str(values[name]))
        if values.get("profile_weights") is not None:
            values["profile_weights"] = tuple(Decimal(str(w)) for w in values["profile_weights"])
        values["side"] = Side(values["side"])
        return cls(**values)


# The name the server, the SDK and stored code know; every algorithm uses the same spec.
TwapOrderSpec = OrderSpec
