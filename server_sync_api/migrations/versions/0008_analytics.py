"""The reporting views at a year of data: covering indexes for the feedback views, narrow
indexes for the daily ticket statistics, and two views rewritten to the same names, columns
and answers (v_service_performance per service, v_daily_ticket_stats in one aggregate with the
server's zone read once).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from server_sync_api import schema

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

VERSION = "v0008"


def upgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "up.sql"))


def downgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "down.sql"))
