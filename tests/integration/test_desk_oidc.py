"""Signing in to the desk through a real OpenID Connect provider on loopback (oidc-provider-mock):
authorization code with PKCE, state and nonce, officers linked by subject, an email trusted
only when the provider says it is verified."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from oidc_provider_mock import User, run_server_in_thread
from sqlalchemy.engine import URL

from tests.helpers import desk, server

pytestmark = pytest.mark.pg

CLIENT_ID = "gea-desk"
CLIENT_SECRET = "desk-client-secret-for-tests"


@pytest.fixture
def provider() -> Iterator[str]:
    users = [
        User(sub="kc-ana", claims={"email": "ana@gov.gd", "email_verified": True, "name": "Ana"}),
        User(sub="kc-unverified", claims={"email": "bo@gov.gd", "email_verified": False}),
        User(sub="kc-stranger", claims={"email": "stranger@example.com", "email_verified": True}),
    ]
    with run_server_in_thread(require_nonce=True, user_claims=users) as idp:
        yield f"http://localhost:{idp.server_port}"


@pytest.fixture
def live_desk(db_url: URL, provider: str) -> Iterator[server.LiveServer]:
    with desk.serve_desk(
        db_url, oidc_issuer=provider, oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET
    ) as live:
        yield live


def _sign_in_at_provider(client: httpx.Client, subject: str, *, tamper_state: bool = False) -> httpx.Response:
    """Follows the desk to the provider, picks the user there as a person would, and returns
    the desk's answer to the provider's redirect back."""
    start = client.get("/desk/login/oidc?next=/desk/account")
    assert start.status_code in (302, 303, 307), start.text
    authorize_url = start.headers["location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"][0]
    assert query["nonce"][0]
    assert query["state"][0]
    with httpx.Client(follow_redirects=False, timeout=30) as browser_at_idp:
        assert browser_at_idp.get(authorize_url).status_code == 200
        answer = browser_at_idp.post(authorize_url, data={"sub": subject})
    assert answer.status_code in (302, 303), answer.text
    back = answer.headers["location"]
    if tamper_state:
        back = re.sub(r"state=[^&]+", "state=forged", back)
    return client.get(back.replace(urlsplit(back).scheme + "://" + urlsplit(back).netloc, ""))


def test_a_verified_email_links_the_officer_by_subject_and_signs_in(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    with live_desk.client(follow_redirects=False) as client:
        response = _sign_in_at_provider(client, "kc-ana")
        assert response.status_code == 303
        assert response.headers["location"] == "/desk/account"
        account = client.get("/desk/account")
        assert account.status_code == 200
        assert "ana@gov.gd" in account.text
    linked = conn.execute(
        "SELECT oidc_issuer, oidc_subject FROM officers WHERE email = 'ana@gov.gd'"
    ).fetchone()
    assert linked is not None
    assert linked[1] == "kc-ana"
    assert conn.execute("SELECT method FROM officer_sessions").fetchall() == [("oidc",)]
    assert conn.execute("SELECT outcome FROM officer_sign_ins WHERE method = 'oidc'").fetchall() == [("ok",)]

    # The officer's address changes in the desk: the subject still finds them.
    conn.execute("UPDATE officers SET email = 'ana.perez@gov.gd' WHERE email = 'ana@gov.gd'")
    with live_desk.client(follow_redirects=False) as client:
        assert _sign_in_at_provider(client, "kc-ana").status_code == 303


def test_an_unverified_email_links_nothing(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "bo@gov.gd", "DEPT-003", password=None)
    with live_desk.client(follow_redirects=False) as client:
        response = _sign_in_at_provider(client, "kc-unverified")
        assert response.status_code == 403
        assert "did not confirm your email address" in response.text
        assert "gea_desk=" not in response.headers.get("set-cookie", "")
    assert conn.execute("SELECT oidc_subject FROM officers").fetchall() == [(None,)]
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)


def test_a_person_who_is_not_an_officer_is_told_to_ask_an_administrator(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    with live_desk.client(follow_redirects=False) as client:
        response = _sign_in_at_provider(client, "kc-stranger")
        assert response.status_code == 403
        assert "Ask an administrator" in response.text
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)


def test_a_forged_state_signs_nobody_in(live_desk: server.LiveServer, conn: psycopg.Connection[Any]) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    with live_desk.client(follow_redirects=False) as client:
        response = _sign_in_at_provider(client, "kc-ana", tamper_state=True)
        assert response.status_code == 400
        assert client.get("/desk/").status_code == 303
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)
    assert conn.execute("SELECT oidc_subject FROM officers").fetchall() == [(None,)]


def test_every_refusal_at_the_callback_is_recorded(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    """A forged state, a code the provider refuses (invalid_grant), the person cancelling at
    the provider (error=access_denied): nobody signs in, and each is a row of officer_sign_ins."""
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003", password=None)
    with live_desk.client(follow_redirects=False) as client:
        assert _sign_in_at_provider(client, "kc-ana", tamper_state=True).status_code == 400

        start = client.get("/desk/login/oidc")
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        bad_code = client.get("/desk/login/oidc/callback", params={"state": state, "code": "made-up"})
        assert bad_code.status_code == 400

        client.get("/desk/login/oidc")
        cancelled = client.get("/desk/login/oidc/callback", params={"error": "access_denied"})
        assert cancelled.status_code == 400
        assert "Sign-in through the identity provider failed" in cancelled.text
        assert client.get("/desk/").status_code == 303
    rows = conn.execute(
        "SELECT account, officer_id, method, outcome, ip_hash FROM officer_sign_ins ORDER BY sign_in_id"
    ).fetchall()
    assert [row[:4] for row in rows] == [("", None, "oidc", "oidc_refused")] * 3
    assert {len(row[4]) for row in rows} == {64}  # the address's HMAC
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)


def test_without_oidc_settings_the_sign_in_page_offers_passwords_only(db_url: URL) -> None:
    with desk.serve_desk(db_url) as live, live.client(follow_redirects=False) as client:
        page = client.get("/desk/login")
        assert "government account" not in page.text
        assert client.get("/desk/login/oidc").headers["location"] == "/desk/login"


def test_the_redirect_back_is_the_public_address_whatever_the_host_header(
    live_desk: server.LiveServer,
) -> None:
    with live_desk.client(follow_redirects=False) as client:
        start = client.get("/desk/login/oidc", headers={"Host": "evil.example"})
    redirect_uri = parse_qs(urlsplit(start.headers["location"]).query)["redirect_uri"]
    assert redirect_uri == [live_desk.settings.public_base_url + "/desk/login/oidc/callback"]
