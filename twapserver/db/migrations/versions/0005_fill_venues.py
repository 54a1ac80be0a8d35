"""Cross-venue orders: fills keep their venue, slices the venues they left out.

`fills.venue` is the venue a fill traded on (NULL: the order's one exchange, as
every fill stored before cross-venue orders). `slices.venues_left_out` is JSON
`[[venue, reason], …]` of the venues a cross-venue slice did not use (stale or
missing book); NULL when none was left out. Old rows read back unchanged.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fills") as batch:
        batch.add_column(sa.Column("venue", sa.String(32), nullable=True))
    with op.batch_alter_table("slices") as batch:
        batch.add_column(sa.Column("venues_left_out", sa.Text(), nullable=True))


def downgrade() -> None:
    # Code before 0005 can read neither a fill's venue nor a spec with `venues`: refuse
    # rather than leave orders it would fail on (the data stays as it is).
    count = op.get_bind().execute(
        sa.text("SELECT count(*) FROM orders WHERE spec LIKE '%\"venues\"%'")
    )
    cross_venue = count.scalar_one()
    if cross_venue:
        raise RuntimeError(
            f"cannot downgrade below 0005: {cross_venue} cross-venue orders would lose the "
            "venues of their fills and could not be read; delete those orders first"
        )
    with op.batch_alter_table("slices") as batch:
        batch.drop_column("venues_left_out")
    with op.batch_alter_table("fills") as batch:
        batch.drop_column("venue")
