"""service_feedback in tests: inserting rows with defaults that make a valid row, and reading
back what a kiosk delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from sqlalchemy.engine import URL

from server_sync_api.core.db import libpq_conninfo

DEFAULT_SERVICE_ID = "SVC-003"  # Birth Certificate Request
DEFAULT_ENTITY_ID = "DEPT-003"  # Civil Registry and Vital Statistics


def insert_feedback(conn: psycopg.Connection[Any], **overrides: object) -> int:
    """Insert one service_feedback row and return its feedback_id.

    Defaults: service SVC-003 of DEPT-003, rating 4 (no ticket), channel 'kiosk' (no rate-limit
    row). Any column can be overridden; when service_id is given without entity_id, the entity
    is the service's own.
    """
    row: dict[str, object] = {
        "service_id": DEFAULT_SERVICE_ID,
        "entity_id": DEFAULT_ENTITY_ID,
        "rating": 4,
        "channel": "kiosk",
    }
    if "service_id" in overrides and "entity_id" not in overrides:
        found = conn.execute(
            "SELECT entity_id FROM service_master WHERE service_id = %s", (overrides["service_id"],)
        ).fetchone()
        if found is not None:  # an unknown service is left for its foreign key to refuse
            row["entity_id"] = found[0]
    row.update(overrides)
    return insert_row(conn, "service_feedback", row, "feedback_id")


def insert_row(conn: psycopg.Connection[Any], table: str, row: dict[str, object], key: str) -> int:
    """INSERT one row of the given columns and return its `key` column."""
    query = sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {key}").format(
        table=sql.Identifier(table),
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in row),
        values=sql.SQL(", ").join(sql.Placeholder() for _ in row),
        key=sql.Identifier(key),
    )
    inserted = conn.execute(query, tuple(row.values())).fetchone()
    assert inserted is not None
    value: int = inserted[0]
    return value


@dataclass(frozen=True)
class StoredFeedback:
    client_uuid: str
    feedback_id: int
    reference_code: str
    rating: int
    grievance_flag: bool
    feedback_text: str | None
    recorded_at: datetime
    clock_offset_s: int | None
    created_at: datetime
    tickets: int  # how many tickets point at this feedback
    ticket_number: str | None
    sla_start: datetime | None


def stored_feedback(url: URL, device_code: str) -> dict[str, StoredFeedback]:
    """The device's feedback in feedback_db by client_uuid; fails on a client_uuid stored twice."""
    with (
        psycopg.connect(libpq_conninfo(url)) as conn,
        conn.cursor(row_factory=class_row(StoredFeedback)) as cur,
    ):
        rows = cur.execute(
            "SELECT f.client_uuid::text AS client_uuid, f.feedback_id, f.reference_code, f.rating, "
            "f.grievance_flag, f.feedback_text, f.recorded_at, f.clock_offset_s, f.created_at, "
            "count(t.ticket_id)::int AS tickets, min(t.ticket_number) AS ticket_number, "
            "min(t.sla_start) AS sla_start "
            "FROM service_feedback f JOIN kiosk_devices d ON d.device_id = f.device_id "
            "LEFT JOIN tickets t ON t.feedback_id = f.feedback_id "
            "WHERE d.device_code = %s GROUP BY f.feedback_id",
            (device_code,),
        ).fetchall()
    found = {row.client_uuid: row for row in rows}
    assert len(found) == len(rows), "a client_uuid is stored more than once"
    return found
