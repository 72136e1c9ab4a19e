"""Inserting service_feedback rows in tests, with defaults that make a valid row."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

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
