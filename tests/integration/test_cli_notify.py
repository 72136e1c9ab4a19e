"""`gea-server notify` as IT and cron run it: a real process with its settings in the
environment, real PostgreSQL and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from tests.helpers.desk import add_officer
from tests.helpers.smtp import PASSWORD, USERNAME, closed_port, smtp_server
from tests.helpers.tickets import insert_ticket, ticket_number

Conn = psycopg.Connection[tuple[Any, ...]]

GEA_SERVER = shutil.which("gea-server", path=os.path.dirname(sys.executable))
HIGH = 2
SENDER = "GEA Feedback <feedback@gov.example.gd>"


def notify(url: URL, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    assert GEA_SERVER is not None, "gea-server is not installed next to this Python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL"))}
    env["FEEDBACK_DB_URL"] = url.render_as_string(hide_password=False)
    env.update({f"GEA_SERVER_{name.upper()}": value for name, value in settings.items()})
    return subprocess.run([GEA_SERVER, "notify", *args], env=env, capture_output=True, text=True, timeout=120)


def pending(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM notification_outbox WHERE state = 'pending'").fetchone()
    assert row is not None
    return int(row[0])


def two_high_tickets(conn: Conn) -> list[str]:
    add_officer(conn, "ana@gov.example.gd", "DEPT-003", password=None)
    tickets = [insert_ticket(conn, priority_id=HIGH, assigned_to="ana@gov.example.gd") for _ in range(2)]
    return [ticket_number(conn, t) for t in tickets]


def test_without_a_mail_server_nothing_is_sent_and_it_says_how_many_wait(conn: Conn, db_url: URL) -> None:
    two_high_tickets(conn)

    result = notify(db_url)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "Error: GEA_SERVER_SMTP_HOST is not set, so no mail can be sent. Nothing was sent; "
        "2 notifications wait in the outbox (docs/notifications.md)."
    )
    assert pending(conn) == 2


def test_a_mail_server_without_a_sender_address_is_an_error(conn: Conn, db_url: URL) -> None:
    two_high_tickets(conn)

    result = notify(db_url, smtp_host="127.0.0.1")

    assert result.returncode == 2
    assert "GEA_SERVER_SMTP_FROM is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert pending(conn) == 2


def test_it_sends_prints_one_line_and_a_second_run_sends_nothing(conn: Conn, db_url: URL) -> None:
    numbers = two_high_tickets(conn)
    with smtp_server() as mail:
        settings = {"smtp_host": mail.host, "smtp_port": str(mail.port), "smtp_starttls": "false"}

        first = notify(db_url, smtp_from=SENDER, **settings)
        second = notify(db_url, "--json", smtp_from=SENDER, **settings)

        (received,) = mail.inbox.messages()
    assert first.returncode == 0, first.stderr
    assert (
        first.stdout == "Sent 1 of 1 message for 2 notifications: 2 done, 0 waiting for a retry, 0 skipped.\n"
    )
    assert all(number in received.subject for number in numbers)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {
        "claimed": 0,
        "recipients": 0,
        "messages": 0,
        "completed": 0,
        "retrying": 0,
        "skipped": 0,
        "refused": [],
        "errors": [],
        "waiting": 0,
    }


def test_limit_leaves_the_rest_for_the_next_run(conn: Conn, db_url: URL) -> None:
    two_high_tickets(conn)
    with smtp_server() as mail:
        result = notify(
            db_url,
            "--limit",
            "1",
            smtp_host=mail.host,
            smtp_port=str(mail.port),
            smtp_starttls="false",
            smtp_from=SENDER,
        )
        assert len(mail.inbox.messages()) == 1
    assert result.returncode == 0, result.stderr
    assert "1 notification waits in the outbox for later." in result.stdout
    assert pending(conn) == 1


def test_an_unreachable_mail_server_exits_1_and_never_prints_the_password(conn: Conn, db_url: URL) -> None:
    two_high_tickets(conn)
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(closed_port()),
        "smtp_username": USERNAME,
        "smtp_password": PASSWORD,
        "smtp_from": SENDER,
    }

    text = notify(db_url, **settings)
    as_json = notify(db_url, "--json", **settings)

    assert text.returncode == 1
    assert text.stdout.startswith("Sent 0 of 1 message for 2 notifications: 0 done, 2 waiting for a retry")
    assert "cannot reach the mail server at 127.0.0.1:" in text.stdout
    assert as_json.returncode == 0  # the retries are not due yet: nothing was tried
    assert json.loads(as_json.stdout)["waiting"] == 2
    for result in (text, as_json):
        assert PASSWORD not in result.stdout + result.stderr
    rows = conn.execute("SELECT last_error FROM notification_outbox").fetchall()
    assert all(PASSWORD not in row[0] for row in rows)


def test_a_limit_out_of_range_is_refused_before_the_database_sees_it(conn: Conn, db_url: URL) -> None:
    two_high_tickets(conn)
    with smtp_server() as mail:
        settings = {"smtp_host": mail.host, "smtp_port": str(mail.port), "smtp_starttls": "false"}
        results = [
            notify(db_url, "--limit", limit, smtp_from=SENDER, **settings)
            for limit in ("99999999999999999999", "10001", "0")
        ]
        assert mail.inbox.messages() == []
    for result in results:
        assert result.returncode == 2
        assert "Invalid value for '--limit'" in result.stderr
        assert "1<=x<=10000" in result.stderr
        assert "database" not in result.stderr
    assert pending(conn) == 2
