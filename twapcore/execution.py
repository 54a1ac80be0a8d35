"""The state machine of one order, shared by every execution algorithm.

Pure, deterministic, serializable. The caller owns time and market data: it
calls `step(now_ns, book, ledger, market)` when a slice falls due (see
`next_due_ns`) and persists `to_state()` if it needs to resume. The order's
`algorithm` (see `twapcore.algorithms`) decides when slices fall due and how
much each should trade; everything else happens here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from twapcore._construct import positional_builder
from twapcore.algorithms import ExecutionAlgorithm, MarketActivity, SliceTarget, algorithm_named
from twapcore.algorithms.base import lot_of
from twapcore.book import consolidated_mid
from twapcore.errors import InvalidOrder, InvalidState, TwapError
from twapcore.fills import LiquidityLedger, fill_model_named, within_limit
from twapcore.models import (
    BookSnapshot,
    Fill,
    OrderStatus,
    SkipReason,
    SliceResult,
    SliceStatus,
)
from twapcore.schedule import NO_END_NS, PlannedSlice, cumulative_quantities, seconds_to_ns_exact
from twapcore.spec import OrderSpec, TwapOrderSpec

__all__ = ["STATE_VERSION", "OrderExecution", "OrderSpec", "TwapExecution", "TwapOrderSpec"]

STATE_VERSION = 1
_ZERO = Decimal(0)


_new_fill = positional_builder(Fill)
_new_result = positional_builder(SliceResult)
# `OrderStatus.is_final` as a tuple: `in` compares by identity first, where the property
# hashes the enum in Python (it runs twice per step).
_FINAL = tuple(status for status in OrderStatus if status.is_final)


def _fill_to_state(fill: Fill) -> list[Any]:
    state = [fill.slice_index, str(fill.price), str(fill.qty), fill.ts]
    if fill.venue is not None:  # cross-venue fills only: single-venue states stay as they were
        state.append(fill.venue)
    return state


def _fill_from_state(data: list[Any]) -> Fill:
    venue = data[4] if len(data) > 4 else None
    return Fill(int(data[0]), Decimal(data[1]), Decimal(data[2]), int(data[3]), venue)


def _result_to_state(result: SliceResult) -> dict[str, Any]:
    state = {
        "index": result.index,
        "due_ns": result.due_ns,
        "executed_ns": result.executed_ns,
        "target_qty": str(result.target_qty),
        "filled_qty": str(result.filled_qty),
        "status": result.status.value,
        "fills": [_fill_to_state(f) for f in result.fills],
        "reason": result.reason,
        "book_mid": None if result.book_mid is None else str(result.book_mid),
        "book_version": result.book_version,
    }
    if (
        result.market_volume is not None
    ):  # only when the step was told (keeps TWAP states as before)
        state["market_volume"] = str(result.market_volume)
    if result.venues_left_out:
        state["venues_left_out"] = [list(pair) for pair in result.venues_left_out]
    return state


def _result_from_state(data: dict[str, Any]) -> SliceResult:
    return SliceResult(
        index=int(data["index"]),
        due_ns=int(data["due_ns"]),
        executed_ns=int(data["executed_ns"]),
        target_qty=Decimal(data["target_qty"]),
        filled_qty=Decimal(data["filled_qty"]),
        status=SliceStatus(data["status"]),
        fills=tuple(_fill_from_state(f) for f in data["fills"]),
        reason=data["reason"],
        book_mid=None if data["book_mid"] is None else Decimal(data["book_mid"]),
        book_version=data["book_version"],
        market_volume=None if data.get("market_volume") is None else Decimal(data["market_volume"]),
        venues_left_out=tuple((str(v), str(r)) for v, r in data.get("venues_left_out") or ()),
    )


class OrderExecution:
    """Executes one `OrderSpec` slice by slice, whatever its algorithm.

    * the algorithm sets each slice's target; for the scheduled ones (twap,
      twap_random, vwap) it is planned cumulative quantity − filled so far
      (catch-up), capped at `catch_up_cap` × that slice's planned size and at
      what remains; a target of 0 records a wait with the algorithm's reason;
    * a missing, stale or out-of-sync book skips the slice with a reason; the
      unfilled quantity carries over to later slices;
    * a cross-venue order (`spec.venues`) is given one book per venue: each is
      judged on its own (a stale or missing one is left out of the slice, its
      reason recorded in `venues_left_out`; all left out skips the slice) and the
      slice walks the consolidated book of the others, each fill tagged with its venue;
    * the order is `completed` once all is filled, else `expired` after its last slice.
    """

    def __init__(self, spec: OrderSpec, start_ns: int) -> None:
        if not spec.limit_price.is_finite() or spec.limit_price <= 0:
            raise InvalidOrder(f"limit_price {spec.limit_price} must be greater than 0")
        if not spec.catch_up_cap.is_finite() or spec.catch_up_cap < 1:
            raise InvalidOrder(f"catch_up_cap {spec.catch_up_cap} must be at least 1")
        if not spec.max_book_age_s.is_finite() or spec.max_book_age_s <= 0:
            raise InvalidOrder(f"max_book_age_s {spec.max_book_age_s} must be greater than 0")
        self.spec = spec
        self.start_ns = start_ns
        self.algorithm: ExecutionAlgorithm = algorithm_named(spec.algorithm)
        schedule = self.algorithm.plan(spec, start_ns)
        self.plan: Sequence[PlannedSlice] = schedule.slices
        # Why the plan deviates from what was asked (e.g. vwap without history), else None.
        self.algorithm_note = schedule.note
        self.end_ns = (  # an open-ended order (pov without duration_s) has no end of its own
            NO_END_NS
            if spec.duration_s is None
            else start_ns + seconds_to_ns_exact(spec.duration_s)
        )
        self._fill_model = fill_model_named(spec.fill_model)
        self._max_book_age_ns = seconds_to_ns_exact(spec.max_book_age_s, "max_book_age_s")
        self._cumulative = cumulative_quantities(self.plan)
        self._ledger = LiquidityLedger()
        self.status = OrderStatus.ACCEPTED
        self.results: list[SliceResult] = []
        self.filled_qty = _ZERO
        self.notional = _ZERO
        self.observed_volume = _ZERO  # market volume (base units) reported to the steps so far
        self.ended_ns: int | None = None

    # --- read-only views -------------------------------------------------
    @property
    def next_index(self) -> int:
        return len(self.results)

    @property
    def next_due_ns(self) -> int | None:
        """When the next slice falls due, or None once the order has ended."""
        if self.status in _FINAL:
            return None
        return self.plan[len(self.results)].due_ns

    @property
    def remaining_qty(self) -> Decimal:
        return self.spec.quantity - self.filled_qty

    @property
    def average_price(self) -> Decimal | None:
        return None if self.filled_qty == _ZERO else self.notional / self.filled_qty

    @property
    def fills(self) -> list[Fill]:
        return [f for r in self.results for f in r.fills]

    def planned_cumulative(self, index: int) -> Decimal:
        """Planned quantity of slices 0..`index` together."""
        return self._cumulative[index]

    # --- transitions ------------------------------------------------------
    def step(
        self,
        now_ns: int,
        book: BookSnapshot | Mapping[str, BookSnapshot | None] | None,
        ledger: LiquidityLedger | None = None,
        market: MarketActivity | None = None,
    ) -> SliceResult:
        """Execute the slice that is due at or before `now_ns` against `book`.

        `book` is the order's book, or for a cross-venue order a mapping venue →
        book (a venue missing from it has no book). `ledger` is shared between
        orders that paper-trade the same books; when omitted the execution uses
        its own. `market` is what traded since the previous step (pov needs it;
        the others record it when given).
        """
        planned = self._due_slice(now_ns)
        if self.spec.venues is not None:
            books = self._venue_books(book)
            return self._step_across(planned, now_ns, books, ledger, market)
        if book is not None and not isinstance(book, BookSnapshot):  # venue -> book
            book = self._venue_books(book).get(self.spec.exchange)
        if book is not None and (book.exchange, book.symbol) != (
            self.spec.exchange,
            self.spec.symbol,
        ):
            raise TwapError(
                f"book of {book.exchange} {book.symbol} given to an order on "
                f"{self.spec.exchange} {self.spec.symbol}"
            )
        volume = None if market is None else market.volume
        wanted = self._target(planned, market)
        target = wanted.qty
        if target == _ZERO:  # the algorithm waits: no book is needed to do nothing
            waiting = wanted.reason or SkipReason.NOTHING_DUE.value
            return self._record(planned, now_ns, target, (), waiting, book, volume)
        reason = self._unusable_book_reason(now_ns, book)
        if reason is not None or book is None:
            return self._record(planned, now_ns, target, (), reason, book, volume)
        executions = self._fill_model.fill(
            self.spec.side, target, self.spec.limit_price, book, ledger or self._ledger
        )
        index = planned.index
        if len(executions) == 1:  # most slices: one level; `sum` of one, without its loop
            only = executions[0]
            fills: tuple[Fill, ...] = (_new_fill(index, only.price, only.qty, now_ns),)
            filled = _ZERO + only.qty
        else:
            fills = tuple([_new_fill(index, e.price, e.qty, now_ns) for e in executions])
            filled = sum([f.qty for f in fills], _ZERO)
        if filled < target:
            reason = self._shortfall_reason(book, ledger or self._ledger)
        return self._record(planned, now_ns, target, fills, reason, book, volume, filled=filled)

    def _venue_books(
        self, book: BookSnapshot | Mapping[str, BookSnapshot | None] | None
    ) -> dict[str, BookSnapshot | None]:
        """venue → book, each checked to be of this order's symbol on that venue."""
        if book is None:
            return {}
        given: dict[str, BookSnapshot | None] = (
            dict(book) if isinstance(book, Mapping) else {book.exchange: book}
        )
        for venue, snapshot in given.items():
            if venue not in self.spec.venue_names:
                raise TwapError(
                    f"book of {venue} given to an order on {', '.join(self.spec.venue_names)}"
                )
            if snapshot is not None and (snapshot.exchange, snapshot.symbol) != (
                venue,
                self.spec.symbol,
            ):
                raise TwapError(
                    f"book of {snapshot.exchange} {snapshot.symbol} given as the {venue} book "
                    f"of an order on {self.spec.symbol}"
                )
        return given

    def _step_across(
        self,
        planned: PlannedSlice,
        now_ns: int,
        books: Mapping[str, BookSnapshot | None],
        ledger: LiquidityLedger | None,
        market: MarketActivity | None,
    ) -> SliceResult:
        """One slice of a cross-venue order on the consolidated book of its usable venues."""
        volume = None if market is None else market.volume
        usable: list[BookSnapshot] = []
        left_out: list[tuple[str, str]] = []
        for venue in self.spec.venue_names:
            venue_book = books.get(venue)
            why = self._unusable_book_reason(now_ns, venue_book)
            if why is None and venue_book is not None:
                usable.append(venue_book)
            else:
                left_out.append((venue, why or SkipReason.NO_BOOK.value))
        mid = consolidated_mid(usable)
        wanted = self._target(planned, market)
        target = wanted.qty
        if target == _ZERO:
            waiting = wanted.reason or SkipReason.NOTHING_DUE.value
            return self._record(planned, now_ns, target, (), waiting, None, volume, mid)
        if not usable:  # every venue left out: the slice skips, as one stale book does
            reasons = {why for _, why in left_out}
            stale = SkipReason.STALE_BOOK.value
            skipped = stale if stale in reasons else left_out[0][1]
            return self._record(
                planned, now_ns, target, (), skipped, None, volume, None, tuple(left_out)
            )
        use = ledger or self._ledger
        lot = lot_of(self.spec)
        executions = self._fill_model.fill_across(
            self.spec.side, target, self.spec.limit_price, usable, use, lot
        )
        fills = tuple(Fill(planned.index, e.price, e.qty, now_ns, e.venue) for e in executions)
        filled = sum((f.qty for f in fills), _ZERO)
        reason: str | None = None
        if filled < target:  # limit_price only when what is left is beyond the limit
            levels = use.available_across(usable, self.spec.side)
            best = next((v for v in levels if v.qty >= lot), None)  # a level that could trade
            beyond = best is not None and not within_limit(
                self.spec.side, best.price, self.spec.limit_price
            )
            reason = SkipReason.LIMIT_PRICE.value if beyond else SkipReason.NO_LIQUIDITY.value
        return self._record(
            planned, now_ns, target, fills, reason, None, volume, mid, tuple(left_out)
        )

    def skip(self, now_ns: int, reason: SkipReason | str) -> SliceResult:
        """Record the due slice as skipped (e.g. `server_down`); its quantity carries over."""
        planned = self._due_slice(now_ns)
        target = self._target(planned, None).qty
        return self._record(planned, now_ns, target, (), str(reason), None)

    def cancel(self, now_ns: int) -> None:
        """Stop the order; what has filled stays filled. Idempotent while working."""
        if self.status.is_final:
            raise InvalidOrder(f"order is already {self.status.value}; it cannot be cancelled")
        self._end(OrderStatus.CANCELLED, now_ns)

    def expire(self, now_ns: int) -> None:
        """End the order now as expired, without its remaining slices (e.g. an open-ended
        order when its recording ends); what has filled stays filled."""
        if self.status.is_final:
            raise InvalidOrder(f"order is already {self.status.value}; it cannot expire")
        self._end(OrderStatus.EXPIRED, now_ns)

    def _end(self, status: OrderStatus, now_ns: int) -> None:
        self.status = status
        self.ended_ns = now_ns
        if self.spec.duration_s is None:  # open-ended: its plan is the steps it took
            self.plan = self.plan[: self.next_index]

    # --- internals --------------------------------------------------------
    def _due_slice(self, now_ns: int) -> PlannedSlice:
        if self.status in _FINAL:
            raise InvalidOrder(f"order is {self.status.value}; no slice is due")
        planned = self.plan[len(self.results)]
        if now_ns < planned.due_ns:
            raise InvalidOrder(
                f"slice {planned.index} is due at {planned.due_ns} ns, not yet at {now_ns} ns"
            )
        return planned

    def _target(self, planned: PlannedSlice, market: MarketActivity | None) -> SliceTarget:
        return self.algorithm.target(self, planned, market)

    def _unusable_book_reason(self, now_ns: int, book: BookSnapshot | None) -> str | None:
        if book is None:
            return SkipReason.NO_BOOK.value
        if book.age_ns(now_ns) > self._max_book_age_ns:
            return SkipReason.STALE_BOOK.value
        return None

    def _shortfall_reason(self, book: BookSnapshot, ledger: LiquidityLedger) -> str:
        best = next(ledger.available(book, self.spec.side), None)
        if best is None:
            return SkipReason.NO_LIQUIDITY.value
        return SkipReason.LIMIT_PRICE.value

    def _record(
        self,
        planned: PlannedSlice,
        now_ns: int,
        target: Decimal,
        fills: tuple[Fill, ...],
        reason: str | None,
        book: BookSnapshot | None,
        market_volume: Decimal | None = None,
        mid: Decimal | None = None,
        venues_left_out: tuple[tuple[str, str], ...] = (),
        filled: Decimal | None = None,
    ) -> SliceResult:
        """Apply the slice's outcome; `mid` is used when there is no one `book` (cross-venue);
        `filled` is the sum of the fills' quantities when the caller has it already."""
        if filled is None:
            filled = sum((f.qty for f in fills), _ZERO)
        if filled == _ZERO:
            status = SliceStatus.SKIPPED
        elif filled < target:
            status = SliceStatus.PARTIAL
        else:
            status = SliceStatus.FILLED
        result = _new_result(  # `SliceResult(...)`, positionally (`positional_builder`)
            planned.index,
            planned.due_ns,
            now_ns,
            target,
            filled,
            status,
            fills,
            reason,
            mid if book is None else book.mid,
            None if book is None else book.version,
            market_volume,
            venues_left_out,
        )
        self._apply(result)
        return result

    def _apply(self, result: SliceResult) -> None:
        self.results.append(result)
        self.filled_qty += result.filled_qty
        fills = result.fills
        # `result.notional` (a `sum` from 0), without its generator for one fill
        self.notional += _ZERO + fills[0].notional if len(fills) == 1 else result.notional
        if result.market_volume is not None:
            self.observed_volume += result.market_volume
        self.status = OrderStatus.WORKING
        done = self.filled_qty == self.spec.quantity
        if done or len(self.results) == len(self.plan):
            self._end(OrderStatus.COMPLETED if done else OrderStatus.EXPIRED, result.executed_ns)

    # --- persistence -------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A JSON-ready dict from which `from_state` rebuilds an identical execution.

        The algorithm and its parameters travel in `spec` (no `algorithm` ⇒ twap).
        """
        return {
            "state_version": STATE_VERSION,
            "spec": self.spec.to_dict(),
            "start_ns": self.start_ns,
            "status": self.status.value,
            "ended_ns": self.ended_ns,
            "results": [_result_to_state(r) for r in self.results],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OrderExecution:
        """Rebuild the execution `to_state` described (states without `algorithm` are TWAP)."""
        if state.get("state_version") != STATE_VERSION:
            raise InvalidState(
                f"state_version {state.get('state_version')!r} is not {STATE_VERSION}"
            )
        try:
            execution = cls(OrderSpec.from_dict(state["spec"]), int(state["start_ns"]))
            for data in state["results"]:
                execution._apply(_result_from_state(data))
            status, ended_ns = OrderStatus(state["status"]), state["ended_ns"]
            if status.is_final and not execution.status.is_final:  # cancelled or expired
                execution._end(status, ended_ns)
            execution.status, execution.ended_ns = status, ended_ns
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidState(f"execution state cannot be restored: {exc!r}") from exc
        return execution


# The name the server and stored code know: every algorithm runs in the same state machine.
TwapExecution = OrderExecution
