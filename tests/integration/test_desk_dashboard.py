"""The desk's dashboard against a real feedback_db: every panel's numbers against its view (the
five seed views of section 9), the officer's scope, the 30-day window, an empty database, and
the page over HTTP (services/desk_dashboard.py, desk/dashboard.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from server_sync_api.desk import dashboard as dashboard_page
from server_sync_api.domain import Officer
from server_sync_api.services import desk_dashboard
from server_sync_api.services.desk_dashboard import DAYS, Dashboard
from tests.helpers import desk, server
from tests.helpers.feedback import insert_feedback
from tests.helpers.tickets import insert_ticket, ticket_number

pytestmark = [pytest.mark.anyio, pytest.mark.pg]

Conn = psycopg.Connection[tuple[Any, ...]]
AConn = psycopg.AsyncConnection[Any]
NOW = datetime.now(UTC)
RESOLVED, CLOSED, HIGH = 4, 5, 2

# What only DEPT-003 (Civil Registry, under MIN-003) has: an officer of AGY-002 (Immigration,
# under MIN-004) must see none of it.
REGISTRY_NAMES = ("Birth Certificate Request", "Marriage Certificate Request", "Civil Registry")
REGISTRY_QR = "QR-SVC003-REGISTRY"


def qr_id(conn: Conn, value: str) -> int:
    row = conn.execute("SELECT qr_code_id FROM qr_codes WHERE qr_code_value = %s", (value,)).fetchone()
    assert row is not None
    return int(row[0])


def breach(conn: Conn, ticket_id: int, kind: str = "resolution_breach") -> None:
    conn.execute(
        "INSERT INTO sla_breaches (ticket_id, breach_type, expected_time, actual_time) "
        "VALUES (%s, %s, %s, %s)",
        (ticket_id, kind, NOW - timedelta(hours=5), NOW - timedelta(hours=1)),
    )


def populate(conn: Conn) -> dict[str, list[str]]:
    """Feedback, tickets, breaches and QR scans at the Registry (DEPT-003) and Immigration
    (AGY-002), all within the last day; returns each entity's open ticket numbers."""
    registry_qr, passport_qr = qr_id(conn, REGISTRY_QR), qr_id(conn, "QR-SVC001-STG-COUNTER1")
    conn.execute("UPDATE qr_codes SET scan_count = 8 WHERE qr_code_id = %s", (registry_qr,))
    conn.execute("UPDATE qr_codes SET scan_count = 3 WHERE qr_code_id = %s", (passport_qr,))
    for rating in (5, 4, 4, 2):
        insert_feedback(conn, service_id="SVC-003", rating=rating)
    insert_feedback(conn, service_id="SVC-003", rating=1, misuse_suspected=True)
    insert_feedback(conn, service_id="SVC-003", rating=3, grievance_flag=True)
    insert_feedback(conn, service_id="SVC-003", rating=5, channel="qr_code", qr_code_id=registry_qr)
    insert_feedback(conn, service_id="SVC-004", rating=3)
    for rating in (5, 3):
        insert_feedback(conn, service_id="SVC-001", rating=rating)
    insert_feedback(conn, service_id="SVC-001", rating=4, channel="qr_code", qr_code_id=passport_qr)
    # The feedback above made tickets (rating 2, the misuse-flagged 1, the complaint): open,
    # with the deadlines their category gives (whole hours from now). More, each with a deadline
    # of its own, 20 minutes off the hour so that none ties with another at the view's 0.01 h,
    # and the most urgent ten are a choice; one Registry ticket is already overdue.
    open_numbers: dict[str, list[str]] = {"DEPT-003": [], "AGY-002": []}
    for i in range(8):
        for entity, service in (("DEPT-003", "SVC-003"), ("AGY-002", "SVC-001")):
            due = NOW + timedelta(hours=3 * i + (1 if entity == "AGY-002" else 0) - 2, minutes=20)
            ticket_id = insert_ticket(
                conn,
                entity_id=entity,
                service_id=service,
                priority_id=HIGH if i % 3 == 0 else 3,
                response_target=due,
                resolution_target=due + timedelta(days=2),
                created_at=NOW - timedelta(hours=10 + i),
            )
            open_numbers[entity].append(ticket_number(conn, ticket_id))
            if entity == "DEPT-003" and i == 0:
                breach(conn, ticket_id, "response_breach")
    # Resolved and closed within the day: the Registry's late (a breach), Immigration's in time.
    late = insert_ticket(
        conn,
        status_id=RESOLVED,
        created_at=NOW - timedelta(days=3),
        resolved_at=NOW - timedelta(minutes=30),
    )
    breach(conn, late)
    insert_ticket(
        conn,
        status_id=CLOSED,
        created_at=NOW - timedelta(days=2),
        resolved_at=NOW - timedelta(minutes=50),
        closed_at=NOW - timedelta(minutes=20),
    )
    insert_ticket(
        conn,
        entity_id="AGY-002",
        service_id="SVC-001",
        status_id=RESOLVED,
        created_at=NOW - timedelta(hours=20),
        resolved_at=NOW - timedelta(minutes=40),
    )
    return open_numbers


async def read(aconn: AConn, viewer: Officer) -> Dashboard:
    return await desk_dashboard.dashboard(aconn, viewer)


def rows(conn: Conn, statement: str, *params: object) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(statement, params).fetchall()]


# -- The numbers are the views' --------------------------------------------------------------


async def test_every_panel_of_an_administrator_matches_its_view(conn: Conn, aconn: AConn) -> None:
    populate(conn)
    admin = desk.officer(conn, "root@gov.gd", "GOV-000", "admin")
    dash = await read(aconn, admin)

    services = {
        s.service_id: (
            s.total_submissions,
            s.misuse_flagged,
            s.avg_rating,
            s.satisfaction_rate,
            s.grievance_count,
        )
        for s in dash.services
    }
    view = rows(
        conn,
        "SELECT service_id, total_submissions, misuse_flagged, avg_rating, satisfaction_rate, "
        "grievance_count FROM v_service_performance",
    )
    assert services == {r[0]: r[1:] for r in view}
    assert len(services) == 12  # every service of the demo catalog, rated or not
    # Rated services first, best first: the chart's order and the table's.
    ratings = [s.avg_rating for s in dash.services if s.avg_rating is not None]
    assert ratings == sorted(ratings, reverse=True)
    assert ratings
    assert all(s.avg_rating is None for s in dash.services[len(ratings) :])

    days = {d.day: d for d in dash.days}
    assert len(dash.days) == DAYS
    assert dash.days[0].day == dash.first_day
    assert dash.days[-1].day == dash.last_day
    assert dash.last_day - dash.first_day == timedelta(days=DAYS - 1)
    view = rows(
        conn,
        "SELECT date, tickets_created, tickets_closed, tickets_resolved, avg_resolution_time, "
        "sla_compliance_rate FROM v_daily_ticket_stats WHERE date >= %s ORDER BY date",
        dash.first_day,
    )
    assert view  # today, at least
    for day, created, closed, resolved, avg_time, rate in view:
        d = days[day]
        assert (d.tickets_created, d.tickets_closed, d.tickets_resolved) == (created, closed, resolved)
        assert (d.avg_resolution_time, d.sla_compliance_rate) == (avg_time, rate)
    quiet = set(days) - {r[0] for r in view}
    assert all(days[q].tickets_created == days[q].tickets_resolved == 0 for q in quiet)
    assert all(days[q].sla_compliance_rate is None for q in quiet)

    queues = {
        q.entity_id: (q.entity_name, q.total_open_tickets, q.high_priority_tickets, q.sla_breach_count)
        for q in dash.queues
    }
    view = rows(
        conn,
        "SELECT entity_id, entity_name, total_open_tickets, high_priority_tickets, sla_breach_count "
        "FROM v_entity_ticket_queue",
    )
    assert queues == {r[0]: r[1:] for r in view}
    # Ages are measured against now(): the view's and the panel's are a moment apart.
    ages = dict(rows(conn, "SELECT entity_id, avg_age_hours FROM v_entity_ticket_queue"))
    for q in dash.queues:
        assert (q.avg_age_hours is None) == (ages[q.entity_id] is None)
        if q.avg_age_hours is not None:
            assert abs(q.avg_age_hours - ages[q.entity_id]) < Decimal("0.1")
    assert [q.total_open_tickets for q in dash.queues] == sorted(
        (q.total_open_tickets for q in dash.queues), reverse=True
    )

    urgent = rows(
        conn,
        "SELECT ticket_number, service_name, priority, status, assigned_to, response_status, "
        "resolution_status FROM v_active_tickets_sla ORDER BY hours_until_deadline, ticket_id LIMIT 10",
    )
    assert len(urgent) == 10
    assert [
        (
            u.ticket_number,
            u.service_name,
            u.priority,
            u.status,
            u.assigned_to,
            u.response_status,
            u.resolution_status,
        )
        for u in dash.urgent
    ] == urgent
    overdue = dash.urgent[0].hours_until_deadline
    assert overdue is not None
    assert overdue < 0

    qr = rows(
        conn,
        "SELECT qr_code_value, location, service_name, total_scans, feedback_received, "
        "feedback_conversion_rate, avg_rating_from_qr FROM v_qr_performance",
    )
    assert sorted(
        (
            q.qr_code_value,
            q.location,
            q.service_name,
            q.total_scans,
            q.feedback_received,
            q.feedback_conversion_rate,
            q.avg_rating_from_qr,
        )
        for q in dash.qr_codes
    ) == sorted(qr)
    assert dash.qr_codes[0].qr_code_value == REGISTRY_QR  # most feedback first
    assert (dash.qr_codes[0].feedback_conversion_rate, dash.qr_codes[0].avg_rating_from_qr) == (
        Decimal("12.50"),
        Decimal("5.00"),
    )


async def test_an_officer_of_immigration_sees_only_immigration(conn: Conn, aconn: AConn) -> None:
    open_numbers = populate(conn)
    ana = desk.officer(conn, "ana@gov.gd", "AGY-002")
    dash = await read(aconn, ana)

    assert [s.service_id for s in dash.services] == ["SVC-001"]
    assert rows(
        conn,
        "SELECT total_submissions, avg_rating, satisfaction_rate FROM v_service_performance "
        "WHERE service_id = 'SVC-001'",
    ) == [
        (dash.services[0].total_submissions, dash.services[0].avg_rating, dash.services[0].satisfaction_rate)
    ]
    assert [(q.entity_id, q.total_open_tickets, q.sla_breach_count) for q in dash.queues] == rows(
        conn,
        "SELECT entity_id, total_open_tickets, sla_breach_count FROM v_entity_ticket_queue "
        "WHERE entity_id = 'AGY-002'",
    )
    urgent = rows(
        conn,
        "SELECT ticket_number FROM v_active_tickets_sla WHERE entity_id = 'AGY-002' "
        "ORDER BY hours_until_deadline, ticket_id LIMIT 10",
    )
    assert [u.ticket_number for u in dash.urgent] == [r[0] for r in urgent]
    assert {u.ticket_number for u in dash.urgent} == set(open_numbers["AGY-002"])
    assert [q.qr_code_value for q in dash.qr_codes] == ["QR-SVC001-STG-COUNTER1"]

    # The daily panel is v_daily_ticket_stats's definition over Immigration's tickets only.
    expected = {
        r[0]: r[1:]
        for r in rows(
            conn,
            """
            SELECT d, (SELECT count(*) FROM tickets WHERE entity_id = 'AGY-002'
                         AND (created_at AT TIME ZONE app_timezone())::date = d),
                      (SELECT count(*) FROM tickets WHERE entity_id = 'AGY-002'
                         AND (resolved_at AT TIME ZONE app_timezone())::date = d),
                      (SELECT count(*) FROM tickets WHERE entity_id = 'AGY-002'
                         AND (closed_at AT TIME ZONE app_timezone())::date = d)
            FROM generate_series(%s::date, %s::date, interval '1 day') AS g(d0),
                 LATERAL (SELECT d0::date AS d) x
            """,
            dash.first_day,
            dash.last_day,
        )
    }
    assert {d.day: (d.tickets_created, d.tickets_resolved, d.tickets_closed) for d in dash.days} == expected
    assert sum(d.tickets_created for d in dash.days) == 9  # the eight open and the resolved one
    assert dash.sla_compliance_rate == Decimal("100.00")  # Immigration's one resolution was in time


async def test_a_ministry_sees_its_departments_and_a_disabled_officer_sees_nothing(
    conn: Conn, aconn: AConn
) -> None:
    populate(conn)
    minister = desk.officer(conn, "min@gov.gd", "MIN-003", "supervisor")
    dash = await read(aconn, minister)
    assert {q.entity_id for q in dash.queues} == {"MIN-003", "DEPT-003"}
    assert {s.service_id for s in dash.services} == {"SVC-003", "SVC-004", "SVC-011"}

    gone = desk.officer(conn, "gone@gov.gd", "GOV-000", "admin", active=False)
    empty = await read(aconn, gone)
    assert (empty.services, empty.queues, empty.urgent, empty.qr_codes) == ((), (), (), ())
    assert len(empty.days) == DAYS
    assert empty.resolved == 0
    assert empty.sla_compliance_rate is None


async def test_the_windowed_panels_leave_out_what_is_older_than_thirty_days(conn: Conn, aconn: AConn) -> None:
    long_ago = NOW - timedelta(days=45)
    insert_feedback(conn, service_id="SVC-001", rating=1, created_at=long_ago)
    insert_feedback(conn, service_id="SVC-001", rating=5)
    # Made long ago, resolved today: resolved today, not created in the window.
    old = insert_ticket(conn, entity_id="AGY-002", service_id="SVC-001", created_at=long_ago)
    conn.execute("UPDATE tickets SET status_id = %s WHERE ticket_id = %s", (RESOLVED, old))
    admin = desk.officer(conn, "root@gov.gd", "GOV-000", "admin")
    dash = await read(aconn, admin)

    passport = next(s for s in dash.services if s.service_id == "SVC-001")
    assert (passport.total_submissions, passport.avg_rating) == (1, Decimal("5.00"))
    assert rows(conn, "SELECT total_submissions FROM v_service_performance WHERE service_id = 'SVC-001'") == [
        (2,)
    ]
    assert sum(d.tickets_created for d in dash.days) == 0  # the complaint's ticket is 45 days old too
    assert sum(d.tickets_resolved for d in dash.days) == 1
    today = next(d for d in dash.days if d.tickets_resolved)
    assert today.avg_resolution_time is not None
    assert today.avg_resolution_time > timedelta(days=44)


async def test_an_empty_database_gives_every_panel_empty(aconn: AConn, conn: Conn) -> None:
    admin = desk.officer(conn, "root@gov.gd", "GOV-000", "admin")
    dash = await read(aconn, admin)
    assert len(dash.services) == 12
    assert all(s.total_submissions == 0 and s.avg_rating is None for s in dash.services)
    assert len(dash.days) == DAYS
    assert dash.resolved == 0
    assert dash.sla_compliance_rate is None
    assert all(q.total_open_tickets == 0 and q.avg_age_hours is None for q in dash.queues)
    assert dash.urgent == ()
    assert all(q.total_scans == 0 and q.feedback_conversion_rate is None for q in dash.qr_codes)


def state(connection: AConn) -> psycopg.pq.TransactionStatus:
    return connection.info.transaction_status


async def test_the_panels_are_one_snapshot_and_leave_the_connection_as_they_found_it(
    aconn: AConn, conn: Conn
) -> None:
    admin = desk.officer(conn, "root@gov.gd", "GOV-000", "admin")
    await aconn.set_autocommit(False)
    await aconn.execute("SET jit = on")
    await aconn.commit()
    # An idle connection: the service's own READ ONLY, REPEATABLE READ transaction, committed.
    await read(aconn, admin)
    assert state(aconn) == psycopg.pq.TransactionStatus.IDLE
    cursor = await aconn.execute("SELECT current_setting('transaction_isolation'), current_setting('jit')")
    assert await cursor.fetchone() == ("read committed", "on")
    # Inside the caller's transaction: read there, and its JIT setting put back.
    dash = await read(aconn, admin)
    assert state(aconn) == psycopg.pq.TransactionStatus.INTRANS
    cursor = await aconn.execute("SELECT current_setting('jit')")
    assert await cursor.fetchone() == ("on",)
    assert len(dash.days) == DAYS
    await aconn.rollback()
    with pytest.raises(ValueError, match="days"):
        await desk_dashboard.dashboard(aconn, admin, days=0)


# -- The charts ------------------------------------------------------------------------------


def test_chart_scales_and_labels() -> None:
    assert [dashboard_page.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 180, 501)] == [
        1,
        1,
        5,
        10,
        20,
        200,
        1000,
    ]
    assert dashboard_page.short("x" * 40) == "x" * 33 + "…"
    assert dashboard_page.number(None) == ""
    assert dashboard_page.number(Decimal("4.5")) == "4.50"


# -- The page --------------------------------------------------------------------------------


def _svg_labels(page: str) -> list[str]:
    return re.findall(r'<svg class="chart"[^>]* role="img" aria-label="([^"]+)"', page)


def test_the_page_shows_an_officer_of_immigration_none_of_the_registry(
    live_desk: server.LiveServer, conn: Conn
) -> None:
    open_numbers = populate(conn)
    desk.add_officer(conn, "ana@gov.gd", "AGY-002")
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        response = client.get("/desk/dashboard")
    assert response.status_code == 200
    page = response.text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "style=" not in page
    assert "<script>" not in page
    assert "Passport Application and Renewal" in page
    assert "QR-SVC001-STG-COUNTER1" in page
    for name in (*REGISTRY_NAMES, REGISTRY_QR, *open_numbers["DEPT-003"]):
        assert name not in page
    assert f'href="/desk/tickets/{open_numbers["AGY-002"][0]}"' in page
    labels = _svg_labels(page)
    assert len(labels) == 3  # satisfaction, SLA by day, queue by office
    assert "Passport Application and Renewal at 4.00" in labels[0]
    assert all(f"<title>{label}</title>" in page for label in labels)


def test_the_page_shows_an_administrator_everything(live_desk: server.LiveServer, conn: Conn) -> None:
    open_numbers = populate(conn)
    desk.add_officer(conn, "root@gov.gd", "GOV-000", "admin")
    with desk.sign_in(live_desk, "root@gov.gd") as client:
        page = client.get("/desk/dashboard").text
    for name in (
        "Birth Certificate Request",
        "Passport Application and Renewal",
        REGISTRY_QR,
        "Civil Registry",
    ):
        assert name in page
    assert open_numbers["DEPT-003"][0] in page  # overdue: the most urgent of all


def test_the_page_renders_an_empty_database_and_asks_a_stranger_to_sign_in(
    live_desk: server.LiveServer, conn: Conn
) -> None:
    desk.add_officer(conn, "root@gov.gd", "GOV-000", "admin")
    with desk.sign_in(live_desk, "root@gov.gd") as client:
        response = client.get("/desk/dashboard")
        assert response.status_code == 200
        assert "No feedback arrived in the last 30 days." in response.text
        assert "No tickets were resolved in the last 30 days." in response.text
        assert "No open tickets." in response.text
        assert _svg_labels(response.text) == []
        spanish = client.get("/desk/dashboard", headers={"accept-language": "es"}, params={"lang": "es"})
        assert "No hay casos abiertos." in spanish.text
    with live_desk.client(follow_redirects=False) as stranger:
        response = stranger.get("/desk/dashboard")
        assert response.status_code == 303
        assert response.headers["location"] == "/desk/login?next=/desk/dashboard"
