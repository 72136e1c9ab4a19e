"""`gea-server maintenance` (seed 6.1 and 12): what goes and what stays on each side of every
retention boundary, the archive of activities, a second run finding nothing, one run at a
time, a role missing grants, the command's output, and a run beside a writer.

Rows are placed in time relative to the database's now() with margins of minutes or hours,
so no test waits or depends on how fast it runs.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from server_sync_api.services import maintenance
from tests.helpers import desk, pg, processes, roles
from tests.helpers.tickets import insert_ticket

Conn = psycopg.Connection[tuple[Any, ...]]

MAINTENANCE_DOC = Path(__file__).parents[2] / "docs" / "maintenance.md"
EXECUTE_GRANT = "GRANT EXECUTE ON FUNCTION archive_ticket_activities(interval) TO gea_api;"
IDLE = timedelta(minutes=30)


# --- rows, placed in time ------------------------------------------------------------------------


def _ids(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> set[Any]:
    return {row[0] for row in conn.execute(query, params)}


def _count(conn: Conn, table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


def _rate_limit_row(conn: Conn, ended_ago: str) -> int:
    """A submission_rate_limit row whose hour-long window ended `ended_ago` (negative: ends later)."""
    row = conn.execute(
        "INSERT INTO submission_rate_limit (ip_hash, window_start, window_end) "
        "VALUES ('a1b2', now() - %s::interval - interval '1 hour', now() - %s::interval) "
        "RETURNING rate_limit_id",
        (ended_ago, ended_ago),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _attempt(conn: Conn, age: str) -> int:
    row = conn.execute(
        "INSERT INTO submission_attempts (ip_address, attempt_type, success, created_at) "
        "VALUES ('192.0.2.7', 'enroll', false, now() - %s::interval) RETURNING attempt_id",
        (age,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _challenge(conn: Conn, expired_ago: str) -> int:
    row = conn.execute(
        "INSERT INTO captcha_challenges (ip_hash, challenge_code, expires_at) "
        "VALUES ('a1b2', md5(random()::text), now() - %s::interval) RETURNING challenge_id",
        (expired_ago,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _session(conn: Conn, officer_id: int, *, seen_ago: str, ends_in: str) -> bytes:
    token_hash = os.urandom(32)
    conn.execute(
        "INSERT INTO officer_sessions (token_hash, officer_id, method, last_seen_at, expires_at) "
        "VALUES (%s, %s, 'password', now() - %s::interval, now() + %s::interval)",
        (token_hash, officer_id, seen_ago, ends_in),
    )
    return token_hash


def _sign_in(conn: Conn, officer_id: int | None, outcome: str, age: str) -> int:
    row = conn.execute(
        "INSERT INTO officer_sign_ins (at, account, officer_id, ip_hash, method, outcome) "
        "VALUES (now() - %s::interval, 'someone@gov.gd', %s, 'a1b2', 'password', %s) RETURNING sign_in_id",
        (age, officer_id, outcome),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _notification(conn: Conn, ticket_id: int, state: str, *, created_ago: str, sent_ago: str | None) -> int:
    row = conn.execute(
        "INSERT INTO notification_outbox (ticket_id, event, state, created_at, sent_at) "
        "VALUES (%s, 'breach', %s, now() - %s::interval, now() - %s::interval) RETURNING notification_id",
        (ticket_id, state, created_ago, sent_ago),
    ).fetchone()
    assert row is not None
    notification_id = int(row[0])
    if state == "sent":
        conn.execute(
            "INSERT INTO notification_deliveries (notification_id, recipient, message_id, sent_at) "
            "VALUES (%s, 'ana@gov.gd', %s, now() - %s::interval)",
            (notification_id, f"<n{notification_id}@feedback.gov.gd>", sent_ago),
        )
    return notification_id


def _activity(conn: Conn, ticket_id: int, age: str) -> int:
    row = conn.execute(
        "INSERT INTO ticket_activities "
        "(ticket_id, activity_type, old_value, new_value, changed_by, created_at) "
        "VALUES (%s, 'status_change', 'Open', 'In Progress', 'ana@gov.gd', now() - %s::interval) "
        "RETURNING activity_id",
        (ticket_id, age),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _old_and_new_everywhere(conn: Conn) -> None:
    """Something due and something not in every table maintenance looks at."""
    _rate_limit_row(conn, "5 minutes")
    _rate_limit_row(conn, "-5 minutes")
    _attempt(conn, "8 days")
    _attempt(conn, "1 day")
    _challenge(conn, "5 minutes")
    _challenge(conn, "-5 minutes")
    officer = desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    _session(conn, officer, seen_ago="2 hours", ends_in="1 hour")
    _session(conn, officer, seen_ago="1 minute", ends_in="1 hour")
    _sign_in(conn, officer, "wrong_password", "2 years")
    _sign_in(conn, officer, "ok", "1 day")
    ticket = insert_ticket(conn)
    _notification(conn, ticket, "sent", created_ago="100 days", sent_ago="100 days")
    _notification(conn, ticket, "sent", created_ago="1 day", sent_ago="1 day")
    _activity(conn, ticket, "2 years")
    _activity(conn, ticket, "1 day")


# --- what goes and what stays --------------------------------------------------------------------


def test_rate_limit_rows_attempts_and_challenges_go_once_past_their_time(conn: Conn) -> None:
    ended = {_rate_limit_row(conn, "1 minute"), _rate_limit_row(conn, "2 days")}
    open_window = _rate_limit_row(conn, "-1 minute")
    old_attempt = _attempt(conn, "7 days 1 minute")
    recent_attempts = {_attempt(conn, "7 days -1 minute"), _attempt(conn, "0 seconds")}
    expired = _challenge(conn, "1 minute")
    live_challenge = _challenge(conn, "-1 minute")

    report = maintenance.run(conn)

    assert report.ran
    assert report.removed["submission_rate_limit"] == len(ended)
    assert report.removed["submission_attempts"] == 1
    assert report.removed["captcha_challenges"] == 1
    assert _ids(conn, "SELECT rate_limit_id FROM submission_rate_limit") == {open_window}
    assert _ids(conn, "SELECT attempt_id FROM submission_attempts") == recent_attempts
    assert old_attempt not in recent_attempts
    assert _ids(conn, "SELECT challenge_id FROM captcha_challenges") == {live_challenge}
    assert expired != live_challenge
    assert report.skipped == []


def test_desk_sessions_past_their_end_or_idle_limit_go(conn: Conn) -> None:
    officer = desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    _session(conn, officer, seen_ago="1 minute", ends_in="-1 minute")  # past its absolute end
    _session(conn, officer, seen_ago="31 minutes", ends_in="5 hours")  # idle too long
    live = {
        _session(conn, officer, seen_ago="29 minutes", ends_in="5 hours"),
        _session(conn, officer, seen_ago="0 seconds", ends_in="1 minute"),
    }

    report = maintenance.run(conn, session_idle=IDLE)

    assert report.removed["officer_sessions"] == 2
    assert _ids(conn, "SELECT token_hash FROM officer_sessions") == live


def test_the_idle_limit_is_the_one_serve_runs_with(conn: Conn) -> None:
    officer = desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    quiet = _session(conn, officer, seen_ago="45 minutes", ends_in="5 hours")

    assert maintenance.run(conn, session_idle=timedelta(hours=1)).removed["officer_sessions"] == 0
    assert _ids(conn, "SELECT token_hash FROM officer_sessions") == {quiet}
    assert maintenance.run(conn, session_idle=IDLE).removed["officer_sessions"] == 1


def test_sign_ins_go_after_a_year_but_each_officers_last_sign_in_stays(conn: Conn) -> None:
    dormant = desk.add_officer(conn, "dormant@gov.gd", "DEPT-003", password=None)
    active = desk.add_officer(conn, "active@gov.gd", "DEPT-003", password=None)
    gone = {
        _sign_in(conn, dormant, "ok", "3 years"),  # an earlier success than the last
        _sign_in(conn, dormant, "wrong_password", "1 year 1 hour"),
        _sign_in(conn, active, "ok", "2 years"),
        _sign_in(conn, None, "unknown_account", "2 years"),
    }
    dormant_last = _sign_in(conn, dormant, "ok", "2 years")  # the dormant account's last success
    kept = {
        dormant_last,
        _sign_in(conn, dormant, "wrong_password", "1 year -1 hour"),
        _sign_in(conn, active, "ok", "1 day"),
        _sign_in(conn, active, "throttled", "1 minute"),
    }

    report = maintenance.run(conn)

    assert report.removed["officer_sign_ins"] == len(gone)
    assert _ids(conn, "SELECT sign_in_id FROM officer_sign_ins") == kept
    # What `officers list` and the administration page show as the last sign-in.
    last = conn.execute(
        "SELECT max(at) < now() - interval '1 year' FROM officer_sign_ins "
        "WHERE officer_id = %s AND outcome = 'ok'",
        (dormant,),
    ).fetchone()
    assert last == (True,)
    assert maintenance.run(conn).removed["officer_sign_ins"] == 0


def test_notifications_sent_or_skipped_over_90_days_ago_go_with_their_deliveries(conn: Conn) -> None:
    ticket = insert_ticket(conn)
    before = _ids(conn, "SELECT notification_id FROM notification_outbox")
    gone = {
        _notification(conn, ticket, "sent", created_ago="95 days", sent_ago="91 days"),
        _notification(conn, ticket, "skipped", created_ago="91 days", sent_ago=None),
    }
    kept = {
        _notification(conn, ticket, "sent", created_ago="95 days", sent_ago="89 days"),
        _notification(conn, ticket, "skipped", created_ago="89 days", sent_ago=None),
        _notification(conn, ticket, "pending", created_ago="400 days", sent_ago=None),
    }

    report = maintenance.run(conn)

    assert report.removed["notification_outbox"] == len(gone)
    assert _ids(conn, "SELECT notification_id FROM notification_outbox") == kept | before
    assert _ids(conn, "SELECT notification_id FROM notification_deliveries") == kept & _ids(
        conn, "SELECT notification_id FROM notification_outbox WHERE state = 'sent'"
    )
    assert _count(conn, "notification_deliveries") == 1


def test_activities_older_than_a_year_move_to_the_archive_whole_and_the_rest_stay(conn: Conn) -> None:
    ticket = insert_ticket(conn)
    before = _ids(conn, "SELECT activity_id FROM ticket_activities")  # the ticket's 'created'
    old = {
        _activity(conn, ticket, age)
        for age in ("3 years", "2 years", "400 days", "380 days", "1 year 1 hour")
    }
    young = {_activity(conn, ticket, age) for age in ("1 year -1 hour", "30 days")}
    columns = "activity_id, ticket_id, activity_type, old_value, new_value, changed_by, created_at"
    old_rows = conn.execute(
        f"SELECT {columns} FROM ticket_activities WHERE activity_id = ANY(%s) ORDER BY activity_id",
        (list(old),),
    ).fetchall()

    report = maintenance.run(conn, batch_rows=2)  # three calls: two batches of two, then the rest

    assert report.archived == {"ticket_activities": len(old)}
    assert _ids(conn, "SELECT activity_id FROM ticket_activities") == young | before
    archived = conn.execute(
        f"SELECT {columns} FROM ticket_activities_archive ORDER BY activity_id"
    ).fetchall()
    assert archived == old_rows
    assert "ticket_activities_archive" in report.analysed


def test_a_second_run_removes_nothing(conn: Conn) -> None:
    _old_and_new_everywhere(conn)
    first = maintenance.run(conn, session_idle=IDLE)
    assert all(first.removed.values()), first.removed
    assert first.archived == {"ticket_activities": 1}
    counts = {table: _count(conn, table) for table in [*first.removed, "ticket_activities"]}

    second = maintenance.run(conn, session_idle=IDLE)

    assert second.ran
    assert set(second.removed.values()) == {0}
    assert second.archived == {"ticket_activities": 0}
    assert second.analysed == []
    assert second.skipped == []
    assert {table: _count(conn, table) for table in counts} == counts


def test_batches_walk_the_whole_table(conn: Conn) -> None:
    """Small batches, due and kept rows interleaved: every due row goes, the batches move on."""
    kept, due = set(), set()
    for _ in range(7):
        due |= {_attempt(conn, "8 days"), _attempt(conn, "9 days")}
        kept.add(_attempt(conn, "1 hour"))
    officer = desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    for _ in range(5):  # a bytea key this time
        _session(conn, officer, seen_ago="1 hour", ends_in="1 hour")

    report = maintenance.run(conn, session_idle=IDLE, batch_rows=3)

    assert report.removed["submission_attempts"] == len(due) == 14
    assert _ids(conn, "SELECT attempt_id FROM submission_attempts") == kept
    assert report.removed["officer_sessions"] == 5


def test_analyse_runs_only_where_a_meaningful_share_went(conn: Conn) -> None:
    for _ in range(95):
        _attempt(conn, "1 day")
    for _ in range(5):
        _attempt(conn, "8 days")  # 5 of 100: not worth it
    for _ in range(5):
        _rate_limit_row(conn, "-10 minutes")
        _rate_limit_row(conn, "10 minutes")  # 5 of 10
    conn.execute("ANALYZE submission_attempts, submission_rate_limit")

    report = maintenance.run(conn)

    assert report.removed["submission_attempts"] == 5
    assert report.removed["submission_rate_limit"] == 5
    assert "submission_rate_limit" in report.analysed
    assert "submission_attempts" not in report.analysed
    # The planner now counts what is left.
    reltuples = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'submission_rate_limit'")
    assert reltuples.fetchone() == (5,)


def test_a_connection_that_is_not_autocommit_is_given_back_as_it_came(conn: Conn, db_url: URL) -> None:
    due = _attempt(conn, "8 days")
    with psycopg.connect(pg.conninfo(db_url)) as scheduler:
        assert maintenance.run(scheduler).removed["submission_attempts"] == 1
        assert not scheduler.autocommit
        scheduler.execute("SELECT 1")  # now in a transaction: a run would not commit its batches
        with pytest.raises(ValueError, match="no transaction open"):
            maintenance.run(scheduler)
    assert due not in _ids(conn, "SELECT attempt_id FROM submission_attempts")


# --- one at a time, and a role with fewer rights -------------------------------------------------


def test_a_run_finding_the_lock_taken_does_nothing_and_says_so(conn: Conn, db_url: URL) -> None:
    due = _attempt(conn, "8 days")
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (maintenance.LOCK_KEY,))

        report = maintenance.run(conn)
        done = processes.run_server(db_url, "maintenance")

        assert not report.ran
        assert "Another maintenance run holds its lock" in report.summary()
        assert done.returncode == 0, done.stderr
        assert "Another maintenance run holds its lock" in done.stdout
        assert _ids(conn, "SELECT attempt_id FROM submission_attempts") == {due}
        other.execute("SELECT pg_advisory_unlock(%s)", (maintenance.LOCK_KEY,))

    assert maintenance.run(conn).removed["submission_attempts"] == 1
    # The run let its own lock go: another session can take it.
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as other:
        taken = other.execute("SELECT pg_try_advisory_lock(%s)", (maintenance.LOCK_KEY,)).fetchone()
        assert taken == (True,)


def documented_grants() -> str:
    grants = roles.documented_grants(MAINTENANCE_DOC, "## The grants it needs")
    assert EXECUTE_GRANT in grants
    return grants


@pytest.fixture
def limited_role(db_url: URL) -> Iterator[Callable[[str], Conn]]:
    """Each call makes a login role owning nothing, with the given grants on this test's database,
    and returns an autocommit connection as it; the connection is closed and the role dropped
    after the test."""
    with ExitStack() as made:

        def connect(grants: str) -> Conn:
            as_role = made.enter_context(roles.login_role(db_url, grants, prefix="gea_maint"))
            return made.enter_context(psycopg.connect(pg.conninfo(as_role), autocommit=True))

        yield connect


def test_the_documented_grants_let_the_api_role_run_it_all(
    conn: Conn, limited_role: Callable[[str], Conn]
) -> None:
    _old_and_new_everywhere(conn)
    as_role = limited_role(documented_grants())

    report = maintenance.run(as_role, session_idle=IDLE)

    assert all(report.removed.values()), report.removed
    assert report.archived == {"ticket_activities": 1}
    assert report.skipped == []
    if conn.info.server_version < 170000:  # only the owner may ANALYZE: left to autovacuum
        assert report.analysed == []
        assert "submission_rate_limit" in report.left_to_autovacuum
        assert "Left to autovacuum: " in report.summary()


def test_without_execute_on_the_archive_that_step_is_skipped_and_the_rest_done(
    conn: Conn, limited_role: Callable[[str], Conn]
) -> None:
    _old_and_new_everywhere(conn)
    as_role = limited_role(documented_grants().replace(EXECUTE_GRANT, ""))

    report = maintenance.run(as_role, session_idle=IDLE)

    assert all(report.removed.values()), report.removed
    assert "ticket_activities" not in report.archived
    (archive,) = [s for s in report.skipped if s.step == maintenance.ARCHIVE_STEP]
    assert "permission denied for function archive_ticket_activities" in archive.reason
    assert "GRANT EXECUTE ON FUNCTION archive_ticket_activities(interval) TO gea_maint_" in archive.reason
    assert "as the database owner" in archive.reason
    assert f"Skipped {maintenance.ARCHIVE_STEP}: permission denied" in report.summary()
    assert _count(conn, "ticket_activities_archive") == 0
    assert _count(conn, "submission_attempts") == 1


def test_the_days_ticket_counts_are_folded_and_without_execute_that_step_is_skipped(
    conn: Conn, limited_role: Callable[[str], Conn]
) -> None:
    for _ in range(3):  # on one day, whatever the time the test runs
        insert_ticket(conn, created_at="2026-01-15 12:00:00+00")
    rows = _count(conn, "ticket_day_deltas")
    assert rows == 3  # a row per statement
    fold = "GRANT EXECUTE ON FUNCTION compact_ticket_day_totals() TO gea_api;"
    assert fold in documented_grants()
    as_role = limited_role(documented_grants().replace(fold, ""))

    report = maintenance.run(as_role, session_idle=IDLE)

    assert "ticket_day_deltas" not in report.folded
    (step,) = [s for s in report.skipped if s.step == maintenance.FOLD_STEP]
    assert "GRANT EXECUTE ON FUNCTION compact_ticket_day_totals() TO gea_maint_" in step.reason
    assert _count(conn, "ticket_day_deltas") == rows

    report = maintenance.run(conn, session_idle=IDLE)

    assert report.folded == {"ticket_day_deltas": rows - 1}
    assert re.search(r"ticket_day_deltas +2 folded", report.summary()), report.summary()
    assert _count(conn, "ticket_day_deltas") == 1


# --- the command ---------------------------------------------------------------------------------


def test_the_command_prints_what_it_removed_and_json_on_request(conn: Conn, db_url: URL) -> None:
    _old_and_new_everywhere(conn)

    done = processes.run_server(db_url, "maintenance")

    assert done.returncode == 0, done.stderr
    assert re.search(r"submission_attempts +1 removed", done.stdout), done.stdout
    assert re.search(r"ticket_activities +1 archived", done.stdout), done.stdout
    assert "Analysed: " in done.stdout

    again = processes.run_server(db_url, "maintenance", "--json")

    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    assert body["ran"] is True
    assert set(body["removed"]) == {p.table for p in maintenance.PURGES}
    assert set(body["removed"].values()) == {0}
    assert body["archived"] == {"ticket_activities": 0}
    assert body["analysed"] == []
    assert body["left_to_autovacuum"] == {}
    assert body["skipped"] == []


def test_the_command_on_a_database_not_migrated_says_what_to_run(empty_db_url: URL) -> None:
    done = processes.run_server(empty_db_url, "maintenance")
    assert done.returncode == 2
    assert "run `gea-server migrate` first" in done.stderr
    assert "Traceback" not in done.stderr


# --- beside the API ------------------------------------------------------------------------------


def test_it_runs_while_other_connections_write(conn: Conn, db_url: URL) -> None:
    """While a run of small batches goes on, one connection keeps a transaction open that has
    written to every table maintenance deletes from and touched a live session, and another
    writes the same in a loop: the run neither waits for them (a wait would hit the lock
    timeout, not hang) nor deadlocks, and they see no error."""
    officer = desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    live = _session(conn, officer, seen_ago="0 seconds", ends_in="5 hours")
    held_live = _session(conn, officer, seen_ago="0 seconds", ends_in="5 hours")
    ticket = insert_ticket(conn)
    for _ in range(300):
        _attempt(conn, "8 days")
        _rate_limit_row(conn, "1 hour")
        _sign_in(conn, officer, "wrong_password", "2 years")
    for day in range(30):
        _activity(conn, ticket, f"{400 + day} days")

    def write(writer: Conn, session: bytes) -> None:
        _attempt(writer, "0 seconds")
        _rate_limit_row(writer, "-1 hour")
        _challenge(writer, "-5 minutes")
        _sign_in(writer, officer, "ok", "0 seconds")
        _activity(writer, ticket, "0 seconds")
        _notification(writer, ticket, "pending", created_ago="0 seconds", sent_ago=None)
        writer.execute("UPDATE officer_sessions SET last_seen_at = now() WHERE token_hash = %s", (session,))

    started, stop = threading.Event(), threading.Event()
    failures: list[BaseException] = []
    loops = {"done": 0}

    def keep_writing() -> None:
        try:
            with psycopg.connect(pg.conninfo(db_url), autocommit=True) as writer:
                while not stop.is_set() or loops["done"] < 2:
                    with writer.transaction():
                        write(writer, live)
                    loops["done"] += 1
                    started.set()
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
            started.set()

    writer_thread = threading.Thread(target=keep_writing, daemon=True)
    with psycopg.connect(pg.conninfo(db_url)) as held:  # not autocommit: its transaction stays open
        write(held, held_live)
        writer_thread.start()
        assert started.wait(processes.DEADLINE_S)
        conn.execute("SET lock_timeout = '30s'")
        try:
            report = maintenance.run(conn, session_idle=IDLE, batch_rows=25)
        finally:
            stop.set()
            writer_thread.join(processes.DEADLINE_S)
        held.commit()
    assert not writer_thread.is_alive()
    assert failures == []

    assert report.removed["submission_attempts"] == 300
    assert report.removed["submission_rate_limit"] == 300
    assert report.removed["officer_sign_ins"] == 300
    assert report.archived == {"ticket_activities": 30}
    assert report.skipped == []
    assert _count(conn, "submission_attempts") == loops["done"] + 1
    assert _count(conn, "captcha_challenges") == loops["done"] + 1
    assert _ids(conn, "SELECT token_hash FROM officer_sessions") == {live, held_live}
