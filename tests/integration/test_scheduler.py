"""The scheduler `serve` runs with GEA_SERVER_SCHEDULER=on: one runner across processes (the
advisory lock), each job when it is due (scheduled_jobs), a failing job that stops no other, a
runner that goes away replaced by another, and a served app that scans on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api.core.config import ServerSettings
from server_sync_api.services import scheduler as scheduling
from server_sync_api.services.job_locks import JobLock
from server_sync_api.services.scheduler import Job, Scheduler
from tests.helpers.processes import wait_until
from tests.helpers.server import serve, settings_for

Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def schedulers() -> Iterator[list[Scheduler]]:
    """Schedulers made by a test, stopped (and their locks released) at its end."""
    made: list[Scheduler] = []
    yield made
    for each in made:
        each.stop()


def _scheduler(
    made: list[Scheduler], settings: ServerSettings, jobs: tuple[Job, ...] = scheduling.JOBS
) -> Scheduler:
    one = Scheduler(settings, tick=timedelta(hours=1), jobs=jobs)  # ticked by hand, never by its thread
    made.append(one)
    return one


def _jobs(conn: Conn) -> dict[str, tuple[bool, str | None]]:
    return {
        row[0]: (row[1] is not None, row[2])
        for row in conn.execute("SELECT job, last_finished_at, last_outcome FROM scheduled_jobs").fetchall()
    }


def _overdue_ticket(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, response_target, resolution_target) "
        "VALUES ('DEPT-003', 'SVC-003', 'Late', now() - interval '2 hours', now() + interval '1 day')"
    )


def _breaches(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM sla_breaches").fetchone()
    assert row is not None
    return int(row[0])


def test_one_runner_runs_each_due_job_once(conn: Conn, db_url: URL, schedulers: list[Scheduler]) -> None:
    _overdue_ticket(conn)
    settings = settings_for(db_url)  # no SMTP, no osTicket: those two jobs are not wanted
    first, second = _scheduler(schedulers, settings), _scheduler(schedulers, settings)

    assert first.tick() == ["sla-scan", "maintenance"]
    assert second.tick() == []  # not the runner
    assert first.is_runner
    assert not second.is_runner
    assert _breaches(conn) == 1
    jobs = _jobs(conn)
    assert set(jobs) == {"sla-scan", "maintenance"}
    assert jobs["sla-scan"] == (
        True,
        "SLA scan: 1 new breach, 1 escalation, 0 running breaches brought up to date.",
    )

    assert first.tick() == []  # nothing due a moment later
    conn.execute("UPDATE scheduled_jobs SET last_started_at = last_started_at - interval '61 seconds'")
    assert first.tick() == ["sla-scan"]  # a minute on: the scan again, maintenance not for a day
    conn.execute("UPDATE scheduled_jobs SET last_started_at = last_started_at - interval '1 day'")
    assert first.tick() == ["sla-scan", "maintenance"]
    assert _breaches(conn) == 1


def test_mail_and_osticket_jobs_run_only_where_they_are_set_up(
    db_url: URL, schedulers: list[Scheduler]
) -> None:
    bare = _scheduler(schedulers, settings_for(db_url))
    configured = _scheduler(
        schedulers,
        settings_for(
            db_url,
            smtp_host="127.0.0.1",
            smtp_from="feedback@example.gd",
            osticket_url="http://127.0.0.1:9",
            osticket_api_key="k" * 32,
        ),
    )
    assert [job.name for job in bare._jobs] == ["sla-scan", "maintenance"]
    assert [job.name for job in configured._jobs] == ["sla-scan", "notify", "osticket-push", "maintenance"]


def test_a_failing_job_is_recorded_and_the_others_still_run(
    conn: Conn, db_url: URL, schedulers: list[Scheduler]
) -> None:
    def broken(_conn: psycopg.Connection[Any], _settings: ServerSettings) -> str:
        raise RuntimeError("the mail server said no\nsecond line")

    jobs = (Job("broken", timedelta(minutes=1), broken, lambda _: True), *scheduling.JOBS)
    one = _scheduler(schedulers, settings_for(db_url), jobs)
    _overdue_ticket(conn)
    assert one.tick() == ["broken", "sla-scan", "maintenance"]
    assert _jobs(conn)["broken"] == (True, "failed: RuntimeError: the mail server said no")
    assert _breaches(conn) == 1


def test_when_the_runner_goes_away_another_takes_over(
    conn: Conn, db_url: URL, schedulers: list[Scheduler]
) -> None:
    settings = settings_for(db_url)
    first, second = _scheduler(schedulers, settings), _scheduler(schedulers, settings)
    assert first.tick() != []
    first.stop()  # its process ends: the connection, and the lock, go with it
    conn.execute("UPDATE scheduled_jobs SET last_started_at = last_started_at - interval '61 seconds'")
    _overdue_ticket(conn)
    assert second.tick() == ["sla-scan"]
    assert second.is_runner
    assert _breaches(conn) == 1


def test_a_runner_whose_database_session_dies_lets_go_and_comes_back(
    conn: Conn, db_url: URL, schedulers: list[Scheduler]
) -> None:
    one = _scheduler(schedulers, settings_for(db_url))
    assert one.tick() != []
    # PostgreSQL ends the runner's session (a restart or failover looks like this to it).
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_locks "
        "WHERE locktype = 'advisory' AND objid = %s AND granted "
        "  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (int(JobLock.SCHEDULER) & 0xFFFFFFFF,),
    )
    conn.execute("UPDATE scheduled_jobs SET last_started_at = last_started_at - interval '61 seconds'")
    _overdue_ticket(conn)
    assert one.tick() == []  # finds its connection gone: lets go, runs nothing
    assert not one.is_runner
    assert one.tick() == ["sla-scan"]  # the next tick takes the lock again
    assert _breaches(conn) == 1


def test_a_served_app_with_the_scheduler_on_scans_by_itself(conn: Conn, db_url: URL) -> None:
    _overdue_ticket(conn)
    with serve(settings_for(db_url, scheduler="on")):
        wait_until(lambda: _breaches(conn) == 1, "the scheduler's first SLA scan")
        wait_until(
            lambda: _jobs(conn).get("sla-scan", (False, None))[0], "the scan to be recorded as finished"
        )
    assert _jobs(conn)["sla-scan"][1] is not None


def test_the_runners_session_cannot_hang_on_a_lock_for_ever(db_url: URL, schedulers: list[Scheduler]) -> None:
    one = _scheduler(schedulers, settings_for(db_url))
    one.tick()
    assert one.is_runner
    conn = one._conn
    assert conn is not None
    settings = dict(
        conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', 'lock_timeout')"
        ).fetchall()
    )
    conn.rollback()
    assert settings == {"statement_timeout": "300000", "lock_timeout": "60000"}
