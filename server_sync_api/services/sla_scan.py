"""The SLA scan (`gea-server sla-scan`): record breaches and escalate (seed 5.3, ARCHITECTURE 4.14).

The work is one set-based statement in the database, `record_sla_breaches()`: every running
breach of an open ticket is recorded once per clock, its hours overdue kept current, and a
response breach escalated at once, a resolution breach once over an hour overdue. The triggers
on sla_breaches queue the officers' notifications in the same transaction. The statement is
idempotent; the advisory lock only spares a second runner the work (cron on two hosts, the
scheduler and a person at a terminal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from server_sync_api.services.job_locks import JobLock, try_job_lock


@dataclass(frozen=True)
class ScanReport:
    ran: bool  # False: another scan held the lock, and this one did nothing
    new_breaches: int = 0
    new_escalations: int = 0
    updated: int = 0  # running breaches whose hours overdue grew

    def summary(self) -> str:
        if not self.ran:
            return "Another SLA scan is running (its lock is held); nothing to do."
        return (
            f"SLA scan: {self.new_breaches} new {_plural(self.new_breaches, 'breach', 'breaches')}, "
            f"{self.new_escalations} {_plural(self.new_escalations, 'escalation', 'escalations')}, "
            f"{self.updated} running {_plural(self.updated, 'breach', 'breaches')} brought up to date."
        )

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def scan(conn: psycopg.Connection[Any]) -> ScanReport:
    """Run one scan on `conn` (which it commits), unless another scan holds the lock."""
    with try_job_lock(conn, JobLock.SLA_SCAN) as held:
        if not held:
            return ScanReport(ran=False)
        row = conn.execute(
            "SELECT new_breaches, new_escalations, updated FROM record_sla_breaches()"
        ).fetchone()
        conn.commit()
    assert row is not None
    return ScanReport(ran=True, new_breaches=row[0], new_escalations=row[1], updated=row[2])
