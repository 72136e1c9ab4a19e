"""`gea-server calendars`: SLA calendars, their working hours, holidays and closures.

The statements are in services/calendars.py, the reading of hours in services/working_hours.py,
the holidays in services/public_holidays.py and the printing in commands/calendar_output.py;
this module reads the command line and holds the transaction: each command is one
transaction, committed before anything is printed, so what it says happened did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TypeVar

import click

from server_sync_api.commands import calendar_output as out
from server_sync_api.commands.support import Refused, migrated_connection, settings_or_exit
from server_sync_api.core.config import ServerSettings
from server_sync_api.services import calendars as service
from server_sync_api.services import public_holidays
from server_sync_api.services.working_hours import DEFAULT_HOURS, HoursError, Span, parse_specs

_T = TypeVar("_T")


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except service.CalendarError as exc:
        raise Refused(str(exc)) from None


def _run(settings: ServerSettings, work: Callable[[service.Conn], _T]) -> _T:
    """`work` in one transaction on a migrated feedback_db, committed when it returns."""
    with _refusals(), migrated_connection(settings) as conn:
        return work(conn)


def _hours(
    _ctx: click.Context, _param: click.Parameter, value: Sequence[str]
) -> dict[int, Span | None] | None:
    if not value:
        return None
    try:
        return parse_specs(value)
    except HoursError as exc:
        raise click.BadParameter(str(exc)) from None


DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group("calendars")
def calendars_group() -> None:
    """SLA calendars: working hours, holidays and closures, and which entity uses which.

    With no calendar set on an entity or any entity above it, its SLAs run 24x7.
    See docs/sla-calendars.md.
    """


@calendars_group.command("add")
@click.argument("name")
@click.option("--timezone", "timezone", help="IANA zone its hours are in. [default: GEA_SERVER_TIMEZONE]")
@click.option(
    "--hours",
    "hours",
    multiple=True,
    callback=_hours,
    metavar="SPEC",
    help="Working hours, e.g. 'mon-fri 08:00-16:00' (repeat for more days). [default: mon-fri 08:00-16:00]",
)
def calendars_add(name: str, timezone: str | None, hours: dict[int, Span | None] | None) -> None:
    """Add a calendar: a time zone and working hours."""
    settings = settings_or_exit()
    week = dict(DEFAULT_HOURS) if hours is None else {d: s for d, s in hours.items() if s is not None}
    calendar = _run(
        settings,
        lambda conn: service.add_calendar(
            conn, name, settings.timezone if timezone is None else timezone, week
        ),
    )
    out.added(calendar, week, default_hours=hours is None, default_zone=timezone is None)


@calendars_group.command("set-hours")
@click.argument("name")
@click.argument("specs", metavar="SPEC...", nargs=-1, required=True, callback=_hours)
def calendars_set_hours(name: str, specs: dict[int, Span | None]) -> None:
    """Change a calendar's working hours, day by day.

    The days named get the hours given; the other days keep theirs. SPEC is days and hours:
    'mon-fri 08:00-16:00', 'sat 09:00-12:00', 'sun closed'.
    """
    change = _run(settings_or_exit(), lambda conn: service.set_hours(conn, name, specs))
    out.hours_set(change)


@calendars_group.command("assign")
@click.argument("entity_id")
@click.argument("name", required=False)
@click.option("--none", "inherit", is_flag=True, help="Remove the entity's own calendar: it inherits again.")
def calendars_assign(entity_id: str, name: str | None, inherit: bool) -> None:
    """Choose the calendar of an entity's new tickets.

    ENTITY_ID's new tickets count their SLAs in calendar NAME, and so do those of the entities
    below it that have no calendar of their own. Open tickets keep theirs.
    """
    if (name is None) == (not inherit):
        raise click.UsageError("give either a calendar NAME or --none (to inherit the parent's), not both")
    assignment = _run(settings_or_exit(), lambda conn: service.assign(conn, entity_id, name))
    out.assigned(assignment)


@calendars_group.command("close-day")
@click.argument("day", metavar="DATE", type=DAY)
@click.option("--reason", help="Why the offices are closed, e.g. 'Hurricane Beryl'. Needed unless --undo.")
@click.option("--calendar", "name", metavar="NAME", help="Only this calendar. [default: every calendar]")
@click.option("--undo", is_flag=True, help="Remove the closure of DATE again.")
def calendars_close_day(day: datetime, reason: str | None, name: str | None, undo: bool) -> None:
    """Close a date, e.g. a hurricane day; --undo reopens it.

    DATE is YYYY-MM-DD. Every calendar unless --calendar names one; the open tickets'
    deadlines move past it.
    """
    if undo and reason is not None:
        raise click.UsageError("--undo takes no --reason: it removes the closure of that date")
    if not undo and reason is None:
        raise click.UsageError("say why with --reason, e.g. --reason 'Hurricane Beryl: offices closed'")
    on: date = day.date()

    def work(conn: service.Conn) -> list[service.DayOffChange]:
        if undo:
            return service.reopen_day(conn, on, name)
        assert reason is not None
        return service.close_day(conn, on, reason, name)

    out.days_off_changed(on, _run(settings_or_exit(), work))


@calendars_group.command("load-holidays")
@click.option("--country", required=True, help="Two-letter ISO code, e.g. GD for Grenada.")
@click.option("--year", required=True, type=int, help="The year to load, e.g. next year each December.")
@click.option(
    "--calendar",
    "name",
    metavar="NAME",
    help="Load into this calendar. [default: the one named after the country, made if missing]",
)
def calendars_load_holidays(country: str, year: int, name: str | None) -> None:
    """Load a country's public holidays for a year.

    They replace that year's holidays on the calendar; a closure on a holiday's date becomes
    the holiday, other closures stay. Running it again changes nothing. Load next year's each
    December.
    """
    settings = settings_or_exit()
    try:
        where = public_holidays.country(country)
        days = public_holidays.public_holidays(where, year)
    except public_holidays.HolidaySourceError as exc:
        raise click.UsageError(str(exc)) from None
    # Only the country's own calendar is made when missing: a mistyped --calendar must not
    # quietly become a new calendar that no entity uses.
    create = service.NewCalendar(settings.timezone, DEFAULT_HOURS) if name is None else None

    def work(conn: service.Conn) -> service.HolidayLoad:
        try:
            return service.load_holidays(conn, name or where.name, year, days, create)
        except service.UnknownCalendar as exc:
            raise service.UnknownCalendar(
                f"{exc} Add it first with gea-server calendars add, or leave out --calendar to load "
                f"into {where.name!r} (made if missing)."
            ) from None

    load = _run(settings, work)
    out.holidays_loaded(load, where, public_holidays.PACKAGE_VERSION)


@calendars_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def calendars_list(as_json: bool) -> None:
    """Each calendar, its hours, days off and entities.

    Days off are this year's and next; entities are those set on it and those inheriting it.
    """
    listing = _run(settings_or_exit(), service.listing)
    if as_json:
        click.echo(json.dumps(out.listing_json(listing), indent=2, ensure_ascii=False))
    else:
        out.listing_text(listing)
