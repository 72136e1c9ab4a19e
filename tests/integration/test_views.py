"""The five views of seed section 9 on small, known data sets.

Expected numbers are worked out by hand in each test. Rows that depend on now() are inserted
and read in one transaction, where now() does not move, so hours computed from it are exact.
The test server zone is America/Grenada (UTC-4 all year).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from tests.helpers.feedback import insert_feedback
from tests.helpers.tickets import insert_ticket

Conn = psycopg.Connection[tuple[Any, ...]]


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in March 2024, given in UTC."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def _now(conn: Conn) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    now: datetime = row[0]
    return now


def _insert_ticket(conn: Conn, **columns: object) -> int:
    """A ticket of the driver's licence unit (UNIT-001, SVC-002) written straight into the table."""
    return insert_ticket(conn, **{"entity_id": "UNIT-001", "service_id": "SVC-002", **columns})


def _insert_breach(conn: Conn, ticket_id: int, breach_type: str, expected: datetime) -> None:
    conn.execute(
        "INSERT INTO sla_breaches (ticket_id, breach_type, expected_time) VALUES (%s, %s, %s)",
        (ticket_id, breach_type, expected),
    )


def _ratings(one: int = 0, two: int = 0, three: int = 0, four: int = 0, five: int = 0) -> dict[str, int]:
    return {"1": one, "2": two, "3": three, "4": four, "5": five}


# ---------------------------------------------------------------------------------------
# v_service_performance
# ---------------------------------------------------------------------------------------


def test_service_performance_counts_flagged_rows_but_leaves_them_out_of_averages_and_rates(
    conn: Conn,
) -> None:
    # SVC-010 (AGY-001) over three days. Counted: 5, 4, 4 (grievance), 3, 2.
    # Flagged as misuse: 1, 1 (in total_submissions only).
    for rating, day, grievance, misuse in [
        (5, 10, False, False),
        (4, 10, False, False),
        (1, 10, False, True),
        (4, 11, True, False),
        (3, 11, False, False),
        (1, 12, False, True),
        (2, 12, False, False),
    ]:
        insert_feedback(
            conn,
            service_id="SVC-010",
            rating=rating,
            grievance_flag=grievance,
            misuse_suspected=misuse,
            created_at=_utc(day, 15),
        )
    insert_feedback(conn, service_id="SVC-011", rating=1, created_at=_utc(11, 15))  # another service

    row = conn.execute(
        "SELECT service_name, entity_id, total_submissions, misuse_flagged, avg_rating, satisfaction_rate,"
        " feedback_count_by_rating, grievance_count FROM v_service_performance WHERE service_id = 'SVC-010'"
    ).fetchone()
    assert row == (
        "Trade Statistics Request",
        "AGY-001",
        7,  # every row, flagged or not
        2,
        Decimal("3.60"),  # (5 + 4 + 4 + 3 + 2) / 5; with the flagged rows it would be 2.86
        Decimal("60.00"),  # 5, 4, 4 are > 3: 3 of 5; a 3 is not "satisfied"
        _ratings(one=0, two=1, three=1, four=2, five=1),
        1,
    )
    other = conn.execute(
        "SELECT total_submissions, avg_rating, satisfaction_rate, feedback_count_by_rating"
        " FROM v_service_performance WHERE service_id = 'SVC-011'"
    ).fetchone()
    assert other == (1, Decimal("1.00"), Decimal("0.00"), _ratings(one=1))


def test_service_performance_lists_services_without_usable_feedback_with_null_averages(conn: Conn) -> None:
    insert_feedback(conn, service_id="SVC-004", rating=5, misuse_suspected=True, created_at=_utc(10, 12))
    rows = conn.execute(
        "SELECT service_id, total_submissions, misuse_flagged, avg_rating, satisfaction_rate,"
        " feedback_count_by_rating, grievance_count"
        " FROM v_service_performance WHERE service_id IN ('SVC-004', 'SVC-012') ORDER BY service_id"
    ).fetchall()
    assert rows == [
        ("SVC-004", 1, 1, None, None, _ratings(), 0),  # only a flagged row
        ("SVC-012", 0, 0, None, None, _ratings(), 0),  # no feedback at all
    ]
    assert conn.execute("SELECT count(*) FROM v_service_performance").fetchone() == (12,)


# ---------------------------------------------------------------------------------------
# v_qr_performance
# ---------------------------------------------------------------------------------------


def _qr_id(conn: Conn, value: str) -> int:
    row = conn.execute("SELECT qr_code_id FROM qr_codes WHERE qr_code_value = %s", (value,)).fetchone()
    assert row is not None
    qr_id: int = row[0]
    return qr_id


def test_qr_performance_counts_unflagged_feedback_conversion_and_average(conn: Conn) -> None:
    registry = _qr_id(conn, "QR-SVC003-REGISTRY")
    conn.execute("UPDATE qr_codes SET scan_count = 8 WHERE qr_code_id = %s", (registry,))
    conn.execute("UPDATE qr_codes SET scan_count = 4 WHERE qr_code_value = 'QR-SVC006-CARRIACOU'")
    for rating, day, misuse in [(5, 10, False), (3, 11, False), (1, 11, True), (2, 12, False)]:
        insert_feedback(
            conn,
            service_id="SVC-003",
            channel="qr_code",
            qr_code_id=registry,
            rating=rating,
            misuse_suspected=misuse,
            created_at=_utc(day, 13),
        )
    insert_feedback(conn, service_id="SVC-003", rating=1, created_at=_utc(11, 13))  # not through the QR code

    rows = conn.execute(
        "SELECT qr_code_value, location, service_name, total_scans, feedback_received,"
        " feedback_conversion_rate, avg_rating_from_qr FROM v_qr_performance ORDER BY qr_code_value"
    ).fetchall()
    by_value = {r[0]: r[3:] for r in rows}
    assert by_value == {
        "QR-SVC001-STG-COUNTER1": (0, 0, None, None),
        "QR-SVC002-GRENVILLE": (0, 0, None, None),
        # 3 unflagged of 8 scans = 37.50 %; (5 + 3 + 2) / 3 = 3.33
        "QR-SVC003-REGISTRY": (8, 3, Decimal("37.50"), Decimal("3.33")),
        "QR-SVC006-CARRIACOU": (4, 0, Decimal("0.00"), None),
        "QR-SVC009-GENHOSP": (0, 0, None, None),
    }
    registry_row = next(r for r in rows if r[0] == "QR-SVC003-REGISTRY")
    assert registry_row[1:3] == ("Registry, Church Street, St. George's", "Birth Certificate Request")


# ---------------------------------------------------------------------------------------
# v_active_tickets_sla
# ---------------------------------------------------------------------------------------


def test_active_tickets_sla_statuses_and_hours_until_deadline(conn: Conn) -> None:
    with conn.transaction():
        now = _now(conn)

        def ticket(status_id: int, response_in_h: float, resolution_in_h: float, **extra: object) -> int:
            return _insert_ticket(
                conn,
                status_id=status_id,
                created_at=now - timedelta(hours=7),
                response_target=now + timedelta(hours=response_in_h),
                resolution_target=now + timedelta(hours=resolution_in_h),
                **extra,
            )

        ids = {
            # Open, not answered, both deadlines ahead: the response deadline is next.
            "fresh": ticket(1, 3, 48, priority_id=3),
            # Answered in time; the resolution deadline is next.
            "answered": ticket(
                2, 1, 10, priority_id=2, responded_at=now - timedelta(hours=1), assigned_to="jcharles"
            ),
            # Not answered and past the response target.
            "unanswered_late": ticket(1, -2, 20, priority_id=1),
            # Answered late, and now past the resolution target too.
            "all_late": ticket(3, -6, -1.5, priority_id=4, responded_at=now - timedelta(hours=5)),
            # Reopened; answered exactly at the target counts as met.
            "reopened": ticket(6, -1, 0.25, priority_id=3, responded_at=now - timedelta(hours=1)),
            # Resolved and Closed tickets are not active, even when late.
            "resolved": ticket(4, -6, -2, responded_at=now - timedelta(hours=5), resolved_at=now),
            "closed": ticket(5, -6, -2, responded_at=now - timedelta(hours=5), closed_at=now),
        }
        rows = conn.execute(
            "SELECT ticket_id, ticket_number, service_name, priority, status, assigned_to,"
            " response_status, resolution_status, hours_until_deadline FROM v_active_tickets_sla"
        ).fetchall()
        numbers: dict[int, str] = dict(
            conn.execute("SELECT ticket_id, ticket_number FROM tickets").fetchall()
        )

    label = {ticket_id: name for name, ticket_id in ids.items()}
    got = {label[r[0]]: r[2:] for r in rows}
    service = "Driver's Licence Renewal"
    assert got == {
        "fresh": (service, "Medium", "Open", None, "on_track", "on_track", Decimal("3.00")),
        "answered": (service, "High", "In Progress", "jcharles", "met", "on_track", Decimal("10.00")),
        "unanswered_late": (service, "Critical", "Open", None, "breached", "on_track", Decimal("-2.00")),
        "all_late": (service, "Low", "Waiting", None, "breached", "breached", Decimal("-1.50")),
        "reopened": (service, "Medium", "Reopened", None, "met", "on_track", Decimal("0.25")),
    }
    assert all(r[1] == numbers[r[0]] for r in rows)


# ---------------------------------------------------------------------------------------
# v_entity_ticket_queue
# ---------------------------------------------------------------------------------------


def test_entity_ticket_queue_counts_open_high_priority_age_and_breaches(conn: Conn) -> None:
    with conn.transaction():
        now = _now(conn)

        def ticket(priority_id: int, status_id: int, age_h: int, **extra: object) -> int:
            return _insert_ticket(
                conn,
                priority_id=priority_id,
                status_id=status_id,
                created_at=now - timedelta(hours=age_h),
                **extra,
            )

        # UNIT-001 (SVC-002): four active, one Resolved and one Closed.
        critical_open = ticket(1, 1, 10)
        high_in_progress = ticket(2, 2, 20)
        ticket(3, 6, 30)  # Medium, Reopened
        ticket(4, 3, 40)  # Low, Waiting
        critical_resolved = ticket(1, 4, 100, resolved_at=now - timedelta(hours=1))
        high_closed = ticket(2, 5, 200, closed_at=now - timedelta(hours=1))
        _insert_breach(conn, critical_open, "response_breach", now - timedelta(hours=8))
        _insert_breach(conn, critical_open, "resolution_breach", now - timedelta(hours=1))
        _insert_breach(conn, high_in_progress, "response_breach", now - timedelta(hours=17))
        _insert_breach(conn, critical_resolved, "response_breach", now - timedelta(hours=98))
        _insert_breach(conn, high_closed, "resolution_breach", now - timedelta(hours=150))
        # AGY-003 (SVC-008), the parent of UNIT-001: its own ticket only.
        ticket(4, 1, 6, entity_id="AGY-003", service_id="SVC-008")

        rows = conn.execute(
            "SELECT entity_id, entity_name, total_open_tickets, high_priority_tickets, avg_age_hours,"
            " sla_breach_count FROM v_entity_ticket_queue"
            " WHERE entity_id IN ('UNIT-001', 'AGY-003', 'MIN-005') ORDER BY entity_id"
        ).fetchall()

    assert rows == [
        ("AGY-003", "Traffic and Licensing Department", 1, 0, Decimal("6.00"), 0),
        ("MIN-005", "Ministry of Education, Youth and Sports", 0, 0, None, 0),
        # Active: Critical, High, Medium, Low aged 10, 20, 30, 40 h -> 25.00; breaches 2 + 1.
        ("UNIT-001", "Driver Licensing Unit", 4, 2, Decimal("25.00"), 3),
    ]


# ---------------------------------------------------------------------------------------
# v_daily_ticket_stats
# ---------------------------------------------------------------------------------------


def _daily_ticket_data_set(conn: Conn) -> None:
    """Five tickets over 10-13 March 2024 (UTC times; Grenada is UTC-4).

    T1 created 10th 14:00 (local 10th), resolved 11th 14:00 (local 11th, 24 h),
       closed 12th 13:00 (local 12th); no breach.
    T2 created 11th 02:00 (local 10th 22:00), resolved 11th 20:00 (local 11th, 18 h);
       a response breach.
    T3 created 11th 12:00 (local 11th), closed unresolved 12th 03:30 (local 11th 23:30);
       a response breach (not resolved, so outside every resolution figure).
    T4 created 12th 04:30 (local 12th 00:30), still open.
    T5 created 12th 12:00 (local 12th), resolved 13th 03:00 (local 12th 23:00, 15 h); no breach.
    """
    far = {"response_target": _utc(20, 0), "resolution_target": _utc(25, 0)}
    _insert_ticket(
        conn,
        status_id=5,
        created_at=_utc(10, 14),
        responded_at=_utc(10, 16),
        resolved_at=_utc(11, 14),
        closed_at=_utc(12, 13),
        **far,
    )
    t2 = _insert_ticket(
        conn,
        status_id=4,
        created_at=_utc(11, 2),
        responded_at=_utc(11, 5),
        resolved_at=_utc(11, 20),
        response_target=_utc(11, 4),
        resolution_target=_utc(25, 0),
    )
    _insert_breach(conn, t2, "response_breach", _utc(11, 4))
    t3 = _insert_ticket(
        conn, status_id=5, created_at=_utc(11, 12), closed_at=_utc(12, 3, 30), response_target=_utc(11, 13)
    )
    _insert_breach(conn, t3, "response_breach", _utc(11, 13))
    _insert_ticket(conn, status_id=1, created_at=_utc(12, 4, 30), **far)
    _insert_ticket(
        conn, status_id=4, created_at=_utc(12, 12), responded_at=_utc(12, 13), resolved_at=_utc(13, 3), **far
    )


_DAILY_COLUMNS = (
    "SELECT date, tickets_created, tickets_closed, tickets_resolved, avg_resolution_time, sla_compliance_rate"
    " FROM v_daily_ticket_stats ORDER BY date"
)


def test_daily_ticket_stats_counts_days_in_the_server_zone(conn: Conn) -> None:
    _daily_ticket_data_set(conn)
    rows = conn.execute(_DAILY_COLUMNS).fetchall()
    assert rows == [
        # T1 and T2 (02:00 UTC is 22:00 the evening before in Grenada).
        (date(2024, 3, 10), 2, 0, 0, None, None),
        # Created T3; closed T3 (23:30 local); resolved T1 (24 h, no breach) and T2 (18 h, breach).
        (date(2024, 3, 11), 1, 1, 2, timedelta(hours=21), Decimal("50.00")),
        # Created T4 (00:30 local) and T5; closed T1; resolved T5 (15 h, no breach).
        (date(2024, 3, 12), 2, 1, 1, timedelta(hours=15), Decimal("100.00")),
    ]


def test_daily_ticket_stats_follow_the_configured_zone(conn: Conn) -> None:
    _daily_ticket_data_set(conn)
    conn.execute("UPDATE app_settings SET timezone = 'UTC'")
    rows = conn.execute(_DAILY_COLUMNS).fetchall()
    assert rows == [
        (date(2024, 3, 10), 1, 0, 0, None, None),  # T1
        (date(2024, 3, 11), 2, 0, 2, timedelta(hours=21), Decimal("50.00")),  # T2, T3; T1, T2 resolved
        (date(2024, 3, 12), 2, 2, 0, None, None),  # T4, T5; T3 and T1 closed
        (date(2024, 3, 13), 0, 0, 1, timedelta(hours=15), Decimal("100.00")),  # T5 resolved
    ]


def test_daily_ticket_stats_of_a_ticket_made_from_feedback_at_0200_utc_is_the_previous_local_day(
    conn: Conn,
) -> None:
    insert_feedback(conn, service_id="SVC-002", rating=1, created_at=_utc(1, 2))  # 29 Feb 22:00 local
    assert conn.execute("SELECT created_at FROM tickets").fetchall() == [(_utc(1, 2),)]
    rows = conn.execute("SELECT date, tickets_created FROM v_daily_ticket_stats").fetchall()
    assert rows == [(date(2024, 2, 29), 1)]
