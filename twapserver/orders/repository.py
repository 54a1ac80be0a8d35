"""Orders in the database: one row per order, one per executed slice, one per fill.

The order row holds the spec and O(1)-size progress columns; the slice and fill
rows are the execution's history, appended as slices commit. `execution_from_rows`
rebuilds the exact `TwapExecution` from them, so nothing grows in place.
Leases and fencing (who may write an order) live in `twapserver.orders.leases`;
`record_slices` applies them to every write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from twapcore import MarketTotals, OrderStatus, SliceResult, TwapExecution
from twapcore.analytics import MARKOUT_HORIZONS_S
from twapserver.db.models import FillRow, OrderRow, SliceRow
from twapserver.orders.bulk import Rows, bulk_params

__all__ = [
    "OPEN_STATUSES",
    "DuplicateTokenId",
    "OrderSummary",
    "SliceConflict",
    "SliceWrite",
    "StatusFilter",
    "execution_from_rows",
    "get_order",
    "insert_order",
    "insert_orders",
    "list_orders",
    "load_history",
    "load_orders",
    "new_order_values",
    "progress_values",
    "record_markouts",
    "record_slices",
    "saved_window",
    "summary_of",
    "totals_to_json",
]

StatusFilter = Literal["open", "closed", "all"]
OPEN_STATUSES = (OrderStatus.ACCEPTED.value, OrderStatus.WORKING.value)
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_ORDERS = OrderRow.__table__
STATE_VERSION = 1  # twapcore's TwapExecution state format


class DuplicateTokenId(Exception):
    """The user already has an order with this token_id."""


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """Progress of an order read from its row alone."""

    limit_price: Decimal
    average_price: Decimal | None
    slices_done: int
    slices_total: int
    algorithm: str
    venues: list[str] | None = None  # cross-venue orders only


def summary_of(order: OrderRow) -> OrderSummary:
    """What a list row or snapshot shows, from the order row alone (no history read)."""
    spec = orjson.loads(order.spec)
    return OrderSummary(
        limit_price=Decimal(spec["limit_price"]),
        algorithm=spec.get("algorithm", "twap"),  # orders stored before algorithms: twap
        average_price=order.notional / order.filled if order.filled else None,
        slices_done=order.slices_done,
        slices_total=order.slices_total,
        venues=spec.get("venues"),
    )


def totals_to_json(totals: MarketTotals) -> str:
    return orjson.dumps(
        {
            "volume": str(totals.volume),
            "notional": str(totals.notional),
            "mid_ns": str(totals.mid_ns),
            "covered_ns": totals.covered_ns,
        }
    ).decode()


def saved_window(order: OrderRow) -> MarketTotals:
    """The market activity recorded over the order's life (see the engine)."""
    if not order.market_window:
        return MarketTotals()
    data = orjson.loads(order.market_window)
    return MarketTotals(
        Decimal(data["volume"]),
        Decimal(data["notional"]),
        Decimal(data["mid_ns"]),
        int(data["covered_ns"]),
    )


def progress_values(execution: TwapExecution) -> dict[str, Any]:
    """The order-row columns that follow the execution: O(1), whatever its length."""
    return {
        "status": execution.status.value,
        "filled": execution.filled_qty,
        "notional": execution.notional,
        "slices_done": len(execution.results),
        "next_due_ns": execution.next_due_ns,
        "ended_ns": execution.ended_ns,
    }


def new_order_values(user_id: int, execution: TwapExecution, now_ns: int) -> dict[str, Any]:
    """Every column of a new accepted order's row (no id yet)."""
    spec = execution.spec
    assert spec.token_id is not None
    return {
        "user_id": user_id,
        "token_id": spec.token_id,
        "exchange": spec.exchange,
        "symbol": spec.symbol,
        "side": spec.side.value,
        "spec": orjson.dumps(spec.to_dict()).decode(),
        "quantity": spec.quantity,
        "slices_total": len(execution.plan),
        "start_ns": execution.start_ns,
        "market_window": None,
        "created_ns": now_ns,
        "updated_ns": now_ns,
        "lease_owner": None,
        "lease_until": None,
        "version": 0,
        "cancel_requested_ns": None,
        **progress_values(execution),
    }


async def insert_orders(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> dict[tuple[int, str], int]:
    """Insert new orders in one statement; the id of each (user_id, token_id) that landed.

    A row whose (user_id, token_id) already exists is left out (ON CONFLICT DO
    NOTHING), so the caller tells duplicates by their absence. Rows must not
    repeat a (user_id, token_id) among themselves.
    """
    insert = _INSERTS[session.get_bind().dialect.name]
    statement = (
        insert(_ORDERS)
        .on_conflict_do_nothing(index_elements=["user_id", "token_id"])
        .returning(_ORDERS.c.id, _ORDERS.c.user_id, _ORDERS.c.token_id)
    )
    landed = await session.execute(statement, list(rows))
    return {(row.user_id, row.token_id): row.id for row in landed}


async def insert_order(
    session: AsyncSession, user_id: int, execution: TwapExecution, now_ns: int
) -> OrderRow:
    """Persist one new accepted order (the caller's transaction); raises `DuplicateTokenId`."""
    values = new_order_values(user_id, execution, now_ns)
    ids = await insert_orders(session, [values])
    order_id = ids.get((user_id, values["token_id"]))
    if order_id is None:
        raise DuplicateTokenId(values["token_id"])
    return OrderRow(id=order_id, **values)


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
    histories = await _load_histories(session, [order_id])
    return histories[order_id]


async def _load_histories(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, tuple[list[SliceRow], list[FillRow]]]:
    """Slices (by index) and fills (in insertion order) of many orders: two queries."""
    histories: dict[int, tuple[list[SliceRow], list[FillRow]]] = {
        order_id: ([], []) for order_id in order_ids
    }
    slices = await session.execute(
        select(SliceRow)
        .where(SliceRow.order_id.in_(order_ids))
        .order_by(SliceRow.order_id, SliceRow.index)
    )
    for row in slices.scalars():
        histories[row.order_id][0].append(row)
    fills = await session.execute(
        select(FillRow).where(FillRow.order_id.in_(order_ids)).order_by(FillRow.id)
    )
    for fill in fills.scalars():
        histories[fill.order_id][1].append(fill)
    return histories


async def load_orders(
    session: AsyncSession, order_ids: Iterable[int]
) -> list[tuple[OrderRow, TwapExecution]]:
    """Orders with their rebuilt executions (at most three queries), by id."""
    ids = sorted(order_ids)
    if not ids:
        return []
    rows = (await session.execute(select(OrderRow).where(OrderRow.id.in_(ids)))).scalars()
    orders = sorted(rows, key=lambda order: order.id)
    # An order without a slice has no history to read (the common case of a new order).
    started = [order.id for order in orders if order.slices_done]
    histories = await _load_histories(session, started) if started else {}
    return [
        (order, execution_from_rows(order, *histories.get(order.id, ((), ())))) for order in orders
    ]


def execution_from_rows(
    order: OrderRow, slices: Sequence[SliceRow], fills: Sequence[FillRow]
) -> TwapExecution:
    """Rebuild the order's `TwapExecution` exactly as it was after its last recorded slice."""
    fills_by_slice: dict[int, list[list[Any]]] = defaultdict(list)
    for fill in fills:
        row = [fill.slice_index, str(fill.price), str(fill.qty), fill.ts_ns]
        if fill.venue is not None:
            row.append(fill.venue)
        fills_by_slice[fill.slice_index].append(row)
    state = {
        "state_version": STATE_VERSION,
        "spec": orjson.loads(order.spec),
        "start_ns": order.start_ns,
        "status": order.status,
        "ended_ns": order.ended_ns,
        "results": [
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
                "market_volume": None if s.market_volume is None else str(s.market_volume),
                "venues_left_out": orjson.loads(s.venues_left_out) if s.venues_left_out else None,
            }
            for s in slices
        ],
    }
    return TwapExecution.from_state(state)


@dataclass(frozen=True, slots=True)
class SliceWrite:
    """One order's new progress to persist, with the slices that produced it (none: a cancel).

    `version` is the fencing token the writer holds: the write lands only if the
    row still has it and the writer still holds the lease.
    """

    order_id: int
    version: int
    results: tuple[SliceResult, ...]
    values: dict[str, Any]  # order-row columns: progress_values(...) + updated_ns, market_window


class SliceConflict(Exception):
    """A slice of a fenced write was already stored: the whole transaction must roll back.

    The fence makes it impossible for a lease holder at the right version; it is the
    last guard (the key (order, index)), and the writer reloads its orders.
    """


_PROGRESS = Rows((
    ("id", "BIGINT"), ("version", "BIGINT"), ("status", "TEXT"), ("filled", "TEXT"),
    ("notional", "TEXT"), ("slices_done", "INTEGER"), ("next_due_ns", "BIGINT"),
    ("ended_ns", "BIGINT"), ("market_window", "TEXT"), ("updated_ns", "BIGINT"),
))  # fmt: skip
_SLICES = Rows((
    ("order_id", "BIGINT"), ("idx", "INTEGER"), ("due_ns", "BIGINT"), ("executed_ns", "BIGINT"),
    ("target_qty", "TEXT"), ("filled_qty", "TEXT"), ("status", "TEXT"), ("reason", "TEXT"),
    ("book_mid", "TEXT"), ("market_volume", "TEXT"), ("venues_left_out", "TEXT"),
))  # fmt: skip
_FILLS = Rows((
    ("order_id", "BIGINT"), ("slice_index", "INTEGER"), ("price", "TEXT"), ("qty", "TEXT"),
    ("ts_ns", "BIGINT"), ("venue", "TEXT"),
))  # fmt: skip
# The fence and the progress in one statement: only rows still leased by :owner at the
# version the write holds change (and renew their lease while at it).
_PROGRESS_SQL = (
    "UPDATE orders SET version = orders.version + 1, lease_until = :until,"
    " status = w.status, filled = w.filled, notional = w.notional,"
    " slices_done = w.slices_done, next_due_ns = w.next_due_ns, ended_ns = w.ended_ns,"
    " market_window = w.market_window, updated_ns = w.updated_ns"
    " FROM {source} WHERE orders.id = w.id AND orders.version = w.version"
    " AND {noindex}orders.lease_owner = :owner RETURNING orders.id"
)
_SLICES_SQL = (
    'INSERT INTO slices (order_id, "index", due_ns, executed_ns, target_qty, filled_qty,'
    " status, reason, book_mid, market_volume, venues_left_out) SELECT {names} FROM {source}"
    " WHERE true"
    ' ON CONFLICT (order_id, "index") DO NOTHING RETURNING order_id'
)
_FILLS_SQL = (
    "INSERT INTO fills (order_id, slice_index, price, qty, ts_ns, venue)"
    " SELECT {names} FROM {source}"
)
# One horizon's markouts: write-once (a stored value wins), and only by the engine that
# holds the order (an ended order stays with the engine that ended it; see leases).
_MARKOUTS = Rows((("order_id", "BIGINT"), ("idx", "INTEGER"), ("mid", "TEXT"), ("missing", "TEXT")))
_MARKOUTS_SQL = (
    "UPDATE slices SET markout_{{h}}s_mid = w.mid, markout_{{h}}s_missing = w.missing"
    ' FROM {source} WHERE slices.order_id = w.order_id AND slices."index" = w.idx'
    " AND slices.markout_{{h}}s_mid IS NULL AND slices.markout_{{h}}s_missing IS NULL"
    " AND EXISTS (SELECT 1 FROM orders WHERE orders.id = slices.order_id"
    " AND orders.lease_owner = :owner)"
)
_MARKOUT_STATEMENTS = {
    (dialect, horizon): _MARKOUTS.statement(dialect, _MARKOUTS_SQL.replace("{{h}}", str(horizon)))
    for dialect in ("postgresql", "sqlite")
    for horizon in MARKOUT_HORIZONS_S
}
_STATEMENTS = {
    dialect: (
        _PROGRESS.statement(dialect, _PROGRESS_SQL),
        _SLICES.statement(dialect, _SLICES_SQL),
        _FILLS.statement(dialect, _FILLS_SQL),
    )
    for dialect in ("postgresql", "sqlite")
}


async def record_slices(
    session: AsyncSession, owner: str, writes: Sequence[SliceWrite], lease_until: int
) -> set[int]:
    """Write orders' progress, their new slices and fills (the caller's transaction).

    At most one write per order; three statements whatever their number. The first
    is the fence: it writes the progress of the orders still leased by `owner` at
    the version each write holds (bumping it, and renewing the lease until
    `lease_until`); the others (lease lost) get nothing written. Then their slices
    and fills. Raises `SliceConflict` if a slice was already stored. Returns the
    ids of the orders written.
    """
    if not writes:
        return set()
    dialect = session.get_bind().dialect.name
    progress_sql, slices_sql, fills_sql = _STATEMENTS[dialect]
    progress = [(w.order_id, w.version, *(w.values[c] for c, _ in _PROGRESS.columns[2:]))
                for w in writes]  # fmt: skip
    params = bulk_params(_PROGRESS, dialect, progress)
    written = await session.execute(progress_sql, {**params, "owner": owner, "until": lease_until})
    fenced = set(written.scalars())
    applied = [w for w in writes if w.order_id in fenced]
    slices = [_slice_row(w.order_id, r) for w in applied for r in w.results]
    if slices:
        stored = await session.execute(slices_sql, bulk_params(_SLICES, dialect, slices))
        if len(stored.all()) < len(slices):
            raise SliceConflict(f"a slice of orders {sorted(fenced)} was already stored")
    fills = [(w.order_id, f.slice_index, f.price, f.qty, f.ts, f.venue)
             for w in applied for r in w.results for f in r.fills]  # fmt: skip
    if fills:
        await session.execute(fills_sql, bulk_params(_FILLS, dialect, fills))
    return fenced


def _slice_row(order_id: int, result: SliceResult) -> tuple[Any, ...]:
    return (
        order_id, result.index, result.due_ns, result.executed_ns, result.target_qty,
        result.filled_qty, result.status.value, result.reason, result.book_mid,
        result.market_volume, _left_out_json(result),
    )  # fmt: skip


def _left_out_json(result: SliceResult) -> str | None:
    if not result.venues_left_out:
        return None
    return orjson.dumps([list(pair) for pair in result.venues_left_out]).decode()


async def record_markouts(
    session: AsyncSession,
    owner: str,
    rows: Sequence[tuple[int, int, int, Decimal | None, str | None]],
) -> int:
    """Store measured markout mids (the caller's transaction); how many landed.

    `rows` are (order_id, slice_index, horizon_s, mid, missing reason). A row
    lands only if that horizon of the slice has nothing stored yet and `owner`
    still holds the order (its lease owner, which an ended order keeps). One
    statement per horizon.
    """
    dialect = session.get_bind().dialect.name
    landed = 0
    for horizon in MARKOUT_HORIZONS_S:
        batch = [(o, i, mid, missing) for o, i, h, mid, missing in rows if h == horizon]
        if batch:
            params = bulk_params(_MARKOUTS, dialect, batch)
            result = await session.execute(
                _MARKOUT_STATEMENTS[(dialect, horizon)], {**params, "owner": owner}
            )
            landed += result.rowcount  # type: ignore[attr-defined]
    return landed
