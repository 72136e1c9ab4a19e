"""SLAs that run on their own: mail and osTicket outboxes, SLA calendars, breaches per clock, jobs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from server_sync_api import schema

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

VERSION = "v0005"


def upgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "up.sql"))


def downgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "down.sql"))
