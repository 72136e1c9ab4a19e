"""What a citizen (by reference code) or staff (by ticket number) may know of a submission:
when it arrived, its ticket, where that ticket is and has been, and the office's public
replies. Nothing personal: no citizen text, no address, no officer's name or email, never an
internal note."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from server_sync_api.protocol import (
    REFERENCE_CODE_PATTERN,
    STATUS_CODE_PATTERN,
    Reply,
    StatusChange,
    SubmissionStatus,
)
from server_sync_api.services.scope import SCOPE_ENTITY, within_scope

TICKET_NUMBER_PATTERN = re.compile(r"^[0-9]{6}-[0-9]{6,7}$")
_REFERENCE_CODE = re.compile(REFERENCE_CODE_PATTERN)
_STATUS_CODE = re.compile(STATUS_CODE_PATTERN)

# reference_code, received_at, ticket_id, ticket_number, ticket created_at, status code,
# last update of the submission or its ticket.
_BY_REFERENCE = """
SELECT f.reference_code, f.created_at, t.ticket_id, t.ticket_number, t.created_at,
       coalesce(s.status_code, 'received'),
       greatest(f.updated_at, t.updated_at)
FROM service_feedback f
LEFT JOIN tickets t ON t.feedback_id = f.feedback_id
LEFT JOIN ticket_status s ON s.status_id = t.status_id
WHERE f.reference_code = %s
"""

_BY_TICKET = within_scope(
    """
SELECT f.reference_code, coalesce(f.created_at, t.created_at), t.ticket_id, t.ticket_number, t.created_at,
       s.status_code, greatest(f.updated_at, t.updated_at)
FROM tickets t
JOIN ticket_status s ON s.status_id = t.status_id
LEFT JOIN service_feedback f ON f.feedback_id = t.feedback_id
WHERE t.ticket_number = %(number)s AND t.entity_id IN (SELECT entity_id FROM scope)
"""
)

# The ticket's status changes, live and archived (activities older than a year move to the
# archive), oldest first. The trigger that writes them stores the statuses' display NAMES at
# the time, so each name is matched against today's names here; a status renamed since
# matches nothing, and _history resolves it otherwise. Only times and statuses are read:
# never changed_by, the officer.
_CHANGES = """
SELECT c.created_at, c.old_value, c.new_value, o.status_code, n.status_code
FROM (
    SELECT activity_id, created_at, old_value, new_value FROM ticket_activities
    WHERE ticket_id = %(ticket)s AND activity_type = 'status_change'
    UNION
    SELECT activity_id, created_at, old_value, new_value FROM ticket_activities_archive
    WHERE ticket_id = %(ticket)s AND activity_type = 'status_change'
) AS c
LEFT JOIN ticket_status o ON o.status_name = c.old_value
LEFT JOIN ticket_status n ON n.status_name = c.new_value
ORDER BY c.created_at, c.activity_id
"""

# Public notes only; never created_by (an officer's email).
_REPLIES = """
SELECT note_text, created_at FROM ticket_notes
WHERE ticket_id = %(ticket)s AND is_public
ORDER BY created_at, note_id
"""

# What each status means, in words a citizen at a bus stop understands.
STATUS_MEANINGS = {
    "received": "Your feedback was received. Thank you: it is counted in the service's ratings.",
    "open": "Your complaint was received and is waiting for an officer to pick it up.",
    "in_progress": "An officer is working on your complaint.",
    "waiting": "The office is waiting for information before it can go on.",
    "resolved": "The office says your complaint is resolved.",
    "closed": "Your complaint is closed.",
    "reopened": "Your complaint was reopened and is being looked at again.",
}
# For a status an administrator added: the page still says something true.
OTHER_STATUS_MEANING = "The office has updated your complaint; its status is shown above."


async def by_reference_code(conn: AsyncConnection[Any], reference_code: str) -> SubmissionStatus | None:
    if not _REFERENCE_CODE.fullmatch(reference_code):
        return None
    cursor = await conn.execute(_BY_REFERENCE, (reference_code,))
    return await _status(conn, await cursor.fetchone())


async def by_ticket_number(
    conn: AsyncConnection[Any], ticket_number: str, entity_id: str
) -> SubmissionStatus | None:
    """A ticket of the device's entity or the entities under it; others are not found."""
    if not TICKET_NUMBER_PATTERN.fullmatch(ticket_number):
        return None
    cursor = await conn.execute(_BY_TICKET, {SCOPE_ENTITY: entity_id, "number": ticket_number})
    return await _status(conn, await cursor.fetchone())


async def _status(conn: AsyncConnection[Any], row: tuple[Any, ...] | None) -> SubmissionStatus | None:
    if row is None:
        return None
    reference_code, received_at, ticket_id, ticket_number, ticket_created_at, code, updated = row
    history: list[StatusChange] = []
    replies: list[Reply] = []
    if ticket_id is not None:
        cursor = await conn.execute(_CHANGES, {"ticket": ticket_id})
        changes = [_Change(*change) for change in await cursor.fetchall()]
        history = _history(ticket_created_at, code, changes)
        cursor = await conn.execute(_REPLIES, {"ticket": ticket_id})
        replies = [Reply(text=text, at=at) for text, at in await cursor.fetchall()]
    # A public reply is news to the citizen even when nothing else about the ticket changed.
    last_updated = max([moment for moment in (updated, *(r.at for r in replies)) if moment is not None])
    return SubmissionStatus(
        reference_code=reference_code,
        received_at=received_at,
        ticket_number=ticket_number,
        status=code,
        last_updated=last_updated,
        history=history,
        replies=replies,
    )


@dataclass(frozen=True)
class _Change:
    at: datetime
    old_name: str | None  # the display names when the change was made
    new_name: str | None
    old_code: str | None  # the code of the status that has that name today, if any
    new_code: str | None


def _history(created_at: datetime, current: str, changes: list[_Change]) -> list[StatusChange]:
    """The ticket's creation, then each change, as (status code, time), oldest first.

    The audit trail names statuses by their display name at the time, and names may be renamed
    since (codes are stable; names are for people). The ticket went through states s0 (at its
    creation), s1, ..., sn (now). State si is named twice: as the new name of change i and as
    the old name of change i+1. Each state's code is, in this order:
      1. for sn, the ticket's current status: the truth, so history ends where `status` is;
      2. the code of the status that has one of its names today (the later name first);
      3. the code a name had at the end: a name under which the ticket entered its current
         status is that status, wherever else it appears in this ticket's trail (covers a
         status renamed after the ticket went through it twice);
      4. the name in snake_case, as migration 0003 derived the seed's codes from their names
         (so a renamed seeded status still reads as its code), when that is a valid code.
    A state none of these can name (a blank name) is left out rather than invented.
    """
    if not changes:
        return [StatusChange(status=current, at=created_at)]
    learned: dict[str, str] = {}
    if changes[-1].new_name is not None:
        learned[changes[-1].new_name] = current
    entries: list[StatusChange] = []
    times = [created_at, *(change.at for change in changes)]
    for i, at in enumerate(times):
        if i == len(changes):
            code: str | None = current
        else:
            # (name, code by today's names), the later naming first
            names = [(changes[i].old_name, changes[i].old_code)]
            if i > 0:
                names.append((changes[i - 1].new_name, changes[i - 1].new_code))
            code = (
                next((c for _, c in names if c is not None), None)
                or next((learned[n] for n, _ in names if n is not None and n in learned), None)
                or next((s for n, _ in names if n is not None and (s := _snake_case(n))), None)
            )
        if code is not None:
            entries.append(StatusChange(status=code, at=at))
    return entries


def _snake_case(name: str) -> str | None:
    """The code migration 0003 would have derived from a display name, if it is one."""
    code = re.sub(r"[^A-Za-z0-9]+", "_", name).lower().strip("_")
    return code if _STATUS_CODE.fullmatch(code) else None
