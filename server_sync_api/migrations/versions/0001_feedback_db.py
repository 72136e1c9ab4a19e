"""feedback_db: the seed's fourteen tables, kiosks, functions, triggers, views, indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import context, op

from server_sync_api import schema
from server_sync_api.core.config import DEFAULT_TIMEZONE

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

VERSION = "v0001"
UP = (
    "01_tables.sql",
    "02_functions.sql",
    "03_triggers.sql",
    "04_views.sql",
    "05_indexes.sql",
    "06_reference_data.sql",
)


def upgrade() -> None:
    connection = op.get_bind()
    for name in UP:
        schema.run_sql(connection, schema.read_sql(VERSION, name))
    schema.set_timezone(connection, context.config.attributes.get("timezone", DEFAULT_TIMEZONE))


def downgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "down.sql"))
