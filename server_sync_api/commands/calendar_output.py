"""What `gea-server calendars` prints: plain sentences for IT, and `list --json` for scripts."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from datetime import date

import click

from server_sync_api.services.calendars import (
    Assignment,
    Calendar,
    DayOff,
    DayOffChange,
    Entity,
    HolidayLoad,
    HoursChange,
    Listing,
)
from server_sync_api.services.public_holidays import Country
from server_sync_api.services.working_hours import (
    DAYS,
    DEFAULT_HOURS,
    DEFAULT_HOURS_WHY,
    Span,
    clock,
    describe,
    duration,
    weekly_minutes,
)

_KEEP = "open tickets keep the calendar they were made with."


def _name(calendar: Calendar) -> str:
    return f"calendar {calendar.name!r}"


def _week(week: Mapping[int, Span]) -> str:
    return f"{describe(week)} ({duration(weekly_minutes(week))} a week)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _moved(moved: int) -> str:
    return f"Open tickets whose deadlines moved: {moved}."


def _entity_lines(entities: Iterable[Entity], indent: str = "  ") -> None:
    # One a line: a ministry can have dozens below it.
    for e in entities:
        click.echo(f"{indent}{e.entity_id:<10} {e.name}")


def _day(day: date) -> str:
    return f"{day.isoformat()} {DAYS[day.isoweekday() - 1][:3].title()}"


def added(calendar: Calendar, week: Mapping[int, Span], *, default_hours: bool, default_zone: bool) -> None:
    zone = calendar.timezone + (" (GEA_SERVER_TIMEZONE; --timezone for another)" if default_zone else "")
    click.echo(f"Added {_name(calendar)}, time zone {zone}.")
    hours = _week(week)
    if default_hours:
        hours += f", the default when no --hours is given ({DEFAULT_HOURS_WHY})"
    click.echo(f"Working hours: {hours}.")
    quoted = shlex.quote(calendar.name)
    click.echo(
        "No entity uses it yet. Next:\n"
        f"  gea-server calendars load-holidays --country GD --year YEAR --calendar {quoted}\n"
        f"  gea-server calendars assign ENTITY_ID {quoted}"
    )


def hours_set(change: HoursChange) -> None:
    if not change.changed:
        click.echo(f"Nothing changed: {_name(change.calendar)} already works {_week(change.week)}.")
        return
    click.echo(f"Calendar {change.calendar.name!r} now works {_week(change.week)}.")
    click.echo(_moved(change.moved))


def assigned(a: Assignment) -> None:
    who = f"{a.entity.entity_id} ({a.entity.name})"
    if a.own is not None:
        if a.previous == a.own:
            click.echo(f"Nothing changed: {who} uses {_name(a.own)} already.")
        else:
            was = f" instead of {_name(a.previous)}" if a.previous is not None else ""
            click.echo(f"{who} now uses {_name(a.own)} ({a.own.timezone}){was}.")
    elif a.previous is None:
        click.echo(f"Nothing changed: {who} has no calendar of its own.")
    else:
        click.echo(f"{who} no longer has a calendar of its own (it had {_name(a.previous)}).")
    if a.in_force is None:
        click.echo("It has no calendar to inherit either, so its SLAs run 24x7 (around the clock).")
    elif a.inherited_from is not None:
        click.echo(
            f"It inherits {_name(a.in_force)} from {a.inherited_from.entity_id} ({a.inherited_from.name})."
        )
    if a.own != a.previous:
        counted = "in it" if a.in_force is not None else "24x7"
        click.echo(f"Tickets made from now on count their SLAs {counted}; {_KEEP}")
    if a.inheriting:
        click.echo(f"Entities below that inherit the same ({len(a.inheriting)}):")
        _entity_lines(a.inheriting)
    else:
        click.echo("No entity below it inherits it (none, or each has a calendar of its own).")


def days_off_changed(day: date, changes: Iterable[DayOffChange]) -> None:
    for c in changes:
        where = _name(c.calendar)
        old = c.existing
        if c.outcome == "closed":
            click.echo(f"{_day(day)} is closed on {where}. {_moved(c.moved)}")
        elif c.outcome == "renamed" and old is not None:
            click.echo(f"{_day(day)} was closed on {where} already ({old.name!r}); its reason is updated.")
        elif c.outcome == "already":
            click.echo(f"{_day(day)} is closed on {where} already, for the same reason; nothing changed.")
        elif c.outcome == "holiday" and old is not None:
            click.echo(f"{_day(day)} is a public holiday on {where} ({old.name}); left as it is.")
        elif c.outcome == "reopened" and old is not None:
            click.echo(
                f"{_day(day)} is no longer closed on {where} ({old.name!r} removed). {_moved(c.moved)}"
            )
        else:
            click.echo(f"{_day(day)} has no closure on {where}; nothing to undo.")


def holidays_loaded(load: HolidayLoad, country: Country, package_version: str) -> None:
    where = _name(load.calendar)
    if load.created:
        click.echo(
            f"Added {where}, time zone {load.calendar.timezone} (GEA_SERVER_TIMEZONE), working hours "
            f"{_week(DEFAULT_HOURS)}, the default ({DEFAULT_HOURS_WHY}; change them with "
            f"gea-server calendars set-hours {shlex.quote(load.calendar.name)} SPEC...)."
        )
    source = f"{country.name}'s public holidays for {load.year} (holidays package {package_version})"
    if not load.changed:
        click.echo(f"{source} are loaded on {where} already ({load.unchanged} days); nothing changed.")
    else:
        replaced = f", {_count(len(load.replaced), 'closure')} now a public holiday" if load.replaced else ""
        click.echo(
            f"{source} on {where}: {len(load.added)} added, {len(load.renamed)} renamed, "
            f"{len(load.removed)} removed, {load.unchanged} unchanged{replaced}."
        )
        for what, days in (("added", load.added), ("renamed", load.renamed), ("removed", load.removed)):
            for d in days:
                click.echo(f"  {what:<8} {_day(d.day)}  {d.name}")
        for r in load.replaced:
            click.echo(
                f"  holiday  {_day(r.holiday.day)}  {r.holiday.name}, in place of the closure "
                f"{r.closure.name!r} (still a day off; close-day --undo leaves a holiday)"
            )
    if load.added or load.removed:
        click.echo(_moved(load.moved))


def listing_text(listing: Listing) -> None:
    if not listing.calendars:
        click.echo(
            "No SLA calendars: every SLA runs 24x7. Start with Grenada's public holidays:\n"
            "  gea-server calendars load-holidays --country GD --year YEAR"
        )
    for i, s in enumerate(listing.calendars):
        if i:
            click.echo()
        click.echo(f"{s.calendar.name}  (time zone {s.calendar.timezone})")
        click.echo(f"  Hours: {_week(s.week) if s.week else 'none'}")
        click.echo(f"  Days off {s.first_year}-{s.first_year + 1}: {len(s.days_off) or 'none'}")
        for d in s.days_off:
            click.echo(f"    {_day(d.day)}  {d.name}" + ("  (closure)" if d.kind == "closure" else ""))
        click.echo("  Set on:" + ("" if s.entities else " no entity"))
        _entity_lines(s.entities, "    ")
        click.echo("  Inherited by:" + ("" if s.inheriting else " no entity"))
        _entity_lines(s.inheriting, "    ")
    if listing.without_calendar:
        click.echo()
        click.echo(f"No calendar, SLAs 24x7: {', '.join(e.entity_id for e in listing.without_calendar)}")


def _entity_json(e: Entity) -> dict[str, str]:
    return {"entity_id": e.entity_id, "name": e.name}


def _day_off_json(d: DayOff) -> dict[str, str]:
    return {"date": d.day.isoformat(), "name": d.name, "kind": d.kind}


def listing_json(listing: Listing) -> dict[str, object]:
    return {
        "calendars": [
            {
                "calendar_id": s.calendar.calendar_id,
                "name": s.calendar.name,
                "timezone": s.calendar.timezone,
                "hours": [
                    {
                        "weekday": day,
                        "day": DAYS[day - 1][:3],
                        "opens": clock(span.opens),
                        "closes": clock(span.closes),
                    }
                    for day, span in sorted(s.week.items())
                ],
                "days_off_years": [s.first_year, s.first_year + 1],
                "days_off": [_day_off_json(d) for d in s.days_off],
                "entities": [_entity_json(e) for e in s.entities],
                "inheriting": [_entity_json(e) for e in s.inheriting],
            }
            for s in listing.calendars
        ],
        "without_calendar": [_entity_json(e) for e in listing.without_calendar],
    }
