"""Tables of the kiosk's SQLite file (ARCHITECTURE section 6)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Dialect,
    Enum,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime stored as ISO-8601 text, which sorts and compares correctly."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the kiosk stores aware datetimes only")
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        return None if value is None else datetime.fromisoformat(value)


class OutboxState(enum.StrEnum):
    OPEN = "open"  # the citizen is still answering; never sent
    PENDING = "pending"  # finished, waiting to be sent
    SENDING = "sending"  # in a batch on its way to the server
    SYNCED = "synced"  # the server has it (created or duplicate)
    REJECTED = "rejected"  # the server can never accept it; shown to staff, not retried


class OutboxItem(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    reference_code: Mapped[str] = mapped_column(String(40), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    # The item as the sync protocol sends it, less client_uuid, reference_code, recorded_at.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[OutboxState] = mapped_column(
        Enum(
            OutboxState,
            native_enum=False,
            length=10,
            create_constraint=False,
            values_callable=lambda e: [m.value for m in e],
        ),
    )
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(50), nullable=True)
    feedback_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ticket_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The kiosk version whose code queued the row (migration 0002): a backlog can span an
    # upgrade, and a payload has the shape its writer gave it. NULL: queued before 0002.
    kiosk_version: Mapped[str | None] = mapped_column(String(50), nullable=True)

    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # State, then claim order: the worker's claim (pending rows by sequence, one batch)
        # reads the index in order and stops at the batch; counts, recovery and the purge
        # use its state prefix (migration 0002).
        Index("ix_outbox_state_sequence", "state", "sequence"),
    )


class ReferenceSequence(Base):
    """One row: the last sequence number used in a reference code. Never goes back, even when
    old outbox rows are purged, so no reference code is ever issued twice."""

    __tablename__ = "reference_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)


class DeviceIdentity(Base):
    """Who this kiosk is, after enrollment. The token lives in a file of its own (owner-only)."""

    __tablename__ = "device_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_code: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(50))
    server_url: Mapped[str] = mapped_column(String(500))
    public_base_url: Mapped[str] = mapped_column(String(500))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)


class CatalogCache(Base):
    __tablename__ = "catalog_cache"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(100), nullable=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)


class LocalSetting(Base):
    """Settings staff change at the kiosk (language, high contrast); IT's live in kiosk.toml."""

    __tablename__ = "local_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
