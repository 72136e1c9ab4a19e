"""trg_calculate_sla skips the tickets a feedback statement makes with every SLA column given
(the statement says so with a transaction-local setting).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from server_sync_api import schema

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

VERSION = "v0012"


def upgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "up.sql"))


def downgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "down.sql"))
