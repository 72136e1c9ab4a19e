"""The dashboard in Debian's Chromium: its charts are images named by their summaries with their
tables beside them, a most urgent ticket opens its page, no serious or critical axe-core
violation, in English and in Spanish."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import desk, server
from tests.helpers.browser import serious_violations, sign_in
from tests.helpers.feedback import insert_feedback
from tests.helpers.tickets import insert_ticket

pytestmark = pytest.mark.pg


@pytest.fixture
def activity(conn: psycopg.Connection[Any]) -> str:
    """Ratings of two services, a complaint (its ticket), a ticket resolved late and one overdue;
    returns the overdue ticket's number, the most urgent of all."""
    now = datetime.now(UTC)
    for service_id, rating in (("SVC-003", 5), ("SVC-003", 4), ("SVC-001", 2), ("SVC-001", 5)):
        insert_feedback(conn, service_id=service_id, rating=rating)
    late = insert_ticket(
        conn, status_id=4, created_at=now - timedelta(days=2), resolved_at=now - timedelta(hours=1)
    )
    conn.execute(
        "INSERT INTO sla_breaches (ticket_id, breach_type, expected_time, actual_time) "
        "VALUES (%s, 'resolution_breach', %s, %s)",
        (late, now - timedelta(days=1), now - timedelta(hours=1)),
    )
    overdue = insert_ticket(
        conn, response_target=now - timedelta(hours=3), resolution_target=now + timedelta(days=1)
    )
    row = conn.execute("SELECT ticket_number FROM tickets WHERE ticket_id = %s", (overdue,)).fetchone()
    assert row is not None
    return str(row[0])


def test_the_dashboard_draws_its_charts_and_opens_the_most_urgent_ticket(
    page: Page, live_desk: server.LiveServer, conn: psycopg.Connection[Any], activity: str
) -> None:
    desk.add_officer(conn, "root@gov.gd", "GOV-000", "admin")
    sign_in(page, live_desk.base_url, "root@gov.gd")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    charts = page.get_by_role("img")
    expect(charts).to_have_count(3)
    expect(page.get_by_role("img", name=re.compile(r"^Average rating by service"))).to_be_visible()
    expect(
        page.get_by_role("img", name=re.compile(r"^Tickets resolved within their SLA, by day"))
    ).to_be_visible()
    expect(
        page.get_by_role("img", name=re.compile(r"^Open tickets and SLA breaches by office"))
    ).to_be_visible()
    # Each chart's numbers are in the table that follows it.
    satisfaction = page.get_by_role("table", name=re.compile("Satisfaction by service"))
    expect(satisfaction.get_by_role("row", name=re.compile("Birth Certificate Request"))).to_contain_text(
        "4.50"
    )
    expect(page.get_by_role("table", name="Open tickets by office")).to_contain_text("Civil Registry")
    box = page.locator("svg.chart").first.bounding_box()
    assert box is not None
    assert box["width"] > 300  # drawn, and at the page's width
    assert serious_violations(page) == []

    page.get_by_role("table", name=re.compile("open tickets with the nearest deadline")).get_by_role(
        "link", name=activity
    ).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(activity)


def test_the_dashboard_in_spanish_and_for_an_office_without_activity(
    page: Page, live_desk: server.LiveServer, conn: psycopg.Connection[Any], activity: str
) -> None:
    del activity
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    sign_in(page, live_desk.base_url, "ana@gov.gd")
    page.goto(live_desk.base_url + "/desk/language/es?next=/desk/dashboard")
    expect(page.get_by_role("heading", name="Panel", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("img", name=re.compile(r"^Valoración media por servicio"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^Casos resueltos dentro de su SLA"))).to_be_visible()
    expect(page.get_by_role("table", name="Casos abiertos por oficina")).to_contain_text("Civil Registry")
    body = page.content()
    assert "Passport Application and Renewal" not in body  # Immigration's, not the Registry's
    assert serious_violations(page) == []

    # An office with nothing yet: the page says so instead of drawing empty charts.
    desk.add_officer(conn, "stats@gov.gd", "AGY-001")
    page.get_by_role("button", name="Cerrar sesión").click()
    page.goto(live_desk.base_url + "/desk/login?next=/desk/dashboard")
    page.get_by_label("Correo electrónico").fill("stats@gov.gd")
    page.get_by_label("Contraseña").fill(desk.PASSWORD)
    page.get_by_role("button", name="Iniciar sesión", exact=True).click()
    expect(page.get_by_role("heading", name="Panel", level=1)).to_be_visible()
    expect(page.get_by_role("img")).to_have_count(0)
    expect(page.get_by_text("No se recibieron opiniones en los últimos 30 días.")).to_be_visible()
    assert serious_violations(page) == []
