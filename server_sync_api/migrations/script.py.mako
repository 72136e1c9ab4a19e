"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from alembic import op

from server_sync_api import schema

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "schema.run_sql(op.get_bind(), schema.read_sql('vNNNN', 'up.sql'))"}


def downgrade() -> None:
    ${downgrades if downgrades else "schema.run_sql(op.get_bind(), schema.read_sql('vNNNN', 'down.sql'))"}
