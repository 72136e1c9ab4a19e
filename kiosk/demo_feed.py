"""The demo's ticket feed: the terminal shows each complaint or low rating becoming a ticket.

While the online demo runs, a background thread reads feedback_db about once a second and says
one line per new ticket: its number, priority, SLA deadlines (in the server's time zone, from
app_settings) and the citizen's status page, `<server>/s/<reference code>`. It starts after the
newest ticket that exists when it starts (older ones are never said) and says each ticket once.

Tickets are found by id. An identity value is taken when the insert runs but seen when it
commits, so two submissions arriving together can show the later id first: an id skipped over
is looked for again for GAP_WAIT_S (an id whose insert was rolled back never shows up, and is
then forgotten). A database that fails is said once, retried every poll, and said again when
it answers; the feed never stops the kiosk. This is demo plumbing: no rule lives here.

It needs psycopg (the [server] extra), so kiosk/demo.py imports it only for the online demo.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import psycopg
from psycopg.rows import class_row
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0
# How long an id below the newest one seen is looked for before it is taken for a rollback.
GAP_WAIT_S = 60.0
# At most this many skipped ids are looked for (a jump of the identity is not a thousand tickets).
MAX_GAPS = 1_000
BATCH_SIZE = 100  # tickets said per poll at most; the rest follow on the next
# start() returns once the first read is done (or failed), so "tickets that exist at start" is
# exact; a database that does not answer within this long is left to the thread.
FIRST_READ_WAIT_S = 10.0
STOP_WAIT_S = 10.0
CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 5_000
APPLICATION_NAME = "gea-demo-ticket-feed"  # how the feed's connection shows in pg_stat_activity

_NEWEST = "SELECT coalesce(max(ticket_id), 0) FROM tickets"
_NEW_TICKETS = """
SELECT t.ticket_id, t.ticket_number,
       coalesce(p.priority_name, t.priority_id::text) AS priority,
       to_char(t.response_target AT TIME ZONE z.name, 'YYYY-MM-DD HH24:MI') AS respond_by,
       to_char(t.resolution_target AT TIME ZONE z.name, 'YYYY-MM-DD HH24:MI') AS resolve_by,
       z.name AS timezone,
       f.reference_code
FROM tickets t
CROSS JOIN (SELECT coalesce((SELECT timezone FROM app_settings), 'UTC') AS name) z
LEFT JOIN priority_levels p ON p.priority_id = t.priority_id
LEFT JOIN service_feedback f ON f.feedback_id = t.feedback_id
WHERE t.ticket_id > %(after)s OR t.ticket_id = ANY(%(gaps)s::int[])
ORDER BY t.ticket_id
LIMIT %(limit)s
"""


class Say(Protocol):
    """Where the demo tells its user what happens: click.echo in the command, a list in tests."""

    def __call__(self, message: str, /, *, err: bool = False) -> None: ...


@dataclass(frozen=True)
class NewTicket:
    ticket_id: int
    ticket_number: str
    priority: str
    respond_by: str | None  # "YYYY-MM-DD HH:MM" in `timezone`; None without an SLA
    resolve_by: str | None
    timezone: str
    reference_code: str | None  # None for a ticket with no submission behind it


def line_for(ticket: NewTicket, status_base_url: str) -> str:
    """What the terminal says about a new ticket, in one line."""
    if ticket.respond_by or ticket.resolve_by:
        respond, resolve = ticket.respond_by or "-", ticket.resolve_by or "-"
        deadlines = f"respond by {respond}, resolve by {resolve} ({ticket.timezone})"
    else:
        deadlines = "no SLA deadline"
    if ticket.reference_code:
        page = f"status page {status_base_url.rstrip('/')}/s/{quote(ticket.reference_code, safe='')}"
    else:
        page = "no status page (no receipt behind it)"
    return f"New ticket {ticket.ticket_number} ({ticket.priority}): {deadlines}; {page}"


class TicketFeed:
    """Use as a context manager: started on entry, stopped (its thread joined, its connection
    closed) on exit. `polls` counts the polls done, failed ones included."""

    def __init__(
        self, database_url: str, status_base_url: str, say: Say, *, interval_s: float = POLL_INTERVAL_S
    ) -> None:
        libpq = make_url(database_url).set(drivername="postgresql")
        self._conninfo = libpq.render_as_string(hide_password=False)
        self._status_base_url = status_base_url
        self._say = say
        self._interval_s = interval_s
        self._after: int | None = None  # the newest ticket id said (or there at start)
        self._gaps: dict[int, float] = {}  # skipped ids -> when to stop looking for them
        self._conn: psycopg.Connection[Any] | None = None
        self._failing = False
        self._stopping = threading.Event()
        self._first_read = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-ticket-feed", daemon=True)
        self.polls = 0

    def __enter__(self) -> TicketFeed:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        self._first_read.wait(FIRST_READ_WAIT_S)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(STOP_WAIT_S)
            if self._thread.is_alive():
                log.warning("the ticket feed did not stop within %.0f s; it ends with the demo", STOP_WAIT_S)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._poll()
                self.polls += 1
                self._first_read.set()
                self._stopping.wait(self._interval_s)
        except Exception:
            # A bug, not the database: said once, and the kiosk goes on without the feed.
            log.exception("the ticket feed stopped on an unexpected error")
            self._say("The ticket feed stopped on an error (in the demo's log); the kiosk goes on.", err=True)
        finally:
            self._first_read.set()
            self._close()

    def _poll(self) -> None:
        try:
            conn = self._connection()
            if self._after is None:
                row = conn.execute(_NEWEST).fetchone()
                self._after = int(row[0]) if row else 0
            else:
                for ticket in self._new_tickets(conn):
                    self._say(line_for(ticket, self._status_base_url))
        except psycopg.Error as exc:
            self._close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not self._failing:
                self._failing = True
                log.warning("the ticket feed cannot read feedback_db: %s", reason)
                self._say(f"The ticket feed cannot read feedback_db ({reason}); it keeps trying.", err=True)
            else:
                log.debug("the ticket feed still cannot read feedback_db: %s", reason)
            return
        if self._failing:
            self._failing = False
            log.info("the ticket feed reads feedback_db again")
            self._say("The ticket feed reads feedback_db again.", err=True)

    def _new_tickets(self, conn: psycopg.Connection[Any]) -> list[NewTicket]:
        assert self._after is not None
        with conn.cursor(row_factory=class_row(NewTicket)) as cursor:
            found = cursor.execute(
                _NEW_TICKETS, {"after": self._after, "gaps": sorted(self._gaps), "limit": BATCH_SIZE}
            ).fetchall()
        now = time.monotonic()
        seen = {ticket.ticket_id for ticket in found}
        newest = max((i for i in seen if i > self._after), default=self._after)
        for skipped in range(max(self._after + 1, newest - MAX_GAPS), newest):
            if skipped not in seen:
                self._gaps[skipped] = now + GAP_WAIT_S
        self._gaps = {i: until for i, until in self._gaps.items() if i not in seen and until > now}
        self._after = newest
        return found

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=APPLICATION_NAME,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            )
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error as exc:
                log.debug("closing the ticket feed's connection: %s", exc)
