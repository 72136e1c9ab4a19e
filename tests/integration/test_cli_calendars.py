"""`gea-server calendars ...` as IT runs them, against real PostgreSQL: what each command changes
in the calendar tables, what it prints, that bad input is one clear line (exit 2, no traceback)
and changes nothing, and that a change to hours or days off moves open tickets' deadlines.

Most tests drive the command through click's runner (in process, fast); the last ones run the
installed `gea-server` as IT does. Holidays are compared with what the `holidays` package itself
returns, so a new release that corrects a date does not break them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import traceback
from datetime import date, datetime
from typing import Any

import holidays
import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import URL

from server_sync_api import cli
from tests.helpers.tickets import insert_ticket

Conn = psycopg.Connection[tuple[Any, ...]]

GEA_SERVER = shutil.which("gea-server", path=os.path.dirname(sys.executable))
# Not the default zone, so a test can tell where a calendar's zone came from.
SERVER_ZONE = "America/Port_of_Spain"
MON_FRI_8_16 = [(day, "08:00:00", "16:00:00") for day in range(1, 6)]


def env_for(db_url: URL, **extra: str | None) -> dict[str, str | None]:
    # Every GEA_SERVER_ setting of the surrounding shell is unset, so only these count.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GEA_SERVER_")}
    return {
        **unset,
        "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False),
        "GEA_SERVER_TIMEZONE": SERVER_ZONE,
        **extra,
    }


def run(db_url: URL, *args: str) -> Result:
    """`gea-server calendars ARGS`; any exception other than click's own exit is a traceback."""
    result = CliRunner().invoke(cli.main, ["calendars", *args], env=env_for(db_url))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail("".join(traceback.format_exception(result.exception)))
    return result


def ok(db_url: URL, *args: str) -> str:
    result = run(db_url, *args)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(db_url: URL, *args: str) -> str:
    """The command fails as a usage error (exit 2) with one clear message."""
    result = run(db_url, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "Error: " in result.stderr
    return " ".join(result.stderr.split())


def calendar_rows(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT name, timezone FROM sla_calendars ORDER BY calendar_id").fetchall()


def hours(conn: Conn, name: str) -> list[tuple[int, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT h.weekday, h.opens::text, h.closes::text FROM sla_calendar_hours h "
            "JOIN sla_calendars c USING (calendar_id) WHERE c.name = %s ORDER BY h.weekday",
            (name,),
        )
    ]


def days_off(conn: Conn, name: str, year: int | None = None) -> dict[date, tuple[str, str]]:
    rows = conn.execute(
        "SELECT h.holiday_date, h.name, h.kind FROM sla_holidays h JOIN sla_calendars c USING (calendar_id) "
        "WHERE c.name = %s AND (%s::int IS NULL OR extract(year FROM h.holiday_date) = %s::int)",
        (name, year, year),
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def own_calendar(conn: Conn, entity_id: str) -> str | None:
    row = conn.execute(
        "SELECT c.name FROM entity_master e LEFT JOIN sla_calendars c ON c.calendar_id = e.sla_calendar_id "
        "WHERE e.unique_entity_id = %s",
        (entity_id,),
    ).fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])


def targets(conn: Conn, ticket_id: int) -> tuple[datetime, datetime]:
    row = conn.execute(
        "SELECT response_target, resolution_target FROM tickets WHERE ticket_id = %s", (ticket_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def package_holidays(year: int) -> dict[date, str]:
    return dict(holidays.country_holidays("GD", years=year))


def this_year(conn: Conn) -> int:
    row = conn.execute("SELECT extract(year FROM now() AT TIME ZONE 'America/Grenada')::int").fetchone()
    assert row is not None
    return int(row[0])


# --- add -------------------------------------------------------------------------------------


def test_add_without_hours_gives_the_public_service_day_and_says_so(db_url: URL, conn: Conn) -> None:
    out = ok(db_url, "add", "Registry")

    assert calendar_rows(conn) == [("Registry", SERVER_ZONE)]
    assert hours(conn, "Registry") == MON_FRI_8_16
    assert "Added calendar 'Registry'" in out
    assert f"time zone {SERVER_ZONE} (GEA_SERVER_TIMEZONE" in out
    assert "Mon-Fri 08:00-16:00, Sat-Sun closed (40 h a week)" in out
    assert "the default when no --hours is given" in out
    assert "Grenada's public-service day" in out
    assert "gea-server calendars assign ENTITY_ID Registry" in out


def test_add_with_hours_and_a_zone_typed_in_any_case(db_url: URL, conn: Conn) -> None:
    out = ok(
        db_url,
        "add",
        "Health, 24h desk",
        "--timezone",
        "america/grenada",
        "--hours",
        "mon-fri 07:30-24:00",
        "--hours",
        "sat 09:00 - 12:00",
    )

    # Stored as PostgreSQL spells the zone, which its time arithmetic (and the trigger) expects.
    assert calendar_rows(conn) == [("Health, 24h desk", "America/Grenada")]
    assert hours(conn, "Health, 24h desk") == [
        *[(day, "07:30:00", "24:00:00") for day in range(1, 6)],
        (6, "09:00:00", "12:00:00"),
    ]
    assert "Mon-Fri 07:30-24:00, Sat 09:00-12:00, Sun closed" in out
    assert "default" not in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--timezone", "Mars/Olympus_Mons"], "unknown time zone 'Mars/Olympus_Mons'"),
        (["--timezone", ""], "unknown time zone"),
        (["--hours", "fri-mon 08:00-16:00"], "'fri-mon' runs backwards"),
        (["--hours", "mon-fry 08:00-16:00"], "'fry' is not a day"),
        (["--hours", "mon 8am-4pm"], "is not a time"),
        (["--hours", "mon 16:00-08:00"], "closes before it opens"),
        (["--hours", "mon 08:00-08:00"], "closes before it opens"),
        (["--hours", "mon-sun closed"], "needs at least one working day"),
        # A week this sparse puts deadlines centuries out (one minute a week: 720 h in 2854).
        (["--hours", "mon 08:00-08:01"], "would work only 1 min a week; give it at least 4 h a week"),
        (["--hours", "mon,wed 10:00-11:59"], "would work only 3 h 58 min a week"),
        (["--hours", "mon-fri"], "give its hours"),
    ],
)
def test_add_refuses_bad_zones_and_hours_and_adds_nothing(
    db_url: URL, conn: Conn, args: list[str], says: str
) -> None:
    assert says in refused(db_url, "add", "Registry", *args)
    assert calendar_rows(conn) == []


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 101, "at most 100"),
        ("Bad\x07name", "control characters"),
    ],
)
def test_add_refuses_a_name_that_cannot_be_typed_back(db_url: URL, conn: Conn, name: str, says: str) -> None:
    assert says in refused(db_url, "add", name)
    assert calendar_rows(conn) == []


def test_add_refuses_a_name_taken_in_another_case(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Registry")

    assert "a calendar named 'REGISTRY' exists already" in refused(db_url, "add", "REGISTRY")
    assert calendar_rows(conn) == [("Registry", SERVER_ZONE)]


def test_add_takes_a_week_of_four_hours(db_url: URL, conn: Conn) -> None:
    out = ok(db_url, "add", "Evenings", "--hours", "mon,thu 18:00-20:00")

    assert hours(conn, "Evenings") == [(1, "18:00:00", "20:00:00"), (4, "18:00:00", "20:00:00")]
    assert "(4 h a week)" in out


@pytest.mark.parametrize(
    "args",
    [["add", "Registry"], ["load-holidays", "--country", "GD", "--year", "2026"]],
    ids=["add", "load-holidays"],
)
def test_a_calendar_id_taken_after_a_restore_is_not_called_a_name_taken(
    db_url: URL, conn: Conn, args: list[str]
) -> None:
    # Calendars restored with their ids, and the id sequence left behind them.
    conn.execute("INSERT INTO sla_calendars (calendar_id, name, timezone) VALUES (7, 'Restored', 'UTC')")
    conn.execute("SELECT setval(pg_get_serial_sequence('sla_calendars', 'calendar_id'), 6)")

    says = refused(db_url, *args)

    assert "exists already" not in says
    assert "the next calendar id is taken already, as after calendars were restored" in says
    assert calendar_rows(conn) == [("Restored", "UTC")]
    # The advice, as printed, cures it.
    advice = re.search(r'psql -c "([^"]+)"', says)
    assert advice is not None, says
    conn.execute(advice.group(1))
    ok(db_url, *args)
    assert len(calendar_rows(conn)) == 2


# --- set-hours -------------------------------------------------------------------------------


def test_set_hours_replaces_the_days_named_and_keeps_the_others(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Registry")

    out = ok(db_url, "set-hours", "registry", "fri", "08:00-12:00", "sat 09:00-12:00", "mon closed")

    assert hours(conn, "Registry") == [
        (2, "08:00:00", "16:00:00"),
        (3, "08:00:00", "16:00:00"),
        (4, "08:00:00", "16:00:00"),
        (5, "08:00:00", "12:00:00"),
        (6, "09:00:00", "12:00:00"),
    ]
    assert (
        "Calendar 'Registry' now works Mon closed, Tue-Thu 08:00-16:00, Fri 08:00-12:00, "
        "Sat 09:00-12:00, Sun closed (31 h a week)." in out
    )
    assert "Open tickets whose deadlines moved: 0." in out

    again = ok(db_url, "set-hours", "Registry", "sat 09:00-12:00")
    assert again.startswith("Nothing changed: calendar 'Registry' already works")


def test_set_hours_refuses_to_leave_no_working_day_and_changes_nothing(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Registry")

    says = refused(db_url, "set-hours", "Registry", "mon-fri closed")

    assert "no working day at all" in says
    assert hours(conn, "Registry") == MON_FRI_8_16


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["Nope", "mon closed"], "No calendar 'Nope': the calendars are Registry."),
        (["Registry"], "Missing argument 'SPEC...'"),
        (["Registry", "mon 08:00-16:00", "mon-wed closed"], "mon is given twice"),
        (["Registry", "08:00-16:00"], "say which days first"),
        (["Registry", "mon 08:00-24:01"], "not a time of day"),
        (["Registry", "sun-mon 08:00-16:00"], "runs backwards"),
        (
            ["Registry", "mon-fri closed", "sun 00:00-00:01"],
            "would leave calendar 'Registry' working only 1 min a week; give it at least 4 h a week",
        ),
        (["Registry", "mon-thu closed", "fri 08:00-11:30"], "working only 3 h 30 min a week"),
    ],
)
def test_set_hours_refuses_bad_input(db_url: URL, conn: Conn, args: list[str], says: str) -> None:
    ok(db_url, "add", "Registry")

    assert says in refused(db_url, "set-hours", *args)
    assert hours(conn, "Registry") == MON_FRI_8_16


def test_set_hours_moves_the_deadlines_of_open_tickets_on_the_calendar(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Registry")
    ok(db_url, "assign", "DEPT-003", "Registry")
    ticket = insert_ticket(conn)
    before = targets(conn, ticket)

    # Two hours a day instead of eight: a few working hours now take days.
    out = ok(db_url, "set-hours", "Registry", "mon-fri 10:00-12:00")

    after = targets(conn, ticket)
    assert after[0] > before[0]
    assert after[1] > before[1]
    assert "Open tickets whose deadlines moved: 1." in out


# --- assign ----------------------------------------------------------------------------------


def test_assign_names_the_entities_below_that_inherit_it(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Grenada")
    ok(db_url, "add", "Licensing", "--hours", "mon-sat 07:00-15:00")
    ok(db_url, "assign", "AGY-003", "Licensing")

    out = ok(db_url, "assign", "MIN-004", "grenada")

    assert own_calendar(conn, "MIN-004") == "Grenada"
    assert "MIN-004 (Ministry of National Security and Home Affairs) now uses calendar 'Grenada'" in out
    assert "Tickets made from now on count their SLAs in it" in out
    assert "open tickets keep the calendar they were made with" in out
    # AGY-003 has its own, and so UNIT-001 under it inherits Licensing, not Grenada.
    assert "Entities below that inherit the same (1):" in out
    assert "  AGY-002    Immigration and Passport Office\n" in out
    assert "AGY-003" not in out
    assert "UNIT-001" not in out

    again = ok(db_url, "assign", "MIN-004", "Grenada")
    assert again.startswith("Nothing changed: MIN-004")


def test_assign_none_goes_back_to_inheriting_and_says_from_whom(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Grenada")
    ok(db_url, "add", "Licensing")
    ok(db_url, "assign", "GOV-000", "Grenada")
    ok(db_url, "assign", "AGY-003", "Licensing")

    out = ok(db_url, "assign", "AGY-003", "--none")

    assert own_calendar(conn, "AGY-003") is None
    assert "no longer has a calendar of its own (it had calendar 'Licensing')" in out
    assert "It inherits calendar 'Grenada' from GOV-000 (Government of Grenada)." in out
    assert "UNIT-001" in out

    ok(db_url, "assign", "GOV-000", "--none")
    last = ok(db_url, "assign", "AGY-003", "--none")
    assert "Nothing changed: AGY-003 (Traffic and Licensing Department) has no calendar of its own." in last
    assert "its SLAs run 24x7" in last


def test_assign_applies_to_tickets_made_after_it_and_open_ones_keep_theirs(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Registry")
    earlier = insert_ticket(conn)

    ok(db_url, "assign", "MIN-003", "Registry")  # DEPT-003's ministry
    later = insert_ticket(conn)
    ok(db_url, "assign", "MIN-003", "--none")

    calendars: dict[int, str | None] = dict(
        conn.execute(
            "SELECT t.ticket_id, c.name FROM tickets t "
            "LEFT JOIN sla_calendars c ON c.calendar_id = t.sla_calendar_id"
        ).fetchall()
    )
    assert calendars == {earlier: None, later: "Registry"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["NOPE-999", "Registry"], "No entity 'NOPE-999'"),
        (["MIN-004", "Nope"], "No calendar 'Nope': the calendars are Registry."),
        (["MIN-004"], "give either a calendar NAME or --none"),
        (["MIN-004", "Registry", "--none"], "give either a calendar NAME or --none"),
        ([], "Missing argument 'ENTITY_ID'"),
    ],
)
def test_assign_refuses_bad_input_and_changes_nothing(
    db_url: URL, conn: Conn, args: list[str], says: str
) -> None:
    ok(db_url, "add", "Registry")

    assert says in refused(db_url, "assign", *args)
    assert conn.execute(
        "SELECT count(*) FROM entity_master WHERE sla_calendar_id IS NOT NULL"
    ).fetchone() == (0,)


# --- close-day -------------------------------------------------------------------------------


def test_close_day_closes_every_calendar_and_leaves_a_holiday_as_it_is(db_url: URL, conn: Conn) -> None:
    ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")
    ok(db_url, "add", "Registry")

    out = ok(db_url, "close-day", "2026-02-07", "--reason", "Hurricane: offices closed")

    assert days_off(conn, "Grenada", 2026)[date(2026, 2, 7)] == ("Independence Day", "holiday")
    assert days_off(conn, "Registry") == {date(2026, 2, 7): ("Hurricane: offices closed", "closure")}
    assert (
        "2026-02-07 Sat is a public holiday on calendar 'Grenada' (Independence Day); left as it is." in out
    )
    assert "2026-02-07 Sat is closed on calendar 'Registry'. Open tickets whose deadlines moved: 0." in out


def test_close_day_on_one_calendar_and_its_undo(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Grenada")
    ok(db_url, "add", "Registry")

    ok(db_url, "close-day", "2026-09-14", "--reason", "Storm", "--calendar", "registry")
    again = ok(db_url, "close-day", "2026-09-14", "--reason", "Storm", "--calendar", "Registry")
    renamed = ok(db_url, "close-day", "2026-09-14", "--reason", "Hurricane Ivan", "--calendar", "Registry")

    assert days_off(conn, "Grenada") == {}
    assert days_off(conn, "Registry") == {date(2026, 9, 14): ("Hurricane Ivan", "closure")}
    assert "for the same reason; nothing changed" in again
    assert "its reason is updated" in renamed

    undone = ok(db_url, "close-day", "2026-09-14", "--undo")

    assert days_off(conn, "Registry") == {}
    assert "2026-09-14 Mon has no closure on calendar 'Grenada'; nothing to undo." in undone
    assert "2026-09-14 Mon is no longer closed on calendar 'Registry' ('Hurricane Ivan' removed)." in undone
    assert "nothing to undo" in ok(db_url, "close-day", "2026-09-14", "--undo", "--calendar", "Registry")


def test_a_holiday_loaded_over_a_closure_survives_undoing_the_closure(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Zed")
    ok(db_url, "close-day", "2026-12-25", "--reason", "Storm", "--calendar", "Zed")

    loaded = ok(db_url, "load-holidays", "--country", "GD", "--year", "2026", "--calendar", "Zed")

    # The day is the holiday now, so undoing the closure cannot take the holiday with it.
    assert days_off(conn, "Zed")[date(2026, 12, 25)] == ("Christmas Day", "holiday")
    assert "unchanged, 1 closure now a public holiday." in loaded
    assert "holiday  2026-12-25 Fri  Christmas Day, in place of the closure 'Storm'" in loaded

    undone = ok(db_url, "close-day", "2026-12-25", "--undo", "--calendar", "Zed")

    assert days_off(conn, "Zed")[date(2026, 12, 25)] == ("Christmas Day", "holiday")
    assert "2026-12-25 Fri is a public holiday on calendar 'Zed' (Christmas Day); left as it is." in undone
    assert "nothing changed" in ok(
        db_url, "load-holidays", "--country", "GD", "--year", "2026", "--calendar", "Zed"
    )


def test_a_closure_made_a_holiday_moves_no_deadline(db_url: URL, conn: Conn) -> None:
    ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")
    # A closure on a holiday's date, as close-day made them before a holiday was loaded over one.
    conn.execute("UPDATE sla_holidays SET kind = 'closure', name = 'Storm' WHERE holiday_date = '2026-12-25'")

    out = ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")

    assert days_off(conn, "Grenada", 2026)[date(2026, 12, 25)] == ("Christmas Day", "holiday")
    n = len(package_holidays(2026))
    assert f"0 added, 0 renamed, 0 removed, {n - 1} unchanged, 1 closure now a public holiday." in out
    assert "deadlines moved" not in out


def test_undo_never_removes_a_public_holiday(db_url: URL, conn: Conn) -> None:
    ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")

    out = ok(db_url, "close-day", "2026-12-25", "--undo")

    assert days_off(conn, "Grenada", 2026)[date(2026, 12, 25)] == ("Christmas Day", "holiday")
    assert "is a public holiday on calendar 'Grenada' (Christmas Day); left as it is" in out


def test_closing_the_day_of_a_deadline_moves_it(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Registry")
    ok(db_url, "assign", "DEPT-003", "Registry")
    ticket = insert_ticket(conn)
    response, resolution = targets(conn, ticket)
    # The working day the response is due on: closing it must move the deadline past it.
    row = conn.execute("SELECT (%s::timestamptz AT TIME ZONE %s)::date", (response, SERVER_ZONE)).fetchone()
    assert row is not None
    due_day: date = row[0]

    out = ok(db_url, "close-day", due_day.isoformat(), "--reason", "Hurricane")

    moved = targets(conn, ticket)
    assert moved[0] > response
    assert moved[1] > resolution
    assert "Open tickets whose deadlines moved: 1." in out

    undone = ok(db_url, "close-day", due_day.isoformat(), "--undo")

    assert targets(conn, ticket) == (response, resolution)
    assert "Open tickets whose deadlines moved: 1." in undone


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["2026-13-01", "--reason", "x"], "Invalid value for 'DATE'"),
        (["14/09/2026", "--reason", "x"], "Invalid value for 'DATE'"),
        (["2026-09-14"], "say why with --reason"),
        (["2026-09-14", "--reason", "  "], "--reason must not be empty"),
        (["2026-09-14", "--reason", "x" * 201], "at most 200"),
        (["2026-09-14", "--undo", "--reason", "x"], "--undo takes no --reason"),
        (["2026-09-14", "--reason", "x", "--calendar", "Nope"], "No calendar 'Nope'"),
        ([], "Missing argument 'DATE'"),
    ],
)
def test_close_day_refuses_bad_input_and_changes_nothing(
    db_url: URL, conn: Conn, args: list[str], says: str
) -> None:
    ok(db_url, "add", "Registry")

    assert says in refused(db_url, "close-day", *args)
    assert days_off(conn, "Registry") == {}


def test_close_day_without_any_calendar_says_slas_run_around_the_clock(db_url: URL, conn: Conn) -> None:
    says = refused(db_url, "close-day", "2026-09-14", "--reason", "Storm")

    assert "there are no calendars yet, so every SLA runs 24x7" in says
    assert calendar_rows(conn) == []


# --- load-holidays ---------------------------------------------------------------------------


def test_load_holidays_makes_the_countrys_calendar_with_the_packages_days(db_url: URL, conn: Conn) -> None:
    out = ok(db_url, "load-holidays", "--country", "gd", "--year", "2026")

    assert calendar_rows(conn) == [("Grenada", SERVER_ZONE)]
    assert hours(conn, "Grenada") == MON_FRI_8_16
    loaded = days_off(conn, "Grenada")
    assert loaded == {day: (name, "holiday") for day, name in package_holidays(2026).items()}
    assert loaded[date(2026, 2, 7)] == ("Independence Day", "holiday")
    assert date(2026, 12, 25) in loaded
    assert f"Added calendar 'Grenada', time zone {SERVER_ZONE}" in out
    assert f"{len(loaded)} added, 0 renamed, 0 removed, 0 unchanged" in out
    assert "added    2026-02-07 Sat  Independence Day" in out


def test_load_holidays_for_the_next_year_keeps_this_years(db_url: URL, conn: Conn) -> None:
    ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")

    out = ok(db_url, "load-holidays", "--country", "GD", "--year", "2027")

    assert days_off(conn, "Grenada", 2026) == {d: (n, "holiday") for d, n in package_holidays(2026).items()}
    assert days_off(conn, "Grenada", 2027) == {d: (n, "holiday") for d, n in package_holidays(2027).items()}
    assert date(2027, 2, 7) in days_off(conn, "Grenada", 2027)
    assert "Added calendar" not in out


def test_load_holidays_again_changes_nothing(db_url: URL, conn: Conn) -> None:
    ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")
    before = conn.execute("SELECT * FROM sla_holidays ORDER BY holiday_date").fetchall()

    out = ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")

    assert conn.execute("SELECT * FROM sla_holidays ORDER BY holiday_date").fetchall() == before
    assert f"are loaded on calendar 'Grenada' already ({len(before)} days); nothing changed." in out
    assert calendar_rows(conn) == [("Grenada", SERVER_ZONE)]


def test_load_holidays_replaces_the_years_holidays_and_keeps_other_closures(db_url: URL, conn: Conn) -> None:
    ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")
    ok(db_url, "close-day", "2026-09-14", "--reason", "Hurricane")
    ok(db_url, "close-day", "2027-02-07", "--reason", "Flood")  # next year's Independence Day
    conn.execute(
        "INSERT INTO sla_holidays (calendar_id, holiday_date, name) "
        "SELECT calendar_id, DATE '2026-03-03', 'Withdrawn holiday' FROM sla_calendars"
    )
    conn.execute("UPDATE sla_holidays SET name = 'Old name' WHERE holiday_date = '2026-12-25'")
    conn.execute("DELETE FROM sla_holidays WHERE holiday_date = '2026-02-07'")

    out = ok(db_url, "load-holidays", "--country", "GD", "--year", "2026")

    expected = {d: (n, "holiday") for d, n in package_holidays(2026).items()}
    assert days_off(conn, "Grenada", 2026) == {**expected, date(2026, 9, 14): ("Hurricane", "closure")}
    assert "1 added, 1 renamed, 1 removed" in out
    assert "removed  2026-03-03 Tue  Withdrawn holiday" in out

    # A closure on a holiday's date becomes the holiday: still a day off.
    out = ok(db_url, "load-holidays", "--country", "GD", "--year", "2027")
    assert days_off(conn, "Grenada", 2027)[date(2027, 2, 7)] == ("Independence Day", "holiday")
    assert "holiday  2027-02-07 Sun  Independence Day, in place of the closure 'Flood'" in out


def test_load_holidays_into_a_named_calendar(db_url: URL, conn: Conn) -> None:
    ok(db_url, "add", "Registry", "--hours", "mon-sat 08:00-12:00")

    ok(db_url, "load-holidays", "--country", "GD", "--year", "2026", "--calendar", "REGISTRY")

    assert [name for name, _ in calendar_rows(conn)] == ["Registry"]
    assert days_off(conn, "Registry") == {d: (n, "holiday") for d, n in package_holidays(2026).items()}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--country", "XX", "--year", "2026"], "--country 'XX' is not a country the holidays package"),
        (["--country", "Grenada", "--year", "2026"], "two-letter ISO code, e.g. GD"),
        (["--country", "GD", "--year", "1066"], "--year 1066: the holidays package"),
        (["--country", "GD", "--year", "20260"], "give a year in that range"),
        (["--country", "GD", "--year", "next"], "Invalid value for '--year'"),
        (["--country", "GD"], "Missing option '--year'"),
        (["--year", "2026"], "Missing option '--country'"),
        (
            ["--country", "GD", "--year", "2026", "--calendar", "Registy"],
            "No calendar 'Registy': the calendars are Registry. Add it first with gea-server calendars "
            "add, or leave out --calendar to load into 'Grenada' (made if missing).",
        ),
    ],
)
def test_load_holidays_refuses_bad_input_and_changes_nothing(
    db_url: URL, conn: Conn, args: list[str], says: str
) -> None:
    ok(db_url, "add", "Registry")

    assert says in refused(db_url, "load-holidays", *args)
    assert [name for name, _ in calendar_rows(conn)] == ["Registry"]
    assert conn.execute("SELECT count(*) FROM sla_holidays").fetchone() == (0,)


# --- list ------------------------------------------------------------------------------------


def test_list_with_no_calendar_says_everything_runs_around_the_clock(db_url: URL) -> None:
    out = ok(db_url, "list")
    data = json.loads(ok(db_url, "list", "--json"))

    assert "No SLA calendars: every SLA runs 24x7." in out
    assert data["calendars"] == []
    assert {e["entity_id"] for e in data["without_calendar"]} >= {"GOV-000", "MIN-004", "UNIT-001"}


def build_two_calendars(db_url: URL, conn: Conn) -> int:
    """Grenada on MIN-004 (AGY-002 inherits), Licensing on AGY-003 (UNIT-001 inherits)."""
    year = this_year(conn)
    ok(db_url, "load-holidays", "--country", "GD", "--year", str(year))
    ok(db_url, "load-holidays", "--country", "GD", "--year", str(year + 1))
    ok(db_url, "close-day", f"{year + 2}-01-05", "--reason", "Too far ahead to list")
    ok(
        db_url,
        "add",
        "Licensing",
        "--timezone",
        "UTC",
        "--hours",
        "mon-fri 12:00-20:00",
        "--hours",
        "sat closed",
    )
    ok(db_url, "close-day", f"{year}-09-14", "--reason", "Hurricane", "--calendar", "Licensing")
    ok(db_url, "assign", "MIN-004", "Grenada")
    ok(db_url, "assign", "AGY-003", "Licensing")
    return year


def test_list_json_gives_hours_days_off_and_who_uses_each_calendar(db_url: URL, conn: Conn) -> None:
    year = build_two_calendars(db_url, conn)

    data = json.loads(ok(db_url, "list", "--json"))

    assert set(data) == {"calendars", "without_calendar"}
    grenada, licensing = data["calendars"]  # by name
    assert set(grenada) == {
        "calendar_id",
        "name",
        "timezone",
        "hours",
        "days_off_years",
        "days_off",
        "entities",
        "inheriting",
    }
    assert (grenada["name"], grenada["timezone"]) == ("Grenada", SERVER_ZONE)
    assert grenada["hours"][0] == {"weekday": 1, "day": "mon", "opens": "08:00", "closes": "16:00"}
    assert [h["weekday"] for h in grenada["hours"]] == [1, 2, 3, 4, 5]
    assert grenada["days_off_years"] == [year, year + 1]
    expected = {**package_holidays(year), **package_holidays(year + 1)}
    assert [(d["date"], d["name"], d["kind"]) for d in grenada["days_off"]] == [
        (day.isoformat(), name, "holiday") for day, name in sorted(expected.items())
    ]
    assert grenada["entities"] == [
        {"entity_id": "MIN-004", "name": "Ministry of National Security and Home Affairs"}
    ]
    assert [e["entity_id"] for e in grenada["inheriting"]] == ["AGY-002"]

    assert licensing["timezone"] == "UTC"
    assert licensing["hours"][-1] == {"weekday": 5, "day": "fri", "opens": "12:00", "closes": "20:00"}
    assert licensing["days_off"] == [{"date": f"{year}-09-14", "name": "Hurricane", "kind": "closure"}]
    assert [e["entity_id"] for e in licensing["entities"]] == ["AGY-003"]
    assert [e["entity_id"] for e in licensing["inheriting"]] == ["UNIT-001"]

    without = {e["entity_id"] for e in data["without_calendar"]}
    assert {"GOV-000", "MIN-003"} <= without
    assert not without & {"MIN-004", "AGY-002", "AGY-003", "UNIT-001"}


def test_list_shows_each_calendar_and_its_inheritance(db_url: URL, conn: Conn) -> None:
    year = build_two_calendars(db_url, conn)

    out = ok(db_url, "list")

    grenada, licensing = out.split("\n\nLicensing  ")
    assert grenada.startswith(f"Grenada  (time zone {SERVER_ZONE})")
    assert "Hours: Mon-Fri 08:00-16:00, Sat-Sun closed (40 h a week)" in grenada
    assert f"Days off {year}-{year + 1}:" in grenada
    assert f"{year}-02-07 " in grenada
    assert "Independence Day" in grenada
    assert f"{year + 2}-01-05" not in out
    assert "Set on:\n    MIN-004    Ministry of National Security and Home Affairs\n" in grenada
    assert grenada.endswith("Inherited by:\n    AGY-002    Immigration and Passport Office")
    assert licensing.startswith("(time zone UTC)")
    assert f"{year}-09-14 " in licensing
    assert "Hurricane  (closure)" in licensing
    assert "Inherited by:\n    UNIT-001   Driver Licensing Unit\n" in licensing
    assert "No calendar, SLAs 24x7: AGY-001," in licensing


# --- as IT runs it ---------------------------------------------------------------------------


def run_installed(db_url: URL, *args: str) -> subprocess.CompletedProcess[str]:
    assert GEA_SERVER is not None, "gea-server is not installed next to this Python"
    env = {k: v for k, v in env_for(db_url).items() if v is not None}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL"))}
    return subprocess.run(
        [GEA_SERVER, "calendars", *args], env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_the_installed_command_loads_holidays_and_refuses_without_a_traceback(
    db_url: URL, conn: Conn
) -> None:
    loaded = run_installed(db_url, "load-holidays", "--country", "GD", "--year", "2027")
    bad = run_installed(db_url, "load-holidays", "--country", "GD", "--year", "3000")

    assert loaded.returncode == 0, loaded.stderr
    assert "Independence Day" in loaded.stdout
    assert days_off(conn, "Grenada", 2027)[date(2027, 2, 7)] == ("Independence Day", "holiday")
    assert bad.returncode == 2
    assert "--year 3000" in bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


def test_an_unmigrated_database_is_one_clear_line(empty_db_url: URL) -> None:
    result = run_installed(empty_db_url, "list")

    assert result.returncode == 2
    assert "run `gea-server migrate` first" in result.stderr
    assert "Traceback" not in result.stderr
