"""The desk's queue: the open tickets of an officer's scope, most urgent first, filtered by what
the URL says, a page at a time, and the same list as CSV (ARCHITECTURE 4.13, issue 13).

Order. A ticket's deadline is its response target while nobody has responded, then its
resolution target (no target at all sorts last). Tickets fall in three groups, shown in this
order, each by deadline and then ticket_id:

  0. breached: still open (any status but Resolved or Closed) and its deadline has passed,
     oldest deadline first (a Waiting ticket's resolution deadline counts as passed only if it
     passed before the wait began: the wait pauses it);
  1. reopened, not breached;
  2. everything else (Resolved and Closed tickets, when a filter asks for them, are here: their
     clocks have stopped, so they are never "breached" in the queue).

"Passed" is judged at one instant, `as_of`: now() for the first page, carried by the cursor
to the next ones, so a ticket whose deadline passes while an officer pages does not move from
group 2 to group 0 and get shown twice or skipped.

Speed. Each group is one ordered, LIMITed scan of a partial index on (deadline, ticket_id)
(migration 0004, "Desk indexes": ix_tickets_desk_open for the statuses that are not Resolved
or Closed, ix_tickets_desk_done for those two), and the page is the first rows of their union:
a page costs about the same at a year of data as on day one. Paging is keyset (the cursor is
the last row's group, deadline and ticket_id), never OFFSET.

Scope. Every statement is put through `within_officer_scope`, so a ticket outside the viewer's
entity and the entities under it is simply not there; a disabled officer has no scope.

Resolved, Closed and Reopened are ids 4, 5 and 6 here, as in the triggers that set the SLA
times (02_functions.sql, 0004): migration 0003 pinned those ids to the codes resolved, closed
and reopened, and the partial indexes need the ids as constants.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NamedTuple

from psycopg import AsyncConnection

from server_sync_api.domain import Officer
from server_sync_api.services.scope import SCOPE_OFFICER, within_officer_scope

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Rows per statement while exporting: pages of the same keyset query, so an export of every
# ticket never holds more than this many rows in memory.
EXPORT_BATCH = 1000
# How many values a repeatable filter (status, priority) may carry.
MAX_REPEATED = 20

RESOLVED_ID, CLOSED_ID, REOPENED_ID = 4, 5, 6
DONE_CODES = frozenset({"resolved", "closed"})
REOPENED_CODE = "reopened"

Assigned = Literal["me", "unassigned"]

# The sort key, exactly as the partial indexes in 0004's "Desk indexes" spell it (the planner
# matches the expression, so change both together).
DEADLINE = (
    "coalesce(CASE WHEN t.responded_at IS NULL THEN t.response_target ELSE t.resolution_target END, "
    "'infinity'::timestamptz)"
)
_OPEN = f"t.status_id NOT IN ({RESOLVED_ID}, {CLOSED_ID})"
_DONE = f"t.status_id IN ({RESOLVED_ID}, {CLOSED_ID})"
_AS_OF = "coalesce(%(as_of)s::timestamptz, now())"
# A ticket in Waiting has its resolution clock paused (migration 0005): its deadline passing
# during the wait is no breach, as the SLA scan and v_active_tickets_sla have it.
_PAUSED = (
    "(t.waiting_since IS NOT NULL AND t.responded_at IS NOT NULL AND t.resolution_target >= t.waiting_since)"
)

_STATUS_CODE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
_SERVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"", "0", "false", "off", "no"})
_MAX_ID = 2**31 - 1
# No filter value reaches SQL unchecked (each is matched to a pattern, a number, a date or a
# word), so control characters are only a matter for the sentences that quote a value back.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


BAD_CURSOR_MESSAGE = "The page link is damaged or out of date. Start again from the first page."


class BadCursor(ValueError):
    """A paging cursor that was not made here (edited, cut short, from another version)."""

    def __init__(self, message: str = BAD_CURSOR_MESSAGE) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class QueueFilters:
    """What the officer asked to see. Empty `statuses` means every status but Resolved and Closed;
    dates are whole days in the server's time zone, both ends included."""

    statuses: tuple[str, ...] = ()
    priority_ids: tuple[int, ...] = ()
    category_id: int | None = None
    service_id: str | None = None
    assigned: Assigned | None = None
    breached: bool = False
    created_from: date | None = None
    created_to: date | None = None


@dataclass(frozen=True)
class QueueRow:
    ticket_number: str
    title: str
    status_code: str
    status_name: str
    priority_id: int
    priority_name: str
    category_name: str | None
    service_id: str
    service_name: str
    entity_name: str
    created_at: datetime
    response_target: datetime | None
    resolution_target: datetime | None
    responded_at: datetime | None
    assigned_to: str | None
    assignee_name: str | None
    breached: bool
    next_deadline: datetime | None
    reopened: bool


@dataclass(frozen=True)
class QueuePage:
    rows: tuple[QueueRow, ...]
    next_cursor: str | None
    # Not counted: a count of the whole filter costs more than the page itself.
    total: int | None = None


class StatusChoice(NamedTuple):
    code: str
    name: str


class PriorityChoice(NamedTuple):
    priority_id: int
    name: str


class CategoryChoice(NamedTuple):
    category_id: int
    name: str


class ServiceChoice(NamedTuple):
    service_id: str
    name: str


@dataclass(frozen=True)
class FilterChoices:
    """What the filter form offers: every status and priority, and the categories and services
    the viewer's tickets can have. Each item unpacks as (value, label)."""

    statuses: tuple[StatusChoice, ...] = ()
    priorities: tuple[PriorityChoice, ...] = ()
    categories: tuple[CategoryChoice, ...] = ()
    services: tuple[ServiceChoice, ...] = ()


# -- URL parameters ------------------------------------------------------------------------------


def parse_filters(params: Mapping[str, str | list[str]]) -> tuple[QueueFilters, list[str]]:
    """The filters in a URL's query parameters, and a sentence for each value that could not be
    used (that filter is then left out). Unknown parameters are ignored; an empty value means
    "not set", as an HTML form sends it. `after` (the paging cursor) is only checked here:
    pass it to `queue` yourself."""
    problems: list[str] = []

    statuses: list[str] = []
    for value in _values(params, "status"):
        if not _STATUS_CODE.fullmatch(value):
            problems.append(f"Unknown status “{_shown(value)}”.")
        elif value not in statuses:
            statuses.append(value)
    if len(statuses) > MAX_REPEATED:
        problems.append(f"Choose at most {MAX_REPEATED} statuses.")
        statuses = []

    priorities: list[int] = []
    for value in _values(params, "priority"):
        number = _positive_int(value)
        if number is None:
            problems.append(f"Unknown priority “{_shown(value)}”.")
        elif number not in priorities:
            priorities.append(number)
    if len(priorities) > MAX_REPEATED:
        problems.append(f"Choose at most {MAX_REPEATED} priorities.")
        priorities = []

    category_id = None
    if value := _single(params, "category"):
        category_id = _positive_int(value)
        if category_id is None:
            problems.append(f"Unknown category “{_shown(value)}”.")

    service_id = None
    if value := _single(params, "service"):
        if _SERVICE_ID.fullmatch(value):
            service_id = value
        else:
            problems.append(f"Unknown service “{_shown(value)}”.")

    assigned: Assigned | None = None
    if value := _single(params, "assigned"):
        if value == "me":
            assigned = "me"
        elif value == "unassigned":
            assigned = "unassigned"
        else:
            problems.append("“Assigned” must be “me” or “unassigned”.")

    breached = False
    value = _single(params, "breached").lower()
    if value in _TRUE:
        breached = True
    elif value not in _FALSE:
        problems.append("“Breached” must be 1 or left out.")

    created_from = _date(params, "from", "From", problems)
    created_to = _date(params, "to", "To", problems)
    if created_from and created_to and created_from > created_to:
        problems.append("The “from” date is after the “to” date.")
        created_from = created_to = None

    if after := _single(params, "after"):
        try:
            _decode_cursor(after)
        except BadCursor as exc:
            problems.append(exc.message)

    filters = QueueFilters(
        statuses=tuple(statuses),
        priority_ids=tuple(priorities),
        category_id=category_id,
        service_id=service_id,
        assigned=assigned,
        breached=breached,
        created_from=created_from,
        created_to=created_to,
    )
    return filters, problems


def to_query(filters: QueueFilters) -> list[tuple[str, str]]:
    """The query parameters that `parse_filters` reads back as `filters` (no cursor)."""
    query: list[tuple[str, str]] = [("status", code) for code in filters.statuses]
    query += [("priority", str(priority)) for priority in filters.priority_ids]
    if filters.category_id is not None:
        query.append(("category", str(filters.category_id)))
    if filters.service_id is not None:
        query.append(("service", filters.service_id))
    if filters.assigned is not None:
        query.append(("assigned", filters.assigned))
    if filters.breached:
        query.append(("breached", "1"))
    if filters.created_from is not None:
        query.append(("from", filters.created_from.isoformat()))
    if filters.created_to is not None:
        query.append(("to", filters.created_to.isoformat()))
    return query


def _values(params: Mapping[str, str | list[str]], name: str) -> list[str]:
    raw = params.get(name, [])
    values = [raw] if isinstance(raw, str) else list(raw)
    return [value.strip() for value in values if value.strip()]


def _single(params: Mapping[str, str | list[str]], name: str) -> str:
    values = _values(params, name)
    return values[0] if values else ""


def _positive_int(value: str) -> int | None:
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= _MAX_ID else None


def _date(params: Mapping[str, str | list[str]], name: str, label: str, problems: list[str]) -> date | None:
    value = _single(params, name)
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"“{label}” must be a date written as YYYY-MM-DD (“{_shown(value)}” is not).")
        return None


def _shown(value: str) -> str:
    """A value quoted back to the officer, cut short, control characters (NUL...) shown as �."""
    value = _CONTROL.sub("\ufffd", value)
    return value if len(value) <= 40 else value[:40] + "…"


# -- The cursor ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Position:
    """Where a page ended: the instant "breached" was judged at, and the last row's sort key."""

    as_of: datetime
    group: int
    deadline: datetime | None  # None: no target (sorts last)
    ticket_id: int


_CURSOR_VERSION = "1"


def _encode_cursor(position: _Position) -> str:
    body = "|".join(
        (
            _CURSOR_VERSION,
            position.as_of.isoformat(),
            str(position.group),
            position.deadline.isoformat() if position.deadline else "-",
            str(position.ticket_id),
        )
    )
    return base64.urlsafe_b64encode(f"{body}|{_check(body)}".encode()).decode().rstrip("=")


# The instants a cursor may carry. Its check digits are no secret, so anyone can make one that
# passes them; what it says is then held to what `queue` itself could have written: times of
# this era (PostgreSQL would turn year 1 at +14:00 into a BC timestamp that psycopg cannot
# read back), and an `as_of` that is not later than now, give or take a clock's drift.
CURSOR_YEARS = (2000, 9999)
CURSOR_CLOCK_SLACK = timedelta(days=1)


def _decode_cursor(cursor: str, *, now: datetime | None = None) -> _Position:
    """The position a cursor names; BadCursor if it was not made by `_encode_cursor`. The check
    digits catch a cursor that was cut or edited; they are no secret and need not be: a cursor
    only says where a page starts, inside the viewer's own scope. A cursor made by hand passes
    them, so its times are checked as well (CURSOR_YEARS, CURSOR_CLOCK_SLACK)."""
    if len(cursor) > 300 or not cursor.isascii():
        raise BadCursor
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        text = raw.decode("ascii")
        body, _, check = text.rpartition("|")
        if check != _check(body):
            raise BadCursor
        version, as_of, group, deadline, ticket_id = body.split("|")
        if version != _CURSOR_VERSION:
            raise BadCursor
        position = _Position(
            as_of=datetime.fromisoformat(as_of),
            group=int(group),
            deadline=None if deadline == "-" else datetime.fromisoformat(deadline),
            ticket_id=int(ticket_id),
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadCursor from None
    aware = all(d is None or d.tzinfo is not None for d in (position.as_of, position.deadline))
    if not aware or position.group not in (0, 1, 2) or not 0 < position.ticket_id <= _MAX_ID:
        raise BadCursor
    latest = (now or datetime.now(UTC)) + CURSOR_CLOCK_SLACK
    if not _of_this_era(position.as_of) or position.as_of > latest:
        raise BadCursor
    if position.deadline is not None and not _of_this_era(position.deadline):
        raise BadCursor
    return position


def _of_this_era(instant: datetime) -> bool:
    """Whether an aware instant, in UTC and in its own offset, falls within CURSOR_YEARS."""
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        return False
    first, last = CURSOR_YEARS
    return all(first <= year <= last for year in (instant.year, utc.year))


def _check(body: str) -> str:
    return hashlib.blake2s(body.encode(), digest_size=6).hexdigest()


# -- The query -----------------------------------------------------------------------------------

# The names come from scalar subqueries rather than joins: with six lookup tables joined to
# the page the planner's join search cost several times the query itself (planning 6 ms,
# executing 1 ms at a year of data); as subplans each is planned once and read by primary key.
_ROW = """
SELECT t.ticket_number, t.title,
       (SELECT s.status_code FROM ticket_status s WHERE s.status_id = t.status_id),
       (SELECT s.status_name FROM ticket_status s WHERE s.status_id = t.status_id),
       t.priority_id,
       (SELECT p.priority_name FROM priority_levels p WHERE p.priority_id = t.priority_id),
       (SELECT c.category_name FROM ticket_categories c WHERE c.category_id = t.category_id),
       t.service_id,
       (SELECT sv.service_name FROM service_master sv WHERE sv.service_id = t.service_id),
       (SELECT e.entity_name FROM entity_master e WHERE e.unique_entity_id = t.entity_id),
       t.created_at, t.response_target, t.resolution_target, t.responded_at, t.assigned_to,
       (SELECT o.display_name FROM officers o WHERE lower(o.email) = lower(t.assigned_to)),
       k.grp = 0, CASE WHEN t.responded_at IS NULL THEN t.response_target ELSE t.resolution_target END,
       t.status_id = {reopened},
       k.grp, t.ticket_id, {as_of}
FROM ({parts}) AS k
JOIN tickets t ON t.ticket_id = k.ticket_id
ORDER BY k.grp, k.deadline, k.ticket_id
LIMIT %(limit)s
"""

_NOTHING = "SELECT NULL::int AS ticket_id, NULL::int AS grp, NULL::timestamptz AS deadline WHERE false"

_PART = """
(SELECT t.ticket_id, {group} AS grp, {deadline} AS deadline
 FROM tickets t
 WHERE t.entity_id IN (SELECT entity_id FROM scope) AND {where}
 ORDER BY {deadline}, t.ticket_id
 LIMIT %(limit)s)"""


def _statement(
    viewer: Officer, filters: QueueFilters, position: _Position | None, limit: int
) -> tuple[str, dict[str, Any]]:
    """The one statement that reads a page (`limit` rows) and its parameters."""
    params: dict[str, Any] = {
        SCOPE_OFFICER: viewer.officer_id,
        "limit": limit,
        "as_of": position.as_of if position else None,
    }
    common: list[str] = []
    if filters.statuses:
        common.append(
            "t.status_id IN (SELECT status_id FROM ticket_status WHERE status_code = ANY(%(statuses)s))"
        )
        params["statuses"] = list(filters.statuses)
    if filters.priority_ids:
        common.append("t.priority_id = ANY(%(priorities)s)")
        params["priorities"] = list(filters.priority_ids)
    if filters.category_id is not None:
        common.append("t.category_id = %(category)s")
        params["category"] = filters.category_id
    if filters.service_id is not None:
        common.append("t.service_id = %(service)s")
        params["service"] = filters.service_id
    if filters.assigned == "me":
        common.append("t.assigned_to = %(me)s")
        params["me"] = viewer.email
    elif filters.assigned == "unassigned":
        common.append("t.assigned_to IS NULL")
    # The day's bounds in the server's zone, computed once (an InitPlan), not per row.
    if filters.created_from is not None:
        common.append("t.created_at >= (SELECT %(from)s::date::timestamp AT TIME ZONE app_timezone())")
        params["from"] = filters.created_from
    if filters.created_to is not None:
        common.append("t.created_at < (SELECT (%(to)s::date + 1)::timestamp AT TIME ZONE app_timezone())")
        params["to"] = filters.created_to

    # Which of the groups' scans can hold rows, from the status codes alone.
    open_statuses = not filters.statuses or any(code not in DONE_CODES for code in filters.statuses)
    done_statuses = any(code in DONE_CODES for code in filters.statuses)
    reopened = not filters.statuses or REOPENED_CODE in filters.statuses
    not_reopened = not filters.statuses or any(code != REOPENED_CODE for code in filters.statuses)
    scans: list[tuple[int, str]] = []
    if open_statuses:
        scans.append((0, f"{_OPEN} AND {DEADLINE} < {_AS_OF} AND NOT {_PAUSED}"))
    if not filters.breached:
        if open_statuses and reopened:
            scans.append((1, f"{_OPEN} AND t.status_id = {REOPENED_ID} AND {DEADLINE} >= {_AS_OF}"))
        if open_statuses and not_reopened:
            scans.append((2, f"{_OPEN} AND t.status_id <> {REOPENED_ID} AND {DEADLINE} >= {_AS_OF}"))
            # Waiting past its deadline, paused in time: with the rest, in deadline order.
            scans.append((2, f"{_OPEN} AND {DEADLINE} < {_AS_OF} AND {_PAUSED}"))
        if done_statuses:
            scans.append((2, _DONE))

    parts: list[str] = []
    for group, condition in scans:
        if position is not None and group < position.group:
            continue  # a group the earlier pages finished
        where = [condition, *common]
        if position is not None and group == position.group:
            where.append(
                f"({DEADLINE}, t.ticket_id) > "
                "(coalesce(%(c_deadline)s::timestamptz, 'infinity'::timestamptz), %(c_ticket)s)"
            )
            params["c_deadline"] = position.deadline
            params["c_ticket"] = position.ticket_id
        parts.append(_PART.format(group=group, deadline=DEADLINE, where=" AND ".join(where)))
    if not parts:
        # Nothing can match (a breached filter on Resolved tickets, the last page of a group...).
        parts.append(
            "SELECT NULL::int AS ticket_id, NULL::int AS grp, NULL::timestamptz AS deadline WHERE false"
        )
    statement = _ROW.format(reopened=REOPENED_ID, as_of=_AS_OF, parts="\nUNION ALL".join(parts))
    return within_officer_scope(statement), params


async def queue(
    conn: AsyncConnection[Any],
    viewer: Officer,
    filters: QueueFilters,
    *,
    after: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> QueuePage:
    """One page of the viewer's queue, most urgent first, starting after the cursor `after`
    (the `next_cursor` of the page before). Raises BadCursor for a cursor not made here."""
    position = _decode_cursor(after) if after else None
    limit = max(1, min(limit, MAX_LIMIT))
    statement, params = _statement(viewer, filters, position, limit + 1)
    cursor = await conn.execute(statement, params)
    records = await cursor.fetchall()
    rows = tuple(_row(record) for record in records[:limit])
    next_cursor = None
    if len(records) > limit:
        last = records[limit - 1]
        next_cursor = _encode_cursor(
            _Position(as_of=last[21], group=last[19], deadline=last[17], ticket_id=last[20])
        )
    return QueuePage(rows=rows, next_cursor=next_cursor)


def _row(record: Sequence[Any]) -> QueueRow:
    return QueueRow(*record[:19])


# -- CSV -----------------------------------------------------------------------------------------

EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Ticket number", "ticket_number"),
    ("Title", "title"),
    ("Status", "status_name"),
    ("Priority", "priority_name"),
    ("Category", "category_name"),
    ("Service", "service_name"),
    ("Office", "entity_name"),
    ("Created", "created_at"),
    ("Response target", "response_target"),
    ("Responded", "responded_at"),
    ("Resolution target", "resolution_target"),
    ("Next deadline", "next_deadline"),
    ("Breached", "breached"),
    ("Reopened", "reopened"),
    ("Assigned to", "assigned_to"),
    ("Assignee", "assignee_name"),
)
# Characters that make a spreadsheet read a cell as a formula (or hide one behind a tab or a
# carriage return). The text comes from citizens, so such a cell gets a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def export_csv(
    conn: AsyncConnection[Any], viewer: Officer, filters: QueueFilters
) -> AsyncIterator[str]:
    """The whole queue for `filters`, in the queue's order, as CSV text in chunks (the header
    first). Timestamps are ISO 8601 with their offset; yes/no for the flags."""
    yield _csv_lines([[header for header, _ in EXPORT_COLUMNS]])
    after: str | None = None
    while True:
        page = await queue(conn, viewer, filters, after=after, limit=EXPORT_BATCH)
        if page.rows:
            yield _csv_lines([[_cell(getattr(row, name)) for _, name in EXPORT_COLUMNS] for row in page.rows])
        if page.next_cursor is None:
            return
        after = page.next_cursor


def _csv_lines(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return neutralise(str(value))


def neutralise(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading quote before anything it would evaluate."""
    return "'" + text if text.startswith(_FORMULA_START) else text


# -- The filter form -----------------------------------------------------------------------------

_CATEGORIES = within_officer_scope(
    """
SELECT DISTINCT c.category_id, c.category_name, e.entity_name
FROM service_master s
CROSS JOIN LATERAL service_category_chain(s.service_id) AS chain
JOIN ticket_categories c ON c.category_id = chain.category_id
JOIN entity_master e ON e.unique_entity_id = c.entity_id
WHERE s.entity_id IN (SELECT entity_id FROM scope)
ORDER BY c.category_name, e.entity_name, c.category_id
"""
)

_SERVICES = within_officer_scope(
    """
SELECT s.service_id, s.service_name FROM service_master s
WHERE s.entity_id IN (SELECT entity_id FROM scope)
ORDER BY s.service_name, s.service_id
"""
)


async def filter_choices(conn: AsyncConnection[Any], viewer: Officer) -> FilterChoices:
    """Every status and priority; the categories any service in the viewer's scope may use (its
    chain up to General, ARCHITECTURE 4.5) and the services of that scope. A category name that
    two entities share is told apart by the entity's name."""
    scope = {SCOPE_OFFICER: viewer.officer_id}
    statuses = await conn.execute(
        "SELECT status_code, status_name FROM ticket_status ORDER BY status_order NULLS LAST, status_id"
    )
    priorities = await conn.execute(
        "SELECT priority_id, priority_name FROM priority_levels "
        "ORDER BY priority_order NULLS LAST, priority_id"
    )
    status_rows = await statuses.fetchall()
    priority_rows = await priorities.fetchall()
    categories = await (await conn.execute(_CATEGORIES, scope)).fetchall()
    services = await (await conn.execute(_SERVICES, scope)).fetchall()
    names = [name for _, name, _ in categories]
    return FilterChoices(
        statuses=tuple(StatusChoice(code, name) for code, name in status_rows),
        priorities=tuple(PriorityChoice(pid, name) for pid, name in priority_rows),
        categories=tuple(
            CategoryChoice(cid, f"{name} ({entity})" if names.count(name) > 1 else name)
            for cid, name, entity in categories
        ),
        services=tuple(ServiceChoice(sid, name) for sid, name in services),
    )
