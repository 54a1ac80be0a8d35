"""Slices remember the market volume they were told (`market_volume`).

A pov order's allowance is participation × the volume the market traded over
its life; storing each step's volume lets an engine that claims the order after
a restart or takeover resume from the same total. Older slices stay NULL (not
counted), as they were.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slices") as batch:
        batch.add_column(sa.Column("market_volume", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slices") as batch:
        batch.drop_column("market_volume")
