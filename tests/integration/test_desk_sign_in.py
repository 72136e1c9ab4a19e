"""The desk's sign-in over real HTTP, as an attacker would try it: a flood of made-up accounts
that must not take the connections kiosks need, fields longer than any account, and a password
change that must not leave the old session token working.

Outcomes are asserted (what the server answered, what it recorded), never how long it took."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api.services import officers
from tests.helpers import desk, server

pytestmark = pytest.mark.pg

WRONG = "The email address or the password is not right."
EXPIRED = "This form has expired"
COOKIE = "gea_desk"


def _try(client: httpx.Client, email: str, password: str, **extra: str) -> httpx.Response:
    form = client.get("/desk/login")
    return client.post(
        "/desk/login",
        data={"email": email, "password": password, "csrf_token": desk.csrf_of(form.text), **extra},
    )


def test_a_flood_of_made_up_accounts_is_throttled_and_kiosks_are_still_served(
    db_url: URL, conn: psycopg.Connection[Any]
) -> None:
    """Many browsers at one address each try new made-up accounts at once, against a pool of
    three connections. Before, each attempt held a connection (and a lock) through its argon2
    check and no made-up account was ever slowed, so kiosks waited for a connection and got
    503. Now the address's budget refuses all but the first twenty unhashed, and the checks
    that run hold no connection."""
    browsers, each = 8, 6
    answers: list[int] = []
    api: list[int] = []
    flooding = threading.Event()
    flooding.set()

    with desk.serve_desk(db_url, db_pool_max_size=3) as live:
        device = server.enroll(live, db_url, "AGY-002")  # a kiosk sends its token

        def flood(n: int) -> None:
            with live.client(follow_redirects=False) as client:
                token = desk.csrf_of(client.get("/desk/login").text)
                for i in range(each):
                    response = client.post(
                        "/desk/login",
                        data={"email": f"made.up.{n}.{i}@gov.gd", "password": "a guess", "csrf_token": token},
                    )
                    answers.append(response.status_code)

        def kiosk() -> None:
            with live.client(device.token) as client:
                while flooding.is_set() or len(api) < 4:
                    api.append(client.get("/readyz").status_code)
                    api.append(client.get("/api/v1/status/ABCD-EFGH-JKLM").status_code)

        threads = [threading.Thread(target=flood, args=(n,)) for n in range(browsers)]
        watcher = threading.Thread(target=kiosk)
        watcher.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        flooding.clear()
        watcher.join()

    assert len(answers) == browsers * each
    assert set(answers) <= {401, 429}
    outcomes = dict(
        conn.execute("SELECT outcome, count(*) FROM officer_sign_ins GROUP BY outcome").fetchall()
    )
    # Twenty checked (one argon2 check each), every other one refused before any hashing.
    assert outcomes == {
        "unknown_account": officers.ADDRESS_BUDGET,
        "throttled": browsers * each - officers.ADDRESS_BUDGET,
    }
    assert answers.count(429) == browsers * each - officers.ADDRESS_BUDGET
    # The kiosks' API answered all along: never 503 (no connection to be had).
    assert 503 not in api
    assert set(api) == {200, 404}


def test_an_email_or_next_too_long_gets_the_usual_refusal_and_the_form(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    with live_desk.client(follow_redirects=False) as client:
        long_email = _try(client, "a" * 300 + "@gov.gd", desk.PASSWORD)
        assert long_email.status_code == 401
        assert WRONG in long_email.text
        assert EXPIRED not in long_email.text
        assert 'name="password"' in long_email.text
        desk.csrf_of(long_email.text)  # the form is there to try again

        long_next = _try(client, "ana@gov.gd", "not the password", next="/desk/" + "x" * 2500)
        assert long_next.status_code == 401
        assert WRONG in long_next.text
        assert EXPIRED not in long_next.text
        assert "x" * 2500 not in long_next.text

        # The right password with a long `next` signs in, back to the queue.
        signed_in = _try(client, "ana@gov.gd", desk.PASSWORD, next="/desk/" + "x" * 2500)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/desk/"
    outcomes = conn.execute("SELECT outcome FROM officer_sign_ins ORDER BY sign_in_id").fetchall()
    assert [o for (o,) in outcomes] == ["unknown_account", "wrong_password", "ok"]


def test_changing_the_password_gives_this_browser_a_new_session_and_ends_the_others(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    new = "another long passphrase"
    with desk.sign_in(live_desk, "ana@gov.gd") as ana, desk.sign_in(live_desk, "ana@gov.gd") as elsewhere:
        before = ana.cookies.get(COOKIE, path="/desk")
        token = desk.csrf_of(ana.get("/desk/account").text)
        changed = ana.post(
            "/desk/account/password",
            data={"csrf_token": token, "current": desk.PASSWORD, "new": new, "again": new},
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/desk/account?done=1"
        after = ana.cookies.get(COOKIE, path="/desk")
        assert after
        assert after != before
        # The new token works; the one from before the change and the other browser's do not.
        assert ana.get("/desk/account").status_code == 200
        with live_desk.client(follow_redirects=False) as copied:
            assert copied.get("/desk/", headers={"Cookie": f"{COOKIE}={before}"}).status_code == 303
        assert elsewhere.get("/desk/").status_code == 303
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (1,)
    assert conn.execute("SELECT method FROM officer_sessions").fetchone() == ("password",)
