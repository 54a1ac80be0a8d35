"""Orders in the database: one row per order, one per executed slice, one per fill.

The order row keeps the execution's compact state (spec, start, status) and the
slice and fill rows are the execution's history; `execution_from_rows` rebuilds
the exact `TwapExecution` from them, so nothing grows in place on every slice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from twapcore import MarketTotals, OrderStatus, SliceResult, TwapExecution
from twapserver.db.models import FillRow, OrderRow, SliceRow

__all__ = [
    "DuplicateTokenId",
    "OrderSummary",
    "SliceWrite",
    "StatusFilter",
    "execution_from_rows",
    "get_order",
    "insert_order",
    "list_orders",
    "load_history",
    "load_working_orders",
    "record_slices",
    "saved_window",
    "summary_of",
    "totals_to_json",
]

StatusFilter = Literal["open", "closed", "all"]
OPEN_STATUSES = (OrderStatus.ACCEPTED.value, OrderStatus.WORKING.value)
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """Progress of an order read from its row alone."""

    limit_price: Decimal
    average_price: Decimal | None
    slices_done: int
    slices_total: int


def summary_of(order: OrderRow) -> OrderSummary:
    state = orjson.loads(order.state)
    summary = state["summary"]
    notional = Decimal(summary["notional"])
    return OrderSummary(
        limit_price=Decimal(state["spec"]["limit_price"]),
        average_price=notional / order.filled if order.filled else None,
        slices_done=summary["slices_done"],
        slices_total=summary["slices_total"],
    )


def totals_to_json(totals: MarketTotals) -> dict[str, Any]:
    return {
        "volume": str(totals.volume),
        "notional": str(totals.notional),
        "mid_ns": str(totals.mid_ns),
        "covered_ns": totals.covered_ns,
    }


def saved_window(order: OrderRow) -> MarketTotals:
    """The market activity recorded over the order's life (see the engine)."""
    data = orjson.loads(order.state).get("market_window")
    if not data:
        return MarketTotals()
    return MarketTotals(
        Decimal(data["volume"]),
        Decimal(data["notional"]),
        Decimal(data["mid_ns"]),
        int(data["covered_ns"]),
    )


_STATE_COLUMNS = ("status", "filled", "state", "next_due_ns", "updated_ns")
_UPDATE_STATE = (
    update(OrderRow.__table__)  # type: ignore[arg-type]
    .where(OrderRow.__table__.c.id == bindparam("order_id"))
    .values({name: bindparam(name) for name in _STATE_COLUMNS})
)


class DuplicateTokenId(Exception):
    """The user already has an order with this token_id."""


def _state_values(
    execution: TwapExecution, now_ns: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Order-row columns that follow the execution (status, filled, compact state...)."""
    state = execution.to_state()
    del state["results"]  # the history lives in the slices and fills tables
    # What order lists show without reading each order's history.
    state["summary"] = {
        "notional": str(execution.notional),
        "slices_done": len(execution.results),
        "slices_total": len(execution.plan),
    }
    state.update(extra or {})
    return {
        "status": execution.status.value,
        "filled": execution.filled_qty,
        "state": orjson.dumps(state).decode(),
        "next_due_ns": execution.next_due_ns,
        "updated_ns": now_ns,
    }


async def insert_order(
    session: AsyncSession, user_id: int, execution: TwapExecution, now_ns: int
) -> OrderRow:
    """Persist a new accepted order; raises `DuplicateTokenId` (nothing is written)."""
    spec = execution.spec
    assert spec.token_id is not None
    row = OrderRow(
        user_id=user_id,
        token_id=spec.token_id,
        exchange=spec.exchange,
        symbol=spec.symbol,
        side=spec.side.value,
        spec=orjson.dumps(spec.to_dict()).decode(),
        quantity=spec.quantity,
        created_ns=now_ns,
        **_state_values(execution, now_ns),
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise DuplicateTokenId(spec.token_id) from None
    return row


async def get_order(session: AsyncSession, user_id: int, token_id: str) -> OrderRow | None:
    result = await session.execute(
        select(OrderRow).where(OrderRow.user_id == user_id, OrderRow.token_id == token_id)
    )
    return result.scalar_one_or_none()


async def list_orders(
    session: AsyncSession,
    user_id: int,
    status: StatusFilter = "all",
    token_id: str | None = None,
    limit: int = 50,
    after: int | None = None,
) -> tuple[list[OrderRow], int | None]:
    """A page of the user's orders, newest first, and the cursor of the next page."""
    query = select(OrderRow).where(OrderRow.user_id == user_id)
    if status == "open":
        query = query.where(OrderRow.status.in_(OPEN_STATUSES))
    elif status == "closed":
        query = query.where(OrderRow.status.not_in(OPEN_STATUSES))
    if token_id is not None:
        query = query.where(OrderRow.token_id == token_id)
    if after is not None:
        query = query.where(OrderRow.id < after)
    rows = list(
        (await session.execute(query.order_by(OrderRow.id.desc()).limit(limit + 1))).scalars()
    )
    next_after = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_after


async def load_history(
    session: AsyncSession, order_id: int
) -> tuple[list[SliceRow], list[FillRow]]:
    slices = await session.execute(
        select(SliceRow).where(SliceRow.order_id == order_id).order_by(SliceRow.index)
    )
    fills = await session.execute(
        select(FillRow).where(FillRow.order_id == order_id).order_by(FillRow.id)
    )
    return list(slices.scalars()), list(fills.scalars())


def execution_from_rows(
    order: OrderRow, slices: Sequence[SliceRow], fills: Sequence[FillRow]
) -> TwapExecution:
    """Rebuild the order's `TwapExecution` exactly as it was after its last recorded slice."""
    fills_by_slice: dict[int, list[list[Any]]] = defaultdict(list)
    for fill in fills:
        fills_by_slice[fill.slice_index].append(
            [fill.slice_index, str(fill.price), str(fill.qty), fill.ts_ns]
        )
    state = orjson.loads(order.state)
    state["results"] = [
        {
            "index": s.index,
            "due_ns": s.due_ns,
            "executed_ns": s.executed_ns,
            "target_qty": str(s.target_qty),
            "filled_qty": str(s.filled_qty),
            "status": s.status,
            "fills": fills_by_slice.get(s.index, []),
            "reason": s.reason,
            "book_mid": None if s.book_mid is None else str(s.book_mid),
            "book_version": None,
        }
        for s in slices
    ]
    return TwapExecution.from_state(state)


@dataclass(frozen=True, slots=True)
class SliceWrite:
    """One order's new state to persist, with the slice that produced it (None: a cancel)."""

    order: OrderRow
    execution: TwapExecution
    result: SliceResult | None
    now_ns: int
    extra: dict[str, Any] | None = None


async def record_slices(session: AsyncSession, writes: Sequence[SliceWrite]) -> set[int]:
    """Write slices, their fills and their orders' new state (the caller's transaction).

    Three bulk statements whatever the number of writes. The slice key (order,
    index) makes this idempotent: a slice already stored is skipped with its
    fills and order update, so a retry never duplicates a fill. Returns the ids
    of the orders whose write took effect.
    """
    slice_writes = [w for w in writes if w.result is not None]
    stored: set[tuple[int, int]] = set()
    if slice_writes:
        insert = _INSERTS[session.get_bind().dialect.name]
        # One statement compiled once and cached, executed for many rows ("insertmanyvalues"):
        # a literal multi-row VALUES would be recompiled for every batch size.
        statement = (
            insert(SliceRow.__table__)  # type: ignore[arg-type]
            .on_conflict_do_nothing(index_elements=["order_id", "index"])
            .returning(SliceRow.order_id, SliceRow.index)
        )
        rows = [_slice_row(w.order.id, w.result) for w in slice_writes if w.result]
        stored = {(row.order_id, row.index) for row in await session.execute(statement, rows)}
    applied = [w for w in writes if w.result is None or (w.order.id, w.result.index) in stored]
    fills = [
        {"order_id": w.order.id, "slice_index": f.slice_index, "price": f.price, "qty": f.qty,
         "ts_ns": f.ts}
        for w in applied if w.result is not None for f in w.result.fills
    ]  # fmt: skip
    if fills:
        await session.execute(sql_insert(FillRow.__table__), fills)  # type: ignore[arg-type]
    if applied:
        updates = [_state_values(w.execution, w.now_ns, w.extra) for w in applied]
        # A Core executemany: ORM bulk-update-by-primary-key costs several times more here.
        await session.execute(
            _UPDATE_STATE,
            [{"order_id": w.order.id, **v} for w, v in zip(applied, updates, strict=True)],
        )
        for w, values in zip(applied, updates, strict=True):
            for name, value in values.items():
                setattr(w.order, name, value)
    return {w.order.id for w in applied}


def _slice_row(order_id: int, result: SliceResult) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "index": result.index,
        "due_ns": result.due_ns,
        "executed_ns": result.executed_ns,
        "target_qty": result.target_qty,
        "filled_qty": result.filled_qty,
        "status": result.status.value,
        "reason": result.reason,
        "book_mid": result.book_mid,
    }


async def load_working_orders(session: AsyncSession) -> list[tuple[OrderRow, TwapExecution]]:
    """Every order not yet final, with its rebuilt execution, oldest first."""
    rows = await session.execute(
        select(OrderRow).where(OrderRow.status.in_(OPEN_STATUSES)).order_by(OrderRow.id)
    )
    loaded = []
    for order in rows.scalars():
        slices, fills = await load_history(session, order.id)
        loaded.append((order, execution_from_rows(order, slices, fills)))
    return loaded
