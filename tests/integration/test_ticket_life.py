"""A ticket's life in the database: the activity log, the status times, the append-only audit
trail and its archiving, and tickets that cannot be deleted (ARCHITECTURE 4.11, seed 8.3).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from tests.helpers.feedback import insert_feedback
from tests.helpers.tickets import insert_ticket as _insert_ticket
from tests.helpers.tickets import update_ticket as _update_ticket

Conn = psycopg.Connection[tuple[Any, ...]]

OPEN, IN_PROGRESS, WAITING, RESOLVED, CLOSED, REOPENED = 1, 2, 3, 4, 5, 6
CRITICAL, HIGH, MEDIUM, LOW = 1, 2, 3, 4


def _one(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row


def _db_now(conn: Conn) -> datetime:
    now: datetime = _one(conn, "SELECT now()")[0]
    return now


def _ticket_from_feedback(conn: Conn, *, age: timedelta = timedelta(0), rating: int = 1) -> int:
    """A ticket made by the trigger from low-rated feedback submitted `age` ago (High, Open)."""
    created_at = _db_now(conn) - age
    feedback_id = insert_feedback(conn, rating=rating, created_at=created_at)
    ticket_id: int = _one(conn, "SELECT ticket_id FROM tickets WHERE feedback_id = %s", (feedback_id,))[0]
    return ticket_id


def _changes(conn: Conn, ticket_id: int) -> list[tuple[Any, ...]]:
    """(type, old, new) of every activity but the creation, in order."""
    return conn.execute(
        "SELECT activity_type, old_value, new_value FROM ticket_activities "
        "WHERE ticket_id = %s AND activity_type <> 'created' ORDER BY activity_id",
        (ticket_id,),
    ).fetchall()


def _all_activities(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM ticket_activities ORDER BY activity_id").fetchall()


def _times(conn: Conn, ticket_id: int) -> tuple[Any, ...]:
    return _one(
        conn,
        "SELECT responded_at, resolved_at, closed_at FROM tickets WHERE ticket_id = %s",
        (ticket_id,),
    )


def _set_status_at(conn: Conn, ticket_id: int, status_id: int) -> datetime:
    """Change the status in its own transaction and return that transaction's now()."""
    with conn.transaction():
        now = _db_now(conn)
        _update_ticket(conn, ticket_id, status_id=status_id)
    return now


# --- the activity log -------------------------------------------------------------------


def test_creation_is_logged_once_with_the_ticket_number_by_system(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)
    number = _one(conn, "SELECT ticket_number FROM tickets WHERE ticket_id = %s", (ticket_id,))[0]

    rows = conn.execute(
        "SELECT activity_type, old_value, new_value, changed_by FROM ticket_activities WHERE ticket_id = %s",
        (ticket_id,),
    ).fetchall()

    assert rows == [("created", None, number, "system")]


def test_status_priority_and_assignment_changes_are_logged_with_old_and_new_names(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)  # rating 1: High, Open, unassigned

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    _update_ticket(conn, ticket_id, priority_id=CRITICAL)
    _update_ticket(conn, ticket_id, assigned_to="alice")
    _update_ticket(conn, ticket_id, status_id=WAITING)
    _update_ticket(conn, ticket_id, priority_id=LOW)

    assert _changes(conn, ticket_id) == [
        ("status_change", "Open", "In Progress"),
        ("priority_change", "High", "Critical"),
        ("assignment_change", None, "alice"),
        ("status_change", "In Progress", "Waiting"),
        ("priority_change", "Critical", "Low"),
    ]


def test_reassignment_and_unassignment_are_logged(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)

    _update_ticket(conn, ticket_id, assigned_to="alice")
    _update_ticket(conn, ticket_id, assigned_to="bob")
    _update_ticket(conn, ticket_id, assigned_to=None)

    assert _changes(conn, ticket_id) == [
        ("assignment_change", None, "alice"),
        ("assignment_change", "alice", "bob"),
        ("assignment_change", "bob", None),
    ]


def test_one_update_changing_status_priority_and_assignment_logs_one_row_each(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS, priority_id=CRITICAL, assigned_to="alice")

    assert sorted(_changes(conn, ticket_id), key=str) == sorted(
        [
            ("status_change", "Open", "In Progress"),
            ("priority_change", "High", "Critical"),
            ("assignment_change", None, "alice"),
        ],
        key=str,
    )


def test_update_changing_none_of_the_logged_fields_logs_nothing(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)
    _update_ticket(conn, ticket_id, assigned_to="alice")
    before = _all_activities(conn)

    _update_ticket(conn, ticket_id, title="New title", description="More detail", resolution_notes="n/a")
    conn.execute(
        "UPDATE tickets SET status_id = status_id, priority_id = priority_id, assigned_to = assigned_to "
        "WHERE ticket_id = %s",
        (ticket_id,),
    )
    _update_ticket(conn, ticket_id, assigned_to="alice")

    assert _all_activities(conn) == before


def test_changed_by_is_gea_actor_when_set_else_the_database_role(conn: Conn) -> None:
    role = _one(conn, "SELECT current_user")[0]
    ticket_id = _ticket_from_feedback(conn)

    with conn.transaction():
        conn.execute("SET LOCAL gea.actor = 'alice.admin'")
        _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    with conn.transaction():
        conn.execute("SELECT set_config('gea.actor', 'bob.officer', true)")
        _update_ticket(conn, ticket_id, assigned_to="bob")
    _update_ticket(conn, ticket_id, priority_id=CRITICAL)  # the local setting ended with its transaction
    with conn.transaction():
        conn.execute("SET LOCAL gea.actor = ''")  # empty counts as not set
        _update_ticket(conn, ticket_id, status_id=WAITING)

    rows = conn.execute(
        "SELECT activity_type, changed_by FROM ticket_activities "
        "WHERE ticket_id = %s AND activity_type <> 'created' ORDER BY activity_id",
        (ticket_id,),
    ).fetchall()
    assert rows == [
        ("status_change", "alice.admin"),
        ("assignment_change", "bob.officer"),
        ("priority_change", role),
        ("status_change", role),
    ]


def test_creation_of_a_ticket_without_feedback_is_by_the_actor(conn: Conn) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL gea.actor = 'walkin.clerk'")
        ticket_id = _insert_ticket(conn)

    changed_by = _one(
        conn,
        "SELECT changed_by FROM ticket_activities WHERE ticket_id = %s AND activity_type = 'created'",
        (ticket_id,),
    )[0]
    assert changed_by == "walkin.clerk"


# --- status times -------------------------------------------------------------------------


def test_responded_at_set_on_first_move_away_from_open_and_never_changed_later(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)
    _update_ticket(conn, ticket_id, assigned_to="alice")  # not a status change
    assert _times(conn, ticket_id) == (None, None, None)

    first_move = _set_status_at(conn, ticket_id, WAITING)
    assert _times(conn, ticket_id)[0] == first_move

    for status_id in (OPEN, IN_PROGRESS, RESOLVED, REOPENED, IN_PROGRESS):
        _set_status_at(conn, ticket_id, status_id)
    assert _times(conn, ticket_id)[0] == first_move


def test_resolved_at_set_on_entering_resolved_and_cleared_by_reopening(conn: Conn) -> None:
    # Until migration 0004 a reopened ticket kept its first resolved_at, so breach checks
    # stopped watching it; now reopening clears it (tests/integration/test_ticket_reopening.py
    # covers the new target) and the second resolution is the one recorded.
    ticket_id = _ticket_from_feedback(conn)
    _set_status_at(conn, ticket_id, IN_PROGRESS)
    assert _times(conn, ticket_id)[1] is None

    first_resolution = _set_status_at(conn, ticket_id, RESOLVED)
    assert _times(conn, ticket_id)[1] == first_resolution

    _set_status_at(conn, ticket_id, REOPENED)
    assert _times(conn, ticket_id)[1] is None
    second_resolution = _set_status_at(conn, ticket_id, RESOLVED)

    assert second_resolution > first_resolution
    assert _times(conn, ticket_id)[1] == second_resolution


def test_closed_at_set_on_entering_closed_only(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)
    responded = _set_status_at(conn, ticket_id, IN_PROGRESS)
    resolved = _set_status_at(conn, ticket_id, RESOLVED)
    assert _times(conn, ticket_id) == (responded, resolved, None)

    closed = _set_status_at(conn, ticket_id, CLOSED)

    assert _times(conn, ticket_id) == (responded, resolved, closed)


def test_closing_straight_from_open_sets_responded_and_closed_but_not_resolved(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)

    closed = _set_status_at(conn, ticket_id, CLOSED)

    assert _times(conn, ticket_id) == (closed, None, closed)


def test_status_times_given_explicitly_are_kept(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn, age=timedelta(hours=2))
    earlier = _db_now(conn) - timedelta(hours=1)

    _update_ticket(conn, ticket_id, status_id=RESOLVED, responded_at=earlier, resolved_at=earlier)

    assert _times(conn, ticket_id) == (earlier, earlier, None)


def test_updated_at_changes_on_update(conn: Conn) -> None:
    long_ago = _db_now(conn) - timedelta(days=3)
    ticket_id = _insert_ticket(conn, created_at=long_ago, updated_at=long_ago)
    assert _one(conn, "SELECT updated_at FROM tickets WHERE ticket_id = %s", (ticket_id,))[0] == long_ago

    with conn.transaction():
        now = _db_now(conn)
        _update_ticket(conn, ticket_id, title="Renamed")

    created_at, updated_at = _one(
        conn, "SELECT created_at, updated_at FROM tickets WHERE ticket_id = %s", (ticket_id,)
    )
    assert (created_at, updated_at) == (long_ago, now)


# --- the append-only audit trail ----------------------------------------------------------

REFUSED_CHANGES = {
    "update": "UPDATE ticket_activities SET changed_by = 'mallory', new_value = 'x'",
    "delete": "DELETE FROM ticket_activities",
    "truncate": "TRUNCATE ticket_activities",
}


@pytest.mark.parametrize("statement", REFUSED_CHANGES.values(), ids=REFUSED_CHANGES.keys())
def test_ticket_activities_refuse_update_delete_and_truncate_even_to_a_superuser(
    conn: Conn, statement: str
) -> None:
    assert _one(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0] is True
    ticket_id = _ticket_from_feedback(conn)
    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS, assigned_to="alice")
    before = _all_activities(conn)
    assert len(before) == 3

    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        conn.execute(statement)

    assert _all_activities(conn) == before


@pytest.mark.parametrize(
    "statement", [REFUSED_CHANGES["update"], REFUSED_CHANGES["truncate"]], ids=["update", "truncate"]
)
def test_archiving_setting_set_by_hand_does_not_allow_update_or_truncate(conn: Conn, statement: str) -> None:
    # DELETE with the setting on is allowed only to the table's owner (who could disable the
    # trigger anyway); the application-role case is test_application_role_cannot_delete_...
    _ticket_from_feedback(conn)
    before = _all_activities(conn)

    def change_with_the_setting_on() -> None:
        with conn.transaction():
            conn.execute("SET LOCAL gea.archiving_ticket_activities = 'on'")
            conn.execute(statement)

    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        change_with_the_setting_on()

    assert _all_activities(conn) == before


@pytest.fixture
def app_role(conn: Conn) -> Iterator[str]:
    """A login-less role like the API's: owns nothing, may read and write ticket_activities."""
    role = f"gea_app_{uuid.uuid4().hex[:8]}"
    conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    conn.execute(
        sql.SQL(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ticket_activities, ticket_activities_archive TO {}"
        ).format(sql.Identifier(role))
    )
    try:
        yield role
    finally:
        conn.execute("RESET ROLE")
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_application_role_cannot_delete_by_setting_the_archiving_flag_itself(
    conn: Conn, app_role: str
) -> None:
    """Any role can set a custom setting, so the flag alone must not open the table."""
    _ticket_from_feedback(conn)
    before = _all_activities(conn)

    def delete_as_the_application() -> None:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(app_role)))
            conn.execute("SET LOCAL gea.archiving_ticket_activities = 'on'")
            conn.execute("DELETE FROM ticket_activities")

    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        delete_as_the_application()
    assert _all_activities(conn) == before


def test_application_role_archives_only_through_the_function_once_granted(conn: Conn, app_role: str) -> None:
    _ticket_from_feedback(conn, age=timedelta(days=400))
    role = sql.Identifier(app_role)

    def archive_as_the_application() -> int:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(role))
            return int(_one(conn, "SELECT archive_ticket_activities()")[0])

    with pytest.raises(errors.InsufficientPrivilege, match="archive_ticket_activities"):
        archive_as_the_application()  # not granted to PUBLIC

    conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION archive_ticket_activities(INTERVAL) TO {}").format(role))
    assert archive_as_the_application() == 1
    assert _one(conn, "SELECT count(*) FROM ticket_activities_archive")[0] == 1


# --- archiving ---------------------------------------------------------------------------


def test_archive_moves_only_activities_older_than_a_year_and_returns_the_count(conn: Conn) -> None:
    old = _ticket_from_feedback(conn, age=timedelta(days=400))
    older = _ticket_from_feedback(conn, age=timedelta(days=800))
    almost_a_year = _ticket_from_feedback(conn, age=timedelta(days=364))
    recent = _ticket_from_feedback(conn)
    _update_ticket(conn, old, status_id=IN_PROGRESS)  # a new activity on an old ticket
    old_rows = conn.execute(
        "SELECT activity_id, ticket_id, activity_type, old_value, new_value, changed_by, created_at "
        "FROM ticket_activities WHERE ticket_id IN (%s, %s) AND activity_type = 'created' "
        "ORDER BY activity_id",
        (old, older),
    ).fetchall()
    assert len(old_rows) == 2
    kept_before = conn.execute(
        "SELECT * FROM ticket_activities WHERE activity_id <> ALL(%s) ORDER BY activity_id",
        ([r[0] for r in old_rows],),
    ).fetchall()

    moved = _one(conn, "SELECT archive_ticket_activities()")[0]

    assert moved == 2
    archived = conn.execute(
        "SELECT activity_id, ticket_id, activity_type, old_value, new_value, changed_by, created_at "
        "FROM ticket_activities_archive ORDER BY activity_id"
    ).fetchall()
    assert archived == old_rows
    assert _all_activities(conn) == kept_before
    remaining = conn.execute(
        "SELECT ticket_id, activity_type FROM ticket_activities ORDER BY activity_id"
    ).fetchall()
    assert sorted(remaining) == sorted(
        [(almost_a_year, "created"), (recent, "created"), (old, "status_change")]
    )

    assert _one(conn, "SELECT archive_ticket_activities()")[0] == 0  # nothing left to move


def test_archive_with_a_longer_interval_leaves_rows_younger_than_it(conn: Conn) -> None:
    _ticket_from_feedback(conn, age=timedelta(days=400))
    two_years_old = _ticket_from_feedback(conn, age=timedelta(days=800))

    moved = _one(conn, "SELECT archive_ticket_activities(interval '2 years')")[0]

    assert moved == 1
    assert conn.execute("SELECT ticket_id FROM ticket_activities_archive").fetchall() == [(two_years_old,)]


@pytest.mark.parametrize("interval", ["0", "1 day", "11 months", "364 days", "1 year - 1 second"])
def test_archive_refuses_an_interval_under_a_year(conn: Conn, interval: str) -> None:
    _ticket_from_feedback(conn, age=timedelta(days=364, hours=12))
    before = _all_activities(conn)

    with pytest.raises(errors.InvalidParameterValue, match="at least a year"):
        conn.execute("SELECT archive_ticket_activities(%s::interval)", (interval,))

    assert _all_activities(conn) == before
    assert _one(conn, "SELECT count(*) FROM ticket_activities_archive")[0] == 0


def test_append_only_rule_is_in_force_again_after_archiving_in_the_same_transaction(conn: Conn) -> None:
    _ticket_from_feedback(conn, age=timedelta(days=400))
    _ticket_from_feedback(conn)
    moved: list[int] = []

    def archive_then_delete() -> None:
        with conn.transaction():
            moved.append(_one(conn, "SELECT archive_ticket_activities()")[0])
            conn.execute("DELETE FROM ticket_activities")

    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        archive_then_delete()

    assert moved == [1]
    # The whole transaction rolled back: the archived row is back, nothing was deleted.
    assert _one(conn, "SELECT count(*) FROM ticket_activities")[0] == 2
    assert _one(conn, "SELECT count(*) FROM ticket_activities_archive")[0] == 0


def test_archiving_setting_is_off_after_the_archive_function_returns(conn: Conn) -> None:
    _ticket_from_feedback(conn, age=timedelta(days=400))

    with conn.transaction():
        conn.execute("SELECT archive_ticket_activities()")
        setting = _one(conn, "SELECT current_setting('gea.archiving_ticket_activities', true)")[0]

    assert setting == "off"


# --- tickets are permanent ----------------------------------------------------------------


def test_tickets_cannot_be_deleted(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn)
    number = _one(conn, "SELECT ticket_number FROM tickets WHERE ticket_id = %s", (ticket_id,))[0]
    activities = _all_activities(conn)

    with pytest.raises(errors.InsufficientPrivilege, match=f"close ticket {number} instead"):
        conn.execute("DELETE FROM tickets WHERE ticket_id = %s", (ticket_id,))

    assert _one(conn, "SELECT count(*) FROM tickets WHERE ticket_id = %s", (ticket_id,))[0] == 1
    assert _all_activities(conn) == activities


def test_truncating_tickets_with_cascade_is_refused(conn: Conn) -> None:
    _ticket_from_feedback(conn)

    with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
        conn.execute("TRUNCATE tickets CASCADE")

    assert _one(conn, "SELECT count(*) FROM tickets")[0] == 1
