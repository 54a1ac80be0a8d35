"""Slices remember the mid 1 s, 10 s and 60 s after their fills (markouts).

Every fill of a slice has the slice's execution time, so the mid at each
markout horizon is one value per slice: `markout_<h>s_mid`, written once by the
engine that executed the slice when the horizon has passed. When there was no
mid to take, `markout_<h>s_missing` says why (`one_sided_book`, `no_book`);
both NULL means not measured (yet). Older slices stay NULL: not measured.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HORIZONS_S = (1, 10, 60)  # twapcore.analytics.MARKOUT_HORIZONS_S when this was written


def upgrade() -> None:
    with op.batch_alter_table("slices") as batch:
        for horizon in _HORIZONS_S:
            batch.add_column(sa.Column(f"markout_{horizon}s_mid", sa.Text(), nullable=True))
            batch.add_column(sa.Column(f"markout_{horizon}s_missing", sa.String(16), nullable=True))


def downgrade() -> None:
    # The mids are derived data: code before 0006 neither reads nor needs them.
    with op.batch_alter_table("slices") as batch:
        for horizon in reversed(_HORIZONS_S):
            batch.drop_column(f"markout_{horizon}s_missing")
            batch.drop_column(f"markout_{horizon}s_mid")
