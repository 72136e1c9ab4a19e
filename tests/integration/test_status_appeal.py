"""The citizen can say "not resolved" (issue 13, as CPGRAMS lets a citizen appeal): once per
ticket, within 14 days of its resolution, the status page offers a form that reopens the ticket
with a reason and a new resolution target; every refusal changes nothing. The page and the JSON
API over real HTTP against real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from html import unescape
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from server_sync_api.services import appeal
from tests.helpers.feedback import insert_feedback
from tests.helpers.server import LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]
OPEN, IN_PROGRESS, WAITING, RESOLVED, CLOSED, REOPENED = 1, 2, 3, 4, 5, 6
REFERENCE = "KSK001-000042-7QX4"
OFFICER_EMAIL = "maria.fuentes@gov.gd"
OFFICER_NAME = "Maria Fuentes"
INTERNAL_NOTE = "Internal: the clerk says the citizen never came back with the form."
REASON = "I went back on Monday and the certificate still has my name misspelt."
FORM_ACTION = f'action="/s/{REFERENCE}/not-resolved"'
ERROR_SUMMARY = re.compile(r'<div class="error-summary" tabindex="-1" autofocus[^>]*>')


@pytest.fixture
def public(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.client() as client:
        yield client


def complaint(conn: Conn, reference: str = REFERENCE) -> str:
    """A grievance at the civil registry (DEPT-003), with its ticket; returns the ticket number."""
    feedback_id = insert_feedback(conn, rating=1, grievance_flag=True, reference_code=reference)
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None
    return str(row[0])


def move(conn: Conn, number: str, status_id: int, actor: str = OFFICER_EMAIL) -> None:
    """Change the status as an officer would, the actor set for this transaction only."""
    with conn.transaction():
        conn.execute("SELECT set_config('gea.actor', %s, true)", (actor,))
        conn.execute("UPDATE tickets SET status_id = %s WHERE ticket_number = %s", (status_id, number))


def resolved(conn: Conn, reference: str = REFERENCE, *, final: int = RESOLVED) -> str:
    """A complaint an officer (with a name, assigned, who wrote an internal note) worked and
    resolved, or closed without resolving; returns the ticket number."""
    number = complaint(conn, reference)
    conn.execute(
        "INSERT INTO officers (email, display_name, entity_id, role) VALUES (%s, %s, 'DEPT-003', 'officer') "
        "ON CONFLICT DO NOTHING",
        (OFFICER_EMAIL, OFFICER_NAME),
    )
    conn.execute("UPDATE tickets SET assigned_to = %s WHERE ticket_number = %s", (OFFICER_EMAIL, number))
    conn.execute(
        "INSERT INTO ticket_notes (ticket_id, note_text, created_by) "
        "SELECT ticket_id, %s, %s FROM tickets WHERE ticket_number = %s",
        (INTERNAL_NOTE, OFFICER_EMAIL, number),
    )
    move(conn, number, IN_PROGRESS)
    move(conn, number, final)
    return number


def ticket(conn: Conn, number: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT t.*, s.status_code FROM tickets t JOIN ticket_status s USING (status_id) "
            "WHERE t.ticket_number = %s",
            (number,),
        ).fetchone()
    assert row is not None
    return row


def activities(conn: Conn, number: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT a.activity_type, a.old_value, a.new_value, a.changed_by, a.created_at "
        "FROM ticket_activities a JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s "
        "ORDER BY a.activity_id",
        (number,),
    ).fetchall()


def snapshot(conn: Conn, number: str) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Everything an appeal would change: the ticket row and its audit trail."""
    return ticket(conn, number), activities(conn, number)


def age_resolution(conn: Conn, number: str, days: float, column: str = "resolved_at") -> None:
    """Put the resolution (or closure) `days` in the past; no status change, so no trigger moves it."""
    conn.execute(
        f"UPDATE tickets SET {column} = now() - make_interval(secs => %s) WHERE ticket_number = %s",
        (days * 86400, number),
    )


def send(client: httpx.Client, reason: str, reference: str = REFERENCE, **headers: str) -> httpx.Response:
    """The status page's form, as a browser on that page sends it."""
    sent = {"Origin": str(client.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin", **headers}
    return client.post(f"/s/{reference}/not-resolved", data={"reason": reason}, headers=sent)


def page(client: httpx.Client, reference: str = REFERENCE) -> str:
    response = client.get(f"/s/{reference}")
    assert response.status_code == 200, response.text
    return response.text


def no_secrets(text: str) -> None:
    for secret in (INTERNAL_NOTE, OFFICER_NAME, OFFICER_EMAIL, "Maria", "maria"):
        assert secret not in text


# -- When the page offers it ---------------------------------------------------------------------


def test_the_page_offers_not_resolved_only_while_the_citizen_may_say_it(
    conn: Conn, public: httpx.Client
) -> None:
    def offered(reference: str) -> bool:
        text = page(public, reference)
        return f'action="/s/{reference}/not-resolved"' in text

    complaint(conn, "KSK001-000001-7QX4")
    assert not offered("KSK001-000001-7QX4")  # open
    number = complaint(conn, "KSK001-000002-7QX4")
    move(conn, number, IN_PROGRESS)
    assert not offered("KSK001-000002-7QX4")  # being worked
    move(conn, number, WAITING)
    assert not offered("KSK001-000002-7QX4")
    insert_feedback(conn, rating=5, reference_code="KSK001-000003-7QX4")
    assert not offered("KSK001-000003-7QX4")  # no ticket

    resolved(conn, "KSK001-000004-7QX4")
    assert offered("KSK001-000004-7QX4")
    number = resolved(conn, "KSK001-000005-7QX4")
    move(conn, number, CLOSED)
    assert offered("KSK001-000005-7QX4")  # resolved, then closed
    resolved(conn, "KSK001-000006-7QX4", final=CLOSED)
    assert offered("KSK001-000006-7QX4")  # closed without resolving

    number = resolved(conn, "KSK001-000007-7QX4")
    age_resolution(conn, number, 13.9)
    assert offered("KSK001-000007-7QX4")  # still within the 14 days
    age_resolution(conn, number, 14.01)
    assert not offered("KSK001-000007-7QX4")
    number = resolved(conn, "KSK001-000008-7QX4", final=CLOSED)
    age_resolution(conn, number, 15, "closed_at")
    assert not offered("KSK001-000008-7QX4")


def test_the_form_says_until_when_and_is_labelled(conn: Conn, public: httpx.Client) -> None:
    resolved(conn)
    text = page(public)
    assert '<label id="reason-label" for="reason">Is your complaint not resolved? Tell us why</label>' in text
    assert '<textarea id="reason" name="reason"' in text
    assert "You can do this once, until <time" in text
    assert "Reopen my complaint</button>" in text
    no_secrets(text)


# -- Success -------------------------------------------------------------------------------------


def test_not_resolved_reopens_with_a_new_resolution_target_from_now_and_records_the_reason(
    conn: Conn, public: httpx.Client
) -> None:
    number = resolved(conn)
    before = ticket(conn, number)
    assert before["status_code"] == "resolved"
    assert before["resolved_at"] is not None

    response = send(public, f"  {REASON}\r\nThank you.  ")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/s/{REFERENCE}?reopened=1&lang=en"

    after = ticket(conn, number)
    assert after["status_code"] == "reopened"
    assert (after["resolved_at"], after["closed_at"]) == (None, None)
    assert after["row_version"] > before["row_version"]
    # Still the officer's: the assignee sees it first in the queue (reopened sort right after breached).
    assert after["assigned_to"] == OFFICER_EMAIL
    assert after["responded_at"] == before["responded_at"]

    *_, record, change = activities(conn, number)
    assert record[:4] == ("citizen_reopened", None, f"{REASON}\nThank you.", "citizen")
    assert change[:4] == ("status_change", "Resolved", "Reopened", "citizen")
    # One transaction: both rows and the new resolution clock have the same instant.
    reopened_at: datetime = record[4]
    assert change[4] == reopened_at
    assert after["resolution_start"] == reopened_at
    assert reopened_at > before["resolved_at"]

    # The new target counts from the reopening: the category's hours times the priority's factor.
    row = conn.execute(
        "SELECT (SELECT resolution_target FROM calculate_sla_targets(%(c)s, %(p)s, %(at)s)), "
        "       c.default_resolution_hours, p.sla_multiplier "
        "FROM ticket_categories c, priority_levels p WHERE c.category_id = %(c)s AND p.priority_id = %(p)s",
        {"c": after["category_id"], "p": after["priority_id"], "at": reopened_at},
    ).fetchone()
    assert row is not None
    expected, hours, factor = row
    assert after["resolution_target"] == expected
    assert expected == reopened_at + timedelta(hours=float(hours * factor))
    assert after["resolution_target"] != before["resolution_target"]


def test_the_confirmation_says_the_office_will_look_again_and_hides_the_officer(
    conn: Conn, public: httpx.Client
) -> None:
    resolved(conn)
    response = send(public, REASON)
    text = public.get(response.headers["location"]).text
    assert "We have reopened your complaint" in text
    assert "The office will look at it again" in text
    assert '<p class="status" role="status">Reopened</p>' in text
    assert FORM_ACTION not in text  # once only
    history = re.search(r'<h2 id="history">History</h2><ol>(.*?)</ol>', text)
    assert history is not None
    states = [unescape(s).split(":")[0] for s in re.findall(r"<li>(.*?)</li>", history.group(1))]
    assert states == ["Open", "In progress", "Resolved", "Reopened"]
    no_secrets(text)
    assert REASON not in text  # the reason is for the office; the page does not repeat it

    # The confirmation is for a citizen who did reopen it, whatever the address says.
    other = resolved(conn, "KSK001-000009-7QX4")
    move(conn, other, REOPENED)  # an officer reopened this one
    text = public.get("/s/KSK001-000009-7QX4?reopened=1").text
    assert "We have reopened your complaint" not in text


def test_the_api_status_body_shows_the_appeal_as_reopened(conn: Conn, public: httpx.Client) -> None:
    resolved(conn)
    assert send(public, REASON).status_code == 303
    body = public.get(f"/api/v1/status/{REFERENCE}").json()
    assert body["status"] == "reopened"
    assert [h["status"] for h in body["history"]] == ["open", "in_progress", "resolved", "reopened"]
    no_secrets(str(body))


# -- Refusals: nothing changes ------------------------------------------------------------------


def test_a_second_appeal_is_refused(conn: Conn, public: httpx.Client) -> None:
    number = resolved(conn)
    assert send(public, REASON).status_code == 303
    move(conn, number, RESOLVED)  # the office resolves it again
    assert FORM_ACTION not in page(public)
    before = snapshot(conn, number)

    response = send(public, "Still wrong.")
    assert response.status_code == 409
    assert appeal.ALREADY in unescape(response.text)
    assert f'<a href="/s/{REFERENCE}">Back to your complaint</a>' in response.text
    no_secrets(response.text)
    assert snapshot(conn, number) == before


def test_an_appeal_in_the_archive_counts(conn: Conn, public: httpx.Client) -> None:
    """Activities older than a year move to the archive; the appeal they record still counts."""
    number = resolved(conn)
    conn.execute(
        "INSERT INTO ticket_activities_archive "
        "(activity_id, ticket_id, activity_type, new_value, changed_by, created_at) "
        "SELECT 2000000000, ticket_id, 'citizen_reopened', 'old reason', 'citizen', "
        "now() - interval '400 days' FROM tickets WHERE ticket_number = %s",
        (number,),
    )
    assert FORM_ACTION not in page(public)
    before = snapshot(conn, number)
    response = send(public, REASON)
    assert response.status_code == 409
    assert appeal.ALREADY in unescape(response.text)
    assert snapshot(conn, number) == before


@pytest.mark.parametrize(("final", "column"), [(RESOLVED, "resolved_at"), (CLOSED, "closed_at")])
def test_day_15_is_refused(conn: Conn, public: httpx.Client, final: int, column: str) -> None:
    number = resolved(conn, final=final)
    age_resolution(conn, number, 15, column)
    before = snapshot(conn, number)
    response = send(public, REASON)
    assert response.status_code == 409
    assert appeal.EXPIRED in unescape(response.text)
    assert snapshot(conn, number) == before


def test_a_complaint_still_being_worked_or_no_complaint_is_refused(conn: Conn, public: httpx.Client) -> None:
    number = complaint(conn)
    move(conn, number, IN_PROGRESS)
    before = snapshot(conn, number)
    response = send(public, REASON)
    assert response.status_code == 409
    assert appeal.NOT_DONE in unescape(response.text)
    assert snapshot(conn, number) == before

    insert_feedback(conn, rating=5, reference_code="KSK001-000010-7QX4")
    response = send(public, REASON, "KSK001-000010-7QX4")
    assert response.status_code == 409
    assert appeal.NO_TICKET in unescape(response.text)
    assert conn.execute("SELECT count(*) FROM tickets").fetchone() == (1,)


@pytest.mark.parametrize("reference", ["KSK001-000999-7QX4", "not-a-code", "KSK001-000042-7qx4"])
def test_an_unknown_reference_is_the_not_found_page(conn: Conn, public: httpx.Client, reference: str) -> None:
    number = resolved(conn)
    before = snapshot(conn, number)
    response = send(public, REASON, reference)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Reference not found" in response.text
    assert snapshot(conn, number) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},  # an older browser: Origin only
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another site's page too
        {"Origin": "null"},  # a sandboxed frame or a data: URL
    ],
)
def test_a_cross_site_post_is_refused_and_changes_nothing(
    conn: Conn, public: httpx.Client, headers: dict[str, str]
) -> None:
    number = resolved(conn)
    before = snapshot(conn, number)
    sent = {"Origin": str(public.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin", **headers}
    response = public.post(f"/s/{REFERENCE}/not-resolved", data={"reason": REASON}, headers=sent)
    assert response.status_code == 403
    assert "another site" in response.text
    assert snapshot(conn, number) == before

    api = public.post(f"/api/v1/status/{REFERENCE}/not-resolved", json={"reason": REASON}, headers=sent)
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "cross_site_request"
    assert snapshot(conn, number) == before


def test_same_origin_from_the_public_address_or_no_headers_at_all_is_accepted(
    conn: Conn, live_server: LiveServer
) -> None:
    """Behind a proxy the browser's Origin is the public address; curl sends neither header."""
    resolved(conn, "KSK001-000011-7QX4")
    resolved(conn, "KSK001-000012-7QX4")
    resolved(conn, "KSK001-000013-7QX4")
    with live_server.client() as client:
        public_origin = live_server.settings.public_base_url.rstrip("/")
        sent = {"Origin": public_origin + ":443", "Sec-Fetch-Site": "same-origin"}
        response = client.post("/s/KSK001-000011-7QX4/not-resolved", data={"reason": REASON}, headers=sent)
        assert response.status_code == 303
        response = client.post("/s/KSK001-000012-7QX4/not-resolved", data={"reason": REASON})
        assert response.status_code == 303
        # Typed into the address bar or opened from a bookmark: "none".
        response = client.post(
            "/s/KSK001-000013-7QX4/not-resolved", data={"reason": REASON}, headers={"Sec-Fetch-Site": "none"}
        )
        assert response.status_code == 303


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", appeal.BLANK),
        ("  \r\n\t  ", appeal.BLANK),
        ("x" * 1001, appeal.TOO_LONG),
        ("</textarea><script>alert(1)</script>" + "y" * 1000, appeal.TOO_LONG),
    ],
)
def test_a_blank_or_too_long_reason_shows_the_page_again_with_an_error_summary(
    conn: Conn, public: httpx.Client, typed: str, message: str
) -> None:
    number = resolved(conn)
    before = snapshot(conn, number)
    response = send(public, typed)
    assert response.status_code == 422
    text = response.text
    assert ERROR_SUMMARY.search(text), "the error summary comes first and takes focus"
    assert text.index("error-summary") < text.index("<h1>")
    assert "<title>Error: " in text
    assert f'<a href="#reason">{message}</a>' in text
    assert 'aria-invalid="true"' in text
    assert 'aria-describedby="reason-hint reason-error"' in text
    # What they typed, after the newline that HTML drops from the start of a textarea.
    kept = re.search(r'<textarea id="reason"[^>]*>\n(.*?)</textarea>', text, re.S)
    assert kept is not None
    assert unescape(kept.group(1)) == typed
    assert "<script>" not in text
    no_secrets(text)
    assert snapshot(conn, number) == before


def test_a_form_that_is_not_the_pages_is_refused_and_changes_nothing(
    conn: Conn, public: httpx.Client
) -> None:
    number = resolved(conn)
    before = snapshot(conn, number)
    url = f"/s/{REFERENCE}/not-resolved"
    response = public.post(url, json={"reason": REASON})
    assert response.status_code == 415
    assert "We could not read the form" in response.text
    response = public.post(url, data={"reason": "a" * 20000})
    assert response.status_code == 413
    assert appeal.TOO_LONG in unescape(response.text)
    assert snapshot(conn, number) == before


def test_a_reason_of_exactly_1000_characters_once_trimmed_is_accepted(
    conn: Conn, public: httpx.Client
) -> None:
    number = resolved(conn)
    assert send(public, "  " + "é" * 1000 + "\n").status_code == 303
    assert activities(conn, number)[-2][2] == "é" * 1000


def test_two_appeals_at_once_make_one(conn: Conn, live_server: LiveServer) -> None:
    number = resolved(conn)

    def post(reason: str) -> int:
        with live_server.client() as client:
            return send(client, reason).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(post, [f"reason {i}" for i in range(4)]))
    assert codes == [303, 409, 409, 409]
    kinds = [a[0] for a in activities(conn, number)]
    assert kinds.count("citizen_reopened") == 1
    assert ticket(conn, number)["status_code"] == "reopened"


# -- The JSON API: the same rules --------------------------------------------------------------


def api(client: httpx.Client, body: Any, reference: str = REFERENCE, **kwargs: Any) -> httpx.Response:
    return client.post(f"/api/v1/status/{reference}/not-resolved", json=body, **kwargs)


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert set(body) == {"error"}
    return response.status_code, body["error"]["code"], body["error"]["message"]


def test_the_api_reopens_and_answers_the_new_status(conn: Conn, public: httpx.Client) -> None:
    number = resolved(conn)
    response = api(public, {"reason": f" {REASON} "})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reference_code"] == REFERENCE
    assert body["status"] == "reopened"
    assert body["history"][-1]["status"] == "reopened"
    no_secrets(response.text)
    after = ticket(conn, number)
    assert after["status_code"] == "reopened"
    *_, record, change = activities(conn, number)
    assert record[:4] == ("citizen_reopened", None, REASON, "citizen")
    assert change[3] == "citizen"
    assert after["resolution_start"] == record[4]


def test_the_api_refuses_as_the_page_does(conn: Conn, public: httpx.Client) -> None:
    number = resolved(conn)
    before = snapshot(conn, number)
    assert error(api(public, {"reason": REASON}, "KSK001-000999-7QX4"))[:2] == (404, "unknown_reference_code")
    assert error(api(public, {"reason": REASON}, "nonsense"))[:2] == (404, "unknown_reference_code")
    assert error(api(public, {"reason": "   "})) == (422, "invalid_request", appeal.BLANK)
    assert error(api(public, {"reason": "z" * 1001})) == (422, "invalid_request", appeal.TOO_LONG)
    assert error(api(public, {}))[:2] == (422, "invalid_request")
    assert error(api(public, {"reason": 5}))[:2] == (422, "invalid_request")
    assert error(api(public, {"reason": REASON, "status": "closed"}))[:2] == (422, "invalid_request")
    assert error(api(public, [REASON]))[:2] == (422, "invalid_request")
    text = public.post(
        f"/api/v1/status/{REFERENCE}/not-resolved", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert error(text)[:2] == (400, "malformed_json")
    form = public.post(f"/api/v1/status/{REFERENCE}/not-resolved", data={"reason": REASON})
    assert error(form)[:2] == (415, "unsupported_media_type")
    big = public.post(
        f"/api/v1/status/{REFERENCE}/not-resolved",
        content=b'{"reason": "' + b"a" * 20000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert error(big)[:2] == (413, "payload_too_large")
    assert snapshot(conn, number) == before

    age_resolution(conn, number, 15)
    assert error(api(public, {"reason": REASON})) == (409, "appeal_not_open", appeal.EXPIRED)
    age_resolution(conn, number, 1)
    assert api(public, {"reason": REASON}).status_code == 200
    move(conn, number, RESOLVED)
    assert error(api(public, {"reason": REASON})) == (409, "appeal_not_open", appeal.ALREADY)

    other = complaint(conn, "KSK001-000014-7QX4")
    assert error(api(public, {"reason": REASON}, "KSK001-000014-7QX4")) == (
        409,
        "appeal_not_open",
        appeal.NOT_DONE,
    )
    assert ticket(conn, other)["status_code"] == "open"
