"""Ticket counts per day, appended by triggers on tickets, breaches and the server's zone and
summed by v_daily_ticket_stats; folded per day by `gea-server maintenance`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from server_sync_api import schema

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

VERSION = "v0010"


def upgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "up.sql"))


def downgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "down.sql"))
