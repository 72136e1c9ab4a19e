"""Alembic environment for the kiosk's SQLite file (batch mode: SQLite cannot ALTER much)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from kiosk.local_db.models import Base

engine: Engine | None = context.config.attributes.get("engine")
if engine is None:
    raise SystemExit("The kiosk's migrations run from kiosk.local_db.database.migrate(), with an engine.")

with engine.connect() as connection:
    # One transaction for the whole upgrade, begun (BEGIN IMMEDIATE) before the revision is
    # read: Alembic's SQLite default is a transaction per migration after one unlocked read, so
    # two processes opening a new data directory at once could both apply the second step.
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=True, transactional_ddl=True
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
