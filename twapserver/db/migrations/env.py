"""Alembic environment: migrates the connection handed over in `config.attributes`.

Started by `twapserver.db.upgrade_database`, which opens the async engine and
passes a sync connection via `AsyncConnection.run_sync`; there is no
`alembic.ini` and no URL here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from twapserver.db.models import Base

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "twapserver migrations run online only, on the connection passed as "
        "config.attributes['connection'] (see twapserver.db.upgrade_database)"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
