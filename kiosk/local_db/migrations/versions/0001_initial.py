"""The kiosk's first schema: outbox, reference sequence, device identity, catalog cache,
local settings.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Timestamps are ISO-8601 UTC text (kiosk.local_db.models.UTCDateTime); spelled out here so
# this migration never changes when the models do.
Timestamp = sa.String(length=32)
STATES = ("open", "pending", "sending", "synced", "rejected")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_uuid", sa.String(length=36), nullable=False),
        sa.Column("reference_code", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.Column(
            "state",
            sa.Enum(*STATES, name="outboxstate", native_enum=False, length=10, create_constraint=False),
            nullable=False,
        ),
        sa.Column("state_changed_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("feedback_id", sa.Integer(), nullable=True),
        sa.Column("ticket_number", sa.String(length=20), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("client_uuid", name=op.f("uq_outbox_client_uuid")),
        sa.UniqueConstraint("reference_code", name=op.f("uq_outbox_reference_code")),
        sa.UniqueConstraint("sequence", name=op.f("uq_outbox_sequence")),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_state"), ["state"], unique=False)

    reference_sequence = op.create_table(
        "reference_sequence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_reference_sequence_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_sequence")),
    )
    op.bulk_insert(reference_sequence, [{"id": 1, "last_value": 0}])

    op.create_table(
        "device_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_code", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=50), nullable=False),
        sa.Column("server_url", sa.String(length=500), nullable=False),
        sa.Column("public_base_url", sa.String(length=500), nullable=False),
        sa.Column("enrolled_at", Timestamp, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_device_identity_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_identity")),
    )
    op.create_table(
        "catalog_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(length=100), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("fetched_at", Timestamp, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalog_cache_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_cache")),
    )
    op.create_table(
        "local_settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_local_settings")),
    )


def downgrade() -> None:
    op.drop_table("local_settings")
    op.drop_table("catalog_cache")
    op.drop_table("device_identity")
    op.drop_table("reference_sequence")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_state"))
    op.drop_table("outbox")
