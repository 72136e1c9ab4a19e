"""SLA breaches (seed 5.3): recorded by the ticket update trigger and by detect_sla_breaches(),
each once per ticket and type, with a response breach escalated at once and a resolution
breach only when more than an hour overdue.

Time is controlled without the wall clock: tickets are back-dated or given explicit targets
relative to now(), and where an exact overdue time matters the insert and the update run in
one transaction, so they share the same now().
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.helpers.feedback import insert_feedback
from tests.helpers.tickets import insert_ticket as _insert_ticket
from tests.helpers.tickets import update_ticket as _update_ticket

Conn = psycopg.Connection[tuple[Any, ...]]

OPEN, IN_PROGRESS, WAITING, RESOLVED, CLOSED, REOPENED = 1, 2, 3, 4, 5, 6
CRITICAL, HIGH, MEDIUM, LOW = 1, 2, 3, 4
HOUR = timedelta(hours=1)
# SVC-003 of the demo catalog falls in "Certificate errors" (8 h response, 120 h resolution);
# rating 1 makes the ticket High (factor 0.75).
RESPONSE_HOURS_HIGH = timedelta(hours=6)
RESOLUTION_HOURS_HIGH = timedelta(hours=90)

BREACH_COLUMNS = "breach_type, expected_time, actual_time, hours_overdue, escalated"


def _one(conn: Conn, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row


def _db_now(conn: Conn) -> datetime:
    now: datetime = _one(conn, "SELECT now()")[0]
    return now


def _ticket_from_feedback(conn: Conn, *, created_at: datetime) -> int:
    """A High, Open ticket made by the trigger from rating-1 feedback submitted at created_at."""
    feedback_id = insert_feedback(conn, rating=1, created_at=created_at)
    ticket_id: int = _one(conn, "SELECT ticket_id FROM tickets WHERE feedback_id = %s", (feedback_id,))[0]
    return ticket_id


def _ticket(conn: Conn, ticket_id: int) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM tickets WHERE ticket_id = %s", (ticket_id,))
    row = cur.fetchone()
    assert row is not None
    assert cur.description is not None
    return {col.name: value for col, value in zip(cur.description, row, strict=True)}


def _breaches(conn: Conn, ticket_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        f"SELECT {BREACH_COLUMNS} FROM sla_breaches WHERE ticket_id = %s ORDER BY breach_type",
        (ticket_id,),
    ).fetchall()


def _all_breaches(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM sla_breaches ORDER BY breach_id").fetchall()


def _detect(conn: Conn, as_of: datetime | None = None) -> list[tuple[Any, ...]]:
    """detect_sla_breaches() as (ticket_number, breach_type, expected_time, hours, escalated)."""
    if as_of is None:
        return conn.execute(
            "SELECT ticket_number, breach_type, expected_time, hours_overdue, escalated "
            "FROM detect_sla_breaches()"
        ).fetchall()
    return conn.execute(
        "SELECT ticket_number, breach_type, expected_time, hours_overdue, escalated "
        "FROM detect_sla_breaches(%s)",
        (as_of,),
    ).fetchall()


def _number(conn: Conn, ticket_id: int) -> str:
    number: str = _one(conn, "SELECT ticket_number FROM tickets WHERE ticket_id = %s", (ticket_id,))[0]
    return number


def _responded_ticket(conn: Conn, now: datetime, *, resolution_target: datetime) -> int:
    """An In Progress ticket that met its response target and has the given resolution target."""
    return _insert_ticket(
        conn,
        status_id=IN_PROGRESS,
        created_at=now - 100 * HOUR,
        response_target=now - 98 * HOUR,
        responded_at=now - 99 * HOUR,
        resolution_target=resolution_target,
    )


# --- breaches recorded by the update trigger ------------------------------------------------


def test_late_response_records_one_escalated_response_breach(conn: Conn) -> None:
    with conn.transaction():  # one now() for the back-dating and the response
        now = _db_now(conn)
        ticket_id = _ticket_from_feedback(
            conn, created_at=now - RESPONSE_HOURS_HIGH - timedelta(hours=2, minutes=59)
        )
        before = _ticket(conn, ticket_id)
        assert before["response_target"] - before["sla_start"] == RESPONSE_HOURS_HIGH
        assert _breaches(conn, ticket_id) == []  # creation alone records nothing
        _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)

    ticket = _ticket(conn, ticket_id)
    assert ticket["responded_at"] == now
    # 2 h 59 min late: hours_overdue is the floor, 2.
    assert _breaches(conn, ticket_id) == [("response_breach", ticket["response_target"], now, 2, True)]


def test_late_response_hours_overdue_is_the_floor_of_the_delay(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(
        conn, created_at=_db_now(conn) - RESPONSE_HOURS_HIGH - timedelta(hours=7, minutes=30)
    )

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)

    ticket = _ticket(conn, ticket_id)
    delay = ticket["responded_at"] - ticket["response_target"]
    assert timedelta(hours=7, minutes=30) <= delay < timedelta(hours=8)
    assert _breaches(conn, ticket_id) == [
        ("response_breach", ticket["response_target"], ticket["responded_at"], 7, True)
    ]


def test_response_breach_is_escalated_even_minutes_overdue(conn: Conn) -> None:
    with conn.transaction():
        now = _db_now(conn)
        ticket_id = _insert_ticket(
            conn,
            created_at=now - HOUR,
            response_target=now - timedelta(minutes=5),
            resolution_target=now + HOUR,
        )
        _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)

    assert _breaches(conn, ticket_id) == [("response_breach", now - timedelta(minutes=5), now, 0, True)]


def test_response_in_time_records_no_breach(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn, created_at=_db_now(conn) - timedelta(hours=5))

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)

    ticket = _ticket(conn, ticket_id)
    assert ticket["responded_at"] < ticket["response_target"]
    assert _breaches(conn, ticket_id) == []


def test_resolution_in_time_records_no_breach(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn, created_at=_db_now(conn) - timedelta(hours=5))

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    _update_ticket(conn, ticket_id, status_id=RESOLVED)
    _update_ticket(conn, ticket_id, status_id=CLOSED)

    ticket = _ticket(conn, ticket_id)
    assert ticket["resolved_at"] < ticket["resolution_target"]
    assert _breaches(conn, ticket_id) == []


@pytest.mark.parametrize(
    ("overdue", "hours", "escalated"),
    [
        (timedelta(minutes=30), 0, False),
        (timedelta(hours=1), 1, False),
        (timedelta(hours=1, minutes=1), 1, True),
        (timedelta(hours=3, minutes=15), 3, True),
    ],
    ids=["30min", "exactly-1h", "1h01", "3h15"],
)
def test_resolution_breach_is_escalated_only_when_more_than_an_hour_overdue(
    conn: Conn, overdue: timedelta, hours: int, escalated: bool
) -> None:
    with conn.transaction():  # resolved_at = now() of this transaction
        now = _db_now(conn)
        ticket_id = _responded_ticket(conn, now, resolution_target=now - overdue)
        _update_ticket(conn, ticket_id, status_id=RESOLVED)

    assert _breaches(conn, ticket_id) == [("resolution_breach", now - overdue, now, hours, escalated)]


def test_closing_without_resolving_after_the_target_records_a_resolution_breach_at_closing(
    conn: Conn,
) -> None:
    with conn.transaction():
        now = _db_now(conn)
        ticket_id = _responded_ticket(conn, now, resolution_target=now - 2 * HOUR)
        _update_ticket(conn, ticket_id, status_id=CLOSED)

    assert _ticket(conn, ticket_id)["resolved_at"] is None
    assert _breaches(conn, ticket_id) == [("resolution_breach", now - 2 * HOUR, now, 2, True)]


def test_each_breach_is_recorded_once_whatever_updates_follow(conn: Conn) -> None:
    # Back-dated 95.5 h, past both targets (6 h and 90 h): responding records the response
    # breach, 89.5 h late, and the resolution breach still running; resolving completes it.
    ticket_id = _ticket_from_feedback(
        conn, created_at=_db_now(conn) - RESOLUTION_HOURS_HIGH - timedelta(hours=5, minutes=30)
    )
    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    ticket = _ticket(conn, ticket_id)
    assert [b[0] for b in _breaches(conn, ticket_id)] == ["resolution_breach", "response_breach"]
    _update_ticket(conn, ticket_id, status_id=RESOLVED)
    resolved = _ticket(conn, ticket_id)
    after_resolution = _all_breaches(conn)
    assert _breaches(conn, ticket_id) == [
        ("resolution_breach", ticket["resolution_target"], resolved["resolved_at"], 5, True),
        ("response_breach", ticket["response_target"], ticket["responded_at"], 89, True),
    ]

    _update_ticket(conn, ticket_id, assigned_to="alice")
    _update_ticket(conn, ticket_id, priority_id=CRITICAL)  # moves the targets earlier still
    _update_ticket(conn, ticket_id, priority_id=LOW)
    _update_ticket(conn, ticket_id, status_id=REOPENED)
    _update_ticket(conn, ticket_id, status_id=WAITING, assigned_to="bob")
    _update_ticket(conn, ticket_id, status_id=RESOLVED)
    _update_ticket(conn, ticket_id, status_id=CLOSED)

    assert _all_breaches(conn) == after_resolution


def test_updates_to_an_overdue_unresponded_ticket_record_one_running_breach(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn, created_at=_db_now(conn) - RESPONSE_HOURS_HIGH - 2 * HOUR)

    _update_ticket(conn, ticket_id, assigned_to="alice")
    _update_ticket(conn, ticket_id, assigned_to="bob")
    _update_ticket(conn, ticket_id, priority_id=MEDIUM)

    rows = conn.execute(
        "SELECT breach_type, actual_time, escalated FROM sla_breaches WHERE ticket_id = %s", (ticket_id,)
    ).fetchall()
    assert rows == [("response_breach", None, True)]


# --- detect_sla_breaches() --------------------------------------------------------------------


def test_detect_finds_overdue_open_tickets_only_and_records_each_breach_once(conn: Conn) -> None:
    with conn.transaction():
        now = _db_now(conn)
        unresponded = _ticket_from_feedback(
            conn, created_at=now - RESPONSE_HOURS_HIGH - timedelta(hours=2, minutes=30)
        )
        unresolved = _responded_ticket(conn, now, resolution_target=now - timedelta(minutes=30))
        on_time = _ticket_from_feedback(conn, created_at=now - HOUR)
        resolved_in_time = _insert_ticket(
            conn,
            status_id=RESOLVED,
            created_at=now - 10 * HOUR,
            response_target=now - 9 * HOUR,
            resolution_target=now - 5 * HOUR,
            responded_at=now - 9.5 * HOUR,
            resolved_at=now - 6 * HOUR,
        )
        closed_in_time = _insert_ticket(
            conn,
            status_id=CLOSED,
            created_at=now - 10 * HOUR,
            response_target=now - 9 * HOUR,
            resolution_target=now - 5 * HOUR,
            responded_at=now - 9.5 * HOUR,
            closed_at=now - 6 * HOUR,
        )
        found = _detect(conn)
    response_target = _ticket(conn, unresponded)["response_target"]

    assert sorted(found) == sorted(
        [
            (_number(conn, unresponded), "response_breach", response_target, 2, True),
            (_number(conn, unresolved), "resolution_breach", now - timedelta(minutes=30), 0, False),
        ]
    )
    listed = {number for number, *_ in found}
    for ticket_id in (on_time, resolved_in_time, closed_in_time):
        assert _number(conn, ticket_id) not in listed
        assert _breaches(conn, ticket_id) == []
    recorded = _all_breaches(conn)
    assert [(r[1], r[2]) for r in recorded] == sorted(
        [(unresponded, "response_breach"), (unresolved, "resolution_breach")]
    )
    assert all(r[4] is None for r in recorded)  # actual_time: still running

    assert sorted(_detect(conn)) == sorted(found)  # again: the same breaches ...
    assert len(_all_breaches(conn)) == 2  # ... and no new rows


def test_detect_returns_ticket_ids_and_numbers(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn, created_at=_db_now(conn) - RESPONSE_HOURS_HIGH - HOUR)

    rows = conn.execute("SELECT ticket_id, ticket_number, breach_type FROM detect_sla_breaches()").fetchall()

    assert rows == [(ticket_id, _number(conn, ticket_id), "response_breach")]


def test_detect_with_a_future_as_of_finds_tickets_overdue_by_then(conn: Conn) -> None:
    now = _db_now(conn)
    ticket_id = _ticket_from_feedback(conn, created_at=now)
    response_target = _ticket(conn, ticket_id)["response_target"]
    assert _detect(conn) == []

    found = _detect(conn, response_target + timedelta(hours=1, minutes=10))

    assert found == [(_number(conn, ticket_id), "response_breach", response_target, 1, True)]


def test_a_breach_only_forecast_by_a_future_as_of_is_gone_once_the_target_is_met(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn, created_at=_db_now(conn))
    response_target = _ticket(conn, ticket_id)["response_target"]
    _detect(conn, response_target + HOUR)  # a look ahead, not a breach that happened

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)  # responded well in time

    assert _ticket(conn, ticket_id)["responded_at"] < response_target
    assert _detect(conn) == []
    assert _breaches(conn, ticket_id) == []


def test_detected_resolution_breach_is_escalated_when_detected_again_over_an_hour_overdue(
    conn: Conn,
) -> None:
    now = _db_now(conn)
    ticket_id = _responded_ticket(conn, now, resolution_target=now - 3 * HOUR)
    target = _ticket(conn, ticket_id)["resolution_target"]
    number = _number(conn, ticket_id)

    first = _detect(conn, target + timedelta(minutes=30))
    assert first == [(number, "resolution_breach", target, 0, False)]

    second = _detect(conn, target + timedelta(hours=1, minutes=30))
    assert second == [(number, "resolution_breach", target, 1, True)]
    assert _breaches(conn, ticket_id) == [("resolution_breach", target, None, 1, True)]


def test_resolving_a_detected_ticket_fills_actual_time_without_a_second_row(conn: Conn) -> None:
    now = _db_now(conn)
    ticket_id = _responded_ticket(conn, now, resolution_target=now - 2 * HOUR - timedelta(minutes=10))
    target = _ticket(conn, ticket_id)["resolution_target"]
    _detect(conn, target + timedelta(minutes=30))
    breach_id = _one(conn, "SELECT breach_id FROM sla_breaches WHERE ticket_id = %s", (ticket_id,))[0]

    _update_ticket(conn, ticket_id, status_id=RESOLVED)

    resolved_at = _ticket(conn, ticket_id)["resolved_at"]
    rows = conn.execute(
        f"SELECT breach_id, {BREACH_COLUMNS} FROM sla_breaches WHERE ticket_id = %s",
        (ticket_id,),
    ).fetchall()
    assert rows == [(breach_id, "resolution_breach", target, resolved_at, 2, True)]
    assert _detect(conn) == []  # no longer running
    _update_ticket(conn, ticket_id, status_id=CLOSED)
    assert len(_all_breaches(conn)) == 1


def test_responding_to_a_detected_ticket_fills_actual_time_of_its_response_breach(conn: Conn) -> None:
    ticket_id = _ticket_from_feedback(conn, created_at=_db_now(conn) - RESPONSE_HOURS_HIGH - HOUR)
    assert len(_detect(conn)) == 1

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)

    ticket = _ticket(conn, ticket_id)
    assert _breaches(conn, ticket_id) == [
        ("response_breach", ticket["response_target"], ticket["responded_at"], 1, True)
    ]
    assert _detect(conn) == []


def test_a_running_breach_is_completed_when_the_ticket_responds_after_its_priority_was_lowered(
    conn: Conn,
) -> None:
    ticket_id = _ticket_from_feedback(conn, created_at=_db_now(conn) - RESPONSE_HOURS_HIGH - HOUR)
    first_target = _ticket(conn, ticket_id)["response_target"]
    _update_ticket(conn, ticket_id, assigned_to="alice")  # records the running response breach
    _update_ticket(conn, ticket_id, priority_id=LOW)  # 12 h now: no longer overdue

    _update_ticket(conn, ticket_id, status_id=IN_PROGRESS)

    responded_at = _ticket(conn, ticket_id)["responded_at"]
    assert _breaches(conn, ticket_id) == [("response_breach", first_target, responded_at, 1, True)]
    assert _detect(conn) == []
