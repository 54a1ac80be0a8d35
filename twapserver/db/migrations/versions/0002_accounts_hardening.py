"""Accounts hardening: token versions, disabled users, refresh-token families, no id reuse.

Revision ID: 0002
Revises: 0001

On SQLite the users table is rebuilt (batch mode) to declare `id` AUTOINCREMENT,
so the id of a deleted user is never handed out again; existing rows keep
their ids. PostgreSQL's sequences never reuse ids, so there only columns are
added. `upgrade_database` turns SQLite's foreign keys off around migrations:
dropping the old users table would otherwise cascade-delete every order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the model type (see 0001).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rebuild_on_sqlite(autoincrement: bool) -> dict[str, object]:
    """`batch_alter_table` options: recreate the table on SQLite with or without AUTOINCREMENT."""
    if op.get_bind().dialect.name != "sqlite":
        return {}
    return {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": autoincrement}}


def upgrade() -> None:
    with op.batch_alter_table("users", **_rebuild_on_sqlite(True)) as users:  # type: ignore[arg-type]
        users.add_column(
            sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
        )
        users.add_column(
            sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(32), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("expires_s", sa.BigInteger(), nullable=False),
        sa.Column("used_ns", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    with op.batch_alter_table("users", **_rebuild_on_sqlite(False)) as users:  # type: ignore[arg-type]
        users.drop_column("disabled")
        users.drop_column("token_version")
