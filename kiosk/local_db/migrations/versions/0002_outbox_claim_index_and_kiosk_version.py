"""The outbox's claim index, and the kiosk version that queued each row.

1. `ix_outbox_state_sequence` on (state, sequence) replaces `ix_outbox_state` on (state).
   The sync worker's claim (`outbox.claim`: pending rows, oldest first, LIMIT one batch) is
   the outbox's hottest query. With the index on state alone SQLite found every pending row
   and sorted them all (`USE TEMP B-TREE FOR ORDER BY`) to hand back one batch, so a kiosk
   offline for days sorted its whole backlog again for every batch it sent. With state then
   sequence the rows come off the index in claim order and the read stops at the batch size.
   The composite index serves every other query the single-column one served (counts by
   state, recovery, rejected rows in order, the purge), so it replaces it instead of adding a
   second index that every write would maintain. A partial index (`sequence WHERE state =
   'pending'`) would be smaller, but those queries would still need an index on state, and
   beside one SQLite's planner (with no ANALYZE statistics, as on every kiosk) prefers the
   equality on state and sorts again.

2. `outbox.kiosk_version` (nullable): the kiosk version (`kiosk.__version__`) whose code
   queued the row. A backlog can span an upgrade, and a payload's shape is the shape of the
   code that wrote it: support reading a rejected or stuck row, or a later migration that has
   to fix up rows of one release, can tell which release made it. Rows queued before this
   migration keep NULL (the version is unknown; nothing is guessed).

Safe on a file with rows in every state: adding a nullable column and creating or dropping an
index are plain ALTER TABLE / CREATE INDEX / DROP INDEX on SQLite (batch mode needs no copy
of the table for them), so no row is rewritten and none can be lost. The downgrade's
DROP COLUMN is done by batch mode's copy of the table, which keeps every row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# The server takes an app_version of at most 50 characters (device_status); so long here too.
KIOSK_VERSION_LENGTH = 50


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("kiosk_version", sa.String(length=KIOSK_VERSION_LENGTH), nullable=True))
        # The new index first: no moment without one for the worker's claim.
        batch_op.create_index(batch_op.f("ix_outbox_state_sequence"), ["state", "sequence"], unique=False)
        batch_op.drop_index(batch_op.f("ix_outbox_state"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_state"), ["state"], unique=False)
        batch_op.drop_index(batch_op.f("ix_outbox_state_sequence"))
        batch_op.drop_column("kiosk_version")
