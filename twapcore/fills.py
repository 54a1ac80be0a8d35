"""Paper fill models: how much of a slice a displayed book would have filled.

A buy takes asks (lowest first), a sell takes bids (highest first), never past
the limit price. `LiquidityLedger` remembers what paper fills have already
taken from the displayed levels of one book version, so two slices or two
orders never consume the same displayed size twice while the book is unchanged.

Cross-venue orders walk the consolidated book of several venues' books: best
price first across venues (at an equal price, in the order's venue order); the
ledger is kept per venue (it is keyed by exchange and symbol), and every piece
is a whole number of the order's lot, which is a whole number of lots on every
venue (see `twapcore.venues.common_lot`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import NamedTuple, Protocol

from twapcore._construct import new_named_tuple
from twapcore.algorithms.base import floor_to_lot
from twapcore.errors import InvalidOrder
from twapcore.models import BookSnapshot, Level, Side

__all__ = [
    "FILL_MODELS",
    "FillModel",
    "LiquidityLedger",
    "TopOfBook",
    "VenueLevel",
    "WalkBook",
    "fill_model_named",
    "within_limit",
]

_ZERO = Decimal(0)


class VenueLevel(NamedTuple):
    """A level of the consolidated book: its venue, price and (remaining) size."""

    venue: str
    price: Decimal
    qty: Decimal


class LiquidityLedger:
    """Displayed size already consumed per (exchange, symbol) for its current book version.

    When a newer book version is seen the old consumption is forgotten: the venue
    has republished its levels, which is the best knowledge of what is resting.
    """

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], int] = {}
        self._taken: dict[tuple[str, str], dict[tuple[Side, Decimal], Decimal]] = {}

    def _book_taken(self, book: BookSnapshot) -> dict[tuple[Side, Decimal], Decimal]:
        key = (book.exchange, book.symbol)
        if self._versions.get(key) != book.version:
            self._versions[key] = book.version
            self._taken[key] = {}
        return self._taken[key]

    def available(self, book: BookSnapshot, side: Side) -> Iterator[Level]:
        """Levels a taker on `side` can hit, best first, net of what was taken."""
        taken = self._book_taken(book)
        for level in book.asks if side is Side.BUY else book.bids:
            left = level.qty - taken.get((side, level.price), _ZERO)
            if left > _ZERO:
                yield new_named_tuple(Level, (level.price, left))

    def available_across(self, books: Sequence[BookSnapshot], side: Side) -> Iterator[VenueLevel]:
        """The consolidated levels of `books` (one per venue), best price first.

        At an equal price the venue listed first in `books` comes first.
        """
        buy = side is Side.BUY

        def keyed(rank: int, book: BookSnapshot) -> Iterator[tuple[Decimal, int, VenueLevel]]:
            for level in self.available(book, side):
                key = level.price if buy else -level.price
                yield key, rank, VenueLevel(book.exchange, level.price, level.qty)

        for _, _, level in heapq.merge(*(keyed(n, b) for n, b in enumerate(books))):
            yield level

    def take(self, book: BookSnapshot, side: Side, price: Decimal, qty: Decimal) -> None:
        taken = self._book_taken(book)
        taken[(side, price)] = taken.get((side, price), _ZERO) + qty


def within_limit(side: Side, price: Decimal, limit_price: Decimal) -> bool:
    """A buy may pay up to the limit, a sell may receive down to it."""
    return price <= limit_price if side is Side.BUY else price >= limit_price


class FillModel(Protocol):
    name: str

    def fill(
        self,
        side: Side,
        qty: Decimal,
        limit_price: Decimal,
        book: BookSnapshot,
        ledger: LiquidityLedger,
    ) -> list[Level]:
        """(price, qty) executions for up to `qty`; records them in `ledger`."""
        ...

    def fill_across(
        self,
        side: Side,
        qty: Decimal,
        limit_price: Decimal,
        books: Sequence[BookSnapshot],
        ledger: LiquidityLedger,
        lot: Decimal,
    ) -> list[VenueLevel]:
        """Executions on the consolidated book of `books`, whole `lot`s each, kept in `ledger`."""
        ...


class _LevelWalker:
    """Takes levels best first within the limit; `max_levels` bounds how deep it goes."""

    name = ""
    max_levels: int | None = None

    def fill(
        self,
        side: Side,
        qty: Decimal,
        limit_price: Decimal,
        book: BookSnapshot,
        ledger: LiquidityLedger,
    ) -> list[Level]:
        # The plain walk of `ledger.available(book, side)` then `ledger.take`, inlined (it runs
        # for every step): the same levels net of what was taken, the same Decimals
        # (tests/core/test_simulate_speedups.py compares it with the plain walk).
        executions: list[Level] = []
        remaining = qty
        max_levels = self.max_levels
        buy = side is Side.BUY
        taken = ledger._book_taken(book)
        depth = 0
        for level in book.asks if buy else book.bids:
            price = level.price
            left = level.qty - taken.get((side, price), _ZERO)
            if not left > _ZERO:  # nothing left at this level: `available` skips it
                continue
            if remaining <= _ZERO or (max_levels is not None and depth >= max_levels):
                break
            if not (price <= limit_price if buy else price >= limit_price):  # within_limit
                break
            take = left if left < remaining else remaining  # min(remaining, left)
            executions.append(new_named_tuple(Level, (price, take)))
            remaining -= take
            depth += 1
        for execution in executions:  # `ledger.take`, once the walk is done
            key = (side, execution.price)
            taken[key] = taken.get(key, _ZERO) + execution.qty
        return executions

    def fill_across(
        self,
        side: Side,
        qty: Decimal,
        limit_price: Decimal,
        books: Sequence[BookSnapshot],
        ledger: LiquidityLedger,
        lot: Decimal,
    ) -> list[VenueLevel]:
        executions: list[VenueLevel] = []
        remaining = qty
        # A level showing less than one lot cannot be traded: it does not count as a level.
        for level in ledger.available_across(books, side):
            depth = len(executions)
            if remaining <= _ZERO or (self.max_levels is not None and depth >= self.max_levels):
                break
            if not within_limit(side, level.price, limit_price):
                break
            take = floor_to_lot(min(remaining, level.qty), lot)  # whole lots on every venue
            if take > _ZERO:
                executions.append(VenueLevel(level.venue, level.price, take))
                remaining -= take
        by_venue = {book.exchange: book for book in books}
        for execution in executions:
            ledger.take(by_venue[execution.venue], side, execution.price, execution.qty)
        return executions


class TopOfBook(_LevelWalker):
    """Fill at the best available level only, up to its displayed size."""

    name = "top_of_book"
    max_levels = 1


class WalkBook(_LevelWalker):
    """Walk the levels while their price is within the limit (the default)."""

    name = "walk_book"
    max_levels = None


FILL_MODELS: dict[str, FillModel] = {m.name: m for m in (WalkBook(), TopOfBook())}


def fill_model_named(name: str) -> FillModel:
    try:
        return FILL_MODELS[name]
    except KeyError:
        allowed = ", ".join(sorted(FILL_MODELS))
        raise InvalidOrder(f"fill model {name!r} is not one of: {allowed}") from None
