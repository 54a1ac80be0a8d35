"""Candles say whether trades of them may be missing (`partial`).

A candle stored while still open at a graceful stop, or built from trades after
a feed gap inside it, is partial; the candle backfill replaces partial candles
with the venue's and never touches whole ones. Candles stored before 0007 are
taken as whole: nothing recorded which of them were not.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("candles") as batch:
        batch.add_column(
            sa.Column("partial", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    # Code before 0007 neither reads nor writes the flag.
    with op.batch_alter_table("candles") as batch:
        batch.drop_column("partial")
