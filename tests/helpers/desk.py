"""The officers' desk in tests: officers written straight into feedback_db, the real app with a
session secret over real HTTP, and a client that signs in the way a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import httpx
import psycopg
from sqlalchemy.engine import URL

from server_sync_api.domain import Officer, Role
from server_sync_api.services.officers import hash_password
from tests.helpers import server

TEST_SESSION_SECRET = "desk-session-secret-" + "y" * 32
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_officer(
    conn: psycopg.Connection[Any],
    email: str,
    entity_id: str,
    role: str = "officer",
    *,
    name: str | None = None,
    password: str | None = PASSWORD,
) -> int:
    row = conn.execute(
        "INSERT INTO officers (email, display_name, entity_id, role, password_hash) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING officer_id",
        (
            email,
            name or email.split("@")[0].title(),
            entity_id,
            role,
            hash_password(password) if password else None,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def officer(
    conn: psycopg.Connection[Any],
    email: str,
    entity_id: str,
    role: str = "officer",
    *,
    active: bool = True,
    password: str | None = None,
) -> Officer:
    """An officer as the desk's services take one, written straight into feedback_db (without a
    password unless given: hashing costs time the service tests do not need), disabled when
    `active` is false."""
    officer_id = add_officer(conn, email, entity_id, role, password=password)
    if not active:
        conn.execute(
            "UPDATE officers SET active = FALSE, disabled_at = now() WHERE officer_id = %s", (officer_id,)
        )
    return Officer(officer_id, email, email.split("@")[0].title(), entity_id, cast(Role, role), active)


@contextmanager
def serve_desk(db_url: URL, **overrides: Any) -> Iterator[server.LiveServer]:
    """The real app, desk configured, on 127.0.0.1 over plain HTTP (so cookies are not Secure);
    its public address is where it listens, as the identity provider's redirect needs."""
    port = server.free_port()
    values = {
        "session_secret": TEST_SESSION_SECRET,
        "public_base_url": f"http://127.0.0.1:{port}",
        **overrides,
    }
    with server.serve(server.settings_for(db_url, **values), port) as live:
        yield live


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF field"
    return found.group(1)


@contextmanager
def sign_in(live: server.LiveServer | str, email: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A client holding a signed-in session, as a browser would after the sign-in form. `live` is
    the test's server or the base URL of another one (the demo's)."""
    base_url = live if isinstance(live, str) else live.base_url
    with httpx.Client(base_url=base_url, timeout=30, follow_redirects=False) as client:
        form = client.get("/desk/login")
        response = client.post(
            "/desk/login",
            data={"email": email, "password": password, "csrf_token": csrf_of(form.text), "next": "/desk/"},
        )
        assert response.status_code == 303, response.text
        yield client
