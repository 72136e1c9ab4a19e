"""One ticket in the desk: everything an officer needs to work it (the citizen's feedback, the
SLA clocks and breaches, one timeline of activities and notes, what may be done next) and the
changes they make (ARCHITECTURE 4.13, issue 13).

Every read and write goes through `within_officer_scope`: a ticket outside the viewer's entity
and the entities under it, an unknown ticket and a malformed number are all the same "not
found", and a disabled officer finds nothing.

Each change is one transaction: it names the officer as the actor (`gea.actor`, which the
triggers write into ticket_activities), locks the ticket as the viewer's scope finds it,
checks the version the officer's page showed (tickets.row_version, raised by every UPDATE),
applies the desk's rules, and updates the row with scope and version in the UPDATE's own WHERE.
A refusal rolls everything back. Errors, all with a `.message` to show the officer:

    DeskError
     ├── TicketNotFound   unknown, out of scope, or a malformed number (indistinguishable)
     ├── StaleTicket      the ticket changed since the officer's page showed it
     └── ChangeRefused    the workflow or the officer's role does not allow it, or a bad value

The status workflow is the desk's rule, not a trigger's (imports may set any status):

    open        -> in_progress, waiting, resolved, closed
    in_progress -> waiting, resolved, closed
    waiting     -> in_progress, resolved, closed
    resolved    -> closed, reopened
    closed      -> reopened
    reopened    -> in_progress, waiting, resolved, closed

A status an administrator added (any other code) may be entered from any status that is still
being worked (open, in_progress, waiting, reopened, another added one), and may be left for
any status, except that Resolved, Closed and Reopened are reached from it only as from
in_progress: resolved and closed, never reopened.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from server_sync_api.domain import Officer
from server_sync_api.services.desk_queue import CategoryChoice, PriorityChoice, StatusChoice
from server_sync_api.services.scope import SCOPE_OFFICER, within_officer_scope

TICKET_NUMBER = re.compile(r"^[0-9]{6}-[0-9]{6,13}$")
# C0 control characters other than tab, newline and carriage return: PostgreSQL's text cannot
# hold NUL, and the others have no place in a note or an address.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
NOTE_MAX_CHARS = 5000
RESOLUTION_NOTES_MAX_CHARS = 10_000
# tickets.assigned_to and ticket_notes.created_by are VARCHAR(100).
STORED_EMAIL_MAX = 100

WORKFLOW: Mapping[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "waiting", "resolved", "closed"}),
    "in_progress": frozenset({"waiting", "resolved", "closed"}),
    "waiting": frozenset({"in_progress", "resolved", "closed"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "reopened": frozenset({"in_progress", "waiting", "resolved", "closed"}),
}
# Reached only along the workflow.
WORKFLOW_ONLY = frozenset({"resolved", "closed", "reopened"})
# Statuses still being worked, from which an administrator's own statuses may be entered.
WORKED = frozenset({"open", "in_progress", "waiting", "reopened"})

STALE_MESSAGE = (
    "This ticket was changed by someone else since you opened it. "
    "Reload it to see the change, then try again."
)
NOT_FOUND_MESSAGE = "There is no such ticket that you can see."


class DeskError(Exception):
    """A change the desk did not make; `message` says why, for the officer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(DeskError):
    def __init__(self, message: str = NOT_FOUND_MESSAGE) -> None:
        super().__init__(message)


class StaleTicket(DeskError):
    def __init__(self, message: str = STALE_MESSAGE) -> None:
        super().__init__(message)


class ChangeRefused(DeskError):
    pass


# -- What a ticket page shows --------------------------------------------------------------------


@dataclass(frozen=True)
class Breach:
    breach_type: str  # response_breach | resolution_breach
    expected_time: datetime
    actual_time: datetime | None  # None while still overdue
    hours_overdue: int
    escalated: bool


@dataclass(frozen=True)
class CitizenFeedback:
    """What the citizen gave, and where and when: `recorded_at` is when they submitted (the
    kiosk's clock, as sent), `created_at` when it reached the server."""

    feedback_id: int
    reference_code: str | None
    channel: str
    rating: int
    service_quality: int | None
    staff_behavior: int | None
    waiting_time: int | None
    cleanliness: int | None
    grievance_flag: bool
    feedback_text: str | None
    device_code: str | None  # the kiosk, when it came from one
    device_name: str | None
    office_name: str  # the kiosk's office, else the service's entity
    qr_location: str | None  # where the QR poster hangs, when it came through one
    recorded_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the ticket's story: an activity (the triggers' audit rows, and the desk's own
    for category and resolution notes) or a note."""

    at: datetime
    kind: Literal["activity", "note"]
    actor: str | None  # an email, 'system', or a database role
    actor_name: str | None  # the officer's display name, when the actor is an officer
    activity_type: str | None
    old_value: str | None
    new_value: str | None
    text: str | None  # notes only
    is_public: bool | None  # notes only


class Assignee(NamedTuple):
    email: str
    name: str


@dataclass(frozen=True)
class TicketView:
    ticket_id: int
    ticket_number: str
    title: str
    description: str | None
    status_code: str
    status_name: str
    priority_id: int
    priority_name: str
    category_id: int | None
    category_name: str | None
    service_id: str
    service_name: str
    entity_id: str
    entity_name: str
    assigned_to: str | None
    assignee_name: str | None
    created_at: datetime
    sla_start: datetime | None
    response_target: datetime | None
    resolution_target: datetime | None
    responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution_start: datetime | None  # set when reopened: the new resolution clock's start
    waiting_since: datetime | None  # in Waiting since then: the resolution clock is paused
    sla_calendar: str | None  # the SLA calendar its deadlines count in; None: 24 hours a day
    resolution_notes: str | None
    row_version: int
    next_deadline: datetime | None
    breached: bool  # still open and its running target has passed
    reopened: bool
    breaches: tuple[Breach, ...]
    feedback: CitizenFeedback | None
    timeline: tuple[TimelineEntry, ...]
    allowed_statuses: tuple[StatusChoice, ...]  # (code, name) the viewer may move it to
    assignees: tuple[Assignee, ...]  # only for viewers who assign others
    categories: tuple[CategoryChoice, ...]  # the service's chain (ARCHITECTURE 4.5)
    priorities: tuple[PriorityChoice, ...]


# Names come from scalar subqueries, not joins: joined, the eleven tables cost the planner ten
# times what reading them costs (services/desk_queue.py says the same of the queue).
_TICKET = within_officer_scope(
    """
SELECT t.ticket_id, t.ticket_number, t.title, t.description,
       (SELECT s.status_code FROM ticket_status s WHERE s.status_id = t.status_id) AS status_code,
       (SELECT s.status_name FROM ticket_status s WHERE s.status_id = t.status_id) AS status_name,
       t.priority_id,
       (SELECT p.priority_name FROM priority_levels p WHERE p.priority_id = t.priority_id) AS priority_name,
       t.category_id,
       (SELECT c.category_name FROM ticket_categories c WHERE c.category_id = t.category_id)
           AS category_name,
       t.service_id,
       (SELECT sv.service_name FROM service_master sv WHERE sv.service_id = t.service_id) AS service_name,
       t.entity_id,
       (SELECT e.entity_name FROM entity_master e WHERE e.unique_entity_id = t.entity_id) AS entity_name,
       t.assigned_to,
       (SELECT o.display_name FROM officers o WHERE lower(o.email) = lower(t.assigned_to))
           AS assignee_name,
       t.created_at, t.sla_start, t.response_target, t.resolution_target, t.responded_at,
       t.resolved_at, t.closed_at, t.resolution_start, t.waiting_since,
       (SELECT c.name FROM sla_calendars c WHERE c.calendar_id = t.sla_calendar_id) AS sla_calendar,
       t.resolution_notes, t.row_version,
       CASE WHEN t.responded_at IS NULL THEN t.response_target ELSE t.resolution_target END
           AS next_deadline,
       -- As in the queue: still being worked (not Resolved or Closed) and its running target
       -- passed (a waiting ticket's resolution target: before the wait began).
       t.status_id NOT IN (4, 5)
           AND CASE WHEN t.responded_at IS NULL THEN t.response_target ELSE t.resolution_target END
               < least(now(), CASE WHEN t.responded_at IS NULL THEN now()
                                   ELSE coalesce(t.waiting_since, now()) END) AS breached,
       f.feedback_id, f.reference_code, f.channel, f.rating, f.service_quality, f.staff_behavior,
       f.waiting_time, f.cleanliness, f.grievance_flag, f.feedback_text,
       (SELECT d.device_code FROM kiosk_devices d WHERE d.device_id = f.device_id) AS device_code,
       (SELECT d.name FROM kiosk_devices d WHERE d.device_id = f.device_id) AS device_name,
       -- The office: where the kiosk stands, else the service's entity.
       (SELECT e.entity_name FROM entity_master e
        WHERE e.unique_entity_id = coalesce(
            (SELECT d.entity_id FROM kiosk_devices d WHERE d.device_id = f.device_id), f.entity_id))
           AS office_name,
       (SELECT q.location FROM qr_codes q WHERE q.qr_code_id = f.qr_code_id) AS qr_location,
       f.recorded_at, f.created_at AS received_at
FROM tickets t
LEFT JOIN service_feedback f ON f.feedback_id = t.feedback_id
WHERE t.ticket_number = %(number)s AND t.entity_id IN (SELECT entity_id FROM scope)
"""
)

# Activities (live and archived: rows older than a year move to the archive) and notes, oldest
# first; in one transaction several rows share a time, so each kind keeps its own order.
_TIMELINE = """
SELECT x.at, x.kind, x.actor, o.display_name AS actor_name, x.activity_type, x.old_value,
       x.new_value, x.text, x.is_public
FROM (
    SELECT a.created_at AS at, 'activity' AS kind, a.changed_by AS actor, a.activity_type,
           a.old_value, a.new_value, NULL AS text, NULL::boolean AS is_public, 0 AS ord, a.activity_id AS id
    FROM ticket_activities a WHERE a.ticket_id = %(ticket)s
    UNION ALL
    SELECT a.created_at, 'activity', a.changed_by, a.activity_type, a.old_value, a.new_value,
           NULL, NULL, 0, a.activity_id
    FROM ticket_activities_archive a WHERE a.ticket_id = %(ticket)s
    UNION ALL
    SELECT n.created_at, 'note', n.created_by, NULL, NULL, NULL, n.note_text, n.is_public, 1, n.note_id
    FROM ticket_notes n WHERE n.ticket_id = %(ticket)s
) AS x
LEFT JOIN officers o ON lower(o.email) = lower(x.actor)
ORDER BY x.at NULLS FIRST, x.ord, x.id
"""

_BREACHES = """
SELECT breach_type, expected_time, actual_time, hours_overdue, escalated
FROM sla_breaches WHERE ticket_id = %(ticket)s
ORDER BY expected_time, breach_type
"""

# Whom the viewer may give a ticket of an entity to: active officers whose own scope covers the
# entity (theirs is the entity or one above it, or they are administrators) and who work in
# the viewer's own scope (the viewer's entity or under it). A supervisor of a department thus
# offers the department's officers, never the ministry's above it nor an administrator; an
# administrator's scope is everything, so they offer everyone who can see the ticket.
_ASSIGNEES = within_officer_scope(
    """,
up (entity_id) AS (
    SELECT %(entity)s::varchar
    UNION
    SELECT e.parent_entity_id FROM entity_master e JOIN up ON e.unique_entity_id = up.entity_id
    WHERE e.parent_entity_id IS NOT NULL
)
SELECT o.email, o.display_name
FROM officers o
WHERE o.active AND (o.role = 'admin' OR o.entity_id IN (SELECT entity_id FROM up))
  AND o.entity_id IN (SELECT entity_id FROM scope)
  AND (%(email)s::text IS NULL OR lower(o.email) = lower(%(email)s::text))
ORDER BY o.display_name, o.email
"""
)

_CHAIN = """
SELECT c.category_id, c.category_name, e.entity_name
FROM service_category_chain(%(service)s) AS chain
JOIN ticket_categories c ON c.category_id = chain.category_id
JOIN entity_master e ON e.unique_entity_id = c.entity_id
ORDER BY chain.depth, c.category_id
"""

_STATUSES = (
    "SELECT status_code, status_name, status_id FROM ticket_status "
    "ORDER BY status_order NULLS LAST, status_id"
)
_PRIORITIES = (
    "SELECT priority_id, priority_name FROM priority_levels "
    "ORDER BY priority_order NULLS LAST, priority_id"
)


async def ticket(conn: AsyncConnection[Any], viewer: Officer, ticket_number: str) -> TicketView | None:
    """The ticket as the viewer may see it, or None: unknown, outside their scope, or not a
    ticket number at all."""
    if not TICKET_NUMBER.fullmatch(ticket_number):
        return None
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_TICKET, {SCOPE_OFFICER: viewer.officer_id, "number": ticket_number})
    row = await cur.fetchone()
    if row is None:
        return None
    ids = {"ticket": row["ticket_id"]}
    await cur.execute(_TIMELINE, ids)
    timeline = tuple(TimelineEntry(**entry) for entry in await cur.fetchall())
    await cur.execute(_BREACHES, ids)
    breaches = tuple(Breach(**breach) for breach in await cur.fetchall())
    statuses = await _statuses(conn)
    assignees: tuple[Assignee, ...] = ()
    if viewer.can_assign_others:
        assignees = await _assignees(conn, viewer, row["entity_id"])
    await cur.execute(_CHAIN, {"service": row["service_id"]})
    chain = await cur.fetchall()
    priorities = await (await conn.execute(_PRIORITIES)).fetchall()

    feedback = None
    if row["feedback_id"] is not None:
        feedback = CitizenFeedback(
            **{name: row[name] for name in _FEEDBACK_COLUMNS}, created_at=row["received_at"]
        )
    names = [category["category_name"] for category in chain]
    return TicketView(
        **{name: row[name] for name in _TICKET_COLUMNS},
        reopened=row["status_code"] == "reopened",
        breaches=breaches,
        feedback=feedback,
        timeline=timeline,
        allowed_statuses=tuple(
            StatusChoice(code, name)
            for code, name in statuses
            if code in allowed_moves(row["status_code"], [code for code, _ in statuses])
        ),
        assignees=assignees,
        categories=tuple(
            CategoryChoice(
                c["category_id"],
                f"{c['category_name']} ({c['entity_name']})"
                if names.count(c["category_name"]) > 1
                else c["category_name"],
            )
            for c in chain
        ),
        priorities=tuple(PriorityChoice(pid, name) for pid, name in priorities),
    )


_TICKET_COLUMNS = (
    "ticket_id", "ticket_number", "title", "description", "status_code", "status_name", "priority_id",
    "priority_name", "category_id", "category_name", "service_id", "service_name", "entity_id",
    "entity_name", "assigned_to", "assignee_name", "created_at", "sla_start", "response_target",
    "resolution_target", "responded_at", "resolved_at", "closed_at", "resolution_start",
    "waiting_since", "sla_calendar", "resolution_notes", "row_version", "next_deadline", "breached",
)  # fmt: skip
_FEEDBACK_COLUMNS = (
    "feedback_id", "reference_code", "channel", "rating", "service_quality", "staff_behavior",
    "waiting_time", "cleanliness", "grievance_flag", "feedback_text", "device_code", "device_name",
    "office_name", "qr_location", "recorded_at",
)  # fmt: skip


def allowed_moves(current: str, codes: Sequence[str]) -> frozenset[str]:
    """The status codes a ticket in `current` may move to, of the statuses that exist (`codes`)."""
    added = frozenset(code for code in codes if code not in WORKFLOW)
    if current in WORKFLOW:
        moves = WORKFLOW[current] | (added if current in WORKED else frozenset())
    else:
        moves = frozenset(code for code in codes if code not in WORKFLOW_ONLY) | (
            WORKFLOW["in_progress"] & WORKFLOW_ONLY
        )
    return frozenset(code for code in moves if code in codes and code != current)


async def _statuses(conn: AsyncConnection[Any]) -> list[tuple[str, str]]:
    return [(code, name) for code, name, _ in await (await conn.execute(_STATUSES)).fetchall()]


async def _assignees(
    conn: AsyncConnection[Any], viewer: Officer, entity_id: str, email: str | None = None
) -> tuple[Assignee, ...]:
    cursor = await conn.execute(
        _ASSIGNEES, {SCOPE_OFFICER: viewer.officer_id, "entity": entity_id, "email": email}
    )
    return tuple(Assignee(email, name) for email, name in await cursor.fetchall())


# -- Changes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Current:
    """The ticket as locked at the start of a change."""

    ticket_id: int
    row_version: int
    status_code: str
    status_name: str
    entity_id: str
    service_id: str
    assigned_to: str | None
    priority_id: int
    category_id: int | None
    category_name: str | None
    resolution_notes: str | None


# The lock reads the ticket alone. Joined to ticket_status (or anything else), a ticket whose
# status another transaction changed while this one waited for the lock would vanish: once the
# lock is granted PostgreSQL checks the newest version of the row against the old joined rows,
# finds the old status row no longer matches, and drops the ticket ("not found" instead of
# "changed meanwhile"). The scope is an array computed once, so that check only compares the
# ticket's entity with it. Names are read afterwards, with the row locked.
_LOCK = within_officer_scope(
    """
SELECT t.ticket_id, t.row_version
FROM tickets t
WHERE t.ticket_number = %(number)s AND t.entity_id = ANY (ARRAY(SELECT entity_id FROM scope))
FOR UPDATE
"""
)

_LOCKED = """
SELECT t.ticket_id, t.row_version,
       (SELECT s.status_code FROM ticket_status s WHERE s.status_id = t.status_id) AS status_code,
       (SELECT s.status_name FROM ticket_status s WHERE s.status_id = t.status_id) AS status_name,
       t.entity_id, t.service_id, t.assigned_to, t.priority_id, t.category_id,
       (SELECT c.category_name FROM ticket_categories c WHERE c.category_id = t.category_id)
           AS category_name,
       t.resolution_notes
FROM tickets t
WHERE t.ticket_id = %(ticket)s
"""

_UPDATE = """
UPDATE tickets t SET {assignments}
WHERE t.ticket_number = %(number)s AND t.entity_id IN (SELECT entity_id FROM scope)
  AND t.row_version = %(version)s
RETURNING t.row_version
"""

_ACTIVITY = """
INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by)
VALUES (%s, %s, %s, %s, current_actor())
"""


@dataclass(frozen=True)
class _Change:
    """What a change writes: tickets columns, and activities the triggers do not record
    (they log status, priority and assignment; the desk logs category and resolution notes)."""

    columns: Mapping[str, object]
    activities: tuple[tuple[str, str | None, str | None], ...] = ()


_Decide = Callable[[_Current], Awaitable[_Change | None]]


async def _apply(
    conn: AsyncConnection[Any], viewer: Officer, number: str, expected_version: int, decide: _Decide
) -> int:
    """Runs one change in one transaction; returns the ticket's new row_version (the same one
    when the change changes nothing)."""
    if not TICKET_NUMBER.fullmatch(number):
        raise TicketNotFound
    scope = {SCOPE_OFFICER: viewer.officer_id, "number": number}
    async with conn.transaction():
        await conn.execute("SELECT set_config('gea.actor', %s, true)", (viewer.email,))
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_LOCK, scope)
        locked = await cur.fetchone()
        if locked is None:
            raise TicketNotFound
        if locked["row_version"] != expected_version:
            raise StaleTicket
        await cur.execute(_LOCKED, {"ticket": locked["ticket_id"]})
        row = await cur.fetchone()
        if row is None:  # cannot happen under the lock
            raise TicketNotFound
        current = _Current(**row)
        change = await decide(current)
        if change is None or not change.columns:
            return current.row_version
        statement = sql.SQL(within_officer_scope(_UPDATE)).format(
            assignments=sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(f"set_{column}"))
                for column in change.columns
            )
        )
        values = {f"set_{column}": value for column, value in change.columns.items()}
        updated = await (
            await conn.execute(statement, {**scope, **values, "version": expected_version})
        ).fetchone()
        if updated is None:  # cannot happen under the lock; refused rather than assumed
            raise StaleTicket
        for activity_type, old, new in change.activities:
            await conn.execute(_ACTIVITY, (current.ticket_id, activity_type, old, new))
        version: int = updated[0]
        return version


def _same_email(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


async def assign(
    conn: AsyncConnection[Any], viewer: Officer, number: str, expected_version: int, to_email: str | None
) -> int:
    """Assigns the ticket to `to_email`, or unassigns it (None). Officers take an unassigned
    ticket themselves or give up their own; supervisors and administrators assign anyone active
    whose scope covers the ticket and who works in their own scope (a supervisor, in their
    entity or under it; an administrator, anywhere), and unassign anyone. The address stored is
    the officer's own spelling of it."""
    wanted = _printable(to_email or "", "the email address").strip() or None

    async def decide(current: _Current) -> _Change | None:
        held = current.assigned_to
        if wanted is None:
            if held is None:
                return None
            if not viewer.can_assign_others and not _same_email(held, viewer.email):
                raise ChangeRefused(f"This ticket is assigned to {held}. Only a supervisor can unassign it.")
            return _Change({"assigned_to": None})
        if not viewer.can_assign_others:
            if not _same_email(wanted, viewer.email):
                raise ChangeRefused(
                    "You can take a ticket yourself; only a supervisor can assign it to someone else."
                )
            if held is not None and not _same_email(held, viewer.email):
                raise ChangeRefused(f"This ticket is assigned to {held}. Only a supervisor can reassign it.")
        found = await _assignees(conn, viewer, current.entity_id, wanted)
        if not found:
            raise ChangeRefused(f"{wanted[:100]} is not an active officer who can see this ticket.")
        email = found[0].email
        if len(email) > STORED_EMAIL_MAX:
            raise ChangeRefused(f"{email} is too long an address to store on a ticket.")
        if held == email:
            return None
        return _Change({"assigned_to": email})

    return await _apply(conn, viewer, number, expected_version, decide)


async def change_status(
    conn: AsyncConnection[Any],
    viewer: Officer,
    number: str,
    expected_version: int,
    to_code: str,
    resolution_notes: str | None = None,
) -> int:
    """Moves the ticket along the workflow (module docstring). Resolution notes, when given (not
    blank), are saved with the move; blank or None leaves them as they are. The triggers stamp
    responded_at, resolved_at and closed_at, and a ticket leaving Resolved or Closed gets a new
    resolution target from now (migration 0004)."""
    notes = _resolution_text(resolution_notes or "")
    to_code = _printable(to_code, "the status")

    async def decide(current: _Current) -> _Change | None:
        found = await (await conn.execute(_STATUSES)).fetchall()
        ids = {code: status_id for code, _, status_id in found}
        names = {code: name for code, name, _ in found}
        if to_code not in ids:
            raise ChangeRefused(f"There is no status “{to_code[:30]}”.")
        if to_code == current.status_code:
            raise ChangeRefused(f"The ticket is already {current.status_name}.")
        if to_code not in allowed_moves(current.status_code, list(ids)):
            raise ChangeRefused(
                f"A ticket that is {current.status_name} cannot be moved to {names[to_code]}."
            )
        columns: dict[str, object] = {"status_id": ids[to_code]}
        activities = []
        if notes is not None and notes != current.resolution_notes:
            columns["resolution_notes"] = notes
            activities.append(("resolution_notes_change", current.resolution_notes, notes))
        return _Change(columns, tuple(activities))

    return await _apply(conn, viewer, number, expected_version, decide)


async def change_priority(
    conn: AsyncConnection[Any], viewer: Officer, number: str, expected_version: int, priority_id: int
) -> int:
    """Sets the priority; the trigger computes both targets again for it (the resolution target
    from the reopening, for a reopened ticket)."""

    async def decide(current: _Current) -> _Change | None:
        exists = await (
            await conn.execute("SELECT 1 FROM priority_levels WHERE priority_id = %s", (priority_id,))
        ).fetchone()
        if exists is None:
            raise ChangeRefused("There is no such priority.")
        if priority_id == current.priority_id:
            return None
        return _Change({"priority_id": priority_id})

    return await _apply(conn, viewer, number, expected_version, _bounded(priority_id, decide))


async def change_category(
    conn: AsyncConnection[Any], viewer: Officer, number: str, expected_version: int, category_id: int
) -> int:
    """Sets the category, which must be one the ticket's service may use (its entity's, an
    ancestor's, or General: ARCHITECTURE 4.5); the trigger computes the targets again."""

    async def decide(current: _Current) -> _Change | None:
        chain = await (await conn.execute(_CHAIN, {"service": current.service_id})).fetchall()
        name = next((name for cid, name, _ in chain if cid == category_id), None)
        if name is None:
            raise ChangeRefused("That category is not one this ticket's service can use.")
        if category_id == current.category_id:
            return None
        return _Change({"category_id": category_id}, (("category_change", current.category_name, name),))

    return await _apply(conn, viewer, number, expected_version, _bounded(category_id, decide))


async def set_resolution_notes(
    conn: AsyncConnection[Any], viewer: Officer, number: str, expected_version: int, text: str
) -> int:
    """Replaces the resolution notes (blank clears them)."""
    notes = _resolution_text(text)

    async def decide(current: _Current) -> _Change | None:
        if notes == current.resolution_notes:
            return None
        return _Change(
            {"resolution_notes": notes}, (("resolution_notes_change", current.resolution_notes, notes),)
        )

    return await _apply(conn, viewer, number, expected_version, decide)


_NOTE = within_officer_scope(
    """
INSERT INTO ticket_notes (ticket_id, note_text, created_by, is_public)
SELECT t.ticket_id, %(text)s, left(%(by)s, 100), %(public)s
FROM tickets t
WHERE t.ticket_number = %(number)s AND t.entity_id IN (SELECT entity_id FROM scope)
RETURNING note_id
"""
)


async def add_note(
    conn: AsyncConnection[Any],
    viewer: Officer,
    number: str,
    expected_version: int | None,
    text: str,
    is_public: bool,
) -> int:
    """Adds a note, internal or a public reply the citizen sees on their status page, and returns
    its note_id. A note changes no field of the ticket, so it needs no version: two officers
    writing notes at once both get theirs. `expected_version` is accepted and not checked."""
    del expected_version
    body = _printable(text, "the note").strip()
    if not body:
        raise ChangeRefused("Write something in the note first.")
    if len(body) > NOTE_MAX_CHARS:
        raise ChangeRefused(
            f"A note holds at most {NOTE_MAX_CHARS:,} characters; this one has {len(body):,}."
        )
    if not TICKET_NUMBER.fullmatch(number):
        raise TicketNotFound
    async with conn.transaction():
        await conn.execute("SELECT set_config('gea.actor', %s, true)", (viewer.email,))
        cursor = await conn.execute(
            _NOTE,
            {
                SCOPE_OFFICER: viewer.officer_id,
                "number": number,
                "text": body,
                "by": viewer.email,
                "public": is_public,
            },
        )
        row = await cursor.fetchone()
        if row is None:
            raise TicketNotFound
        note_id: int = row[0]
        return note_id


def _resolution_text(text: str) -> str | None:
    """The resolution notes to store: trimmed, None when blank."""
    body = _printable(text, "the resolution notes").strip()
    if not body:
        return None
    if len(body) > RESOLUTION_NOTES_MAX_CHARS:
        raise ChangeRefused(
            f"Resolution notes hold at most {RESOLUTION_NOTES_MAX_CHARS:,} characters; "
            f"these have {len(body):,}."
        )
    return body


def _printable(text: str, where: str) -> str:
    """`text`, after refusing the control characters a form field has no business sending
    (checked before any SQL: PostgreSQL refuses NUL in text with an error of its own)."""
    if _CONTROL.search(text):
        raise ChangeRefused(
            f"There is a control character (such as NUL) in {where}, which cannot be saved. "
            "Remove it and try again."
        )
    return text


def _bounded(value: int, decide: _Decide) -> _Decide:
    """`decide`, after refusing an id the database's INT column cannot hold."""

    async def checked(current: _Current) -> _Change | None:
        if not 0 < value < 2**31:
            raise ChangeRefused("There is no such choice.")
        return await decide(current)

    return checked
