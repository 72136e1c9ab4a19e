"""The scheduler `gea-server serve` runs with GEA_SERVER_SCHEDULER=on: the SLA scan, mail to
officers and the osTicket push every minute, maintenance once a day.

Every worker of every host starts one, and one of them runs the jobs: the one holding a
PostgreSQL session advisory lock (JobLock.SCHEDULER). The others try again each tick, so when
the runner's process or host goes away (its connection ends, and the lock with it) another takes
over within a tick. When each job last started is kept in `scheduled_jobs`, so a restart does
not run the daily maintenance again, and a new runner carries on where the last one stopped.

The scheduler is a plain thread: the jobs are synchronous database and network work that must
not hold up the event loop serving requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from server_sync_api.core.config import ServerSettings
from server_sync_api.core.db import libpq_conninfo
from server_sync_api.services import maintenance, notifications, osticket, sla_scan
from server_sync_api.services.job_locks import JobLock

log = logging.getLogger("server_sync_api.scheduler")

TICK = timedelta(seconds=30)
OSTICKET_PER_RUN = 10
# The runner's own session: no statement may hang the jobs for ever (a lock held elsewhere, a
# runaway plan), and a peer that vanished (a failover, a cut cable) is noticed within a minute
# instead of the kernel's two hours, so the lock is freed for another process to take over.
RUNNER_SESSION: dict[str, Any] = {
    "connect_timeout": 10,
    "options": "-c statement_timeout=300000 -c lock_timeout=60000",
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[psycopg.Connection[Any], ServerSettings], str]
    wanted: Callable[[ServerSettings], bool]


def _scan(conn: psycopg.Connection[Any], _settings: ServerSettings) -> str:
    return sla_scan.scan(conn).summary()


def _notify(_conn: psycopg.Connection[Any], settings: ServerSettings) -> str:
    return notifications.send_due(libpq_conninfo(settings.url), settings).summary()


def _osticket(_conn: psycopg.Connection[Any], settings: ServerSettings) -> str:
    # A few a minute: a slow osTicket (each request may wait a minute) must not hold up the
    # next minute's SLA scan for long; a backlog drains over the following runs.
    return osticket.push_due(libpq_conninfo(settings.url), settings, limit=OSTICKET_PER_RUN).summary()


def _maintenance(conn: psycopg.Connection[Any], settings: ServerSettings) -> str:
    idle = timedelta(minutes=settings.session_idle_minutes)
    return maintenance.run(conn, session_idle=idle).summary()


JOBS = (
    Job("sla-scan", timedelta(minutes=1), _scan, lambda _: True),
    # Mail only where a mail server is set; the notifications wait in the outbox otherwise.
    Job("notify", timedelta(minutes=1), _notify, lambda s: s.smtp_host is not None),
    Job("osticket-push", timedelta(minutes=1), _osticket, lambda s: s.osticket_enabled),
    Job("maintenance", timedelta(days=1), _maintenance, lambda _: True),
)


class Scheduler:
    """Runs the due jobs every `tick` while this process holds the scheduler lock."""

    def __init__(
        self, settings: ServerSettings, tick: timedelta = TICK, jobs: tuple[Job, ...] = JOBS
    ) -> None:
        self._settings = settings
        self._tick = tick
        self._jobs = tuple(job for job in jobs if job.wanted(settings))
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_runner(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def start(self) -> None:
        log.info(
            "Scheduler on: %s.", ", ".join(f"{job.name} every {_every(job.every)}" for job in self._jobs)
        )
        self._thread = threading.Thread(target=self._loop, name="gea-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                # A job is still running on the connection: leave both to the process's end
                # (the thread is a daemon; the session, and its lock, end with the process).
                log.warning("Scheduler: a job was still running at shutdown; left to end with the process.")
                return
        self._release()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self._tick.total_seconds())

    def tick(self) -> list[str]:
        """Run what is due if this process is the runner; returns the names of the jobs run."""
        ran: list[str] = []
        try:
            conn = self._runner_connection()
            if conn is None:
                return ran
            for job in self._jobs:
                if self._stop.is_set():
                    break
                if self._claim(conn, job):
                    self._run(conn, job)
                    ran.append(job.name)
        except psycopg.Error as exc:
            # The database went away (a restart, a failover): give up the lock and the
            # connection; the next tick starts again, here or in another process.
            log.warning("Scheduler paused: %s", _first_line(exc))
            self._release()
        return ran

    def _runner_connection(self) -> psycopg.Connection[Any] | None:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._release()
        conn = psycopg.connect(libpq_conninfo(self._settings.url), **RUNNER_SESSION)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (int(JobLock.SCHEDULER),)).fetchone()
        conn.commit()
        if not (row and row[0]):
            conn.close()  # another process runs the jobs; no need to keep a connection open
            return None
        log.info("This process now runs the scheduled jobs.")
        self._conn = conn
        return conn

    def _claim(self, conn: psycopg.Connection[Any], job: Job) -> bool:
        """Mark the job started if it is due; False if it ran less than `every` ago."""
        with conn.transaction():
            conn.execute("INSERT INTO scheduled_jobs (job) VALUES (%s) ON CONFLICT DO NOTHING", (job.name,))
            row = conn.execute(
                "UPDATE scheduled_jobs SET last_started_at = now() "
                "WHERE job = %s AND (last_started_at IS NULL OR last_started_at <= now() - %s) "
                "RETURNING job",
                (job.name, job.every),
            ).fetchone()
        return row is not None

    def _run(self, conn: psycopg.Connection[Any], job: Job) -> None:
        try:
            outcome = job.run(conn, self._settings)
        except psycopg.OperationalError:
            raise  # the database itself: handled by tick
        except Exception as exc:  # noqa: BLE001 - one job's fault must not stop the others
            outcome = f"failed: {type(exc).__name__}: {_first_line(exc)}"
            log.error("Scheduled %s %s", job.name, outcome)
            if not conn.closed and not conn.broken:
                conn.rollback()
        else:
            log.info("Scheduled %s: %s", job.name, outcome.replace("\n", " "))
        conn.execute(
            "UPDATE scheduled_jobs SET last_finished_at = now(), last_outcome = %s WHERE job = %s",
            (outcome[:2000], job.name),
        )
        conn.commit()

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.close()  # ends the session, and the advisory lock with it


def _every(every: timedelta) -> str:
    return f"{int(every.total_seconds() // 60)} min" if every < timedelta(hours=1) else f"{every.days} day"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
