"""What a citizen (by reference code) or staff (by ticket number) may know of a submission:
when it arrived, its ticket and where that ticket is. Nothing personal: no text, no address."""

from __future__ import annotations

import re
from typing import Any

from psycopg import AsyncConnection

from server_sync_api.protocol import REFERENCE_CODE_PATTERN, SubmissionStatus
from server_sync_api.services.scope import SCOPE_ENTITY, within_scope

TICKET_NUMBER_PATTERN = re.compile(r"^[0-9]{6}-[0-9]{6,7}$")
_REFERENCE_CODE = re.compile(REFERENCE_CODE_PATTERN)

_SELECT = """
SELECT f.reference_code, f.created_at, t.ticket_number,
       coalesce(s.status_code, 'received'),
       greatest(f.updated_at, t.updated_at)
FROM service_feedback f
LEFT JOIN tickets t ON t.feedback_id = f.feedback_id
LEFT JOIN ticket_status s ON s.status_id = t.status_id
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


async def by_reference_code(conn: AsyncConnection[Any], reference_code: str) -> SubmissionStatus | None:
    if not _REFERENCE_CODE.fullmatch(reference_code):
        return None
    cursor = await conn.execute(_SELECT + "WHERE f.reference_code = %s", (reference_code,))
    return _status(await cursor.fetchone())


async def by_ticket_number(
    conn: AsyncConnection[Any], ticket_number: str, entity_id: str
) -> SubmissionStatus | None:
    """A ticket of the device's entity or the entities under it; others are not found."""
    if not TICKET_NUMBER_PATTERN.fullmatch(ticket_number):
        return None
    cursor = await conn.execute(
        within_scope(
            """
        SELECT f.reference_code, coalesce(f.created_at, t.created_at), t.ticket_number,
               s.status_code, greatest(f.updated_at, t.updated_at)
        FROM tickets t
        JOIN ticket_status s ON s.status_id = t.status_id
        LEFT JOIN service_feedback f ON f.feedback_id = t.feedback_id
        WHERE t.ticket_number = %(number)s AND t.entity_id IN (SELECT entity_id FROM scope)
        """
        ),
        {SCOPE_ENTITY: entity_id, "number": ticket_number},
    )
    return _status(await cursor.fetchone())


def _status(row: tuple[Any, ...] | None) -> SubmissionStatus | None:
    if row is None:
        return None
    return SubmissionStatus(
        reference_code=row[0], received_at=row[1], ticket_number=row[2], status=row[3], last_updated=row[4]
    )
