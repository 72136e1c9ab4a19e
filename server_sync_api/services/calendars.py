"""SLA calendars (ARCHITECTURE 4.14): every statement `gea-server calendars` runs.

Each function takes a psycopg connection and works inside the caller's transaction; nothing
here commits, so a refusal half-way (a calendar left with no working day, say) is rolled back
whole by the caller.

A change to a calendar's hours or days off first locks the calendar's row, so two people
changing one calendar take turns, and ends by asking the database to move the deadlines of the
open tickets counted in that calendar (`sla_recompute_open_targets`) in the same transaction:
the deadlines never disagree with the calendar, even for a moment. Assigning a calendar to an
entity moves no deadline: a ticket keeps the calendar it was made with (tickets.sla_calendar_id).

Exceptions, each with a message for the person who can fix the input::

    CalendarError
    ├── UnknownCalendar   no calendar by that name
    ├── CalendarExists    a calendar by that name, in any case, exists
    ├── UnknownEntity     no such entity
    ├── NoWorkingDay      the change would leave a calendar with no working hours at all
    └── TooFewHours       ... or with fewer than MIN_WEEKLY_MINUTES a week (deadlines years away)

A public holiday and a closure never share a date (one sla_holidays row a date): close-day
leaves a holiday's date as it is, and load-holidays turns a closure on a holiday's date into the
holiday, so that undoing the closure can never take the holiday with it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import psycopg
import psycopg.errors

from server_sync_api.services.public_holidays import PublicHoliday
from server_sync_api.services.working_hours import MIN_WEEKLY_MINUTES, Span, clock, duration, weekly_minutes

Conn = psycopg.Connection[Any]

NAME_LIMIT = 100  # sla_calendars.name
NAME_INDEX = "uq_sla_calendars_name"  # unique on lower(name)
ID_KEY = "pk_sla_calendars"
REASON_LIMIT = 200  # sla_holidays.name
HOLIDAY: Literal["holiday"] = "holiday"
CLOSURE: Literal["closure"] = "closure"


class CalendarError(Exception):
    """A request the person can fix; the message says how."""


class UnknownCalendar(CalendarError):
    pass


class CalendarExists(CalendarError):
    pass


class UnknownEntity(CalendarError):
    pass


class NoWorkingDay(CalendarError):
    pass


class TooFewHours(CalendarError):
    pass


@dataclass(frozen=True)
class Calendar:
    calendar_id: int
    name: str
    timezone: str


@dataclass(frozen=True)
class Entity:
    entity_id: str
    name: str


@dataclass(frozen=True)
class DayOff:
    day: date
    name: str
    kind: Literal["holiday", "closure"]


@dataclass(frozen=True)
class HoursChange:
    calendar: Calendar
    week: dict[int, Span]
    changed: bool
    moved: int  # open tickets whose deadlines moved


@dataclass(frozen=True)
class Assignment:
    entity: Entity
    own: Calendar | None  # the entity's own calendar now; None: it inherits
    previous: Calendar | None  # its own calendar before
    in_force: Calendar | None  # what its new tickets count in; None: 24x7
    inherited_from: Entity | None  # the ancestor `in_force` comes from, when not its own
    inheriting: tuple[Entity, ...]  # entities below it whose new tickets use what it uses


# What close-day and its undo did on one calendar.
DayOffOutcome = Literal[
    "closed",  # the closure was added
    "renamed",  # a closure was there already; its reason is the new one
    "already",  # the same closure was there already
    "holiday",  # the day is a public holiday there already; left as it is
    "reopened",  # --undo: the closure was removed
    "none",  # --undo: there was no closure to remove
]


@dataclass(frozen=True)
class DayOffChange:
    calendar: Calendar
    outcome: DayOffOutcome
    existing: DayOff | None  # what was on that date before
    moved: int


@dataclass(frozen=True)
class Replacement:
    """A closure on a public holiday's date that load-holidays made the holiday."""

    closure: DayOff
    holiday: DayOff


@dataclass(frozen=True)
class HolidayLoad:
    calendar: Calendar
    created: bool  # the calendar did not exist and was made
    year: int
    added: tuple[DayOff, ...]
    renamed: tuple[DayOff, ...]
    removed: tuple[DayOff, ...]
    unchanged: int
    # Closures on a date that is also a public holiday, now that holiday: the day stays off,
    # and close-day --undo leaves it (module docstring). No deadline moves.
    replaced: tuple[Replacement, ...]
    moved: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.renamed or self.removed or self.replaced)


@dataclass(frozen=True)
class CalendarSummary:
    calendar: Calendar
    week: dict[int, Span]
    first_year: int  # days_off covers this year and the next, in the calendar's zone
    days_off: tuple[DayOff, ...]
    entities: tuple[Entity, ...]  # set on the entity itself
    inheriting: tuple[Entity, ...]  # no calendar of their own; an ancestor's is this one


@dataclass(frozen=True)
class Listing:
    calendars: tuple[CalendarSummary, ...]
    without_calendar: tuple[Entity, ...]  # neither they nor an ancestor have one: 24x7


# --- checks on what people type -------------------------------------------------------------


def _text(value: str, what: str, limit: int, example: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise CalendarError(f"{what} must not be empty, e.g. {example}")
    if len(text) > limit:
        raise CalendarError(f"{what} is {len(text)} characters; at most {limit}")
    if any(not ch.isprintable() for ch in text):
        raise CalendarError(f"{what} has control characters; type it as plain text")
    return text


def check_name(name: str) -> str:
    return _text(name, "a calendar's name", NAME_LIMIT, "'Grenada' or 'Health, 24h desk'")


def check_reason(reason: str) -> str:
    return _text(reason, "--reason", REASON_LIMIT, "'Hurricane Beryl: offices closed'")


def canonical_timezone(conn: Conn, name: str) -> str:
    """The zone as PostgreSQL spells it (it does the arithmetic): 'america/grenada' -> 'America/Grenada'."""
    row = conn.execute(
        "SELECT name FROM pg_timezone_names WHERE lower(name) = lower(%s) ORDER BY name = %s DESC LIMIT 1",
        (name.strip(), name.strip()),
    ).fetchone()
    if row is None:
        raise CalendarError(
            f"unknown time zone {name!r}: use an IANA name such as America/Grenada or UTC "
            "(list them with: psql -c 'SELECT name FROM pg_timezone_names')"
        )
    return str(row[0])


# --- calendars ------------------------------------------------------------------------------


def find_calendar(conn: Conn, name: str, *, lock: bool = False) -> Calendar:
    """By name, in any case. `lock`: hold the row until the transaction ends (module docstring)."""
    row = conn.execute(
        "SELECT calendar_id, name, timezone FROM sla_calendars WHERE lower(name) = lower(%s)"
        + (" FOR UPDATE" if lock else ""),
        (" ".join(name.split()),),
    ).fetchone()
    if row is None:
        names = [r[0] for r in conn.execute("SELECT name FROM sla_calendars ORDER BY lower(name)")]
        known = (
            "the calendars are " + ", ".join(shlex.quote(n) for n in names)
            if names
            else "there are none yet; add one with gea-server calendars add NAME"
        )
        raise UnknownCalendar(f"No calendar {name!r}: {known}.")
    return Calendar(row[0], row[1], row[2])


def _all_calendars(conn: Conn, *, lock: bool) -> list[Calendar]:
    # Locked in id order, as every other locker of several calendars would, so two never deadlock.
    rows = conn.execute(
        "SELECT calendar_id, name, timezone FROM sla_calendars ORDER BY calendar_id"
        + (" FOR UPDATE" if lock else "")
    )
    return [Calendar(r[0], r[1], r[2]) for r in rows]


def add_calendar(conn: Conn, name: str, timezone: str, week: Mapping[int, Span]) -> Calendar:
    name = check_name(name)
    zone = canonical_timezone(conn, timezone)
    if not week:
        raise NoWorkingDay(f"calendar {name!r} needs at least one working day")
    if weekly_minutes(week) < MIN_WEEKLY_MINUTES:
        raise TooFewHours(f"calendar {name!r} would work {_too_little(week)}")
    if conn.execute("SELECT 1 FROM sla_calendars WHERE lower(name) = lower(%s)", (name,)).fetchone():
        raise CalendarExists(_exists(name))
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO sla_calendars (name, timezone) VALUES (%s, %s) RETURNING calendar_id",
                (name, zone),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise _unique_violation(exc, name) from None
    except psycopg.errors.CheckViolation as exc:
        if exc.diag.constraint_name == "ck_sla_calendars_timezone":
            raise CalendarError(f"the database does not know the time zone {zone!r}") from None
        raise
    assert row is not None
    calendar = Calendar(row[0], name, zone)
    _write_hours(conn, calendar.calendar_id, week)
    return calendar


def _exists(name: str) -> str:
    return (
        f"a calendar named {name!r} exists already; change its hours with "
        f"gea-server calendars set-hours {shlex.quote(name)} ..."
    )


def _unique_violation(exc: psycopg.errors.UniqueViolation, name: str) -> CalendarError:
    """What a unique violation on adding calendar `name` means, by the constraint it broke."""
    constraint = exc.diag.constraint_name
    if constraint == NAME_INDEX:  # added by someone else since the check before the insert
        return CalendarExists(_exists(name))
    if constraint == ID_KEY:
        # Calendars inserted with their ids (a restore, a copy by hand) and the sequence not moved.
        return CalendarError(
            f"calendar {name!r} was not added: the next calendar id is taken already, as after "
            "calendars were restored or copied in with their ids. Move the id sequence past them "
            "with: psql -c \"SELECT setval(pg_get_serial_sequence('sla_calendars', 'calendar_id'), "
            '(SELECT max(calendar_id) FROM sla_calendars))" and run the command again'
        )
    first = (exc.diag.message_primary or str(exc)).strip()
    return CalendarError(f"calendar {name!r} was not added: the database refused it ({first})")


def _too_little(week: Mapping[int, Span]) -> str:
    return (
        f"only {duration(weekly_minutes(week))} a week; give it at least "
        f"{duration(MIN_WEEKLY_MINUTES)} a week, e.g. 'mon-fri 08:00-16:00': with less, a deadline "
        "a few working days away falls months or years ahead"
    )


def _write_hours(conn: Conn, calendar_id: int, changes: Mapping[int, Span | None]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "DELETE FROM sla_calendar_hours WHERE calendar_id = %s AND weekday = %s",
            [(calendar_id, day) for day, span in changes.items() if span is None],
        )
        # TIME takes '24:00' for a day worked to midnight.
        cur.executemany(
            "INSERT INTO sla_calendar_hours (calendar_id, weekday, opens, closes) "
            "VALUES (%s, %s, %s::time, %s::time) ON CONFLICT (calendar_id, weekday) "
            "DO UPDATE SET opens = EXCLUDED.opens, closes = EXCLUDED.closes",
            [
                (calendar_id, day, clock(span.opens), clock(span.closes))
                for day, span in changes.items()
                if span is not None
            ],
        )


def _weeks(conn: Conn, calendar_id: int | None = None) -> dict[int, dict[int, Span]]:
    """calendar_id -> weekday -> span; every calendar's, or one's."""
    weeks: dict[int, dict[int, Span]] = {}
    rows = conn.execute(
        "SELECT calendar_id, weekday, (extract(epoch FROM opens) / 60)::int, "
        "(extract(epoch FROM closes) / 60)::int FROM sla_calendar_hours "
        "WHERE %(id)s::int IS NULL OR calendar_id = %(id)s::int ORDER BY calendar_id, weekday",
        {"id": calendar_id},
    )
    for cal, day, opens, closes in rows:
        weeks.setdefault(cal, {})[day] = Span(opens, closes)
    return weeks


def week_of(conn: Conn, calendar_id: int) -> dict[int, Span]:
    return _weeks(conn, calendar_id).get(calendar_id, {})


def recompute(conn: Conn, calendar: Calendar) -> int:
    """Move the open tickets' deadlines to what the calendar now gives; how many moved."""
    row = conn.execute("SELECT sla_recompute_open_targets(%s)", (calendar.calendar_id,)).fetchone()
    assert row is not None
    return int(row[0] or 0)


def set_hours(conn: Conn, name: str, changes: Mapping[int, Span | None]) -> HoursChange:
    """Replace the named weekdays' hours (None: not worked); the other days keep theirs."""
    calendar = find_calendar(conn, name, lock=True)
    before = week_of(conn, calendar.calendar_id)
    _write_hours(conn, calendar.calendar_id, changes)
    after = week_of(conn, calendar.calendar_id)
    if not after:
        # A calendar with no working time would never reach a deadline; the caller rolls back.
        raise NoWorkingDay(
            f"that would leave calendar {calendar.name!r} with no working day at all; give at "
            "least one day hours, e.g. 'mon-fri 08:00-16:00'"
        )
    if weekly_minutes(after) < MIN_WEEKLY_MINUTES:
        raise TooFewHours(f"that would leave calendar {calendar.name!r} working {_too_little(after)}")
    if after == before:
        return HoursChange(calendar, after, changed=False, moved=0)
    return HoursChange(calendar, after, changed=True, moved=recompute(conn, calendar))


# --- entities -------------------------------------------------------------------------------


def assign(conn: Conn, entity_id: str, name: str | None) -> Assignment:
    """Give the entity its own calendar, or (name None) let it inherit its parent's again."""
    row = conn.execute(
        "SELECT e.unique_entity_id, e.entity_name, c.calendar_id, c.name, c.timezone "
        "FROM entity_master e LEFT JOIN sla_calendars c ON c.calendar_id = e.sla_calendar_id "
        "WHERE e.unique_entity_id = %s FOR UPDATE OF e",
        (entity_id.strip(),),
    ).fetchone()
    if row is None:
        raise UnknownEntity(
            f"No entity {entity_id!r}. List them with: psql -c 'SELECT unique_entity_id, entity_name "
            "FROM entity_master ORDER BY 1'"
        )
    entity = Entity(row[0], row[1])
    previous = Calendar(row[2], row[3], row[4]) if row[2] is not None else None
    own = find_calendar(conn, name) if name is not None else None
    conn.execute(
        "UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = %s",
        (own.calendar_id if own else None, entity.entity_id),
    )
    in_force, source = _in_force(conn, entity.entity_id)
    return Assignment(
        entity=entity,
        own=own,
        previous=previous,
        in_force=in_force,
        inherited_from=source if source is not None and source != entity else None,
        inheriting=_inheriting_below(conn, entity.entity_id),
    )


def _in_force(conn: Conn, entity_id: str) -> tuple[Calendar | None, Entity | None]:
    """The calendar the entity's new tickets use, and the entity (itself or an ancestor) it is set on."""
    # The same walk as entity_sla_calendar() in the database, which the ticket trigger uses;
    # this one also says whose calendar it is. ck_entity_master_no_cycle keeps it finite.
    row = conn.execute(
        """
        WITH RECURSIVE up AS (
            SELECT unique_entity_id, entity_name, parent_entity_id, sla_calendar_id, 0 AS depth
            FROM entity_master WHERE unique_entity_id = %s
            UNION ALL
            SELECT e.unique_entity_id, e.entity_name, e.parent_entity_id, e.sla_calendar_id, up.depth + 1
            FROM entity_master e JOIN up ON e.unique_entity_id = up.parent_entity_id
            WHERE up.sla_calendar_id IS NULL AND up.depth < 64
        )
        SELECT up.unique_entity_id, up.entity_name, c.calendar_id, c.name, c.timezone
        FROM up JOIN sla_calendars c ON c.calendar_id = up.sla_calendar_id
        ORDER BY up.depth LIMIT 1
        """,
        (entity_id,),
    ).fetchone()
    if row is None:
        return None, None
    return Calendar(row[2], row[3], row[4]), Entity(row[0], row[1])


def _inheriting_below(conn: Conn, entity_id: str) -> tuple[Entity, ...]:
    """Entities under this one with no calendar of their own, down to those that have one."""
    rows = conn.execute(
        """
        WITH RECURSIVE below AS (
            SELECT unique_entity_id, entity_name FROM entity_master
            WHERE parent_entity_id = %s AND sla_calendar_id IS NULL
            UNION
            SELECT e.unique_entity_id, e.entity_name
            FROM entity_master e JOIN below b ON e.parent_entity_id = b.unique_entity_id
            WHERE e.sla_calendar_id IS NULL
        )
        SELECT unique_entity_id, entity_name FROM below ORDER BY unique_entity_id
        """,
        (entity_id,),
    )
    return tuple(Entity(r[0], r[1]) for r in rows)


# --- days off -------------------------------------------------------------------------------


def _calendars_for(conn: Conn, name: str | None) -> list[Calendar]:
    if name is not None:
        return [find_calendar(conn, name, lock=True)]
    calendars = _all_calendars(conn, lock=True)
    if not calendars:
        raise CalendarError(
            "there are no calendars yet, so every SLA runs 24x7 and a closed day changes nothing; "
            "add one first (gea-server calendars load-holidays --country GD --year YEAR)"
        )
    return calendars


def _day_off(conn: Conn, calendar: Calendar, day: date) -> DayOff | None:
    row = conn.execute(
        "SELECT name, kind FROM sla_holidays WHERE calendar_id = %s AND holiday_date = %s",
        (calendar.calendar_id, day),
    ).fetchone()
    return DayOff(day, row[0], row[1]) if row is not None else None


def close_day(conn: Conn, day: date, reason: str, name: str | None) -> list[DayOffChange]:
    """A one-off closure (a hurricane day) on one calendar, or on every calendar when name is None."""
    reason = check_reason(reason)
    changes = []
    for calendar in _calendars_for(conn, name):
        existing = _day_off(conn, calendar, day)
        if existing is None:
            conn.execute(
                "INSERT INTO sla_holidays (calendar_id, holiday_date, name, kind) VALUES (%s, %s, %s, %s)",
                (calendar.calendar_id, day, reason, CLOSURE),
            )
            changes.append(DayOffChange(calendar, "closed", None, recompute(conn, calendar)))
        elif existing.kind == HOLIDAY:
            # The day is off already; a closure over it would vanish with the holiday at the next
            # load-holidays, or take the holiday with it when undone.
            changes.append(DayOffChange(calendar, "holiday", existing, 0))
        elif existing.name == reason:
            changes.append(DayOffChange(calendar, "already", existing, 0))
        else:
            conn.execute(
                "UPDATE sla_holidays SET name = %s WHERE calendar_id = %s AND holiday_date = %s",
                (reason, calendar.calendar_id, day),
            )
            changes.append(DayOffChange(calendar, "renamed", existing, 0))
    return changes


def reopen_day(conn: Conn, day: date, name: str | None) -> list[DayOffChange]:
    """Undo close_day: the closure goes; a public holiday on that date stays."""
    changes = []
    for calendar in _calendars_for(conn, name):
        existing = _day_off(conn, calendar, day)
        if existing is not None and existing.kind == CLOSURE:
            conn.execute(
                "DELETE FROM sla_holidays WHERE calendar_id = %s AND holiday_date = %s AND kind = %s",
                (calendar.calendar_id, day, CLOSURE),
            )
            changes.append(DayOffChange(calendar, "reopened", existing, recompute(conn, calendar)))
        else:
            changes.append(DayOffChange(calendar, "holiday" if existing else "none", existing, 0))
    return changes


def _ensure_calendar(conn: Conn, name: str, timezone: str, week: Mapping[int, Span]) -> bool:
    """Make the calendar unless one by that name exists; True when this call made it."""
    name = check_name(name)
    # ON CONFLICT: two first loads at once make one calendar, and only its maker writes the hours.
    try:
        row = conn.execute(
            "INSERT INTO sla_calendars (name, timezone) VALUES (%s, %s) "
            "ON CONFLICT ((lower(name))) DO NOTHING RETURNING calendar_id",
            (name, canonical_timezone(conn, timezone)),
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:  # not the name's: ON CONFLICT took that
        raise _unique_violation(exc, name) from None
    if row is None:
        return False
    _write_hours(conn, row[0], week)
    return True


@dataclass(frozen=True)
class NewCalendar:
    """How load_holidays makes its calendar when none has the name: zone and working hours."""

    timezone: str
    week: Mapping[int, Span]


def load_holidays(
    conn: Conn, name: str, year: int, holidays: Sequence[PublicHoliday], create: NewCalendar | None = None
) -> HolidayLoad:
    """Make the calendar's public holidays of `year` exactly `holidays`.

    A closure on one of those dates becomes the holiday (the day stays off; the module docstring
    says why); other closures stay as they are. With `create`, a calendar missing by that name
    is made first; without, it must exist.
    """
    created = create is not None and _ensure_calendar(conn, name, create.timezone, create.week)
    calendar = find_calendar(conn, name, lock=True)
    existing = {
        r[0]: DayOff(r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT holiday_date, name, kind FROM sla_holidays WHERE calendar_id = %s "
            "AND holiday_date >= make_date(%s, 1, 1) AND holiday_date < make_date(%s + 1, 1, 1)",
            (calendar.calendar_id, year, year),
        )
    }
    wanted = {h.day: h.name for h in holidays if h.day.year == year}
    added, renamed, replaced, unchanged = [], [], [], 0
    for day, holiday_name in sorted(wanted.items()):
        old = existing.get(day)
        if old is None:
            added.append(DayOff(day, holiday_name, HOLIDAY))
        elif old.kind == CLOSURE:
            replaced.append(Replacement(old, DayOff(day, holiday_name, HOLIDAY)))
        elif old.name != holiday_name:
            renamed.append(DayOff(day, holiday_name, HOLIDAY))
        else:
            unchanged += 1
    removed = [old for day, old in sorted(existing.items()) if old.kind == HOLIDAY and day not in wanted]
    with conn.cursor() as cur:
        cur.executemany(
            "DELETE FROM sla_holidays WHERE calendar_id = %s AND holiday_date = %s AND kind = %s",
            [(calendar.calendar_id, h.day, HOLIDAY) for h in removed],
        )
        cur.executemany(
            "INSERT INTO sla_holidays (calendar_id, holiday_date, name, kind) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (calendar_id, holiday_date) DO UPDATE SET name = EXCLUDED.name "
            "WHERE sla_holidays.kind = EXCLUDED.kind",
            [(calendar.calendar_id, h.day, h.name, HOLIDAY) for h in (*added, *renamed)],
        )
        cur.executemany(
            "UPDATE sla_holidays SET name = %s, kind = %s "
            "WHERE calendar_id = %s AND holiday_date = %s AND kind = %s",
            [(r.holiday.name, HOLIDAY, calendar.calendar_id, r.holiday.day, CLOSURE) for r in replaced],
        )
    # A new name, or a closure become a holiday, moves no deadline; a day gained or lost does.
    moved = recompute(conn, calendar) if added or removed else 0
    return HolidayLoad(
        calendar=calendar,
        created=created,
        year=year,
        added=tuple(added),
        renamed=tuple(renamed),
        removed=tuple(removed),
        unchanged=unchanged,
        replaced=tuple(replaced),
        moved=moved,
    )


# --- the overview ---------------------------------------------------------------------------


def listing(conn: Conn) -> Listing:
    """Every calendar with its hours, days off this year and next, and who uses it."""
    weeks = _weeks(conn)
    calendars = conn.execute(
        "SELECT calendar_id, name, timezone, extract(year FROM now() AT TIME ZONE timezone)::int "
        "FROM sla_calendars ORDER BY lower(name)"
    ).fetchall()
    days_off: dict[int, list[DayOff]] = {}
    for cal, day, day_name, kind in conn.execute(
        "SELECT h.calendar_id, h.holiday_date, h.name, h.kind FROM sla_holidays h "
        "JOIN sla_calendars c USING (calendar_id) "
        "WHERE h.holiday_date >= make_date(extract(year FROM now() AT TIME ZONE c.timezone)::int, 1, 1) "
        "AND h.holiday_date < make_date(extract(year FROM now() AT TIME ZONE c.timezone)::int + 2, 1, 1) "
        "ORDER BY h.calendar_id, h.holiday_date"
    ):
        days_off.setdefault(cal, []).append(DayOff(day, day_name, kind))
    own: dict[int, list[Entity]] = {}
    inheriting: dict[int, list[Entity]] = {}
    without: list[Entity] = []
    # The database's own answer (entity_sla_calendar, as the ticket trigger asks it), so this
    # shows what new tickets will get.
    for entity_id, entity_name, own_id, in_force in conn.execute(
        "SELECT unique_entity_id, entity_name, sla_calendar_id, entity_sla_calendar(unique_entity_id) "
        "FROM entity_master ORDER BY unique_entity_id"
    ):
        entity = Entity(entity_id, entity_name)
        if own_id is not None:
            own.setdefault(own_id, []).append(entity)
        elif in_force is not None:
            inheriting.setdefault(in_force, []).append(entity)
        else:
            without.append(entity)
    return Listing(
        calendars=tuple(
            CalendarSummary(
                calendar=Calendar(cal, cal_name, zone),
                week=weeks.get(cal, {}),
                first_year=this_year,
                days_off=tuple(days_off.get(cal, ())),
                entities=tuple(own.get(cal, ())),
                inheriting=tuple(inheriting.get(cal, ())),
            )
            for cal, cal_name, zone, this_year in calendars
        ),
        without_calendar=tuple(without),
    )
