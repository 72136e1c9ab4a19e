"""Officers' mail (issue 14): the notification outbox sent through a real SMTP server on
127.0.0.1 (tests/helpers/smtp.py), against a real feedback_db whose triggers fill the outbox.

Time is never waited for: a row waiting for a retry is made due again by setting its
next_attempt_at back to now(), and two senders at once are made to overlap by holding the
first one's message at the server until the second has run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import URL

from server_sync_api.core.config import ServerSettings
from server_sync_api.mail.compose import message_id
from server_sync_api.services import notifications
from server_sync_api.services.notifications import NotifyReport
from tests.helpers import pg
from tests.helpers.desk import add_officer
from tests.helpers.roles import documented_grants, login_role
from tests.helpers.server import settings_for
from tests.helpers.smtp import (
    PASSWORD,
    USERNAME,
    Received,
    SmtpServer,
    closed_port,
    make_certificate,
    smtp_server,
)
from tests.helpers.tickets import category_id, insert_ticket, ticket_number, update_ticket

Conn = psycopg.Connection[tuple[Any, ...]]

CRITICAL, HIGH, MEDIUM = 1, 2, 3
SENDER = "GEA Feedback <feedback@gov.example.gd>"
DESK = "https://feedback.example.gd/desk/tickets/"
NOTIFICATIONS_DOC = Path(__file__).parents[2] / "docs" / "notifications.md"


@pytest.fixture
def mail() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def settings(db_url: URL, server: SmtpServer | None = None, **overrides: Any) -> ServerSettings:
    values = server.settings() if server is not None else {"smtp_starttls": False, "smtp_from": SENDER}
    return settings_for(db_url, **{**values, **overrides})


def send(db_url: URL, server: SmtpServer | None = None, **overrides: Any) -> NotifyReport:
    limit = overrides.pop("limit", notifications.DEFAULT_LIMIT)
    return notifications.send_due(pg.conninfo(db_url), settings(db_url, server, **overrides), limit=limit)


def officer(conn: Conn, email: str, entity_id: str = "DEPT-003", role: str = "officer", **kw: Any) -> str:
    add_officer(conn, email, entity_id, role, name=kw.get("name"), password=None)
    if kw.get("language"):
        conn.execute("UPDATE officers SET language = %s WHERE email = %s", (kw["language"], email))
    if kw.get("active") is False:
        disable(conn, email)
    return email


def disable(conn: Conn, email: str) -> None:
    conn.execute("UPDATE officers SET active = FALSE, disabled_at = now() WHERE email = %s", (email,))


def breach(conn: Conn, ticket_id: int, kind: str = "response_breach", *, escalated: bool = False) -> datetime:
    """An SLA breach row (its trigger queues 'breach', or 'escalation' when escalated)."""
    row = conn.execute(
        "INSERT INTO sla_breaches (ticket_id, breach_type, expected_time, escalated) "
        "VALUES (%s, %s, now() - interval '2 hours', %s) RETURNING expected_time",
        (ticket_id, kind, escalated),
    ).fetchone()
    assert row is not None
    expected: datetime = row[0]
    return expected


def outbox(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT notification_id, event, state, attempts, last_error FROM notification_outbox "
        "ORDER BY notification_id"
    ).fetchall()


def states(conn: Conn) -> list[str]:
    return [row[2] for row in outbox(conn)]


def deliveries(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT notification_id, recipient, message_id FROM notification_deliveries "
        "ORDER BY notification_id, recipient"
    ).fetchall()


def make_due(conn: Conn) -> None:
    conn.execute("UPDATE notification_outbox SET next_attempt_at = now() WHERE state = 'pending'")


def only(messages: list[Received]) -> Received:
    assert len(messages) == 1, [m.subject for m in messages]
    return messages[0]


# ---------------------------------------------------------------------------------------
# What is sent, to whom
# ---------------------------------------------------------------------------------------


def test_a_new_high_ticket_reaches_its_assignee_once_with_text_html_and_a_stable_message_id(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    ana = officer(conn, "Ana@Gov.example.gd", name="Ana Pérez")
    ticket = insert_ticket(
        conn,
        priority_id=HIGH,
        assigned_to="ana@gov.example.gd",
        category_id=category_id(conn, "Certificate errors"),
    )
    number = ticket_number(conn, ticket)

    report = send(db_url, mail)

    received = only(mail.inbox.messages())
    assert received.recipients == (ana,)
    assert received.envelope_from == "feedback@gov.example.gd"
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert number in received.subject
    assert "high-priority" in received.subject
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "en"
    text, html = received.body("plain"), received.body("html")
    for body in (text, html):
        assert f"{DESK}{number}" in body
        assert "Ana Pérez" in body
        assert "Respond by" in body
        assert "Civil Registry and Vital Statistics" in body
    assert f'href="{DESK}{number}"' in html
    assert "assigned to you" in text

    (notification_id, _, state, attempts, last_error) = only_row(outbox(conn))
    assert (state, attempts, last_error) == ("sent", 0, None)
    expected_id = message_id([notification_id], ana, SENDER)
    assert received.message_id == expected_id
    assert expected_id.endswith("@gov.example.gd>")
    assert deliveries(conn) == [(notification_id, ana, expected_id)]
    assert report.as_json() | {"waiting": 0} == {
        "claimed": 1,
        "recipients": 1,
        "messages": 1,
        "completed": 1,
        "retrying": 0,
        "skipped": 0,
        "refused": [],
        "errors": [],
        "waiting": 0,
    }
    assert report.summary().startswith("Sent 1 of 1 message for 1 notification: 1 done")

    again = send(db_url, mail)
    assert (again.claimed, again.messages) == (0, 0)
    assert again.summary() == "Nothing to send: no notification is due."
    assert len(mail.inbox.messages()) == 1


def only_row(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    assert len(rows) == 1, rows
    return rows[0]


def test_without_an_assignee_every_supervisor_over_the_ticket_gets_it_and_nobody_else(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    # DEPT-003 sits under MIN-003, under the GOV-000 root.
    here = officer(conn, "sup.registry@gov.example.gd", "DEPT-003", "supervisor")
    ministry = officer(conn, "sup.legal@gov.example.gd", "MIN-003", "supervisor")
    root = officer(conn, "sup.all@gov.example.gd", "GOV-000", "supervisor")
    officer(conn, "sup.finance@gov.example.gd", "MIN-001", "supervisor")  # another ministry
    officer(conn, "clerk@gov.example.gd", "DEPT-003", "officer")  # not a supervisor
    officer(conn, "it@gov.example.gd", "GOV-000", "admin")  # only when no supervisor covers it
    officer(conn, "old.sup@gov.example.gd", "DEPT-003", "supervisor", active=False)
    number = ticket_number(conn, insert_ticket(conn, priority_id=CRITICAL))

    send(db_url, mail)

    received = mail.inbox.messages()
    assert sorted(r.recipients[0] for r in received) == sorted([here, ministry, root])
    for r in received:
        assert number in r.subject
        assert "critical-priority" in r.subject
        assert "as a supervisor" in r.body("plain")
    assert states(conn) == ["sent"]
    assert len(deliveries(conn)) == 3


def test_administrators_get_it_when_no_active_supervisor_covers_the_ticket(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    officer(conn, "sup.finance@gov.example.gd", "MIN-001", "supervisor")  # out of scope
    officer(conn, "old.sup@gov.example.gd", "MIN-003", "supervisor", active=False)
    admin = officer(conn, "it@gov.example.gd", "MIN-001", "admin")
    officer(conn, "old.admin@gov.example.gd", "GOV-000", "admin", active=False)
    insert_ticket(conn, priority_id=HIGH, assigned_to="gone@gov.example.gd")  # nobody's address

    send(db_url, mail)

    received = only(mail.inbox.messages())
    assert received.recipients == (admin,)
    assert "as an administrator" in received.body("plain")


def test_a_disabled_assignee_is_never_mailed_and_their_supervisor_is(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    gone = officer(conn, "left@gov.example.gd", active=False)
    supervisor = officer(conn, "sup@gov.example.gd", "MIN-003", "supervisor")
    insert_ticket(conn, priority_id=HIGH, assigned_to=gone)

    send(db_url, mail)

    assert only(mail.inbox.messages()).recipients == (supervisor,)
    assert mail.inbox.to(gone) == []


def test_an_officer_disabled_while_a_notification_waits_is_not_mailed(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    """Recipients are resolved when the mail goes, not when the event happened."""
    ana = officer(conn, "ana@gov.example.gd")
    admin = officer(conn, "it@gov.example.gd", "GOV-000", "admin")
    insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    disable(conn, ana)

    send(db_url, mail)

    assert only(mail.inbox.messages()).recipients == (admin,)


def test_nobody_to_tell_is_skipped_with_the_reason(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    officer(conn, "old.admin@gov.example.gd", "GOV-000", "admin", active=False)
    officer(conn, "sup.finance@gov.example.gd", "MIN-001", "supervisor")
    insert_ticket(conn, priority_id=HIGH)

    report = send(db_url, mail)

    assert mail.inbox.messages() == []
    ((_, _, state, _, last_error),) = outbox(conn)
    assert state == "skipped"
    assert last_error.startswith("nobody to tell")
    assert "DEPT-003" in last_error
    assert (report.skipped, report.messages) == (1, 0)
    assert send(db_url, mail).claimed == 0


def test_a_reassignment_tells_the_new_assignee_who_did_it(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    officer(conn, "sup@gov.example.gd", "MIN-003", "supervisor", name="Sam Supervisor")
    officer(conn, "ana@gov.example.gd", name="Ana Pérez")
    ben = officer(conn, "Ben@gov.example.gd", name="Ben Baptiste")
    ticket = insert_ticket(conn, priority_id=MEDIUM, assigned_to="ana@gov.example.gd")  # Medium: no mail
    number = ticket_number(conn, ticket)
    with conn.transaction():
        conn.execute("SELECT set_config('gea.actor', 'sup@gov.example.gd', true)")
        update_ticket(conn, ticket, assigned_to="ben@gov.example.gd")

    send(db_url, mail)

    received = only(mail.inbox.messages())
    assert received.recipients == (ben,)
    assert received.subject == f"Ticket {number} assigned to you"
    text = received.body("plain")
    assert "Sam Supervisor assigned this ticket to you." in text
    assert "It was assigned to Ana Pérez before." in text


def test_assigning_a_ticket_to_oneself_sends_nothing_and_an_outdated_reassignment_is_dropped(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    ana = officer(conn, "ana@gov.example.gd")
    officer(conn, "ben@gov.example.gd")
    carl = officer(conn, "carl@gov.example.gd")
    mine, moved = insert_ticket(conn, priority_id=MEDIUM), insert_ticket(conn, priority_id=MEDIUM)
    with conn.transaction():
        conn.execute("SELECT set_config('gea.actor', %s, true)", (ana,))
        update_ticket(conn, mine, assigned_to=ana)
    update_ticket(conn, moved, assigned_to="ben@gov.example.gd")
    update_ticket(conn, moved, assigned_to=carl)  # before anything was sent

    send(db_url, mail)

    assert only(mail.inbox.messages()).recipients == (carl,)
    rows = outbox(conn)
    assert [row[2] for row in rows] == ["skipped", "skipped", "sent"]
    assert "assigned the ticket to themselves" in rows[0][4]
    assert "assigned to someone else since" in rows[1][4]


def test_breach_and_escalation_say_which_target_was_missed_and_when(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    ana = officer(conn, "ana@gov.example.gd")
    first = insert_ticket(conn, priority_id=MEDIUM, assigned_to=ana)
    second = insert_ticket(conn, priority_id=MEDIUM, assigned_to=ana)
    due = breach(conn, first, "resolution_breach")
    breach(conn, second, "response_breach", escalated=True)
    zone_due = due.astimezone(ZoneInfo(settings(db_url, mail).timezone))

    send(db_url, mail, limit=1)  # one at a time: each its own message
    send(db_url, mail)

    by_subject = {r.subject: r for r in mail.inbox.messages()}
    assert set(by_subject) == {
        f"Ticket {ticket_number(conn, first)}: resolution target missed",
        f"Ticket {ticket_number(conn, second)} escalated: response target missed",
    }
    text = by_subject[f"Ticket {ticket_number(conn, first)}: resolution target missed"].body("plain")
    assert f"due to be resolved by {zone_due:%Y-%m-%d %H:%M %Z}" in text
    assert [row[1] for row in outbox(conn)] == ["breach", "escalation"]


def test_after_a_backlog_each_officer_gets_one_digest(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    ana = officer(conn, "ana@gov.example.gd")
    supervisor = officer(conn, "sup@gov.example.gd", "MIN-003", "supervisor")
    tickets = [insert_ticket(conn, priority_id=HIGH, assigned_to=ana) for _ in range(12)]
    for ticket in tickets[:8]:
        breach(conn, ticket, "response_breach", escalated=True)
    unassigned = insert_ticket(conn, priority_id=HIGH)
    numbers = [ticket_number(conn, t) for t in tickets]

    report = send(db_url, mail)

    assert (report.claimed, report.messages, report.recipients, report.completed) == (21, 2, 2, 21)
    digest = only(mail.inbox.to(ana))
    assert digest.subject.startswith(f"20 updates on 12 tickets: {', '.join(numbers[:5])} and 7 more")
    text, html = digest.body("plain"), digest.body("html")
    assert "20 updates on tickets you look after" in text
    for number in numbers:
        assert f"{DESK}{number}" in text
        assert f'href="{DESK}{number}"' in html
    assert text.count("Escalated: the response target was missed") == 8
    ids = [row[0] for row in outbox(conn)[:-1]]  # all but the unassigned ticket's
    assert digest.message_id == message_id(ids, ana, SENDER)
    assert {row[2] for row in deliveries(conn) if row[1] == ana} == {digest.message_id}
    single = only(mail.inbox.to(supervisor))
    assert ticket_number(conn, unassigned) in single.subject
    assert send(db_url, mail).messages == 0


def test_a_spanish_speaking_officer_gets_spanish(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    lucia = officer(conn, "lucia@gov.example.gd", name="Lucía Gómez", language="es")
    ticket = insert_ticket(
        conn, priority_id=HIGH, assigned_to=lucia, category_id=category_id(conn, "Certificate errors")
    )
    number = ticket_number(conn, ticket)
    breach(conn, ticket, "response_breach", escalated=True)

    send(db_url, mail)

    received = only(mail.inbox.messages())
    assert received.subject == f"2 novedades en el caso {number}"
    assert received.message["Content-Language"] == "es"
    text, html = received.body("plain"), received.body("html")
    for body in (text, html):
        assert "Hola, Lucía Gómez:" in body
        assert "Nuevo caso de prioridad alta." in body
        assert "Escalado: se incumplió el plazo de respuesta" in body
        assert "Abrir el caso en la mesa de casos" in body
        assert f"{DESK}{number}" in body
    assert '<html lang="es">' in html
    assert "Respond by" not in text
    assert "Ticket" not in text


def test_names_from_the_database_are_escaped_in_html_and_kept_out_of_headers(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    officer(conn, "ana@gov.example.gd", name="Ana <b>Bold</b>\r\nBcc: x@evil.example")
    ticket = insert_ticket(
        conn, priority_id=HIGH, assigned_to="ana@gov.example.gd", title="Line one\nBcc: y@evil.example"
    )

    send(db_url, mail)

    received = only(mail.inbox.messages())
    assert received.message["Bcc"] is None
    assert received.recipients == ("ana@gov.example.gd",)
    assert "Line one Bcc: y@evil.example" in received.subject
    assert "Ana &lt;b&gt;Bold&lt;/b&gt;" in received.body("html")
    assert ticket_number(conn, ticket) in received.subject


# ---------------------------------------------------------------------------------------
# Failures and retries
# ---------------------------------------------------------------------------------------


def test_a_refused_connection_is_retried_with_backoff_and_then_delivered(conn: Conn, db_url: URL) -> None:
    ana = officer(conn, "ana@gov.example.gd")
    insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    port = closed_port()

    report = send(db_url, smtp_host="127.0.0.1", smtp_port=port)

    assert (report.claimed, report.messages, report.retrying) == (1, 0, 1)
    assert "cannot reach the mail server at 127.0.0.1" in report.errors[0]
    assert "Failure: cannot reach the mail server" in report.summary()
    ((_, _, state, attempts, last_error),) = outbox(conn)
    assert (state, attempts) == ("pending", 1)
    assert "cannot reach the mail server" in last_error
    assert _retry_in(conn) == pytest.approx(60, abs=5)
    assert deliveries(conn) == []
    # Not due yet: the next run leaves it alone.
    assert send(db_url, smtp_host="127.0.0.1", smtp_port=port).claimed == 0

    make_due(conn)
    send(db_url, smtp_host="127.0.0.1", smtp_port=port)
    assert outbox(conn)[0][3] == 2
    assert _retry_in(conn) == pytest.approx(120, abs=5)

    make_due(conn)
    with smtp_server(port) as mail:
        report = send(db_url, mail)
        received = only(mail.inbox.messages())
    assert report.completed == 1
    (notification_id, _, state, attempts, last_error) = outbox(conn)[0]
    assert (state, attempts, last_error) == ("sent", 2, None)
    assert received.message_id == message_id([notification_id], ana, SENDER)


def _retry_in(conn: Conn) -> float:
    row = conn.execute(
        "SELECT extract(epoch FROM next_attempt_at - now()) FROM notification_outbox WHERE state = 'pending'"
    ).fetchone()
    assert row is not None
    return float(row[0])


def test_the_backoff_doubles_up_to_an_hour() -> None:
    assert [notifications.retry_delay(n) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert notifications.retry_delay(100_000) == 3600


def test_a_message_refused_for_a_while_comes_back_with_the_same_message_id(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    ana = officer(conn, "ana@gov.example.gd")
    insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    mail.inbox.refuse_data = 1  # 451 at DATA: the server saw the message and asked for later

    first = send(db_url, mail)
    assert (first.messages, first.retrying) == (0, 1)
    assert "451" in outbox(conn)[0][4]
    make_due(conn)
    send(db_url, mail)

    received = only(mail.inbox.messages())
    assert mail.inbox.refused_message_ids == [received.message_id]
    assert states(conn) == ["sent"]


def test_a_message_sent_again_after_its_record_was_lost_keeps_its_message_id(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    """A sender that dies after the server accepted a message and before recording it sends it
    again; mail programs see the same Message-ID and show it once."""
    ana = officer(conn, "ana@gov.example.gd")
    insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    send(db_url, mail)
    conn.execute("DELETE FROM notification_deliveries")
    conn.execute("UPDATE notification_outbox SET state = 'pending', sent_at = NULL, next_attempt_at = now()")

    send(db_url, mail)

    first, second = mail.inbox.messages()
    assert first.message_id == second.message_id
    assert first.subject == second.subject


def test_a_resend_that_gathers_a_new_notification_is_a_new_message(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    """The known limit (module docstring, docs/notifications.md): a resend gathers what is owed
    when it runs, so with a notification come due in between it is another digest, with another
    Message-ID, and the officer sees two messages."""
    ana = officer(conn, "ana@gov.example.gd")
    first_ticket = insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    send(db_url, mail)
    conn.execute("DELETE FROM notification_deliveries")  # the record lost, as by a crash
    conn.execute("UPDATE notification_outbox SET state = 'pending', sent_at = NULL, next_attempt_at = now()")
    second_ticket = insert_ticket(conn, priority_id=HIGH, assigned_to=ana)

    send(db_url, mail)

    first, resend = mail.inbox.messages()
    assert first.message_id != resend.message_id
    assert resend.message_id == message_id([row[0] for row in outbox(conn)], ana, SENDER)
    assert ticket_number(conn, first_ticket) in resend.subject
    assert ticket_number(conn, second_ticket) in resend.subject
    doc = " ".join(NOTIFICATIONS_DOC.read_text("utf-8").split())
    assert "it is a different digest with a new Message-ID, and the officer may see **two messages**" in doc


def test_only_the_recipient_that_failed_is_mailed_again(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    one = officer(conn, "one@gov.example.gd", "DEPT-003", "supervisor")
    two = officer(conn, "two@gov.example.gd", "MIN-003", "supervisor")
    insert_ticket(conn, priority_id=HIGH)
    mail.inbox.refuse[two] = "452 4.2.2 Mailbox full"

    report = send(db_url, mail)
    assert (report.messages, report.retrying) == (1, 1)
    assert "refused two@gov.example.gd: 452 4.2.2 Mailbox full" in outbox(conn)[0][4]
    del mail.inbox.refuse[two]
    make_due(conn)
    send(db_url, mail)

    assert len(mail.inbox.to(one)) == 1
    assert len(mail.inbox.to(two)) == 1
    assert states(conn) == ["sent"]


def test_an_address_refused_for_good_is_not_retried(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    one = officer(conn, "one@gov.example.gd", "DEPT-003", "supervisor")
    bad = officer(conn, "typo@gov.example.gd", "MIN-003", "supervisor")
    insert_ticket(conn, priority_id=HIGH)  # to both supervisors
    lone = officer(conn, "lone@gov.example.gd", "AGY-002", "officer")
    insert_ticket(conn, entity_id="AGY-002", service_id="SVC-001", priority_id=HIGH, assigned_to=lone)
    mail.inbox.refuse[bad] = "550 5.1.1 No such user"
    mail.inbox.refuse[lone] = "550 5.1.1 No such user"

    report = send(db_url, mail)

    assert only(mail.inbox.messages()).recipients == (one,)
    assert sorted(report.refused) == [lone, bad]
    assert (report.completed, report.skipped, report.retrying) == (1, 1, 0)
    rows = outbox(conn)
    assert [row[2] for row in rows] == ["sent", "skipped"]
    assert "refused typo@gov.example.gd: 550 5.1.1 No such user" in rows[0][4]
    assert "refused lone@gov.example.gd: 550" in rows[1][4]
    assert "Refused for good by the mail server" in report.summary()
    assert send(db_url, mail).claimed == 0


def test_a_policy_refusal_is_retried_rather_than_dropped(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    """550 5.7.1 (relaying denied) says the server will not take our mail at all: a setting to
    fix, not a bad address, so the notification waits instead of being given up."""
    ana = officer(conn, "ana@gov.example.gd")
    insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    mail.inbox.refuse[ana] = "550 5.7.1 Relaying denied"

    report = send(db_url, mail)

    assert (report.retrying, report.refused) == (1, [])
    assert states(conn) == ["pending"]


# ---------------------------------------------------------------------------------------
# Two senders at once
# ---------------------------------------------------------------------------------------


def test_a_second_sender_skips_what_the_first_holds(conn: Conn, db_url: URL, mail: SmtpServer) -> None:
    ana = officer(conn, "ana@gov.example.gd")
    ben = officer(conn, "ben@gov.example.gd")
    insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    insert_ticket(conn, priority_id=HIGH, assigned_to=ben)
    mail.inbox.hold = True
    results: list[NotifyReport] = []
    first = threading.Thread(target=lambda: results.append(send(db_url, mail)))
    first.start()
    try:
        assert mail.inbox.holding.wait(30), "the first sender never reached the mail server"
        second = send(db_url, mail)  # runs while the first holds both rows
    finally:
        mail.inbox.release.set()
        first.join(60)

    assert (second.claimed, second.messages) == (0, 0)
    assert results[0].messages == 2
    assert sorted(r.recipients[0] for r in mail.inbox.messages()) == [ana, ben]
    assert states(conn) == ["sent", "sent"]


def test_senders_racing_over_a_backlog_send_each_notification_once(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    people = [officer(conn, f"officer{i}@gov.example.gd") for i in range(6)]
    for i in range(30):
        insert_ticket(conn, priority_id=HIGH, assigned_to=people[i % len(people)])
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            barrier.wait(30)
            while send(db_url, mail, limit=4).claimed:
                pass
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    received = mail.inbox.messages()
    ids = [r.message_id for r in received]
    assert len(ids) == len(set(ids))
    recorded = deliveries(conn)
    assert len(recorded) == 30  # each notification to its one recipient, once
    assert {row[2] for row in recorded} == set(ids)
    assert states(conn) == ["sent"] * 30


# ---------------------------------------------------------------------------------------
# The mail server's settings
# ---------------------------------------------------------------------------------------


def test_starttls_and_login_are_used_and_the_password_never_shows(
    conn: Conn, db_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(make_certificate(tmp_path) / "cert.pem"))
    ana = officer(conn, "ana@gov.example.gd")
    insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    with smtp_server(login=True, tls=tmp_path) as mail:
        tls = {"smtp_starttls": True, "smtp_username": USERNAME}

        wrong = send(db_url, mail, **tls, smtp_password="not-the-" + PASSWORD)
        assert (wrong.messages, wrong.retrying) == (0, 1)
        assert f"refused the login of {USERNAME}" in wrong.errors[0]
        assert PASSWORD not in wrong.summary() + str(wrong.as_json()) + str(outbox(conn))

        make_due(conn)
        right = send(db_url, mail, **tls, smtp_password=PASSWORD)
        assert right.messages == 1
        assert mail.inbox.logins[-1] == (USERNAME, PASSWORD)
        assert PASSWORD not in right.summary() + str(right.as_json()) + str(outbox(conn))


def test_a_server_without_starttls_is_refused_when_starttls_is_on(
    conn: Conn, db_url: URL, mail: SmtpServer
) -> None:
    insert_ticket(conn, priority_id=HIGH, assigned_to=officer(conn, "ana@gov.example.gd"))

    report = send(db_url, mail, smtp_starttls=True)

    assert report.messages == 0
    assert mail.inbox.messages() == []
    assert "does not offer STARTTLS" in report.errors[0]
    assert "GEA_SERVER_SMTP_STARTTLS" in report.errors[0]


def test_settings_that_cannot_send_raise_before_anything_is_claimed(conn: Conn, db_url: URL) -> None:
    insert_ticket(conn, priority_id=HIGH)
    with pytest.raises(notifications.MailNotConfigured, match="GEA_SERVER_SMTP_HOST"):
        notifications.send_due(pg.conninfo(db_url), settings_for(db_url))
    assert states(conn) == ["pending"]


def test_settings_that_could_never_send_are_refused_with_the_settings() -> None:
    with pytest.raises(ValidationError, match="GEA_SERVER_SMTP_FROM is not set"):
        ServerSettings(database_url="postgresql://x@h/db", smtp_host="127.0.0.1")
    with pytest.raises(ValidationError, match="go together"):
        ServerSettings(
            database_url="postgresql://x@h/db", smtp_host="x", smtp_from="a@b.gd", smtp_username="u"
        )


# ---------------------------------------------------------------------------------------
# The grants docs/notifications.md prints
# ---------------------------------------------------------------------------------------


@pytest.fixture
def notify_role(db_url: URL) -> Iterator[URL]:
    """A login role owning nothing, with exactly the grants of docs/notifications.md; its URL."""
    grants = documented_grants(NOTIFICATIONS_DOC, "## The grants it needs")
    with login_role(db_url, grants, prefix="gea_notify") as url:
        yield url


def test_the_documented_grants_are_enough_to_send(
    conn: Conn, db_url: URL, notify_role: URL, mail: SmtpServer
) -> None:
    ana = officer(conn, "ana@gov.example.gd")
    ticket = insert_ticket(conn, priority_id=HIGH, assigned_to=ana)
    breach(conn, ticket)
    officer(conn, "sup@gov.example.gd", "MIN-003", "supervisor")
    insert_ticket(conn, priority_id=HIGH)

    report = notifications.send_due(pg.conninfo(notify_role), settings(db_url, mail))

    assert (report.messages, report.completed) == (2, 3)
    assert states(conn) == ["sent", "sent", "sent"]
