"""The desk over real HTTP: sign-in, sessions, CSRF, scope on every page and action.

The browser tests (tests/browser/) work tickets as an officer does; these check what a browser
cannot easily show: cookies' flags, refusals and that a refused request changed nothing.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.helpers import desk, server
from tests.helpers.feedback import insert_feedback

pytestmark = pytest.mark.pg


@pytest.fixture
def registry_ticket(conn: psycopg.Connection[Any]) -> str:
    """A complaint at the Civil Registry (DEPT-003, under MIN-003) and its ticket number."""
    feedback_id = insert_feedback(conn, rating=1, grievance_flag=True, feedback_text="Queue too long")
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _ticket_state(conn: psycopg.Connection[Any], number: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT status_id, priority_id, category_id, assigned_to, resolution_notes, row_version, "
        "(SELECT count(*) FROM ticket_notes n WHERE n.ticket_id = t.ticket_id) "
        "FROM tickets t WHERE ticket_number = %s",
        (number,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_without_a_session_secret_the_desk_says_it_is_not_set_up_and_kiosks_are_served(db_url: URL) -> None:
    with server.serve(server.settings_for(db_url)) as live, live.client() as client:
        page = client.get("/desk/")
        assert page.status_code == 503
        assert "GEA_SERVER_SESSION_SECRET" in page.text
        assert page.headers["content-type"].startswith("text/html")
        assert client.get("/desk/login").status_code == 503
        assert client.get("/healthz").status_code == 200


def test_a_signed_out_browser_is_sent_to_sign_in_and_back(live_desk: server.LiveServer) -> None:
    with live_desk.client(follow_redirects=False) as client:
        response = client.get("/desk/tickets/202612-000001?x=1")
        assert response.status_code == 303
        assert response.headers["location"] == "/desk/login?next=/desk/tickets/202612-000001%3Fx%3D1"


def test_signing_in_sets_an_httponly_lax_cookie_and_rotates_it(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        _check_rotation(client, conn)


def _check_rotation(client: Any, conn: psycopg.Connection[Any]) -> None:
    cookie = next(c for c in client.cookies.jar if c.name == "gea_desk")
    first = cookie.value
    assert first
    assert cookie.path == "/desk"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert not cookie.secure  # served over plain HTTP here
    # The table keeps only a digest of the token.
    hashes = conn.execute("SELECT token_hash FROM officer_sessions").fetchall()
    assert len(hashes) == 1
    assert first.encode() not in bytes(hashes[0][0])
    # Signing in again from the same browser replaces the session rather than adding one.
    form = client.get("/desk/login")
    again = client.post(
        "/desk/login",
        data={"email": "ana@gov.gd", "password": desk.PASSWORD, "csrf_token": desk.csrf_of(form.text)},
    )
    assert again.status_code == 303
    assert client.cookies.get("gea_desk", path="/desk") != first
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (1,)


def test_the_sign_in_form_refuses_a_post_without_its_csrf_token(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    with live_desk.client(follow_redirects=False) as client:
        client.get("/desk/login")
        response = client.post("/desk/login", data={"email": "ana@gov.gd", "password": desk.PASSWORD})
        assert response.status_code == 403
        assert "gea_desk" not in response.headers.get("set-cookie", "")
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM officer_sign_ins").fetchone() == (0,)


def test_a_wrong_password_and_an_unknown_account_read_the_same(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    texts = []
    with live_desk.client(follow_redirects=False) as client:
        for email in ("ana@gov.gd", "nobody@gov.gd"):
            form = client.get("/desk/login")
            response = client.post(
                "/desk/login",
                data={"email": email, "password": "not the password", "csrf_token": desk.csrf_of(form.text)},
            )
            assert response.status_code == 401
            assert "The email address or the password is not right." in response.text
            texts.append(response.text.replace(email, "EMAIL"))
    assert texts[0] == texts[1]
    outcomes = conn.execute("SELECT outcome FROM officer_sign_ins ORDER BY sign_in_id").fetchall()
    assert [o for (o,) in outcomes] == ["wrong_password", "unknown_account"]


def test_officers_of_another_agency_find_nothing_on_any_page_or_action(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "pat@gov.gd", "AGY-002", "supervisor")  # passports: another ministry
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    before = _ticket_state(conn, registry_ticket)
    version = before[5]
    with desk.sign_in(live_desk, "pat@gov.gd") as client:
        queue = client.get("/desk/")
        assert queue.status_code == 200
        assert registry_ticket not in queue.text
        assert registry_ticket not in client.get("/desk/export.csv").text
        page = client.get(f"/desk/tickets/{registry_ticket}")
        assert page.status_code == 404
        assert "Queue too long" not in page.text
        token = desk.csrf_of(queue.text)
        for action, data in (
            ("assign", {"assignee": "pat@gov.gd"}),
            ("status", {"status": "in_progress"}),
            ("priority", {"priority": "1"}),
            ("category", {"category": "1"}),
            ("resolution", {"resolution_notes": "done"}),
            ("notes", {"text": "hello", "visibility": "public"}),
        ):
            response = client.post(
                f"/desk/tickets/{registry_ticket}/{action}",
                data={"csrf_token": token, "version": str(version), **data},
            )
            assert response.status_code == 404, action
            assert "Queue too long" not in response.text
    assert _ticket_state(conn, registry_ticket) == before


def test_an_action_without_the_csrf_token_changes_nothing(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    before = _ticket_state(conn, registry_ticket)
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        for token in (None, "0" * 64):
            data = {"version": str(before[5]), "text": "sneaky", "visibility": "public"}
            if token:
                data["csrf_token"] = token
            response = client.post(f"/desk/tickets/{registry_ticket}/notes", data=data)
            assert response.status_code == 403
            assert "Nothing was changed" in response.text
    assert _ticket_state(conn, registry_ticket) == before


def test_a_stale_page_is_refused_and_changes_nothing(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        page = client.get(f"/desk/tickets/{registry_ticket}")
        token = desk.csrf_of(page.text)
        version = _ticket_state(conn, registry_ticket)[5]
        moved = client.post(
            f"/desk/tickets/{registry_ticket}/status",
            data={"csrf_token": token, "version": str(version), "status": "in_progress"},
        )
        assert moved.status_code == 303
        before = _ticket_state(conn, registry_ticket)
        stale = client.post(
            f"/desk/tickets/{registry_ticket}/priority",
            data={"csrf_token": token, "version": str(version), "priority": "1"},
        )
        assert stale.status_code == 409
        assert "changed by someone else" in stale.text
    assert _ticket_state(conn, registry_ticket) == before


def test_signing_out_and_disabling_end_the_session(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    desk.add_officer(conn, "bo@gov.gd", "DEPT-003")
    with desk.sign_in(live_desk, "ana@gov.gd") as ana, desk.sign_in(live_desk, "bo@gov.gd") as bo:
        queue = ana.get("/desk/")
        assert queue.status_code == 200
        out = ana.post("/desk/logout", data={"csrf_token": desk.csrf_of(queue.text)})
        assert out.status_code == 303
        assert ana.get("/desk/").status_code == 303
        assert bo.get("/desk/").status_code == 200
        conn.execute("UPDATE officers SET active = false, disabled_at = now() WHERE email = 'bo@gov.gd'")
        assert bo.get("/desk/").status_code == 303
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)


def test_bad_input_gets_a_page_not_a_500(live_desk: server.LiveServer, conn: psycopg.Connection[Any]) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        queue = client.get("/desk/?priority=urgent&from=yesterday&after=%%%")
        assert queue.status_code == 200
        assert "Filters were not applied" in queue.text
        token = desk.csrf_of(queue.text)
        response = client.post(
            "/desk/tickets/202612-000001/priority",
            data={"csrf_token": token, "version": "x", "priority": "high"},
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert client.get("/desk/nothing-here").status_code == 404


# -- Security review: every action's checks, session expiry, bad input, the CSV --------------------


def _actions(conn: psycopg.Connection[Any]) -> list[tuple[str, dict[str, str]]]:
    """Every ticket action with a change it would make to an open, unassigned registry ticket."""
    row = conn.execute("SELECT category_id FROM ticket_categories WHERE category_name = 'General'").fetchone()
    assert row is not None
    return [
        ("assign", {"assignee": "ana@gov.gd"}),
        ("status", {"status": "in_progress"}),
        ("priority", {"priority": "1"}),
        ("category", {"category": str(row[0])}),
        ("resolution", {"resolution_notes": "Reprinted."}),
        ("notes", {"text": "hello", "visibility": "public"}),
    ]


def _account_state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return tuple(
        conn.execute(
            "SELECT (SELECT array_agg(password_hash ORDER BY officer_id) FROM officers), "
            "(SELECT array_agg(token_hash ORDER BY token_hash) FROM officer_sessions)"
        ).fetchone()
        or ()
    )


def test_every_post_without_the_right_csrf_token_is_403_and_changes_nothing(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    desk.add_officer(conn, "sue@gov.gd", "DEPT-003", "supervisor")
    before = _ticket_state(conn, registry_ticket)
    with desk.sign_in(live_desk, "sue@gov.gd") as client:
        real = desk.csrf_of(client.get("/desk/account").text)
        accounts = _account_state(conn)
        posts = [(f"/desk/tickets/{registry_ticket}/{action}", data) for action, data in _actions(conn)]
        posts += [
            ("/desk/logout", {}),
            ("/desk/account/password", {"current": desk.PASSWORD, "new": "n" * 20, "again": "n" * 20}),
        ]
        for path, data in posts:
            for fields, headers in [
                ({}, {}),  # no token at all
                ({"csrf_token": "0" * 64}, {}),  # a wrong one
                ({"csrf_token": real[:-1]}, {}),  # nearly right
                ({"csrf_token": ""}, {"x-csrf-token": ""}),  # empty
                ({"csrf_token": real}, {"x-csrf-token": "0" * 64}),  # htmx's header wins, and is wrong
            ]:
                response = client.post(
                    path, data={"version": str(before[5]), **data, **fields}, headers=headers
                )
                assert response.status_code == 403, (path, fields, headers)
                assert "Nothing was changed" in response.text
                assert _ticket_state(conn, registry_ticket) == before, path
                assert _account_state(conn) == accounts, path
        assert client.get("/desk/").status_code == 200  # still signed in: logout was refused too


def test_a_stale_version_on_every_versioned_action_is_409_and_changes_nothing(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    desk.add_officer(conn, "sue@gov.gd", "DEPT-003", "supervisor")
    with desk.sign_in(live_desk, "sue@gov.gd") as client:
        token = desk.csrf_of(client.get(f"/desk/tickets/{registry_ticket}").text)
        seen = _ticket_state(conn, registry_ticket)[5]
        conn.execute(
            "UPDATE tickets SET title = 'Edited meanwhile' WHERE ticket_number = %s", (registry_ticket,)
        )
        before = _ticket_state(conn, registry_ticket)
        assert before[5] == seen + 1
        versioned = [(action, data) for action, data in _actions(conn) if action != "notes"]
        assert len(versioned) == 5
        for action, data in versioned:
            response = client.post(
                f"/desk/tickets/{registry_ticket}/{action}",
                data={"csrf_token": token, "version": str(seen), **data},
            )
            assert response.status_code == 409, action
            assert "changed by someone else" in response.text
            assert _ticket_state(conn, registry_ticket) == before, action
        # The same posts with the version the page now shows go through.
        for action, data in versioned:
            response = client.post(
                f"/desk/tickets/{registry_ticket}/{action}",
                data={"csrf_token": token, "version": str(_ticket_state(conn, registry_ticket)[5]), **data},
            )
            assert response.status_code == 303, action


def test_an_idle_session_ends_after_30_minutes(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    before = _ticket_state(conn, registry_ticket)
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        token = desk.csrf_of(client.get("/desk/").text)
        conn.execute("UPDATE officer_sessions SET last_seen_at = now() - interval '29 minutes'")
        assert client.get("/desk/").status_code == 200  # not yet, and the clock starts again
        conn.execute("UPDATE officer_sessions SET last_seen_at = now() - interval '31 minutes'")
        page = client.get("/desk/")
        assert page.status_code == 303
        assert page.headers["location"] == "/desk/login?next=/desk/"
        note = client.post(
            f"/desk/tickets/{registry_ticket}/notes",
            data={"csrf_token": token, "text": "too late", "visibility": "public"},
        )
        assert note.status_code == 303
        assert note.headers["location"].startswith("/desk/login?")
    assert _ticket_state(conn, registry_ticket) == before


def test_a_session_ends_at_its_absolute_expiry_however_busy(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    before = _ticket_state(conn, registry_ticket)
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        token = desk.csrf_of(client.get("/desk/").text)
        conn.execute(
            "UPDATE officer_sessions SET expires_at = now() - interval '1 second', last_seen_at = now()"
        )
        page = client.get(f"/desk/tickets/{registry_ticket}")
        assert page.status_code == 303
        assert page.headers["location"] == f"/desk/login?next=/desk/tickets/{registry_ticket}"
        note = client.post(
            f"/desk/tickets/{registry_ticket}/notes",
            data={"csrf_token": token, "text": "too late", "visibility": "public"},
        )
        assert note.status_code == 303
        assert note.headers["location"].startswith("/desk/login?")
    assert _ticket_state(conn, registry_ticket) == before


def test_a_nul_in_any_text_field_is_a_422_page_not_a_500(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "sue@gov.gd", "DEPT-003", "supervisor")
    before = _ticket_state(conn, registry_ticket)
    with desk.sign_in(live_desk, "sue@gov.gd") as client:
        token = desk.csrf_of(client.get(f"/desk/tickets/{registry_ticket}").text)
        for action, data in [
            ("notes", {"text": "a\x00b", "visibility": "public"}),
            ("resolution", {"resolution_notes": "a\x00b"}),
            ("status", {"status": "resolved", "resolution_notes": "done\x00"}),
            ("status", {"status": "in\x00"}),
            ("assign", {"assignee": "ana\x00@gov.gd"}),
        ]:
            response = client.post(
                f"/desk/tickets/{registry_ticket}/{action}",
                data={"csrf_token": token, "version": str(before[5]), **data},
            )
            assert response.status_code == 422, (action, data)
            assert response.headers["content-type"].startswith("text/html")
            assert "There is a control character (such as NUL)" in response.text
            assert _ticket_state(conn, registry_ticket) == before
        for path in ("/desk/?status=open%00", "/desk/?service=SVC-003%00"):
            page = client.get(path)
            assert page.status_code == 200
            assert "Filters were not applied" in page.text
            assert "\x00" not in page.text


def test_a_hand_made_cursor_is_the_damaged_link_message_not_a_500(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    body = "1|0001-01-01T00:00:00+14:00|0|-|1"
    check = hashlib.blake2s(body.encode(), digest_size=6).hexdigest()
    cursor = base64.urlsafe_b64encode(f"{body}|{check}".encode()).decode().rstrip("=")
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        page = client.get("/desk/", params={"after": cursor})
        assert page.status_code == 200
        assert "The page link is damaged or out of date. Start again from the first page." in page.text
        export = client.get("/desk/export.csv", params={"after": cursor})
        assert export.status_code == 422
        assert "The page link is damaged" in export.text


def test_the_csv_of_2500_tickets_is_streamed_whole_and_in_order(
    db_url: URL, conn: psycopg.Connection[Any]
) -> None:
    """Security review: the export was built whole in memory. It is streamed now, a batch of
    the queue at a time, over the request's pooled connection, which is returned afterwards."""
    desk.add_officer(conn, "sue@gov.gd", "DEPT-003", "supervisor")
    # Deadlines from 9.5 hours ago to 89.5 hours ahead: the breached ones first, all by deadline.
    conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, response_target, resolution_target) "
        "SELECT 'DEPT-003', 'SVC-003', 'Complaint ' || g, "
        "       now() + ((g * 37) % 100 - 10) * interval '1 hour' + interval '30 minutes', "
        "       now() + interval '10 days' "
        "FROM generate_series(1, 2500) AS g"
    )
    expected = [
        number
        for (number,) in conn.execute(
            "SELECT ticket_number FROM tickets ORDER BY response_target, ticket_id"
        ).fetchall()
    ]
    assert len(expected) == 2500
    header = (
        "Ticket number,Title,Status,Priority,Category,Service,Office,Created,Response target,Responded,"
        "Resolution target,Next deadline,Breached,Reopened,Assigned to,Assignee"
    )
    # Two connections in the pool: every export must give its connection back.
    with desk.serve_desk(db_url, db_pool_min_size=1, db_pool_max_size=2) as live:
        with desk.sign_in(live, "sue@gov.gd") as client:
            with client.stream("GET", "/desk/export.csv") as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "text/csv; charset=utf-8"
                assert "content-length" not in response.headers  # streamed, not built whole
                assert response.headers["transfer-encoding"] == "chunked"
                text = "".join(response.iter_text())
            rows = list(csv.reader(io.StringIO(text, newline="")))
            assert ",".join(rows[0]) == header
            assert [row[0] for row in rows[1:]] == expected
            assert text.count("Ticket number,") == 1
            assert [row[12] for row in rows[1:]].count("yes") == 250
            # Browsers that leave after the first bytes do not keep a connection either.
            for _ in range(3):
                with client.stream("GET", "/desk/export.csv") as response:
                    assert next(response.iter_bytes()).startswith(b"Ticket number,")
            for _ in range(4):
                again = client.get("/desk/export.csv?breached=1")
                assert again.status_code == 200
                assert len(again.text.splitlines()) == 1 + 250


def test_a_note_over_the_limit_is_refused_with_the_limit_and_the_text_kept(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any], registry_ticket: str
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    before = _ticket_state(conn, registry_ticket)
    long_note = "Spoke to the citizen. " * 300  # 6,600 characters, over the 5,000 a note holds
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        token = desk.csrf_of(client.get(f"/desk/tickets/{registry_ticket}").text)
        response = client.post(
            f"/desk/tickets/{registry_ticket}/notes",
            data={"csrf_token": token, "text": long_note, "visibility": "internal"},
        )
        assert response.status_code == 422
        assert "A note holds at most 5,000 characters" in response.text
        assert long_note.strip() in response.text  # kept in the form, to shorten and send again
        too_long_notes = "x" * 10_001
        response = client.post(
            f"/desk/tickets/{registry_ticket}/resolution",
            data={"csrf_token": token, "version": str(before[5]), "resolution_notes": too_long_notes},
        )
        assert response.status_code == 422
        assert "Resolution notes hold at most 10,000 characters" in response.text
        assert too_long_notes in response.text
    assert _ticket_state(conn, registry_ticket) == before


def test_the_ticket_page_says_how_deadlines_count_and_when_the_clock_is_paused(
    live_desk: server.LiveServer, conn: psycopg.Connection[Any]
) -> None:
    calendar = conn.execute(
        "INSERT INTO sla_calendars (name, timezone) VALUES ('Registry hours', 'America/Grenada') "
        "RETURNING calendar_id"
    ).fetchone()
    assert calendar is not None
    conn.execute("INSERT INTO sla_calendar_hours VALUES (%s, 1, '08:00', '16:00')", (calendar[0],))
    conn.execute(
        "UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = 'DEPT-003'", (calendar[0],)
    )
    counted = insert_feedback(conn, rating=1, grievance_flag=True)
    conn.execute("UPDATE entity_master SET sla_calendar_id = NULL WHERE unique_entity_id = 'DEPT-003'")
    round_the_clock = insert_feedback(conn, rating=1, grievance_flag=True)
    numbers = dict(
        conn.execute(
            "SELECT feedback_id, ticket_number FROM tickets WHERE feedback_id IN (%s, %s)",
            (counted, round_the_clock),
        ).fetchall()
    )
    conn.execute("UPDATE tickets SET status_id = 3 WHERE feedback_id = %s", (counted,))  # Waiting
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003")
    with desk.sign_in(live_desk, "ana@gov.gd") as client:
        waiting = client.get(f"/desk/tickets/{numbers[counted]}").text
        assert "Deadlines count in the working hours of the calendar “Registry hours”." in waiting
        assert "Paused while waiting, since" in waiting
        assert "overdue" not in waiting
        other = client.get(f"/desk/tickets/{numbers[round_the_clock]}").text
        assert "Deadlines count 24 hours a day, 7 days a week." in other
        assert "Paused while waiting" not in other
