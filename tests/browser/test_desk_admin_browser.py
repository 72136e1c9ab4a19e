"""An administrator adds an officer and a kiosk in a real browser (Debian's Chromium driven by
Playwright), the kiosk enrolls with the code the page showed, and is revoked after the
confirmation step. Every page is checked with axe-core for serious or critical violations."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.helpers import desk, server
from tests.helpers.browser import serious_violations, sign_in

pytestmark = pytest.mark.pg

NEW_PASSWORD = "four unrelated words here"


def test_an_administrator_adds_an_officer_and_a_kiosk(
    page: Page, live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "root@gov.gd", "MIN-003", "admin", name="Rita Root")
    sign_in(page, live_desk.base_url, "root@gov.gd")
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Officers", level=1)).to_be_visible()
    assert serious_violations(page) == []

    # A weak password is refused with an error summary, and nothing is added.
    page.get_by_label("Email address").fill("cleo@gov.gd")
    page.get_by_label("Full name").fill("Cleo Clarke")
    page.get_by_label("Entity", exact=True).select_option(value="DEPT-003")
    page.get_by_label("Role").select_option(value="supervisor")
    page.get_by_label("Initial password (optional)").fill("short")
    page.get_by_label("Initial password again").fill("short")
    page.get_by_role("button", name="Add officer").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("The password must be at least 12 characters long")
    assert serious_violations(page) == []
    expect(page.get_by_label("Email address")).to_have_value("cleo@gov.gd")

    page.get_by_label("Initial password (optional)").fill(NEW_PASSWORD)
    page.get_by_label("Initial password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Add officer").click()
    expect(page.get_by_text("Officer cleo@gov.gd added; they sign in with a password.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Cleo Clarke"))).to_contain_text("supervisor")
    assert serious_violations(page) == []

    # The kiosks: add one, and its code is on the page that answers.
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Kiosks").click()
    expect(page.get_by_role("heading", name="Kiosks", level=1)).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_label("Where it stands").fill("Passport office, counter 2")
    page.get_by_label("Entity it serves").select_option(value="AGY-002")
    page.get_by_role("button", name="Add kiosk").click()
    expect(page.get_by_role("heading", name="Enrollment code for kiosk K0001")).to_be_visible()
    assert "/desk/admin/devices" in page.url
    code = page.locator(".enrollment-code .code").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    assert code not in page.url
    assert serious_violations(page) == []
    with httpx.Client(base_url=live_desk.base_url) as api:
        enrolled = api.post("/api/v1/devices/enroll", json={"enrollment_code": code})
    assert enrolled.status_code == 200

    page.get_by_role("link", name="Back to the kiosks").click()
    row = page.get_by_role("row", name=re.compile("K0001"))
    expect(row).to_contain_text("active")
    assert code not in page.content()

    # Revoking asks first.
    row.get_by_role("link", name="Revoke K0001").click()
    expect(page.get_by_role("heading", name="Revoke kiosk K0001")).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_label("Yes, revoke kiosk K0001").check()
    page.get_by_role("button", name="Revoke kiosk").click()
    expect(page.get_by_text("Kiosk K0001 revoked")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("K0001"))).to_contain_text("revoked")
    assert serious_violations(page) == []

    # The new supervisor signs in, and sees no administration.
    page.context.clear_cookies()
    sign_in(page, live_desk.base_url, "cleo@gov.gd", NEW_PASSWORD)
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)
