"""The osTicket outbox (osticket_outbox, filled by the ticket trigger when osTicket is enabled):
`push_due` sends what is due, for `gea-server osticket-push` and the scheduler; `parked_rows`,
`retry` and `mark_sent` are how a person settles a send whose answer was lost.

Delivery is at least once and osTicket cannot tell a repeat (no idempotency key), so a row is
claimed and marked 'sending' in a committed transaction before its request goes out, one row
at a time: a sender that dies leaves at most one row whose fate is unknown, and that row (like
any lost answer) is parked for a person instead of being sent again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
from psycopg.rows import class_row

from server_sync_api import __version__
from server_sync_api.core.config import ServerSettings
from server_sync_api.services import osticket_api
from server_sync_api.services.osticket_api import Endpoint, OsticketNotConfigured, Outcome, TicketFacts

__all__ = [
    "OsticketNotConfigured",
    "OutboxError",
    "check_remote_id",
    "check_ticket_number",
    "ParkedRow",
    "PushReport",
    "mark_sent",
    "parked_rows",
    "push",
    "push_due",
    "retry",
]

log = logging.getLogger(__name__)

# A row 'sending' for longer than this has lost its sender (killed, host down): a live one
# finishes a request within osticket_api.TIMEOUT, far less.
STALE_AFTER = timedelta(minutes=10)
# Retries wait 1 minute, then 2, 4 ... up to an hour, for as long as it takes IT to fix the
# cause: the first retry after a fix is at most an hour away.
BACKOFF_FIRST_S = 60
BACKOFF_MAX_S = 3600
TICKET_NUMBER = re.compile(r"^[0-9]{6}-[0-9]{6,}$")


class OutboxError(Exception):
    """A request about one outbox row that cannot be done; the message says why and what to do."""


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    ticket_number: str
    remote_id: str


@dataclass(frozen=True)
class Failure:
    ticket_number: str
    error: str
    next_attempt_at: datetime | None = None  # for a retry


@dataclass
class PushReport:
    osticket: str  # the API's address, without credentials
    sent: list[Delivery] = field(default_factory=list)
    retrying: list[Failure] = field(default_factory=list)
    parked: list[Failure] = field(default_factory=list)  # parked by this run
    stopped: str | None = None  # why the run stopped before the due rows ran out
    pending: int = 0  # rows left to send, due now or later
    parked_waiting: int = 0  # every parked row, waiting for a person
    queueing: bool = True  # whether feedback_db queues new tickets (app_settings.osticket_enabled)
    timezone: str = "UTC"  # the zone times are shown in (GEA_SERVER_TIMEZONE)

    @property
    def failed(self) -> bool:
        return bool(self.retrying or self.parked)

    def summary(self) -> str:
        if self.sent or self.retrying or self.parked:
            lines = [
                f"osTicket at {self.osticket}: {len(self.sent)} sent, {len(self.retrying)} to retry, "
                f"{len(self.parked)} parked."
            ]
        else:
            lines = [f"osTicket at {self.osticket}: nothing was due."]
        lines += [f"  sent    {d.ticket_number} as osTicket #{d.remote_id}" for d in self.sent]
        zone = ZoneInfo(self.timezone)
        for f in self.retrying:
            later = f" (next try {f.next_attempt_at.astimezone(zone):%H:%M})" if f.next_attempt_at else ""
            lines.append(f"  retry   {f.ticket_number}{later}: {f.error}")
        lines += [f"  parked  {f.ticket_number}: {f.error}" for f in self.parked]
        if self.stopped:
            lines.append(f"Stopped early: {self.stopped}")
        if self.pending:
            lines.append(f"{_tickets(self.pending)} waiting to be sent.")
        if self.parked_waiting:
            lines.append(
                f"{_tickets(self.parked_waiting)} parked, waiting for a person to check osTicket: "
                "gea-server osticket-push --parked"
            )
        if not self.queueing:
            lines.append(
                "Note: feedback_db does not queue new tickets for osTicket: run `gea-server migrate` "
                "with GEA_SERVER_OSTICKET_URL set to turn it on."
            )
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        def failure(f: Failure) -> dict[str, Any]:
            when = f.next_attempt_at.isoformat() if f.next_attempt_at else None
            return {"ticket_number": f.ticket_number, "error": f.error, "next_attempt_at": when}

        return {
            "osticket": self.osticket,
            "sent": [asdict(d) for d in self.sent],
            "retrying": [failure(f) for f in self.retrying],
            "parked": [failure(f) for f in self.parked],
            "stopped": self.stopped,
            "pending": self.pending,
            "parked_waiting": self.parked_waiting,
            "queueing": self.queueing,
        }


def _tickets(count: int) -> str:
    return f"{count} ticket" if count == 1 else f"{count} tickets"


def push_due(
    conninfo: str,
    settings: ServerSettings,
    *,
    limit: int = 100,
    timeout: httpx.Timeout = osticket_api.TIMEOUT,
) -> PushReport:
    """Send up to `limit` due tickets to osTicket and record each outcome; for the scheduler.

    Raises OsticketNotConfigured without the osTicket settings, and psycopg.Error when the
    database fails. Safe to run from several processes and hosts at once."""
    sender = osticket_api.endpoint(settings)  # before connecting: a set-up fault is told first
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return push(conn, settings, limit=limit, timeout=timeout, sender=sender)


def push(
    conn: psycopg.Connection[Any],
    settings: ServerSettings,
    *,
    limit: int = 100,
    timeout: httpx.Timeout = osticket_api.TIMEOUT,
    sender: Endpoint | None = None,
) -> PushReport:
    """push_due on a connection the caller holds (autocommit: each step commits itself)."""
    sender = sender or osticket_api.endpoint(settings)
    report = PushReport(osticket=sender.shown_url, timezone=settings.timezone)
    report.parked += _park_stale(conn)
    # One connection per request (no keep-alive): a request on a reused connection that the far
    # end had just closed would fail in a way that looks like a lost answer.
    with httpx.Client(
        headers={"X-API-Key": sender.api_key, "User-Agent": f"gea-server/{__version__} osticket-push"},
        timeout=timeout,
        follow_redirects=False,  # a redirected POST is not re-sent blindly; the URL gets fixed
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        for _ in range(limit):
            claimed = _claim(conn)
            if claimed is None:
                break
            ticket_id, attempts, ticket = claimed
            outcome = _send(client, sender, settings, ticket)
            _record(conn, ticket_id, attempts, ticket.ticket_number, outcome, report)
            if outcome.stop_run:
                report.stopped = outcome.error
                break
    _count(conn, report)
    return report


def _send(client: httpx.Client, sender: Endpoint, settings: ServerSettings, ticket: TicketFacts) -> Outcome:
    body = osticket_api.payload(ticket, sender, settings)
    try:
        response = client.post(sender.url, json=body)
    except httpx.TransportError as exc:
        return osticket_api.from_error(exc, sender, ticket.ticket_number)
    return osticket_api.from_response(response, sender, ticket.ticket_number)


_CLAIM = """
    UPDATE osticket_outbox o SET state = 'sending', claimed_at = now(), attempts = attempts + 1
    FROM (SELECT ticket_id FROM osticket_outbox
          WHERE state = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at, ticket_id LIMIT 1 FOR UPDATE SKIP LOCKED) due
    WHERE o.ticket_id = due.ticket_id
    RETURNING o.ticket_id, o.attempts
"""

_TICKET_FACTS = """
    SELECT t.ticket_number, t.title, t.description, s.service_name, t.entity_id, e.entity_name,
           p.priority_name, c.category_name, t.created_at, t.response_target, t.resolution_target
    FROM tickets t
    JOIN service_master s ON s.service_id = t.service_id
    JOIN entity_master e ON e.unique_entity_id = t.entity_id
    JOIN priority_levels p ON p.priority_id = t.priority_id
    LEFT JOIN ticket_categories c ON c.category_id = t.category_id
    WHERE t.ticket_id = %s
"""


def _claim(conn: psycopg.Connection[Any]) -> tuple[int, int, TicketFacts] | None:
    """Take the next due row and mark it 'sending' in a transaction committed before the send.
    SKIP LOCKED lets senders run side by side without waiting for, or taking, each other's rows.
    Returns the ticket's id, the row's attempt count (which fences the outcome's write against
    a later claim) and what osTicket is told."""
    with conn.transaction():
        row = conn.execute(_CLAIM).fetchone()
        if row is None:
            return None
        ticket = conn.cursor(row_factory=class_row(TicketFacts)).execute(_TICKET_FACTS, (row[0],)).fetchone()
        assert ticket is not None  # the outbox's foreign key
    return int(row[0]), int(row[1]), ticket


def _record(
    conn: psycopg.Connection[Any],
    ticket_id: int,
    attempts: int,
    number: str,
    outcome: Outcome,
    report: PushReport,
) -> None:
    fence = "ticket_id = %(ticket_id)s AND attempts = %(attempts)s"
    args: dict[str, object] = {"ticket_id": ticket_id, "attempts": attempts, "error": outcome.error}
    if outcome.verdict == "sent":
        assert outcome.remote_id is not None
        # Also over a row parked meanwhile as stale: the answer settles what a person would check.
        done = conn.execute(
            f"UPDATE osticket_outbox SET state = 'sent', remote_id = %(remote_id)s, sent_at = now() "
            f"WHERE {fence} AND state IN ('sending', 'parked')",
            {**args, "remote_id": outcome.remote_id},
        ).rowcount
        report.sent.append(Delivery(number, outcome.remote_id))
        log.info("osTicket: ticket %s created as osTicket #%s", number, outcome.remote_id)
    elif outcome.verdict == "retry":
        # attempts counts this one: 1 minute after the first failure, then 2, 4 ... (the exponent
        # is bounded so a row failing for months cannot overflow the interval).
        backoff = "least(%(first)s * power(2, least(attempts - 1, 12)), %(max)s)"
        row = conn.execute(
            "UPDATE osticket_outbox SET state = 'pending', last_error = %(error)s, "
            f"next_attempt_at = now() + make_interval(secs => {backoff}) "
            f"WHERE {fence} AND state = 'sending' RETURNING next_attempt_at",
            {**args, "first": BACKOFF_FIRST_S, "max": BACKOFF_MAX_S},
        ).fetchone()
        done = 0 if row is None else 1
        report.retrying.append(Failure(number, outcome.error or "", row[0] if row else None))
        log.warning("osTicket: ticket %s not sent, to retry: %s", number, outcome.error)
    else:
        done = conn.execute(
            f"UPDATE osticket_outbox SET state = 'parked', last_error = %(error)s WHERE {fence} "
            "AND state = 'sending'",
            args,
        ).rowcount
        report.parked.append(Failure(number, outcome.error or ""))
        log.warning("osTicket: ticket %s parked for a person to check: %s", number, outcome.error)
    if not done:
        # Parked as stale and then retried by a person while this request was still out.
        log.warning(
            "osTicket: ticket %s changed while it was being sent; its outcome was not recorded", number
        )


_PARK_STALE = """
    UPDATE osticket_outbox o SET state = 'parked', last_error =
        'a sender took it at ' || to_char(o.claimed_at AT TIME ZONE a.timezone, 'YYYY-MM-DD HH24:MI')
        || ' (' || a.timezone || ') and never recorded an answer (it stopped or was killed '
        || 'mid-send): look for [GEA ' || t.ticket_number || '] in osTicket'
    FROM tickets t, app_settings a
    WHERE t.ticket_id = o.ticket_id AND o.state = 'sending'
      AND o.claimed_at < now() - make_interval(secs => %s)
    RETURNING t.ticket_number, o.last_error
"""


def _park_stale(conn: psycopg.Connection[Any]) -> list[Failure]:
    rows = conn.execute(_PARK_STALE, (STALE_AFTER.total_seconds(),)).fetchall()
    for number, error in rows:
        log.warning("osTicket: ticket %s parked: %s", number, error)
    return [Failure(number, error) for number, error in rows]


def _count(conn: psycopg.Connection[Any], report: PushReport) -> None:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'parked'), "
        "(SELECT osticket_enabled FROM app_settings) FROM osticket_outbox"
    ).fetchone()
    assert row is not None
    report.pending, report.parked_waiting, report.queueing = int(row[0]), int(row[1]), bool(row[2])


# --- settling parked rows --------------------------------------------------------------------


@dataclass(frozen=True)
class ParkedRow:
    ticket_number: str
    title: str
    claimed_at: datetime | None  # when the send whose answer was lost went out
    attempts: int
    last_error: str | None


def parked_rows(conn: psycopg.Connection[Any]) -> list[ParkedRow]:
    return (
        conn.cursor(row_factory=class_row(ParkedRow))
        .execute(
            "SELECT t.ticket_number, t.title, o.claimed_at, o.attempts, o.last_error "
            "FROM osticket_outbox o JOIN tickets t ON t.ticket_id = o.ticket_id "
            "WHERE o.state = 'parked' ORDER BY o.claimed_at NULLS FIRST, t.ticket_number"
        )
        .fetchall()
    )


def retry(conn: psycopg.Connection[Any], ticket_number: str) -> None:
    """A parked ticket a person found missing in osTicket: send it on the next run."""
    with conn.transaction():
        ticket_id = _locked_row(conn, ticket_number, allowed=("parked",), action="--retry")
        conn.execute(
            "UPDATE osticket_outbox SET state = 'pending', next_attempt_at = now() WHERE ticket_id = %s",
            (ticket_id,),
        )


def mark_sent(conn: psycopg.Connection[Any], ticket_number: str, remote_id: str) -> None:
    """A ticket a person found in osTicket: record its number there, and send nothing."""
    remote_id = check_remote_id(remote_id)
    with conn.transaction():
        # A pending row too: a person may find a ticket that an error answer had in fact created.
        ticket_id = _locked_row(conn, ticket_number, allowed=("parked", "pending"), action="--mark-sent")
        conn.execute(
            "UPDATE osticket_outbox SET state = 'sent', remote_id = %s, sent_at = now() WHERE ticket_id = %s",
            (remote_id, ticket_id),
        )


def check_ticket_number(ticket_number: str) -> str:
    if not TICKET_NUMBER.fullmatch(ticket_number):
        raise OutboxError(f"{ticket_number!r} is not a GEA ticket number: write it like 202612-000123")
    return ticket_number


def check_remote_id(remote_id: str) -> str:
    """osTicket's number for a ticket, as a person copies it (a leading # is osTicket's display)."""
    remote_id = remote_id.strip().removeprefix("#")
    if not osticket_api.is_remote_id(remote_id):
        raise OutboxError(
            f"--remote-id must be the ticket's number as osTicket shows it (1 to "
            f"{osticket_api.REMOTE_ID_MAX} characters, no spaces), e.g. 123456"
        )
    return remote_id


def _locked_row(
    conn: psycopg.Connection[Any], ticket_number: str, *, allowed: tuple[str, ...], action: str
) -> int:
    """The ticket's id, its outbox row locked, when the row is in one of the `allowed` states."""
    check_ticket_number(ticket_number)
    found = conn.execute(
        "SELECT ticket_id FROM tickets WHERE ticket_number = %s", (ticket_number,)
    ).fetchone()
    if found is None:
        raise OutboxError(f"No ticket {ticket_number}.")
    ticket_id = int(found[0])
    row = conn.execute(
        "SELECT state, remote_id FROM osticket_outbox WHERE ticket_id = %s FOR UPDATE", (ticket_id,)
    ).fetchone()
    state, remote_id = row if row is not None else (None, None)
    if state in allowed:
        return ticket_id
    why = {
        None: "is not in the osTicket outbox (it was made while osTicket was not enabled)",
        "pending": "is waiting to be sent; nothing to do",
        "sending": "is being sent right now (were its sender to die, it is parked 10 minutes after)",
        "sent": f"is already in osTicket as #{remote_id}",
        "parked": "is parked: settle it with --retry or --mark-sent",
    }[state]
    raise OutboxError(f"Ticket {ticket_number} {why}; {action} changed nothing.")
