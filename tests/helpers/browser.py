"""Steps the desk's browser tests share: axe-core's serious findings on a page, and signing in
with a local account the way an officer does."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.helpers import desk


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def sign_in(page: Page, base_url: str, email: str, password: str = desk.PASSWORD) -> None:
    """From the queue's address through the sign-in page (checked with axe) to the queue."""
    page.goto(base_url + "/desk/")
    expect(page).to_have_url(re.compile(r"/desk/login\?next=/desk/$"))
    assert serious_violations(page) == []
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Open tickets")).to_be_visible()
