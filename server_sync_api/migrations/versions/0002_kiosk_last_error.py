"""kiosk_devices: the last error a kiosk reports in its device_status.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from server_sync_api import schema

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

VERSION = "v0002"


def upgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "up.sql"))


def downgrade() -> None:
    schema.run_sql(op.get_bind(), schema.read_sql(VERSION, "down.sql"))
