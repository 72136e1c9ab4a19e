"""Alembic environment for feedback_db.

The schema is SQL-first (see server_sync_api/schema.py), so there is no ORM metadata to
autogenerate from: new revisions are written by hand from `script.py.mako`.
The database comes from a connection the caller passes in `config.attributes["connection"]`
(the CLI and the tests do), else from FEEDBACK_DB_URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, pool

from server_sync_api.core.config import load_settings
from server_sync_api.core.db import make_engine


def run_with(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        run_with(given)
        return
    engine = make_engine(load_settings().url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_with(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("feedback_db migrations run against a live database only (no --sql mode).")
run_migrations_online()
