"""The API and the desk run as a role that owns nothing, given exactly the grants that
docs/operations.md prints for IT ("The database role for the API"): a grant the code needs and
the page lacks fails here, before it fails in production."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api.services.scheduler import Scheduler
from tests.helpers import desk, osticket_server, pg, public, server
from tests.helpers.items import ItemFactory, batch
from tests.helpers.roles import documented_grants, login_role
from tests.helpers.smtp import smtp_server

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


@pytest.fixture
def api_role(db_url: URL) -> Iterator[URL]:
    """A login role with the documented grants on this test's database; its URL."""
    grants = documented_grants(OPERATIONS, "## The database role for the API")
    with login_role(db_url, grants, prefix="gea_api") as url:
        yield url


def test_the_documented_grants_are_enough_for_kiosks_citizens_and_officers(
    api_role: URL, db_url: URL, conn: psycopg.Connection[Any]
) -> None:
    desk.add_officer(conn, "ana@gov.gd", "MIN-004", "supervisor")
    with desk.serve_desk(api_role) as live:
        kiosk = server.enroll(live, db_url, "AGY-002")
        complaint = ItemFactory(kiosk.device_code)(
            rating=1, grievance_flag=True, feedback_text="Lost my form"
        )
        with live.client(kiosk.token) as client:
            answer = client.post("/api/v1/submissions", json=batch([complaint]))
            assert answer.status_code == 200, answer.text
            (result,) = answer.json()["results"]
            assert result["status"] == "created"
            number = result["ticket_number"]
            assert client.get(f"/api/v1/tickets/{number}").status_code == 200
        with desk.sign_in(live, "ana@gov.gd") as officer:
            queue = officer.get("/desk/")
            assert number in queue.text
            token = desk.csrf_of(queue.text)
            steps: list[tuple[str, dict[str, str]]] = [
                ("assign", {"assignee": "ana@gov.gd"}),
                ("status", {"status": "in_progress"}),
                ("priority", {"priority": "1"}),
                ("notes", {"text": "Form found at the counter.", "visibility": "public"}),
                ("status", {"status": "resolved", "resolution_notes": "Returned the form."}),
            ]
            for action, data in steps:
                version = conn.execute("SELECT row_version FROM tickets WHERE ticket_number = %s", (number,))
                row = version.fetchone()
                assert row is not None
                response = officer.post(
                    f"/desk/tickets/{number}/{action}",
                    data={"csrf_token": token, "version": str(row[0]), **data},
                )
                assert response.status_code == 303, (action, response.text)
            assert officer.get(f"/desk/tickets/{number}").status_code == 200
            assert officer.get("/desk/export.csv").status_code == 200
            assert officer.get("/desk/account").status_code == 200
            assert officer.post("/desk/logout", data={"csrf_token": token}).status_code == 303
        with live.client() as citizen:
            page = citizen.get(f"/s/{complaint['reference_code']}")
            assert page.status_code == 200
            assert "Form found at the counter." in page.text


def test_the_documented_grants_are_enough_for_every_scheduled_job(
    api_role: URL, conn: psycopg.Connection[Any]
) -> None:
    """serve's scheduler runs the SLA scan, mail, the osTicket push and maintenance as the API's
    role: each of them, with something to do, finishes without a refusal."""
    conn.execute("UPDATE app_settings SET osticket_enabled = TRUE")
    desk.add_officer(conn, "ana@gov.gd", "DEPT-003", "supervisor")
    conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, priority_id, response_target, resolution_target) "
        "VALUES ('DEPT-003', 'SVC-003', 'Late', 2, now() - interval '2 hours', now() + interval '1 day')"
    )
    eight_days_old = "now() - interval '8 days'"
    conn.execute(
        f"INSERT INTO submission_attempts (ip_address, created_at) VALUES ('192.0.2.1', {eight_days_old})"
    )
    row = conn.execute("SELECT ticket_number FROM tickets").fetchone()
    assert row is not None
    number = row[0]
    with smtp_server() as mail, osticket_server.running() as osticket:
        settings = server.settings_for(
            api_role, **mail.settings(), osticket_url=osticket.url, osticket_api_key=osticket_server.API_KEY
        )
        runner = Scheduler(settings, tick=timedelta(hours=1))
        try:
            assert runner.tick() == ["sla-scan", "notify", "osticket-push", "maintenance"]
        finally:
            runner.stop()
        outcomes = dict(conn.execute("SELECT job, last_outcome FROM scheduled_jobs").fetchall())
        assert not [
            job for job, outcome in outcomes.items() if "failed" in outcome or "GRANT" in outcome
        ], outcomes
        assert outcomes["sla-scan"].startswith("SLA scan: 1 new breach, 1 escalation")
        assert len(mail.inbox.to("ana@gov.gd")) == 1  # the new High ticket and its escalation, in one digest
        assert [t.subject for t in osticket.tickets] == [f"[GEA {number}] Late"]
    assert conn.execute("SELECT count(*) FROM submission_attempts").fetchone() == (0,)


def test_the_documented_grants_are_enough_for_the_public_form(api_role: URL, db_url: URL) -> None:
    """A poster's page (a scan), the portal, two free submissions and one through the CAPTCHA,
    and the refusal that logs the attempt."""
    with public.serve_public(api_role) as live, public.citizen(live, "203.0.113.99") as client:
        assert client.get(f"/q/{public.POSTER}").status_code == 200
        assert client.get("/feedback").status_code == 200
        data = {"rating": "2", "grievance_flag": "yes"}
        assert "Feedback received" in client.post(f"/q/{public.POSTER}", data=data).text
        body = {"service_id": "SVC-002", "rating": 5}
        assert client.post("/api/v1/public/feedback", json=body).status_code == 201
        needed = client.post("/api/v1/public/feedback", json=body)
        assert needed.status_code == 400
        solved = public.solve(needed.json()["error"]["challenge"])
        assert client.post("/api/v1/public/feedback", json={**body, "captcha": solved}).status_code == 201
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success) "
            "FROM submission_attempts WHERE attempt_type = 'public_feedback'"
        ).fetchone()
    assert row == (3, 1)
