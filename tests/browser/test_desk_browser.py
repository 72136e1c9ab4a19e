"""An officer works a ticket in a real browser, from sign-in to closed and reopened, and the
citizen sees the public reply (and only that) on their status page. Every page is checked with
axe-core for serious or critical accessibility violations."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import desk, server
from tests.helpers.browser import serious_violations, sign_in
from tests.helpers.feedback import insert_feedback

pytestmark = pytest.mark.pg

REFERENCE = "KSK001-000042-7QX4"
INTERNAL = "Spoke to the counter supervisor; staffing was short that morning."
PUBLIC = "Thank you. We have added a second clerk on Monday mornings."


@pytest.fixture
def complaint(conn: psycopg.Connection[Any]) -> str:
    feedback_id = insert_feedback(
        conn, rating=1, grievance_flag=True, reference_code=REFERENCE, feedback_text="Waited two hours."
    )
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None
    return str(row[0])


def choose_status(page: Page, status: str) -> None:
    page.get_by_label("Move to").select_option(label=status)
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_text("The change was saved.")).to_be_visible()


def add_note(page: Page, text: str, *, public: bool) -> None:
    page.get_by_label("Add a note").fill(text)
    if public:
        page.get_by_label("Public reply: the citizen sees it on their status page").check()
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("The note was added.")).to_be_visible()


def test_an_officer_works_a_ticket_from_open_to_closed_and_the_citizen_sees_the_reply(
    page: Page, live_desk: server.LiveServer, conn: psycopg.Connection[Any], complaint: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003", "supervisor", name="Ana Pérez")
    sign_in(page, live_desk.base_url, "ana@gov.gd")
    assert serious_violations(page) == []

    page.get_by_role("link", name=complaint).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(complaint)
    expect(page.get_by_text("Waited two hours.")).to_be_visible()
    assert serious_violations(page) == []

    page.get_by_label("Assign to").select_option(value="ana@gov.gd")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_text("The change was saved.")).to_be_visible()
    choose_status(page, "In Progress")
    add_note(page, INTERNAL, public=False)
    add_note(page, PUBLIC, public=True)
    page.get_by_label("Resolution notes").fill("Second clerk rostered.")
    choose_status(page, "Resolved")
    choose_status(page, "Closed")
    assert serious_violations(page) == []

    history = page.locator(".timeline")
    expect(history).to_contain_text("changed the status from Resolved to Closed")
    expect(history).to_contain_text(INTERNAL)

    # The citizen's page: the public reply, never the internal note or who wrote either.
    citizen = page.context.new_page()
    citizen.goto(f"{live_desk.base_url}/s/{REFERENCE}")
    expect(citizen.get_by_text(PUBLIC)).to_be_visible()
    body = citizen.content()
    assert INTERNAL not in body
    assert "ana@gov.gd" not in body
    assert "Ana" not in body
    assert serious_violations(citizen) == []

    # Reopened: watched again with a new resolution target.
    choose_status(page, "Reopened")
    row = conn.execute(
        "SELECT resolved_at, closed_at, resolution_start FROM tickets WHERE ticket_number = %s", (complaint,)
    ).fetchone()
    assert row is not None
    assert row[0] is None
    assert row[1] is None
    assert row[2] is not None
    changed_by = conn.execute(
        "SELECT DISTINCT changed_by FROM ticket_activities a JOIN tickets t USING (ticket_id) "
        "WHERE t.ticket_number = %s AND activity_type <> 'created'",
        (complaint,),
    ).fetchall()
    assert changed_by == [("ana@gov.gd",)]


def test_the_desk_speaks_spanish_and_the_account_page_is_accessible(
    page: Page, live_desk: server.LiveServer, conn: psycopg.Connection[Any], complaint: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    sign_in(page, live_desk.base_url, "ana@gov.gd")
    page.get_by_role("link", name="Español").click()
    expect(page.get_by_role("heading", name="Casos abiertos")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.get_by_role("link", name="Su cuenta").click()
    expect(page.get_by_role("heading", name="Su cuenta")).to_be_visible()
    assert serious_violations(page) == []
    # Filters apply on change with htmx and stay in the URL, so a view can be bookmarked.
    page.get_by_role("link", name="Cola").click()
    page.get_by_label("Asignado").select_option(value="unassigned")
    expect(page).to_have_url(re.compile(r"assigned=unassigned"))
    expect(page.get_by_role("link", name=complaint)).to_be_visible()
