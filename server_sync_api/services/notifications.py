"""Mail to officers from the notification outbox (issue 14), for `gea-server notify` and the
scheduler: `send_due(conninfo, settings)` sends what is due and returns a `NotifyReport`.

The database writes one outbox row per event (a new High or Critical ticket, a breach, an
escalation, a reassignment) in the event's own transaction. A run:

1. **Claims** the due rows in one transaction held while it sends (`FOR NO KEY UPDATE SKIP
   LOCKED`): a second sender at the same moment skips them, so no row goes out from two.
2. **Resolves recipients now**, not when the event happened: for a reassignment the new
   assignee; otherwise the assignee if an active officer, else every active supervisor whose
   entity is the ticket's or one above it, else every active administrator. Never a disabled
   account, and never anyone who already has the row (`notification_deliveries`).
3. **Sends one message per officer**: one event is one message; several are one digest, so
   after a backlog an officer gets one mail, not fifty.
4. **Records each accepted message at once** on a second, autocommit connection: if the run
   dies later, only the message in flight can go out twice. The claim is FOR NO KEY UPDATE
   rather than FOR UPDATE for this: the delivery's foreign key check takes KEY SHARE on the
   outbox row, which FOR UPDATE would block.
5. **Finishes each row** in the claim's transaction: 'sent' once every recipient has it,
   'skipped' when nobody could be told (last_error says why), or back to 'pending' with a
   growing delay when the mail server failed. An address the server refuses for good (5xx)
   is not retried once the row's other recipients are done (mail/smtp.py says which answers
   count as permanent).

**A known limit: a resend may be a second message.** A message's Message-ID is derived from
the recipient and the set of notifications in it (mail/compose.py, message_id), so a resend of
the same set (the run died after the server accepted it, or the server's answer was lost in a
timeout) keeps it, and mail programs show one message. But a resend gathers whatever is owed
to the officer when it runs: if more notifications for that officer came due in the meantime,
it is a different digest with a different Message-ID, and the officer may see two messages,
the second repeating the first's items. This is accepted rather than fixed: resending exactly
the earlier set would need each attempted digest recorded before it is sent, in a table the
schema does not have, and the case needs an acceptance that was never recorded, which is rare.
docs/notifications.md says the same to IT.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from server_sync_api.core.config import ServerSettings
from server_sync_api.mail.compose import Addressee, Event, Happening, Letterhead, Reason, compose
from server_sync_api.mail.smtp import Mailer, MailFailure, MailServer

log = logging.getLogger("server_sync_api.notifications")

# Rows one run claims; the rest wait for the next run (a minute later from cron or the scheduler).
DEFAULT_LIMIT = 500
# The most `--limit` takes: a run holds its claim while it sends, and a bigger number is a slip.
MAX_LIMIT = 10_000
# Retries after a failure: 1 min, 2, 4 ... at most an hour apart, for as long as it takes.
FIRST_RETRY_S = 60
LAST_RETRY_S = 3600


class MailNotConfigured(Exception):
    """The settings cannot send mail; the message names the setting to fix."""


def mail_server(settings: ServerSettings) -> MailServer:
    """The mail server the settings describe, or MailNotConfigured saying what is missing."""
    if settings.smtp_host is None:
        raise MailNotConfigured("GEA_SERVER_SMTP_HOST is not set, so no mail can be sent")
    if settings.smtp_from is None:  # the settings refuse this when they load; here for the type
        raise MailNotConfigured(
            "GEA_SERVER_SMTP_FROM is not set: set it to the address officers' mail comes from, "
            "like 'GEA Feedback <feedback@gov.gd>'"
        )
    return MailServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
        sender=settings.smtp_from,
    )


def retry_delay(attempts: int) -> int:
    """Seconds before the next try of a row that has failed `attempts` times."""
    # The doubling stops long before it matters: a long outage means thousands of attempts.
    doublings = min(max(attempts - 1, 0), 16)
    return min(FIRST_RETRY_S * (1 << doublings), LAST_RETRY_S)


def waiting(conn: psycopg.Connection[Any]) -> int:
    """Notifications not sent yet: due now, waiting for a retry, or over a run's limit."""
    row = conn.execute("SELECT count(*) FROM notification_outbox WHERE state = 'pending'").fetchone()
    return int(row[0]) if row else 0


@dataclass
class NotifyReport:
    claimed: int = 0  # due notifications this run took
    recipients: int = 0  # officers with something to receive this run (one message each)
    messages: int = 0  # messages the mail server accepted
    completed: int = 0  # notifications now 'sent'
    retrying: int = 0  # notifications back to 'pending' after a failure, with a delay
    skipped: int = 0  # notifications nobody could be told
    refused: list[str] = field(default_factory=list)  # addresses the mail server refused for good
    errors: list[str] = field(default_factory=list)  # the failures a retry may cure, each once
    waiting: int = 0  # notifications still pending after the run

    def summary(self) -> str:
        if self.claimed == 0:
            text = "Nothing to send: no notification is due."
            if self.waiting:
                text += f" {_waiting(self.waiting)} in the outbox for later (a retry not due yet)."
            return text
        text = (
            f"Sent {self.messages} of {_count(self.recipients, 'message')} for "
            f"{_count(self.claimed, 'notification')}: {self.completed} done, "
            f"{self.retrying} waiting for a retry, {self.skipped} skipped."
        )
        if self.refused:
            text += f" Refused for good by the mail server: {', '.join(self.refused)}."
        if self.errors:
            more = f" (and {_count(len(self.errors) - 1, 'other')})" if len(self.errors) > 1 else ""
            text += f" Failure: {self.errors[0]}{more}."
        if self.waiting:
            text += f" {_waiting(self.waiting)} in the outbox for later."
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "claimed": self.claimed,
            "recipients": self.recipients,
            "messages": self.messages,
            "completed": self.completed,
            "retrying": self.retrying,
            "skipped": self.skipped,
            "refused": list(self.refused),
            "errors": list(self.errors),
            "waiting": self.waiting,
        }


def send_due(conninfo: str, settings: ServerSettings, *, limit: int = DEFAULT_LIMIT) -> NotifyReport:
    """Send the notifications due now, at most `limit` of them; safe to run from several
    processes and hosts at once. Raises MailNotConfigured before touching anything when the
    settings cannot send mail, and psycopg errors when the database fails."""
    server = mail_server(settings)
    letterhead = Letterhead(server.sender, settings.public_base_url, ZoneInfo(settings.timezone))
    report = NotifyReport()
    with (
        psycopg.connect(conninfo) as claim,
        psycopg.connect(conninfo, autocommit=True) as record,
    ):
        with claim.transaction():
            rows = _claim(claim, limit)
            report.claimed = len(rows)
            if rows:
                _run(claim, record, rows, server, letterhead, report)
        report.waiting = waiting(claim)
    log.info("notify: %s", report.summary())
    return report


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """A claimed outbox row and what the message needs of its ticket."""

    notification_id: int
    event: Event
    detail: dict[str, Any]
    created_at: datetime
    attempts: int
    ticket_number: str
    title: str
    entity_id: str
    office: str
    assigned_to: str | None
    respond_by: datetime | None  # the response target while no response was made
    opened_priority: str | None  # new_ticket: the priority it was made with


@dataclass(frozen=True)
class _Officer:
    email: str
    name: str
    entity_id: str
    role: str
    active: bool
    language: str


_CLAIM = """
SELECT o.notification_id, o.event, o.detail, o.created_at, o.attempts,
       t.ticket_number, t.title, t.entity_id, e.entity_name AS office, t.assigned_to,
       CASE WHEN t.responded_at IS NULL THEN t.response_target END AS respond_by,
       p.priority_name AS opened_priority
FROM notification_outbox o
JOIN tickets t ON t.ticket_id = o.ticket_id
JOIN entity_master e ON e.unique_entity_id = t.entity_id
LEFT JOIN priority_levels p
  ON o.event = 'new_ticket' AND p.priority_id = (o.detail ->> 'priority_id')::int
WHERE o.state = 'pending' AND o.next_attempt_at <= now()
ORDER BY o.next_attempt_at, o.notification_id
LIMIT %s
FOR NO KEY UPDATE OF o SKIP LOCKED
"""


def _claim(conn: psycopg.Connection[Any], limit: int) -> list[_Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_Row(**row) for row in cur.execute(_CLAIM, (limit,))]


def _deliveries(conn: psycopg.Connection[Any], ids: list[int]) -> dict[int, set[str]]:
    have: dict[int, set[str]] = {i: set() for i in ids}
    rows = conn.execute(
        "SELECT notification_id, lower(recipient) FROM notification_deliveries "
        "WHERE notification_id = ANY(%s)",
        (ids,),
    ).fetchall()
    for notification_id, recipient in rows:
        have[notification_id].add(recipient)
    return have


# ---------------------------------------------------------------------------------------
# Who gets what
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    row: _Row
    recipients: tuple[tuple[_Officer, Reason], ...] = ()
    skip: str | None = None  # why nobody is told


@dataclass(frozen=True)
class _Directory:
    """Who could be told, read once per run: every account (disabled ones too: a reassignment
    names who did it) by lower-cased email, the active ones in address order, and each entity's
    parent. A deployment has hundreds of officers and entities at most."""

    officers: dict[str, _Officer]
    active: list[_Officer]
    parents: dict[str, str | None]

    @classmethod
    def read(cls, conn: psycopg.Connection[Any]) -> _Directory:
        rows = conn.execute(
            "SELECT email, display_name, entity_id, role, active, language FROM officers"
        ).fetchall()
        officers = {row[0].lower(): _Officer(*row) for row in rows}
        active = sorted((o for o in officers.values() if o.active), key=lambda o: o.email.lower())
        entities = conn.execute("SELECT unique_entity_id, parent_entity_id FROM entity_master").fetchall()
        return cls(officers, active, {row[0]: row[1] for row in entities})

    def name(self, email: object) -> str | None:
        """An officer's display name, or what the database recorded (a role such as postgres)."""
        if not email:
            return None
        known = self.officers.get(str(email).lower())
        return known.name if known else str(email)


def _plan(row: _Row, directory: _Directory) -> _Plan:
    if row.event == "reassigned":
        new = str(row.detail.get("to") or "")
        by = str(row.detail.get("by") or "")
        if new.lower() != (row.assigned_to or "").lower():
            # Assigned again before this went out: the newer row tells the current assignee.
            return _Plan(row, skip="not sent: the ticket was assigned to someone else since")
        if by.lower() == new.lower():
            return _Plan(row, skip=f"nobody to tell: {new} assigned the ticket to themselves")
    assignee = directory.officers.get((row.assigned_to or "").lower())
    if assignee is not None and assignee.active:
        return _Plan(row, ((assignee, "assignee"),))
    above = _self_and_ancestors(row.entity_id, directory.parents)
    supervisors = [o for o in directory.active if o.role == "supervisor" and o.entity_id in above]
    if supervisors:
        return _Plan(row, tuple((o, "supervisor") for o in supervisors))
    admins = [o for o in directory.active if o.role == "admin"]
    if admins:
        return _Plan(row, tuple((o, "admin") for o in admins))
    return _Plan(
        row,
        skip=(
            f"nobody to tell: no active assignee, no active supervisor over {row.entity_id} "
            "and no active administrator"
        ),
    )


def _self_and_ancestors(entity_id: str, parents: Mapping[str, str | None]) -> set[str]:
    found: set[str] = set()
    current: str | None = entity_id
    while current is not None and current not in found:  # the database refuses cycles anyway
        found.add(current)
        current = parents.get(current)
    return found


def _happening(row: _Row, reason: Reason, recipient: _Officer, directory: _Directory) -> Happening:
    common: dict[str, Any] = {
        "notification_id": row.notification_id,
        "event": row.event,
        "ticket_number": row.ticket_number,
        "title": row.title,
        "office": row.office,
        "created_at": row.created_at,
        "reason": reason,
    }
    if row.event == "new_ticket":
        return Happening(**common, priority=row.opened_priority, respond_by=row.respond_by)
    if row.event in ("breach", "escalation"):
        expected = row.detail.get("expected_time")
        return Happening(
            **common,
            target="response" if row.detail.get("breach_type") == "response_breach" else "resolution",
            due=datetime.fromisoformat(expected) if isinstance(expected, str) else None,
        )
    to = str(row.detail.get("to") or "")
    return Happening(
        **common,
        assigned_by=directory.name(row.detail.get("by")),
        assignee=None if to.lower() == recipient.email.lower() else directory.name(to),
        previous=directory.name(row.detail.get("from")),
    )


# ---------------------------------------------------------------------------------------
# Sending and finishing
# ---------------------------------------------------------------------------------------


def _run(
    claim: psycopg.Connection[Any],
    record: psycopg.Connection[Any],
    rows: list[_Row],
    server: MailServer,
    letterhead: Letterhead,
    report: NotifyReport,
) -> None:
    directory = _Directory.read(claim)
    plans = [_plan(row, directory) for row in rows]
    delivered = _deliveries(claim, [row.notification_id for row in rows])

    # Everything each officer is still owed, by lower-cased address.
    owed: dict[str, list[Happening]] = {}
    addressees: dict[str, Addressee] = {}
    for plan in plans:
        for officer, reason in plan.recipients:
            key = officer.email.lower()
            if key in delivered[plan.row.notification_id]:
                continue
            addressees[key] = Addressee(officer.email, officer.name, officer.language)
            owed.setdefault(key, []).append(_happening(plan.row, reason, officer, directory))
    report.recipients = len(owed)

    failures: dict[str, MailFailure] = {}
    with Mailer(server) as mailer:
        for key in sorted(owed):
            addressee, happenings = addressees[key], owed[key]
            message = compose(addressee, happenings, letterhead)
            try:
                mailer.send(message, addressee.email)
            except MailFailure as failure:
                log.info("notify: not sent to %s: %s", addressee.email, failure.reason)
                failures[key] = failure
                if failure.permanent:
                    report.refused.append(addressee.email)
                elif failure.reason not in report.errors:
                    report.errors.append(failure.reason)
                continue
            ids = [h.notification_id for h in happenings]
            record.execute(
                "INSERT INTO notification_deliveries (notification_id, recipient, message_id) "
                "SELECT unnest(%s::bigint[]), %s, %s ON CONFLICT DO NOTHING",
                (ids, addressee.email, str(message["Message-ID"])),
            )
            for notification_id in ids:
                delivered[notification_id].add(key)
            report.messages += 1

    for plan in plans:
        _finish(claim, plan, delivered[plan.row.notification_id], failures, report)


def _finish(
    claim: psycopg.Connection[Any],
    plan: _Plan,
    have: set[str],
    failures: Mapping[str, MailFailure],
    report: NotifyReport,
) -> None:
    notification_id = plan.row.notification_id
    if plan.skip is not None:
        _mark(claim, notification_id, "skipped", plan.skip)
        report.skipped += 1
        return
    missing = sorted({officer.email.lower() for officer, _ in plan.recipients} - have)
    refused = [k for k in missing if k in failures and failures[k].permanent]
    to_retry = [k for k in missing if k not in refused]
    refusals = [failures[k].reason for k in refused]
    if to_retry:
        # Every missing recipient was tried and failed; "not tried" would be a bug, and retrying
        # is the safe reading of one.
        reasons = [failures[k].reason if k in failures else f"{k}: not tried" for k in to_retry]
        attempts = plan.row.attempts + 1
        claim.execute(
            "UPDATE notification_outbox SET attempts = %s, last_error = %s, "
            "next_attempt_at = clock_timestamp() + make_interval(secs => %s) WHERE notification_id = %s",
            (attempts, "; ".join(dict.fromkeys(reasons + refusals)), retry_delay(attempts), notification_id),
        )
        report.retrying += 1
        return
    note = "; ".join(refusals) or None
    if have:
        _mark(claim, notification_id, "sent", note)
        report.completed += 1
    else:  # everyone it was for refused it for good
        _mark(claim, notification_id, "skipped", note)
        report.skipped += 1


def _mark(claim: psycopg.Connection[Any], notification_id: int, state: str, last_error: str | None) -> None:
    claim.execute(
        "UPDATE notification_outbox SET state = %s, last_error = %s, "
        "sent_at = CASE WHEN %s = 'sent' THEN clock_timestamp() END WHERE notification_id = %s",
        (state, last_error, state, notification_id),
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _waiting(n: int) -> str:
    return "1 notification waits" if n == 1 else f"{n} notifications wait"
