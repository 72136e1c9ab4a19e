"""A citizen on a phone says their resolved complaint is not resolved, in a real browser: the
status page offers the form, a blank reason brings an error summary that takes focus, a reason
reopens the complaint and the page confirms it. Every page is checked with axe-core for serious
or critical accessibility violations; the officers' side is checked in the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.helpers.browser import serious_violations
from tests.helpers.feedback import insert_feedback
from tests.helpers.server import LiveServer

pytestmark = pytest.mark.pg

REFERENCE = "KSK001-000042-7QX4"
OFFICER = "ana@gov.gd"
INTERNAL = "Spoke to the counter supervisor; staffing was short that morning."
REASON = "The certificate I got still spells my name wrong.\nI need it for a passport."
IN_PROGRESS, RESOLVED = 2, 4
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        locale="en-GB", viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    yield context.new_page()
    context.close()


@pytest.fixture
def resolved(conn: psycopg.Connection[Any]) -> str:
    """A grievance an officer worked (with an internal note) and resolved; its ticket number."""
    feedback_id = insert_feedback(conn, rating=1, grievance_flag=True, reference_code=REFERENCE)
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None
    number = str(row[0])
    conn.execute(
        "INSERT INTO ticket_notes (ticket_id, note_text, created_by) "
        "SELECT ticket_id, %s, %s FROM tickets WHERE ticket_number = %s",
        (INTERNAL, OFFICER, number),
    )
    for status_id in (IN_PROGRESS, RESOLVED):
        with conn.transaction():
            conn.execute("SELECT set_config('gea.actor', %s, true)", (OFFICER,))
            conn.execute("UPDATE tickets SET status_id = %s WHERE ticket_number = %s", (status_id, number))
    return number


def fits_the_phone(page: Page) -> None:
    """Nothing scrolls sideways at the phone's width."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_citizen_on_a_phone_says_not_resolved_and_the_office_sees_it_reopened(
    phone: Page, live_server: LiveServer, conn: psycopg.Connection[Any], resolved: str
) -> None:
    page = phone
    page.goto(f"{live_server.base_url}/s/{REFERENCE}")
    expect(page.get_by_role("status").first).to_have_text("Resolved")
    reason = page.get_by_role("textbox", name="Is your complaint not resolved? Tell us why")
    expect(reason).to_be_visible()
    send = page.get_by_role("button", name="Reopen my complaint")
    fits_the_phone(page)
    assert serious_violations(page) == []

    # Nothing typed: the page comes back with an error summary that has the focus.
    send.click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page).to_have_title(f"Error: Resolved: {REFERENCE}")
    expect(summary.get_by_role("link", name="Tell us why your complaint is not resolved.")).to_be_visible()
    fits_the_phone(page)
    assert serious_violations(page) == []
    summary.get_by_role("link").click()
    expect(reason).to_be_focused()

    reason.fill(REASON)
    page.get_by_role("button", name="Reopen my complaint").click()
    page.wait_for_url(f"{live_server.base_url}/s/{REFERENCE}?reopened=1&lang=en")
    expect(page.get_by_role("heading", name="We have reopened your complaint")).to_be_visible()
    expect(page.get_by_text("The office will look at it again")).to_be_visible()
    expect(page.locator("p.status")).to_have_text("Reopened")
    expect(page.get_by_role("button", name="Reopen my complaint")).to_have_count(0)  # once only
    history = page.get_by_role("region", name="History").get_by_role("listitem")
    expect(history.last).to_contain_text("Reopened:")
    body = page.content()
    assert INTERNAL not in body
    assert OFFICER not in body
    fits_the_phone(page)
    assert serious_violations(page) == []

    # The officers' side: the ticket is reopened by the citizen, with the reason and a new
    # resolution target counted from then, and still assigned as it was.
    row = conn.execute(
        "SELECT s.status_code, t.resolved_at, t.resolution_start, t.resolution_target, "
        "       (SELECT resolution_target FROM calculate_sla_targets(t.category_id, t.priority_id, "
        "        t.resolution_start)) "
        "FROM tickets t JOIN ticket_status s USING (status_id) WHERE t.ticket_number = %s",
        (resolved,),
    ).fetchone()
    assert row is not None
    status, resolved_at, start, target, expected = row
    assert (status, resolved_at) == ("reopened", None)
    assert start is not None
    assert target == expected
    trail = conn.execute(
        "SELECT a.activity_type, a.new_value, a.changed_by, a.created_at FROM ticket_activities a "
        "JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s ORDER BY a.activity_id DESC LIMIT 2",
        (resolved,),
    ).fetchall()
    assert [r[:3] for r in trail] == [
        ("status_change", "Reopened", "citizen"),
        ("citizen_reopened", REASON, "citizen"),
    ]
    assert trail[0][3] == trail[1][3] == start
