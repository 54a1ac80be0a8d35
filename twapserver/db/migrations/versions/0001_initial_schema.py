"""Initial schema: candles, users, orders, slices, fills.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 12:39:47
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must keep creating the same
# schema even after the models move on. Decimals are stored as exact text.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DECIMAL = sa.Text()


def upgrade() -> None:
    op.create_table(
        "candles",
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("open_ns", sa.BigInteger(), nullable=False),
        sa.Column("open", DECIMAL, nullable=False),
        sa.Column("high", DECIMAL, nullable=False),
        sa.Column("low", DECIMAL, nullable=False),
        sa.Column("close", DECIMAL, nullable=False),
        sa.Column("volume", DECIMAL, nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "exchange", "symbol", "interval", "open_ns", name=op.f("pk_candles")
        ),
    )
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token_id", sa.String(128), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("quantity", DECIMAL, nullable=False),
        sa.Column("filled", DECIMAL, nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.Column("next_due_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_orders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("user_id", "token_id", name=op.f("uq_orders_user_id_token_id")),
    )
    op.create_index(op.f("ix_orders_next_due_ns"), "orders", ["next_due_ns"])
    op.create_table(
        "slices",
        sa.Column("order_id", ID, nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("due_ns", sa.BigInteger(), nullable=False),
        sa.Column("executed_ns", sa.BigInteger(), nullable=False),
        sa.Column("target_qty", DECIMAL, nullable=False),
        sa.Column("filled_qty", DECIMAL, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("book_mid", DECIMAL, nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_slices_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "index", name=op.f("pk_slices")),
    )
    op.create_table(
        "fills",
        sa.Column("id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("slice_index", sa.Integer(), nullable=False),
        sa.Column("price", DECIMAL, nullable=False),
        sa.Column("qty", DECIMAL, nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_fills_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
    )
    op.create_index(op.f("ix_fills_order_id_slice_index"), "fills", ["order_id", "slice_index"])


def downgrade() -> None:
    op.drop_table("fills")
    op.drop_table("slices")
    op.drop_index(op.f("ix_orders_next_due_ns"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("users")
    op.drop_table("candles")
