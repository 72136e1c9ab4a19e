"""Advisory locks that keep each background job to one runner across processes and hosts.

PostgreSQL session-level advisory locks: taken with `pg_try_advisory_lock`, held by the
connection until it is released or the connection ends (a crashed runner frees its lock).
The keys are constants in one place so no two jobs share one by accident.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

import psycopg


class JobLock(IntEnum):
    # Arbitrary constants, distinct from migrate.MIGRATION_LOCK_KEY (0x6EA_F00D).
    SLA_SCAN = 0x6EA_5CA1
    SCHEDULER = 0x6EA_5C4E
    MAINTENANCE = 0x6EA_4D41


@contextmanager
def try_job_lock(conn: psycopg.Connection[Any], key: JobLock) -> Iterator[bool]:
    """Yield True with the lock held, or False when another session holds it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (int(key),)).fetchone()
    conn.commit()
    held = bool(row and row[0])
    try:
        yield held
    finally:
        if held and not conn.closed:
            conn.rollback()  # an aborted transaction would refuse the unlock too
            conn.execute("SELECT pg_advisory_unlock(%s)", (int(key),))
            conn.commit()
