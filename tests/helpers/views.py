"""The reporting views whose answers triggers keep, in tests: the answer a view's counting
definition gives from the rows as they stand, and batches written as the API writes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg

Conn = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")


def as_counted(conn: Conn, definition: str, read: Callable[[Conn], T]) -> T:
    """What `read` gets with the views replaced by `definition` (their counting text, e.g. a
    down.sql), in a transaction rolled back afterwards."""
    with conn.transaction(force_rollback=True):
        conn.execute(definition.encode())
        return read(conn)


def insert_columns(conn: Conn, statement: str, rows: Sequence[tuple[object, ...]]) -> None:
    """One `INSERT ... SELECT FROM unnest(%s, ...)` statement for all `rows`, a list per column."""
    conn.execute(statement, [list(column) for column in zip(*rows, strict=True)])


def services_of(conn: Conn) -> list[tuple[str, str]]:
    """Every (service_id, entity_id) of the catalog."""
    return [(str(a), str(b)) for a, b in conn.execute("SELECT service_id, entity_id FROM service_master")]
