"""Reopened tickets are watched again (migration 0004, issue 13): a ticket that leaves Resolved or
Closed loses its resolved and closed times and gets a new resolution target counted from the
reopening, so the breach checks see it again; and 0004's downgrade gives back 0003 exactly."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate
from server_sync_api.core.db import make_engine
from tests.helpers import pg
from tests.helpers.feedback import insert_feedback
from tests.helpers.tickets import category_id, insert_ticket, update_ticket

Conn = psycopg.Connection[tuple[Any, ...]]
OPEN, IN_PROGRESS, WAITING, RESOLVED, CLOSED, REOPENED = 1, 2, 3, 4, 5, 6
# Certificate errors (DEPT-003): 8 hours to respond, 120 to resolve; High multiplies by 0.75.
HIGH, CRITICAL = 2, 1


def ticket(conn: Conn, ticket_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM tickets WHERE ticket_id = %s", (ticket_id,)).fetchone()
    assert row is not None
    return row


def db_now(conn: Conn) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def breaches(conn: Conn, ticket_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT breach_type, expected_time, actual_time, hours_overdue FROM sla_breaches "
        "WHERE ticket_id = %s ORDER BY breach_type",
        (ticket_id,),
    ).fetchall()


def worked_and_resolved(conn: Conn, *, started: timedelta, final: int = RESOLVED) -> int:
    """A Certificate errors ticket of High priority whose clock started `started` ago, answered
    (In Progress) and then resolved (and closed, if asked)."""
    start = db_now(conn) - started
    ticket_id = insert_ticket(
        conn,
        category_id=category_id(conn, "Certificate errors"),
        priority_id=HIGH,
        sla_start=start,
        created_at=start,
    )
    update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    update_ticket(conn, ticket_id, status_id=RESOLVED)
    if final == CLOSED:
        update_ticket(conn, ticket_id, status_id=CLOSED)
    return ticket_id


def reopen(conn: Conn, ticket_id: int, status_id: int = REOPENED) -> datetime:
    """Reopens the ticket in a transaction of its own; returns that transaction's time."""
    with conn.transaction():
        at = db_now(conn)
        update_ticket(conn, ticket_id, status_id=status_id)
    return at


@pytest.mark.parametrize("final", [RESOLVED, CLOSED])
def test_a_reopened_ticket_gets_a_new_resolution_target_counted_from_the_reopening(
    conn: Conn, final: int
) -> None:
    ticket_id = worked_and_resolved(conn, started=timedelta(hours=1), final=final)
    before = ticket(conn, ticket_id)
    assert before["resolved_at"] is not None
    assert (before["closed_at"] is not None) == (final == CLOSED)
    assert before["resolution_start"] is None
    assert before["resolution_target"] == before["sla_start"] + timedelta(hours=120 * 0.75)

    reopened_at = reopen(conn, ticket_id)

    after = ticket(conn, ticket_id)
    assert after["status_id"] == REOPENED
    assert (after["resolved_at"], after["closed_at"]) == (None, None)
    assert after["resolution_start"] == reopened_at
    assert after["resolution_target"] == reopened_at + timedelta(hours=120 * 0.75)  # 90 hours
    # Somebody did answer it: the response stays met, its target unchanged.
    assert after["responded_at"] == before["responded_at"]
    assert after["response_target"] == before["response_target"]
    assert after["sla_start"] == before["sla_start"]


def test_moving_between_resolved_and_closed_is_no_reopening(conn: Conn) -> None:
    ticket_id = worked_and_resolved(conn, started=timedelta(hours=1))
    before = ticket(conn, ticket_id)
    update_ticket(conn, ticket_id, status_id=CLOSED)
    after = ticket(conn, ticket_id)
    assert after["resolved_at"] == before["resolved_at"]
    assert after["closed_at"] is not None
    assert after["resolution_start"] is None
    assert after["resolution_target"] == before["resolution_target"]


def test_leaving_resolved_for_any_open_status_also_reopens(conn: Conn) -> None:
    # The rule is the trigger's: imports and back-fills may set any status, the desk only Reopened.
    ticket_id = worked_and_resolved(conn, started=timedelta(hours=1))
    at = reopen(conn, ticket_id, status_id=IN_PROGRESS)
    after = ticket(conn, ticket_id)
    assert (after["resolved_at"], after["resolution_start"]) == (None, at)


def test_breach_checks_watch_a_reopened_ticket_again(conn: Conn) -> None:
    ticket_id = worked_and_resolved(conn, started=timedelta(hours=1))  # resolved well in time
    assert breaches(conn, ticket_id) == []
    reopen(conn, ticket_id)
    target = ticket(conn, ticket_id)["resolution_target"]

    def forecast(as_of: datetime) -> list[tuple[Any, ...]]:
        return conn.execute(
            "SELECT breach_type, expected_time FROM detect_sla_breaches(%s) WHERE ticket_id = %s",
            (as_of, ticket_id),
        ).fetchall()

    def check(as_of: datetime) -> None:
        conn.execute(
            "SELECT check_ticket_sla(t, %s) FROM tickets t WHERE t.ticket_id = %s", (as_of, ticket_id)
        )

    # Before the new target nothing is due; past it the scan reports it (a forecast: the scan
    # records only up to now) and the per-ticket check records it.
    assert forecast(target - timedelta(minutes=1)) == []
    check(target - timedelta(minutes=1))
    assert breaches(conn, ticket_id) == []
    assert forecast(target + timedelta(hours=1)) == [("resolution_breach", target)]
    check(target + timedelta(hours=2, minutes=5))
    assert breaches(conn, ticket_id) == [("resolution_breach", target, None, 2)]

    # Resolving it again ends the breach at the resolution.
    update_ticket(conn, ticket_id, status_id=RESOLVED)
    resolved_at = ticket(conn, ticket_id)["resolved_at"]
    check(target + timedelta(hours=3))
    assert breaches(conn, ticket_id) == [("resolution_breach", target, resolved_at, 2)]


def test_the_nightly_scan_records_a_reopened_tickets_passed_target(conn: Conn) -> None:
    ticket_id = worked_and_resolved(conn, started=timedelta(hours=1))
    reopened_at = reopen(conn, ticket_id)
    # As if it had been reopened five days ago: moved with triggers off, so that no trigger
    # checks it first and only the scan can record the breach.
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "UPDATE tickets SET resolution_start = resolution_start - interval '5 days', "
            "resolution_target = resolution_target - interval '5 days' WHERE ticket_id = %s",
            (ticket_id,),
        )
    target = reopened_at - timedelta(days=5) + timedelta(hours=90)
    assert breaches(conn, ticket_id) == []

    found = conn.execute(
        "SELECT breach_type, expected_time FROM detect_sla_breaches() WHERE ticket_id = %s", (ticket_id,)
    ).fetchall()
    assert found == [("resolution_breach", target)]
    recorded = breaches(conn, ticket_id)
    assert [(b[0], b[1], b[2]) for b in recorded] == [("resolution_breach", target, None)]
    assert recorded[0][3] >= 29  # 5 days - 90 hours = 30 hours overdue, give or take the test's run


def test_a_second_resolution_breach_after_reopening_is_recorded(conn: Conn) -> None:
    ticket_id = worked_and_resolved(conn, started=timedelta(days=5))  # 90 hours: resolved late
    assert "resolution_breach" in [b[0] for b in breaches(conn, ticket_id)]
    reopen(conn, ticket_id)
    target = ticket(conn, ticket_id)["resolution_target"]
    conn.execute(
        "SELECT check_ticket_sla(t, %s) FROM tickets t WHERE t.ticket_id = %s",
        (target + timedelta(hours=2), ticket_id),
    )
    resolution = [(b[1], b[2]) for b in breaches(conn, ticket_id) if b[0] == "resolution_breach"]
    # The first clock's breach, completed when the ticket was resolved late, and the new one.
    assert len(resolution) == 2
    assert (target, None) in resolution
    assert all(actual is not None for expected, actual in resolution if expected != target)


def test_changing_priority_or_category_after_reopening_counts_from_the_reopening(conn: Conn) -> None:
    ticket_id = worked_and_resolved(conn, started=timedelta(hours=1))
    reopened_at = reopen(conn, ticket_id)
    sla_start = ticket(conn, ticket_id)["sla_start"]

    update_ticket(conn, ticket_id, priority_id=CRITICAL)
    after = ticket(conn, ticket_id)
    assert after["resolution_target"] == reopened_at + timedelta(hours=120 * 0.5)
    assert after["response_target"] == sla_start + timedelta(hours=8 * 0.5)  # from the first start
    assert after["resolution_start"] == reopened_at

    update_ticket(conn, ticket_id, category_id=category_id(conn, "Registry counter service"))  # 8 h / 72 h
    after = ticket(conn, ticket_id)
    assert after["resolution_target"] == reopened_at + timedelta(hours=72 * 0.5)
    assert after["response_target"] == sla_start + timedelta(hours=8 * 0.5)


def test_a_ticket_never_reopened_keeps_counting_from_its_sla_start(conn: Conn) -> None:
    ticket_id = worked_and_resolved(conn, started=timedelta(hours=1))
    update_ticket(conn, ticket_id, priority_id=CRITICAL)
    after = ticket(conn, ticket_id)
    assert after["resolution_start"] is None
    assert after["resolution_target"] == after["sla_start"] + timedelta(hours=120 * 0.5)


# -- Migration 0004 and its downgrade ------------------------------------------------------------


def _schema(conn: Conn) -> dict[str, list[tuple[object, ...]]]:
    """What the database holds, in enough detail to tell two schema versions apart (as in
    test_migrations.py)."""
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, "
        "is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        "comments": "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.relnamespace = 'public'::regnamespace "
        "AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NOT NULL "
        "UNION ALL SELECT relname, '', obj_description(oid, 'pg_class') FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND obj_description(oid, 'pg_class') IS NOT NULL",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE NOT tgisinternal",
        "functions": "SELECT proname, pg_get_function_identity_arguments(oid), md5(prosrc) FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace",
        "views": "SELECT viewname, md5(definition) FROM pg_views WHERE schemaname = 'public'",
    }
    return {name: sorted(conn.execute(query).fetchall(), key=repr) for name, query in queries.items()}


def _rows(conn: Conn) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        for table in ("tickets", "ticket_notes", "ticket_activities", "sla_breaches", "service_feedback")
    }


def _insert_0003_desk_history(conn: Conn) -> None:
    """Tickets as 0003 had them: worked with raw SQL, one reopened the old way (resolved_at kept)."""
    for rating, text in ((1, "Rude at the counter."), (2, None), (5, None)):
        insert_feedback(conn, rating=rating, feedback_text=text)
    insert_feedback(conn, rating=4, grievance_flag=True, service_id="SVC-001", feedback_text="Lost passport.")
    ids = [row[0] for row in conn.execute("SELECT ticket_id FROM tickets ORDER BY ticket_id").fetchall()]
    assert len(ids) == 3
    update_ticket(conn, ids[0], status_id=IN_PROGRESS, assigned_to="clerk@gov.gd")
    update_ticket(conn, ids[0], status_id=RESOLVED, resolution_notes="Apologised.")
    update_ticket(conn, ids[0], status_id=REOPENED)
    update_ticket(conn, ids[1], status_id=WAITING, priority_id=CRITICAL)
    conn.execute(
        "INSERT INTO ticket_notes (ticket_id, note_text, created_by) "
        "VALUES (%s, 'Called back.', 'clerk@gov.gd')",
        (ids[0],),
    )


def test_0004_keeps_every_ticket_and_note_of_0003_and_its_downgrade_restores_0003(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0003")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        _insert_0003_desk_history(conn)
        schema_0003 = _schema(conn)
        rows_0003 = _rows(conn)

    migrate.upgrade(engine, revision="0004")
    assert migrate.current_revision(engine) == "0004"
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        rows = _rows(conn)
        # Every row is kept: tickets gain version 1 and no resolution start, notes stay internal.
        assert [row[:-2] for row in rows["tickets"]] == rows_0003["tickets"]
        assert [row[-2:] for row in rows["tickets"]] == [(1, None)] * 3
        assert [row[:-1] for row in rows["ticket_notes"]] == rows_0003["ticket_notes"]
        assert [row[-1] for row in rows["ticket_notes"]] == [False]
        for table in ("ticket_activities", "sla_breaches", "service_feedback"):
            assert rows[table] == rows_0003[table], table
        indexes = {
            str(r[0]) for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'tickets'")
        }
        assert {"ix_tickets_desk_open", "ix_tickets_desk_done"} <= indexes
        # 0004 at work: an officer, a public reply, a change (the version rises).
        conn.execute(
            "INSERT INTO officers (email, display_name, entity_id, role) "
            "VALUES ('ana@gov.gd', 'Ana', 'DEPT-003', 'officer')"
        )
        first = rows["tickets"][0][0]
        conn.execute(
            "INSERT INTO ticket_notes (ticket_id, note_text, created_by, is_public) "
            "VALUES (%s, 'We are on it.', 'ana@gov.gd', true)",
            (first,),
        )
        third = rows["tickets"][2][0]
        assert isinstance(third, int)
        update_ticket(conn, third, title="Edited under 0004")

    migrate.downgrade(engine, "0003")
    assert migrate.current_revision(engine) == "0003"
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_0003
        rows = _rows(conn)
        assert rows["tickets"][:2] == rows_0003["tickets"][:2]
        assert rows["tickets"][2][8] == "Edited under 0004"  # title
        # The public reply is kept, as an internal note (0003 has no other kind).
        assert rows["ticket_notes"][:1] == rows_0003["ticket_notes"]
        assert [row[2] for row in rows["ticket_notes"]] == ["Called back.", "We are on it."]

    migrate.upgrade(engine)  # and up again
    engine.dispose()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM officers").fetchone() == (0,)
        # 0005 pauses the ticket that was already waiting (an update: its version rises once).
        assert conn.execute(
            "SELECT status_id, row_version, waiting_since IS NOT NULL FROM tickets ORDER BY ticket_id"
        ).fetchall() == [(REOPENED, 1, False), (WAITING, 2, True), (OPEN, 1, False)]
