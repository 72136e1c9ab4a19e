"""`gea-server sla-scan` (seed 5.3, ARCHITECTURE 4.14): every breach of an open ticket recorded
once, escalations once, whatever runs it how often and from how many processes; the views'
breach counts and compliance rates right after a scan, against a fixture computed by hand.

Targets are placed relative to the database's now() in one transaction, far enough from whole
hours that the scan a few milliseconds later sees the same hours overdue.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from server_sync_api.core.db import libpq_conninfo
from server_sync_api.services.job_locks import JobLock
from tests.helpers.processes import run_server
from tests.helpers.tickets import update_ticket

Conn = psycopg.Connection[tuple[Any, ...]]

OPEN, IN_PROGRESS, RESOLVED = 1, 2, 4


def ticket_at(conn: Conn, entity_id: str, service_id: str, **offsets: str) -> int:
    """A ticket inserted with its named timestamp columns at now() plus the given offsets.

    Inserted, not updated: an update runs the ticket's own breach check, and these tickets are
    for the scan to find."""
    columns = psycopg.sql.SQL(", ").join(
        map(psycopg.sql.Identifier, ["entity_id", "service_id", "title", *offsets])
    )
    values = psycopg.sql.SQL(", ").join(
        [
            psycopg.sql.Literal(entity_id),
            psycopg.sql.Literal(service_id),
            psycopg.sql.Literal("Counter complaint"),
            *(
                psycopg.sql.SQL("now() + {}::interval").format(psycopg.sql.Literal(o))
                for o in offsets.values()
            ),
        ]
    )
    row = conn.execute(
        psycopg.sql.SQL("INSERT INTO tickets ({}) VALUES ({}) RETURNING ticket_id").format(columns, values)
    ).fetchone()
    assert row is not None
    return int(row[0])


def let_time_pass(conn: Conn, ticket_id: int, hours: int) -> None:
    """As if `hours` went by for one ticket: its targets move back, with its breach check (which
    any update of a ticket runs) switched off for that one statement, so only a scan sees it."""
    with conn.transaction():
        conn.execute("ALTER TABLE tickets DISABLE TRIGGER trg_check_sla_breach")
        conn.execute(
            "UPDATE tickets SET response_target = response_target - make_interval(hours => %s), "
            "resolution_target = resolution_target - make_interval(hours => %s) WHERE ticket_id = %s",
            (hours, hours, ticket_id),
        )
        conn.execute("ALTER TABLE tickets ENABLE TRIGGER trg_check_sla_breach")


def build_fixture(conn: Conn) -> dict[str, int]:
    """Eight tickets in two entities; the comments say what each should show after a scan."""
    with conn.transaction():
        t = {
            # DEPT-003: five open tickets.
            "A": ticket_at(conn, "DEPT-003", "SVC-003", response_target="-2.5 hours",
                           resolution_target="+10 hours"),  # response breach, escalated at once
            "B": ticket_at(conn, "DEPT-003", "SVC-003", response_target="-30 minutes",
                           resolution_target="+10 hours"),  # response breach, escalated at once
            "C": ticket_at(conn, "DEPT-003", "SVC-003", response_target="-4 hours", responded_at="-5 hours",
                           resolution_target="-30 minutes"),  # resolution breach, not yet escalated
            "D": ticket_at(conn, "DEPT-003", "SVC-003", response_target="-4 hours", responded_at="-5 hours",
                           resolution_target="-3.5 hours"),  # resolution breach, escalated
            "E": ticket_at(conn, "DEPT-003", "SVC-003", response_target="+1 hour",
                           resolution_target="+10 hours"),  # nothing
            # DEPT-004: one open ticket late on both clocks, two resolved today (one late).
            "F": ticket_at(conn, "DEPT-004", "SVC-009", response_target="-1.5 hours",
                           resolution_target="-1.5 hours"),  # two breaches, both escalated
            "G": ticket_at(conn, "DEPT-004", "SVC-009", response_target="-9 hours", responded_at="-10 hours",
                           resolution_target="-5.5 hours"),
            "H": ticket_at(conn, "DEPT-004", "SVC-009", response_target="-9 hours", responded_at="-10 hours",
                           resolution_target="+5.5 hours"),
        }  # fmt: skip
        for late_or_not in ("G", "H"):
            update_ticket(conn, t[late_or_not], status_id=IN_PROGRESS)
            update_ticket(conn, t[late_or_not], status_id=RESOLVED)  # G's breach: recorded by this update
    return t


def breaches(conn: Conn) -> list[tuple[int, str, int, bool]]:
    return [
        (int(r[0]), str(r[1]), int(r[2]), bool(r[3]))
        for r in conn.execute(
            "SELECT ticket_id, breach_type, hours_overdue, escalated FROM sla_breaches "
            "ORDER BY ticket_id, breach_type"
        ).fetchall()
    ]


def events(conn: Conn) -> Counter[tuple[int, str]]:
    return Counter(
        (int(r[0]), str(r[1]))
        for r in conn.execute("SELECT ticket_id, event FROM notification_outbox").fetchall()
    )


def scan_cli(db_url: URL) -> dict[str, Any]:
    done = run_server(db_url, "sla-scan", "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_scan_records_each_breach_once_and_the_views_agree_with_the_hand_count(
    conn: Conn, db_url: URL
) -> None:
    t = build_fixture(conn)
    assert breaches(conn) == [(t["G"], "resolution_breach", 5, True)]  # only the resolved-late one so far

    assert scan_cli(db_url) == {"ran": True, "new_breaches": 6, "new_escalations": 5, "updated": 0}
    assert breaches(conn) == [
        (t["A"], "response_breach", 2, True),
        (t["B"], "response_breach", 0, True),
        (t["C"], "resolution_breach", 0, False),
        (t["D"], "resolution_breach", 3, True),
        (t["F"], "resolution_breach", 1, True),
        (t["F"], "response_breach", 1, True),
        (t["G"], "resolution_breach", 5, True),
    ]
    queue = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT entity_id, total_open_tickets, sla_breach_count FROM v_entity_ticket_queue "
            "WHERE entity_id IN ('DEPT-003', 'DEPT-004')"
        ).fetchall()
    }
    assert queue == {"DEPT-003": (5, 4), "DEPT-004": (1, 2)}  # G and H are resolved: not in the queue
    stats = conn.execute(
        "SELECT tickets_resolved, sla_compliance_rate FROM v_daily_ticket_stats "
        "WHERE date = (SELECT (resolved_at AT TIME ZONE app_timezone())::date "
        "              FROM tickets WHERE ticket_id = %s)",
        (t["G"],),
    ).fetchone()
    assert stats is not None
    assert (stats[0], float(stats[1])) == (2, 50.0)  # G late, H in time
    active = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT ticket_id, response_status, resolution_status FROM v_active_tickets_sla"
        )
    }
    assert active[t["A"]] == ("breached", "on_track")
    assert active[t["C"]] == ("met", "breached")
    assert active[t["E"]] == ("on_track", "on_track")

    # Each new breach queued one notification: 'escalation' when it arrived escalated.
    assert events(conn) == Counter(
        {
            (t["A"], "escalation"): 1,
            (t["B"], "escalation"): 1,
            (t["C"], "breach"): 1,
            (t["D"], "escalation"): 1,
            (t["F"], "escalation"): 2,
            (t["G"], "escalation"): 1,
        }
    )


def test_a_second_scan_changes_nothing_and_a_later_one_escalates_once(conn: Conn, db_url: URL) -> None:
    t = build_fixture(conn)
    scan_cli(db_url)
    recorded, queued = breaches(conn), events(conn)

    assert scan_cli(db_url) == {"ran": True, "new_breaches": 0, "new_escalations": 0, "updated": 0}
    assert breaches(conn) == recorded
    assert events(conn) == queued

    # Two hours pass for C: it is now more than an hour overdue, so this scan escalates it, once.
    let_time_pass(conn, t["C"], 2)
    assert scan_cli(db_url) == {"ran": True, "new_breaches": 0, "new_escalations": 1, "updated": 1}
    assert scan_cli(db_url) == {"ran": True, "new_breaches": 0, "new_escalations": 0, "updated": 0}
    assert (t["C"], "resolution_breach", 2, True) in breaches(conn)
    assert events(conn) - queued == Counter({(t["C"], "escalation"): 1})


def test_a_scan_finding_another_running_says_so_exits_0_and_records_nothing(conn: Conn, db_url: URL) -> None:
    build_fixture(conn)
    before = breaches(conn)
    conn.execute("SELECT pg_advisory_lock(%s)", (int(JobLock.SLA_SCAN),))
    try:
        done = run_server(db_url, "sla-scan")
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (int(JobLock.SLA_SCAN),))
    assert done.returncode == 0, done.stderr
    assert "Another SLA scan is running" in done.stdout
    assert breaches(conn) == before


def _many_overdue(conn: Conn, n: int) -> None:
    """n open tickets, every one late on both clocks by a different number of hours."""
    conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, response_target, resolution_target) "
        "SELECT 'DEPT-003', 'SVC-003', 'Late ' || i, now() - (i %% 50 + 0.5) * interval '1 hour', "
        "now() - (i %% 7 + 0.5) * interval '1 hour' FROM generate_series(1, %s) AS i",
        (n,),
    )


def _over_an_hour(n: int) -> int:
    """How many of _many_overdue's resolution breaches are over an hour late (all but i % 7 == 0)."""
    return sum(1 for i in range(1, n + 1) if i % 7 != 0)


def test_two_scan_processes_at_once_record_each_breach_and_escalation_once(conn: Conn, db_url: URL) -> None:
    _many_overdue(conn, 3000)
    runs = [
        subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(run_server.__globals__["GEA_SERVER"]), "sla-scan", "--json"],
            env=run_server.__globals__["server_env"](db_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        reports.append(json.loads(out))
    # Whichever order they ran in, between them they recorded every breach exactly once.
    assert sum(r["new_breaches"] for r in reports) == 6000
    assert sum(r["new_escalations"] for r in reports) == 3000 + _over_an_hour(3000)
    assert conn.execute(
        "SELECT count(*), count(DISTINCT (ticket_id, breach_type, clock_started_at)) FROM sla_breaches"
    ).fetchone() == (6000, 6000)
    assert conn.execute("SELECT count(*) FROM notification_outbox").fetchone() == (6000,)


def test_scans_racing_without_the_lock_still_write_each_breach_once(conn: Conn, db_url: URL) -> None:
    """The lock only saves work: the statement itself is idempotent under concurrency."""
    _many_overdue(conn, 2000)

    def scan() -> tuple[int, int, int]:
        with psycopg.connect(libpq_conninfo(db_url)) as other:
            row = other.execute("SELECT * FROM record_sla_breaches()").fetchone()
            assert row is not None
            return (int(row[0]), int(row[1]), int(row[2]))

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: scan(), range(3)))
    assert sum(r[0] for r in results) == 4000
    assert conn.execute("SELECT count(*) FROM sla_breaches").fetchone() == (4000,)
    assert conn.execute("SELECT count(*) FROM notification_outbox WHERE event = 'escalation'").fetchone() == (
        2000 + _over_an_hour(2000),
    )


def test_a_scan_on_a_database_that_is_not_migrated_says_what_to_run(empty_db_url: URL) -> None:
    done = run_server(empty_db_url, "sla-scan")
    assert done.returncode == 2
    assert "gea-server migrate" in done.stderr
    assert "Traceback" not in done.stderr


def _breach_ids_taken(conn: Conn) -> int:
    row = conn.execute(
        "SELECT last_value FROM pg_sequences WHERE sequencename = 'sla_breaches_breach_id_seq'"
    ).fetchone()
    assert row is not None
    return int(row[0] or 0)


def test_scans_and_updates_take_breach_ids_only_for_new_breaches(conn: Conn, db_url: URL) -> None:
    """An INSERT ... ON CONFLICT takes an id even when it conflicts; at tens of thousands of running
    breaches scanned every minute that would exhaust the INT id within weeks."""
    _many_overdue(conn, 500)
    t = build_fixture(conn)
    scan_cli(db_url)
    taken = _breach_ids_taken(conn)
    assert taken == conn.execute("SELECT max(breach_id) FROM sla_breaches").fetchone()[0]  # type: ignore[index]
    for _ in range(3):
        scan_cli(db_url)
    let_time_pass(conn, t["C"], 2)  # one breach to update
    assert scan_cli(db_url)["updated"] == 1
    update_ticket(conn, t["A"], title="Still waiting")  # an overdue ticket's own breach check
    assert _breach_ids_taken(conn) == taken


def test_done_tickets_are_never_breached_by_the_scan(conn: Conn, db_url: URL) -> None:
    """Imports may write tickets as Resolved or Closed with times missing; the scan leaves them be."""
    conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, status_id, response_target, resolution_target) "
        "VALUES ('DEPT-003', 'SVC-003', 'Closed, no times', 5, now() - interval '400 days', "
        "        now() - interval '390 days'),"
        "       ('DEPT-003', 'SVC-003', 'Resolved, no times', 4, now() - interval '10 days', "
        "        now() - interval '9 days')"
    )
    assert scan_cli(db_url) == {"ran": True, "new_breaches": 0, "new_escalations": 0, "updated": 0}
    assert breaches(conn) == []
    assert conn.execute("SELECT count(*) FROM detect_sla_breaches()").fetchone() == (0,)


def test_a_ticket_being_resolved_in_time_as_the_scan_runs_gets_no_breach(conn: Conn, db_url: URL) -> None:
    """An officer's change that began before the target and commits after it: the scan skips the
    ticket it finds locked, and the change, once committed, leaves nothing behind."""
    ticket_id = ticket_at(
        conn, "DEPT-003", "SVC-003", response_target="-3 hours", responded_at="-4 hours",
        resolution_target="-1 minute",
    )  # fmt: skip
    with psycopg.connect(libpq_conninfo(db_url)) as officer:
        officer.execute(
            "UPDATE tickets SET status_id = 4, resolved_at = now() - interval '2 minutes' "
            "WHERE ticket_id = %s",
            (ticket_id,),
        )  # not committed yet: the row is locked
        assert scan_cli(db_url) == {"ran": True, "new_breaches": 0, "new_escalations": 0, "updated": 0}
        officer.commit()
    assert scan_cli(db_url) == {"ran": True, "new_breaches": 0, "new_escalations": 0, "updated": 0}
    assert breaches(conn) == []
    assert conn.execute("SELECT count(*) FROM notification_outbox").fetchone() == (0,)
