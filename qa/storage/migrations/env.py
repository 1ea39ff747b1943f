"""Alembic environment: migrations run on the connection ``qa.storage.migrate`` hands over.

The connection is one of the store's own (sqlite3, or asyncpg through ``run_sync``), so there is
one set of drivers and no second URL format to configure.
"""

from __future__ import annotations

from alembic import context

from qa.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table when needed.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
