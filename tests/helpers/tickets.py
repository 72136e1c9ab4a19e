"""Writing tickets straight into feedback_db in tests (no feedback behind them)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from tests.helpers.feedback import insert_row


def insert_ticket(conn: psycopg.Connection[Any], **columns: object) -> int:
    """Insert a ticket of SVC-003 / DEPT-003 unless told otherwise; the triggers fill the rest
    (number, SLA targets, the 'created' activity). Returns its ticket_id."""
    row: dict[str, object] = {"entity_id": "DEPT-003", "service_id": "SVC-003", "title": "Counter complaint"}
    row.update(columns)
    return insert_row(conn, "tickets", row, "ticket_id")


def update_ticket(conn: psycopg.Connection[Any], ticket_id: int, **columns: object) -> None:
    query = sql.SQL("UPDATE tickets SET {} WHERE ticket_id = {}").format(
        sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in columns),
        sql.Placeholder(),
    )
    conn.execute(query, (*columns.values(), ticket_id))


def ticket_number(conn: psycopg.Connection[Any], ticket_id: int) -> str:
    row = conn.execute("SELECT ticket_number FROM tickets WHERE ticket_id = %s", (ticket_id,)).fetchone()
    assert row is not None
    return str(row[0])


def row_version(conn: psycopg.Connection[Any], number: str) -> int:
    """The version the desk's optimistic check compares (raised by every update)."""
    row = conn.execute("SELECT row_version FROM tickets WHERE ticket_number = %s", (number,)).fetchone()
    assert row is not None
    return int(row[0])


def category_id(conn: psycopg.Connection[Any], name: str) -> int:
    """A demo catalog's ticket category by its name (the names are unique there)."""
    row = conn.execute(
        "SELECT category_id FROM ticket_categories WHERE category_name = %s", (name,)
    ).fetchone()
    assert row is not None
    return int(row[0])
