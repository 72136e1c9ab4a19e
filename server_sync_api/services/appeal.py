"""The citizen says "not resolved" (issue 13, as CPGRAMS lets a citizen appeal).

Once per ticket, within 14 days of the office resolving it (`resolved_at`, or `closed_at` for a
ticket closed without being resolved), the citizen who holds the reference code may reopen it
with a reason. The reference code is the secret: no session, no account.

The appeal is one transaction with `citizen` as the actor (`gea.actor`): the reason goes into
ticket_activities as a `citizen_reopened` activity, and the ticket moves to Reopened, which
migration 0004's status trigger turns into a new resolution target counted from now (the
category's hours times the priority's factor) with the resolved and closed times cleared; the
status change is logged by its trigger with the same actor. The desk's queue shows reopened
tickets right after the breached ones, and the assignee stays, so the officer who had it sees
it first.

"Once" is read from the audit trail, live and archived: a ticket with any `citizen_reopened`
activity has had its appeal.

Refusals, each with a `message` a citizen can act on, change nothing:

    AppealError
     ├── UnknownReference  no submission has this reference code
     ├── AppealNotOpen     no ticket, not resolved or closed, past the 14 days, already appealed
     └── InvalidReason     blank, or over 1,000 characters once trimmed
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from server_sync_api.protocol import REFERENCE_CODE_PATTERN

APPEAL_DAYS = 14
APPEAL_WINDOW = timedelta(days=APPEAL_DAYS)
REASON_MAX_CHARS = 1000
ACTIVITY_TYPE = "citizen_reopened"
ACTOR = "citizen"
DONE_CODES = frozenset({"resolved", "closed"})
REOPENED_CODE = "reopened"
_REFERENCE_CODE = re.compile(REFERENCE_CODE_PATTERN)

NO_TICKET = "Your feedback did not make a complaint, so there is nothing to reopen."
ALREADY = (
    "You have already told us this complaint is not resolved. A complaint can be reopened this way "
    "only once; the office is looking at it again."
)
NOT_DONE = (
    "The office has not said your complaint is resolved yet, so there is nothing to reopen: "
    "it is still being worked on."
)
EXPIRED = (
    f"It is more than {APPEAL_DAYS} days since the office resolved your complaint, so it can no "
    "longer be reopened here. You can make a new complaint."
)
BLANK = "Tell us why your complaint is not resolved."
TOO_LONG = f"Your reason must be {REASON_MAX_CHARS:,} characters or fewer."


class AppealError(Exception):
    """An appeal that was not made; `message` says why, for the citizen."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownReference(AppealError):
    def __init__(self) -> None:
        super().__init__("No submission has this reference code. Check it against your receipt.")


class AppealNotOpen(AppealError):
    pass


class InvalidReason(AppealError):
    pass


@dataclass(frozen=True)
class Offer:
    """Whether the status page offers "not resolved" now, and until when."""

    open: bool
    closes_at: datetime | None  # when the 14 days end, while open
    appealed: bool  # the citizen has already reopened this ticket


# The submission's ticket, if any.
_TICKET = """
SELECT t.ticket_id
FROM service_feedback f
LEFT JOIN tickets t ON t.feedback_id = f.feedback_id
WHERE f.reference_code = %s
"""

# Locked alone (no join): a join rechecked against the row another transaction just changed
# would drop the row instead of showing its new state.
_LOCK = "SELECT 1 FROM tickets WHERE ticket_id = %s FOR UPDATE"

# Read after the lock, in a statement of its own, so it sees what the transaction that held
# the lock committed.
_STATE = """
SELECT s.status_code, coalesce(t.resolved_at, t.closed_at), now(),
       EXISTS (SELECT 1 FROM ticket_activities a
               WHERE a.ticket_id = t.ticket_id AND a.activity_type = %(activity)s)
       OR EXISTS (SELECT 1 FROM ticket_activities_archive a
                  WHERE a.ticket_id = t.ticket_id AND a.activity_type = %(activity)s)
FROM tickets t
JOIN ticket_status s ON s.status_id = t.status_id
WHERE t.ticket_id = %(ticket)s
"""

_RECORD = """
INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by)
VALUES (%s, %s, NULL, %s, current_actor())
"""

_REOPEN = """
UPDATE tickets SET status_id = (SELECT status_id FROM ticket_status WHERE status_code = %s)
WHERE ticket_id = %s
"""


@dataclass(frozen=True)
class _State:
    status: str
    done_at: datetime | None
    now: datetime
    appealed: bool

    def refusal(self) -> str | None:
        """Why an appeal is not open now, or None when it is."""
        if self.appealed:
            return ALREADY
        if self.status not in DONE_CODES:
            return NOT_DONE
        # A ticket set to Resolved or Closed without its time (an import) has no window.
        if self.done_at is None or self.now - self.done_at > APPEAL_WINDOW:
            return EXPIRED
        return None


def clean_reason(text: str) -> str:
    """The reason as stored: line breaks made \\n, control characters other than line breaks and
    tabs removed (PostgreSQL refuses NUL), trimmed; InvalidReason when blank or too long."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc").strip()
    if not text:
        raise InvalidReason(BLANK)
    if len(text) > REASON_MAX_CHARS:
        raise InvalidReason(TOO_LONG)
    return text


async def _ticket_id(conn: AsyncConnection[Any], reference_code: str) -> int | None:
    """The submission's ticket; UnknownReference without a submission; None without a ticket."""
    if not _REFERENCE_CODE.fullmatch(reference_code):
        raise UnknownReference
    row = await (await conn.execute(_TICKET, (reference_code,))).fetchone()
    if row is None:
        raise UnknownReference
    return None if row[0] is None else int(row[0])


async def _state(conn: AsyncConnection[Any], ticket_id: int) -> _State:
    row = await (await conn.execute(_STATE, {"ticket": ticket_id, "activity": ACTIVITY_TYPE})).fetchone()
    assert row is not None  # tickets are never deleted
    return _State(*row)


async def offer(conn: AsyncConnection[Any], reference_code: str) -> Offer:
    """What the status page offers for this submission (closed for an unknown one)."""
    try:
        ticket_id = await _ticket_id(conn, reference_code)
    except UnknownReference:
        ticket_id = None
    if ticket_id is None:
        return Offer(open=False, closes_at=None, appealed=False)
    state = await _state(conn, ticket_id)
    is_open = state.refusal() is None
    closes_at = state.done_at + APPEAL_WINDOW if is_open and state.done_at is not None else None
    return Offer(open=is_open, closes_at=closes_at, appealed=state.appealed)


async def appeal(conn: AsyncConnection[Any], reference_code: str, reason: str) -> None:
    """Reopens the ticket of this reference code with the citizen's reason, in one transaction,
    or raises an AppealError and changes nothing. The rule is checked with the ticket locked, so
    two appeals sent at once make one."""
    async with conn.transaction():
        ticket_id = await _ticket_id(conn, reference_code)
        if ticket_id is None:
            raise AppealNotOpen(NO_TICKET)
        await conn.execute(_LOCK, (ticket_id,))
        refusal = (await _state(conn, ticket_id)).refusal()
        if refusal is not None:
            raise AppealNotOpen(refusal)
        text = clean_reason(reason)
        await conn.execute("SELECT set_config('gea.actor', %s, true)", (ACTOR,))
        # The reason first, then the change it caused: the desk's timeline reads in that order.
        await conn.execute(_RECORD, (ticket_id, ACTIVITY_TYPE, text))
        cursor = await conn.execute(_REOPEN, (REOPENED_CODE, ticket_id))
        if cursor.rowcount != 1:  # cannot happen under the lock; refused rather than assumed
            raise AppealNotOpen(NOT_DONE)
