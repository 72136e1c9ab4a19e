"""An officer signs in to the desk in a real browser through a real OpenID Connect provider on
loopback (oidc-provider-mock): the desk's button, the provider's page, and back, signed in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from oidc_provider_mock import User, run_server_in_thread
from playwright.sync_api import Page, expect
from sqlalchemy.engine import URL

from tests.helpers import desk, server
from tests.helpers.browser import serious_violations


@pytest.fixture
def live_desk(db_url: URL) -> Iterator[server.LiveServer]:
    users = [User(sub="kc-ana", claims={"email": "ana@gov.gd", "email_verified": True})]
    with (
        run_server_in_thread(require_nonce=True, user_claims=users) as idp,
        desk.serve_desk(
            db_url,
            oidc_issuer=f"http://localhost:{idp.server_port}",
            oidc_client_id="gea-desk",
            oidc_client_secret="desk-client-secret-for-tests",
        ) as live,
    ):
        yield live


def test_an_officer_signs_in_with_the_government_account_and_lands_where_they_were_going(
    page: Page, live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003", name="Ana Pérez", password=None)
    page.goto(live_desk.base_url + "/desk/account")
    expect(page).to_have_url(re.compile(r"/desk/login\?next=/desk/account$"))
    assert serious_violations(page) == []

    page.get_by_role("link", name="Sign in with your government account").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()  # the provider's page
    page.get_by_role("button", name="kc-ana").click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("Signed in as Ana Pérez")).to_be_visible()
    expect(page.get_by_text("You sign in through the identity provider")).to_be_visible()
    assert conn.execute("SELECT oidc_subject FROM officers").fetchall() == [("kc-ana",)]
    assert conn.execute("SELECT method FROM officer_sessions").fetchall() == [("oidc",)]
