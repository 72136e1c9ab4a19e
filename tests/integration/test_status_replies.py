"""The citizen sees the answer (issue 13, ARCHITECTURE 5 and 4.13): the status API and the status
page show the ticket's history and the office's public replies, and never an internal note, an
officer's name or email. Over real HTTP against real PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from tests.helpers.feedback import insert_feedback
from tests.helpers.server import EnrolledDevice, LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]

STATUS_KEYS = {
    "reference_code",
    "received_at",
    "ticket_number",
    "status",
    "last_updated",
    "history",
    "replies",
}
OFFICER_EMAIL = "maria.fuentes@gov.gd"
OFFICER_NAME = "Maria Fuentes"
INTERNAL_NOTE = "Internal: the citizen called twice, the supervisor thinks the clerk was right."
RESOLUTION_NOTES = "Resolution notes: spoke to the clerk privately."
PUBLIC_REPLY = "We are sorry for the wait.\nThe office now opens a second counter on Mondays."


@pytest.fixture
def public(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.client() as client:
        yield client


def complain(live: LiveServer, device: EnrolledDevice, seq: int = 1) -> tuple[str, str]:
    """A rating of 1 at the passport office's kiosk: returns (reference code, ticket number)."""
    reference = f"{device.device_code}-{seq:06d}-7QX4"
    item = {
        "client_uuid": str(uuid.uuid4()),
        "reference_code": reference,
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 1,
        "feedback_text": "the clerk was rude",
        "recorded_at": "2026-11-22T10:00:00Z",
    }
    with live.client(device.token) as client:
        response = client.post("/api/v1/submissions", json={"items": [item]})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] == "created", result
    assert result["ticket_number"], result
    return reference, result["ticket_number"]


def move(conn: Conn, ticket_number: str, status_id: int, actor: str = OFFICER_EMAIL) -> None:
    """Change a ticket's status as an officer would: the actor set for this transaction only."""
    with conn.transaction():
        conn.execute("SELECT set_config('gea.actor', %s, true)", (actor,))
        conn.execute("UPDATE tickets SET status_id = %s WHERE ticket_number = %s", (status_id, ticket_number))


def add_note(conn: Conn, ticket_number: str, text: str, *, public: bool) -> datetime:
    row = conn.execute(
        "INSERT INTO ticket_notes (ticket_id, note_text, created_by, is_public) "
        "SELECT ticket_id, %s, %s, %s FROM tickets WHERE ticket_number = %s RETURNING created_at",
        (text, OFFICER_EMAIL, public, ticket_number),
    ).fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


def status_change_times(conn: Conn, ticket_number: str) -> list[datetime]:
    """When the ticket was created, then when each status change was recorded."""
    rows = conn.execute(
        """
        SELECT created_at FROM tickets WHERE ticket_number = %(n)s
        UNION ALL
        (SELECT a.created_at FROM ticket_activities a JOIN tickets t USING (ticket_id)
         WHERE t.ticket_number = %(n)s AND a.activity_type = 'status_change'
         ORDER BY a.activity_id)
        """,
        {"n": ticket_number},
    ).fetchall()
    return [row[0] for row in rows]


def history_of(body: dict[str, Any]) -> list[tuple[str, datetime]]:
    return [(entry["status"], datetime.fromisoformat(entry["at"])) for entry in body["history"]]


def when(moment: datetime, timezone: str) -> str:
    return f"{moment.astimezone(ZoneInfo(timezone)):%d %B %Y, %H:%M}".lstrip("0")


def section_items(page: str, section_id: str) -> list[str]:
    """The text of each <li> of the page's section labelled by `section_id`, tags stripped."""
    found = re.search(rf'<section aria-labelledby="{section_id}">(.*?)</section>', page, re.S)
    assert found is not None, page
    return [unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", found[1], re.S)]


def test_the_citizen_sees_each_state_and_the_public_reply_but_nothing_internal(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    reference, number = complain(live_server, device)
    conn.execute(
        "INSERT INTO officers (email, display_name, entity_id, role) VALUES (%s, %s, 'AGY-002', 'officer')",
        (OFFICER_EMAIL, OFFICER_NAME),
    )
    with conn.transaction():  # assignment is recorded in the audit trail with the officer's name
        conn.execute("SELECT set_config('gea.actor', %s, true)", (OFFICER_EMAIL,))
        conn.execute(
            "UPDATE tickets SET assigned_to = %s, resolution_notes = %s WHERE ticket_number = %s",
            (OFFICER_NAME, RESOLUTION_NOTES, number),
        )
    move(conn, number, 2)  # In Progress
    add_note(conn, number, INTERNAL_NOTE, public=False)
    move(conn, number, 4)  # Resolved
    replied_at = add_note(conn, number, PUBLIC_REPLY, public=True)
    times = status_change_times(conn, number)

    response = public.get(f"/api/v1/status/{reference}")
    with live_server.client(device.token) as staff:
        by_number = staff.get(f"/api/v1/tickets/{number}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == STATUS_KEYS
    assert body["status"] == "resolved"
    assert history_of(body) == list(zip(["open", "in_progress", "resolved"], times, strict=True))
    assert times == sorted(times)
    assert [set(entry) for entry in body["history"]] == [{"status", "at"}] * 3
    assert body["replies"] == [{"text": PUBLIC_REPLY, "at": body["replies"][0]["at"]}]
    assert datetime.fromisoformat(body["replies"][0]["at"]) == replied_at
    # The reply came last: it is the latest news.
    assert datetime.fromisoformat(body["last_updated"]) == replied_at
    assert by_number.status_code == 200, by_number.text
    assert by_number.json() == body

    page = public.get(f"/s/{reference}")
    assert page.status_code == 200
    timezone = live_server.settings.timezone
    assert section_items(page.text, "history") == [
        f"Open: {when(times[0], timezone)}",
        f"In progress: {when(times[1], timezone)}",
        f"Resolved: {when(times[2], timezone)}",
    ]
    assert "Replies from the office" in page.text
    [reply] = section_items(page.text, "replies")
    assert reply == when(replied_at, timezone) + PUBLIC_REPLY
    assert "white-space:pre-line" in page.text
    # Headings in order: h1, then the sections' h2.
    assert re.findall(r"<h([1-6])", page.text) == ["1", "2", "2"]

    for leak in (
        INTERNAL_NOTE,
        "Internal:",
        RESOLUTION_NOTES,
        OFFICER_EMAIL,
        OFFICER_NAME,
        "gov.gd",
        "Fuentes",
    ):
        for text in (response.text, by_number.text, page.text):
            assert leak not in text
    for field in ("changed_by", "created_by", "assigned_to", "note_id"):
        assert field not in response.text


def test_a_renamed_status_still_reports_its_code(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    reference, number = complain(live_server, device)
    move(conn, number, 2)
    move(conn, number, 4)
    # The audit trail keeps the names of the time; people may rename statuses since.
    conn.execute("UPDATE ticket_status SET status_name = 'New' WHERE status_id = 1")
    conn.execute("UPDATE ticket_status SET status_name = 'Being worked on' WHERE status_id = 2")
    conn.execute("UPDATE ticket_status SET status_name = 'Done' WHERE status_id = 4")

    body = public.get(f"/api/v1/status/{reference}").json()
    page = public.get(f"/s/{reference}").text

    assert [status for status, _ in history_of(body)] == ["open", "in_progress", "resolved"]
    assert body["status"] == "resolved"
    assert [item.split(":")[0] for item in section_items(page, "history")] == [
        "Open",
        "In progress",
        "Resolved",
    ]


def test_a_status_an_administrator_added_and_renamed_keeps_its_code_through_the_ticket_trail(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    conn.execute(
        "INSERT INTO ticket_status (status_id, status_name, status_order, status_code) "
        "VALUES (7, 'Escalated', 7, 'with_minister')"
    )
    reference, number = complain(live_server, device)
    move(conn, number, 7)
    move(conn, number, 2)
    move(conn, number, 7)
    # Renamed after the ticket went through it twice: no status is called 'Escalated' now, and
    # its name in snake_case is not its code; the ticket is in it now, so the trail's name is it.
    conn.execute("UPDATE ticket_status SET status_name = 'Sent to the ministry' WHERE status_id = 7")

    response = public.get(f"/api/v1/status/{reference}")
    page = public.get(f"/s/{reference}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "with_minister"
    assert [status for status, _ in history_of(body)] == [
        "open",
        "with_minister",
        "in_progress",
        "with_minister",
    ]
    assert page.status_code == 200
    assert [item.split(":")[0] for item in section_items(page.text, "history")] == [
        "Open",
        "With minister",
        "In progress",
        "With minister",
    ]


def test_a_reopened_ticket_shows_it_was_reopened(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    reference, number = complain(live_server, device)
    move(conn, number, 4)  # Resolved
    move(conn, number, 6)  # Reopened

    body = public.get(f"/api/v1/status/{reference}").json()
    page = public.get(f"/s/{reference}").text

    assert body["status"] == "reopened"
    assert [status for status, _ in history_of(body)] == ["open", "resolved", "reopened"]
    assert body["replies"] == []
    assert "Reopened" in page
    assert "reopened and is being looked at again" in page
    assert [item.split(":")[0] for item in section_items(page, "history")] == ["Open", "Resolved", "Reopened"]
    assert "Replies from the office" not in page  # no reply yet: no empty section


def test_history_includes_status_changes_archived_after_a_year(public: httpx.Client, conn: Conn) -> None:
    reference = "T0001-000001-ABCD"
    feedback_id = insert_feedback(
        conn,
        service_id="SVC-001",
        rating=1,
        reference_code=reference,
        created_at=datetime.fromisoformat("2024-03-01T09:00:00+00:00"),
    )
    row = conn.execute(
        "SELECT ticket_id, ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)
    ).fetchone()
    assert row is not None
    ticket_id, number = row
    long_ago = datetime.fromisoformat("2024-03-02T15:30:00+00:00")
    with conn.transaction():  # as it happened then: moved to In Progress, recorded then
        conn.execute("SET LOCAL session_replication_role = replica")  # no trigger writes "now"
        conn.execute("UPDATE tickets SET status_id = 2 WHERE ticket_id = %s", (ticket_id,))
        conn.execute(
            "INSERT INTO ticket_activities"
            " (ticket_id, activity_type, old_value, new_value, changed_by, created_at)"
            " VALUES (%s, 'status_change', 'Open', 'In Progress', %s, %s)",
            (ticket_id, OFFICER_EMAIL, long_ago),
        )
    conn.execute("SELECT archive_ticket_activities()")
    move(conn, number, 4)
    where = conn.execute(
        "SELECT 'archive', activity_type FROM ticket_activities_archive WHERE ticket_id = %(t)s "
        "UNION ALL SELECT 'live', activity_type FROM ticket_activities WHERE ticket_id = %(t)s",
        {"t": ticket_id},
    ).fetchall()
    assert sorted(where) == [("archive", "created"), ("archive", "status_change"), ("live", "status_change")]

    body = public.get(f"/api/v1/status/{reference}").json()

    assert history_of(body)[:2] == [
        ("open", datetime.fromisoformat("2024-03-01T09:00:00+00:00")),
        ("in_progress", long_ago),
    ]
    assert [status for status, _ in history_of(body)] == ["open", "in_progress", "resolved"]
    assert OFFICER_EMAIL not in public.get(f"/s/{reference}").text


def test_feedback_without_a_ticket_has_no_history_and_no_replies(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client
) -> None:
    reference = f"{device.device_code}-000001-7QX4"
    item = {
        "client_uuid": str(uuid.uuid4()),
        "reference_code": reference,
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 5,
        "recorded_at": "2026-11-22T10:00:00Z",
    }
    with live_server.client(device.token) as client:
        assert (
            client.post("/api/v1/submissions", json={"items": [item]}).json()["results"][0]["ticket_number"]
            is None
        )

    body = public.get(f"/api/v1/status/{reference}").json()
    page = public.get(f"/s/{reference}").text

    assert set(body) == STATUS_KEYS
    assert body["status"] == "received"
    assert body["history"] == []
    assert body["replies"] == []
    assert 'aria-labelledby="history"' not in page
    assert "Replies from the office" not in page


def test_a_reply_is_escaped_on_the_page_and_keeps_its_line_breaks(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    reference, number = complain(live_server, device)
    text = "<script>alert('hi')</script>\nSecond line & <b>bold</b>"
    add_note(conn, number, text, public=True)

    body = public.get(f"/api/v1/status/{reference}").json()
    page = public.get(f"/s/{reference}").text

    assert [reply["text"] for reply in body["replies"]] == [text]  # the API gives the text as written
    assert "<script" not in page.lower()
    assert "<b>" not in page
    assert (
        '<p class="reply">&lt;script&gt;alert(&#x27;hi&#x27;)&lt;/script&gt;\n'
        "Second line &amp; &lt;b&gt;bold&lt;/b&gt;</p>"
    ) in page


def test_two_replies_are_listed_oldest_first_and_internal_notes_between_them_are_not(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    reference, number = complain(live_server, device)
    first = add_note(conn, number, "First answer.", public=True)
    add_note(conn, number, INTERNAL_NOTE, public=False)
    second = add_note(conn, number, "Second answer.", public=True)

    body = public.get(f"/api/v1/status/{reference}").json()

    assert [(r["text"], datetime.fromisoformat(r["at"])) for r in body["replies"]] == [
        ("First answer.", first),
        ("Second answer.", second),
    ]
    assert datetime.fromisoformat(body["last_updated"]) == second
