"""Order leases and incremental order state.

Adds the engine lease (`lease_owner`, `lease_until`), the fencing token
(`version`), the cancel request marker (`cancel_requested_ns`), and O(1)-size
summary columns (`notional`, `slices_done`, `slices_total`, `start_ns`,
`ended_ns`, `market_window`) that replace the `state` JSON, which was rewritten
from the whole execution on every slice. Existing rows are converted both ways.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECIMAL = sa.Text()
STATE_VERSION = 1  # twapcore's TwapExecution state format the `state` column held

_orders = sa.table(
    "orders",
    sa.column("id", sa.BigInteger()),
    sa.column("spec", sa.Text()),
    sa.column("state", sa.Text()),
    sa.column("status", sa.String()),
    sa.column("filled", sa.Text()),
    sa.column("notional", sa.Text()),
    sa.column("slices_done", sa.Integer()),
    sa.column("slices_total", sa.Integer()),
    sa.column("start_ns", sa.BigInteger()),
    sa.column("ended_ns", sa.BigInteger()),
    sa.column("market_window", sa.Text()),
    sa.column("version", sa.BigInteger()),
)

_SUMMARY = ("notional", "slices_done", "slices_total", "start_ns", "version")


def _rewrite(read: Sequence[sa.ColumnElement[Any]], convert: Any) -> None:
    """Set columns of every order row from `convert(row)` (a dict of new values)."""
    bind = op.get_bind()
    rows = bind.execute(sa.select(_orders.c.id, *read)).all()
    for row in rows:
        values = convert(row)
        bind.execute(_orders.update().where(_orders.c.id == row.id).values(**values))


def _from_state(row: Any) -> dict[str, Any]:
    state = orjson.loads(row.state)
    window = state.get("market_window")
    return {
        "notional": state["summary"]["notional"],
        "slices_done": state["summary"]["slices_done"],
        "slices_total": state["summary"]["slices_total"],
        "start_ns": state["start_ns"],
        "ended_ns": state["ended_ns"],
        "market_window": None if not window else orjson.dumps(window).decode(),
        "version": 0,
    }


def _to_state(row: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "state_version": STATE_VERSION,
        "spec": orjson.loads(row.spec),
        "start_ns": row.start_ns,
        "status": row.status,
        "ended_ns": row.ended_ns,
        "summary": {
            "notional": row.notional,
            "slices_done": row.slices_done,
            "slices_total": row.slices_total,
        },
    }
    if row.market_window:
        state["market_window"] = orjson.loads(row.market_window)
    return {"state": orjson.dumps(state).decode()}


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("notional", DECIMAL, nullable=True))
        batch.add_column(sa.Column("slices_done", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("slices_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("start_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("ended_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("market_window", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("cancel_requested_ns", sa.BigInteger(), nullable=True))
    _rewrite([_orders.c.state], _from_state)
    with op.batch_alter_table("orders") as batch:
        for name in _SUMMARY:
            batch.alter_column(name, existing_type=_orders.c[name].type, nullable=False)
        batch.drop_column("state")
        batch.create_index(op.f("ix_orders_status"), ["status"])
        batch.create_index(op.f("ix_orders_lease_owner"), ["lease_owner"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("state", sa.Text(), nullable=True))
    columns = ["spec", "status", "notional", "slices_done", "slices_total", "start_ns"]
    _rewrite([_orders.c[name] for name in [*columns, "ended_ns", "market_window"]], _to_state)
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("state", existing_type=sa.Text(), nullable=False)
        batch.drop_index(op.f("ix_orders_status"))
        batch.drop_index(op.f("ix_orders_lease_owner"))
        for name in (*_SUMMARY, "ended_ns", "market_window", "lease_owner", "lease_until"):
            batch.drop_column(name)
        batch.drop_column("cancel_requested_ns")
