"""SLA targets in working time (ARCHITECTURE 4.14): the arithmetic at its edges, tickets counted
in their entity's (or an ancestor's) calendar, 24x7 without one, and the Waiting pause.

Every expected instant here is worked out by hand from the calendar, written in the calendar's
local time, and compared as an absolute instant.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.helpers.tickets import insert_ticket, update_ticket

Conn = psycopg.Connection[tuple[Any, ...]]

GRENADA = ZoneInfo("America/Grenada")  # UTC-4 all year
NEW_YORK = ZoneInfo("America/New_York")  # daylight saving from 8 March 2026
HOUR = 3600.0
OPEN, IN_PROGRESS, WAITING, RESOLVED = 1, 2, 3, 4
MEDIUM = 3
# The root's "General" category: 4 h to respond, 72 h to resolve (Medium: factor 1.00).
GENERAL_RESPONSE_H, GENERAL_RESOLUTION_H = 4, 72


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)


def add_calendar(
    conn: Conn,
    name: str = "Office hours",
    zone: str = "America/Grenada",
    hours: dict[int, tuple[str, str]] | None = None,
    days_off: list[date] | None = None,
) -> int:
    """A calendar with the given hours per ISO weekday (default Mon-Fri 08:00-16:00)."""
    row = conn.execute(
        "INSERT INTO sla_calendars (name, timezone) VALUES (%s, %s) RETURNING calendar_id", (name, zone)
    ).fetchone()
    assert row is not None
    calendar_id = int(row[0])
    default_hours = {d: ("08:00", "16:00") for d in range(1, 6)}
    for weekday, (opens, closes) in (default_hours if hours is None else hours).items():
        conn.execute(
            "INSERT INTO sla_calendar_hours (calendar_id, weekday, opens, closes) VALUES (%s, %s, %s, %s)",
            (calendar_id, weekday, opens, closes),
        )
    for day in days_off or []:
        conn.execute(
            "INSERT INTO sla_holidays (calendar_id, holiday_date, name) VALUES (%s, %s, 'Day off')",
            (calendar_id, day),
        )
    return calendar_id


def add_working(conn: Conn, calendar_id: int | None, start: datetime, seconds: float) -> datetime:
    row = conn.execute("SELECT sla_add_working_time(%s, %s, %s)", (calendar_id, start, seconds)).fetchone()
    assert row is not None
    result: datetime = row[0]
    return result


def working_seconds(conn: Conn, calendar_id: int | None, start: datetime, end: datetime) -> float:
    row = conn.execute("SELECT sla_working_seconds(%s, %s, %s)", (calendar_id, start, end)).fetchone()
    assert row is not None
    return float(row[0])


def ticket(conn: Conn, ticket_id: int) -> dict[str, Any]:
    cur = conn.execute("SELECT * FROM tickets WHERE ticket_id = %s", (ticket_id,))
    row = cur.fetchone()
    assert row is not None
    assert cur.description is not None
    return {col.name: value for col, value in zip(cur.description, row, strict=True)}


# --- the arithmetic ------------------------------------------------------------------------

# 2026: 1 Jan Thursday, 3 Apr Good Friday, 6 Apr Easter Monday, 4 Dec Friday, 31 Dec Thursday.
EDGES = [
    pytest.param(
        local(GRENADA, 2026, 12, 4, 15),
        4,
        [],
        local(GRENADA, 2026, 12, 7, 11),
        id="friday-15h-plus-4h-is-monday-11h",
    ),
    pytest.param(
        local(GRENADA, 2026, 12, 4, 12), 4, [], local(GRENADA, 2026, 12, 4, 16), id="ends-exactly-at-closing"
    ),
    pytest.param(
        local(GRENADA, 2026, 12, 5, 10),
        2,
        [],
        local(GRENADA, 2026, 12, 7, 10),
        id="saturday-starts-monday-08h",
    ),
    pytest.param(
        local(GRENADA, 2026, 12, 7, 6),
        1,
        [],
        local(GRENADA, 2026, 12, 7, 9),
        id="before-opening-starts-at-opening",
    ),
    pytest.param(
        local(GRENADA, 2026, 12, 7, 17),
        1,
        [],
        local(GRENADA, 2026, 12, 8, 9),
        id="after-closing-starts-next-morning",
    ),
    pytest.param(
        local(GRENADA, 2026, 4, 2, 15),
        2,
        [date(2026, 4, 3), date(2026, 4, 6)],
        local(GRENADA, 2026, 4, 7, 9),
        id="easter-good-friday-and-holiday-monday",
    ),
    pytest.param(
        local(GRENADA, 2026, 12, 31, 15),
        8,
        [date(2027, 1, 1)],
        local(GRENADA, 2027, 1, 4, 15),
        id="spans-the-year-end-and-new-years-day",
    ),
    pytest.param(
        local(GRENADA, 2026, 12, 7, 9), 40, [], local(GRENADA, 2026, 12, 14, 9), id="a-whole-working-week"
    ),
    pytest.param(local(GRENADA, 2026, 12, 7, 9), 0, [], local(GRENADA, 2026, 12, 7, 9), id="zero-duration"),
]


@pytest.mark.parametrize(("start", "hours", "days_off", "expected"), EDGES)
def test_adding_working_time(
    conn: Conn, start: datetime, hours: int, days_off: list[date], expected: datetime
) -> None:
    calendar_id = add_calendar(conn, days_off=days_off)
    assert add_working(conn, calendar_id, start, hours * HOUR) == expected
    # The inverse: the working time between the start and the result is the duration.
    assert working_seconds(conn, calendar_id, start, expected) == hours * HOUR


def test_a_start_given_in_utc_is_read_on_the_calendars_local_day(conn: Conn) -> None:
    calendar_id = add_calendar(conn)
    # 02:00 UTC on Saturday 5 December is 22:00 on Friday 4 December in Grenada: after closing.
    start = datetime(2026, 12, 5, 2, 0, tzinfo=ZoneInfo("UTC"))
    assert add_working(conn, calendar_id, start, HOUR) == local(GRENADA, 2026, 12, 7, 9)


def test_hours_are_read_in_the_calendars_zone_across_a_daylight_saving_change(conn: Conn) -> None:
    calendar_id = add_calendar(conn, zone="America/New_York")
    # Friday 6 March 2026 15:00 EST (UTC-5); the clocks go forward on Sunday 8 March.
    start = local(NEW_YORK, 2026, 3, 6, 15)
    end = add_working(conn, calendar_id, start, 2 * HOUR)
    assert end == local(NEW_YORK, 2026, 3, 9, 9)  # Monday 09:00 EDT
    assert end.astimezone(ZoneInfo("UTC")) == datetime(2026, 3, 9, 13, 0, tzinfo=ZoneInfo("UTC"))
    # Eight working hours on the day after the change are eight hours, not seven or nine.
    assert add_working(conn, calendar_id, local(NEW_YORK, 2026, 3, 9, 8), 8 * HOUR) == local(
        NEW_YORK, 2026, 3, 9, 16
    )


def test_a_day_worked_to_midnight_and_a_weekend_half_day(conn: Conn) -> None:
    calendar_id = add_calendar(conn, hours={5: ("20:00", "24:00"), 6: ("09:00", "12:00")})
    # Friday 4 December 22:00: two hours left that night, then Saturday from 09:00.
    assert add_working(conn, calendar_id, local(GRENADA, 2026, 12, 4, 22), 3 * HOUR) == local(
        GRENADA, 2026, 12, 5, 10
    )


def test_without_a_calendar_or_without_working_hours_time_runs_24x7(conn: Conn) -> None:
    start = local(GRENADA, 2026, 12, 4, 15)
    assert add_working(conn, None, start, 4 * HOUR) == start + timedelta(hours=4)
    no_hours = add_calendar(conn, name="Empty", hours={})
    assert add_working(conn, no_hours, start, 4 * HOUR) == start + timedelta(hours=4)
    assert working_seconds(conn, None, start, start + timedelta(hours=30)) == 30 * HOUR


def test_working_seconds_count_only_open_hours_of_working_days(conn: Conn) -> None:
    calendar_id = add_calendar(conn, days_off=[date(2026, 12, 8)])
    # Friday 15:00 to the next Wednesday 10:00: 1 h Friday, 8 h Monday, Tuesday off, 2 h Wednesday.
    assert (
        working_seconds(conn, calendar_id, local(GRENADA, 2026, 12, 4, 15), local(GRENADA, 2026, 12, 9, 10))
        == 11 * HOUR
    )
    assert (
        working_seconds(conn, calendar_id, local(GRENADA, 2026, 12, 5, 9), local(GRENADA, 2026, 12, 6, 17))
        == 0
    )
    assert (
        working_seconds(conn, calendar_id, local(GRENADA, 2026, 12, 9, 10), local(GRENADA, 2026, 12, 4, 15))
        == 0
    )


def test_an_unknown_time_zone_is_refused(conn: Conn) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as exc_info:
        conn.execute("INSERT INTO sla_calendars (name, timezone) VALUES ('Bad', 'America/Grenda')")
    assert exc_info.value.diag.constraint_name == "ck_sla_calendars_timezone"


# --- tickets -------------------------------------------------------------------------------


def test_a_ticket_counts_in_its_nearest_ancestors_calendar(conn: Conn) -> None:
    calendar_id = add_calendar(conn)
    conn.execute(
        "UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = 'MIN-003'", (calendar_id,)
    )
    start = local(GRENADA, 2026, 12, 4, 15)  # Friday 15:00
    ticket_id = insert_ticket(
        conn, entity_id="DEPT-003", service_id="SVC-003", priority_id=MEDIUM, sla_start=start
    )
    made = ticket(conn, ticket_id)
    assert made["sla_calendar_id"] == calendar_id  # DEPT-003 inherits from MIN-003
    assert made["response_target"] == local(GRENADA, 2026, 12, 7, 11)  # 4 working hours: Monday 11:00
    # 72 working hours = nine 8-hour days: Friday's last hour, then 8 days and 7 hours on from Monday.
    assert made["resolution_target"] == add_working(conn, calendar_id, start, GENERAL_RESOLUTION_H * HOUR)
    assert made["resolution_target"] == local(GRENADA, 2026, 12, 17, 15)


def test_an_entitys_own_calendar_wins_over_its_parents(conn: Conn) -> None:
    parents = add_calendar(conn, name="Ministry")
    own = add_calendar(conn, name="Registry", hours={d: ("07:00", "19:00") for d in range(1, 8)})
    conn.execute(
        "UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = 'MIN-003'", (parents,)
    )
    conn.execute("UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = 'DEPT-003'", (own,))
    ticket_id = insert_ticket(conn, priority_id=MEDIUM, sla_start=local(GRENADA, 2026, 12, 5, 17))  # Saturday
    # 2 h on Saturday evening, 2 h on Sunday from 07:00: Sunday 09:00.
    assert ticket(conn, ticket_id)["response_target"] == local(GRENADA, 2026, 12, 6, 9)


def test_without_any_calendar_targets_stay_24x7(conn: Conn) -> None:
    start = local(GRENADA, 2026, 12, 4, 15)
    ticket_id = insert_ticket(conn, priority_id=MEDIUM, sla_start=start)
    made = ticket(conn, ticket_id)
    assert made["sla_calendar_id"] is None
    assert made["response_target"] == start + timedelta(hours=GENERAL_RESPONSE_H)
    assert made["resolution_target"] == start + timedelta(hours=GENERAL_RESOLUTION_H)


def test_a_closure_moves_the_deadlines_of_the_calendars_open_tickets(conn: Conn) -> None:
    calendar_id = add_calendar(conn)
    conn.execute(
        "UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = 'DEPT-003'", (calendar_id,)
    )
    open_id = insert_ticket(conn, priority_id=MEDIUM, sla_start=local(GRENADA, 2026, 12, 4, 15))
    resolved_id = insert_ticket(conn, priority_id=MEDIUM, sla_start=local(GRENADA, 2026, 12, 4, 15))
    update_ticket(conn, resolved_id, status_id=RESOLVED)
    resolved_before = ticket(conn, resolved_id)["resolution_target"]

    conn.execute(
        "INSERT INTO sla_holidays (calendar_id, holiday_date, name, kind) "
        "VALUES (%s, '2026-12-07', 'Hurricane', 'closure')",
        (calendar_id,),
    )
    row = conn.execute("SELECT sla_recompute_open_targets(%s)", (calendar_id,)).fetchone()
    assert row == (1,)
    # Monday is closed: the response falls on Tuesday 11:00 instead of Monday 11:00.
    assert ticket(conn, open_id)["response_target"] == local(GRENADA, 2026, 12, 8, 11)
    assert ticket(conn, resolved_id)["resolution_target"] == resolved_before  # done: left alone
    assert conn.execute("SELECT sla_recompute_open_targets(%s)", (calendar_id,)).fetchone() == (0,)


# --- the Waiting pause ----------------------------------------------------------------------


def _wait_then_resume(conn: Conn, ticket_id: int, waited: timedelta) -> dict[str, Any]:
    """Put the ticket in Waiting as if `waited` ago, then take it out of Waiting now."""
    update_ticket(conn, ticket_id, status_id=WAITING)
    assert ticket(conn, ticket_id)["waiting_since"] is not None
    with conn.transaction():  # one now() for the back-dating and the resumption
        conn.execute(
            "UPDATE tickets SET waiting_since = now() - %s WHERE ticket_id = %s", (waited, ticket_id)
        )
        update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    return ticket(conn, ticket_id)


def test_time_in_waiting_moves_a_24x7_resolution_target_out(conn: Conn) -> None:
    ticket_id = insert_ticket(conn, priority_id=MEDIUM)
    update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    before = ticket(conn, ticket_id)
    after = _wait_then_resume(conn, ticket_id, timedelta(hours=2))
    assert after["resolution_target"] - before["resolution_target"] == timedelta(hours=2)
    assert after["paused"] == timedelta(hours=2)
    assert after["waiting_since"] is None
    assert after["response_target"] == before["response_target"]
    # A later change of priority keeps the pause: the target is recomputed with it.
    update_ticket(conn, ticket_id, priority_id=MEDIUM - 1)  # High: 72 h x 0.75
    assert ticket(conn, ticket_id)["resolution_target"] == before["sla_start"] + timedelta(hours=54 + 2)


def test_waiting_on_days_off_moves_nothing(conn: Conn) -> None:
    db_today = conn.execute("SELECT (now() AT TIME ZONE 'America/Grenada')::date").fetchone()
    assert db_today is not None
    today: date = db_today[0]
    calendar_id = add_calendar(conn, days_off=[today - timedelta(days=1), today])
    conn.execute(
        "UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = 'DEPT-003'", (calendar_id,)
    )
    ticket_id = insert_ticket(conn, priority_id=MEDIUM)
    update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    before = ticket(conn, ticket_id)
    after = _wait_then_resume(conn, ticket_id, timedelta(hours=20))  # all of it on the two days off
    assert after["resolution_target"] == before["resolution_target"]
    assert after["paused"] == timedelta(0)


def test_a_waiting_ticket_is_not_breached_while_it_waits(conn: Conn) -> None:
    ticket_id = insert_ticket(conn, priority_id=MEDIUM)
    update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    update_ticket(conn, ticket_id, status_id=WAITING)
    # It started waiting with 1 hour left; the target has since passed on the wall clock.
    conn.execute(
        "UPDATE tickets SET waiting_since = now() - interval '3 hours', "
        "resolution_target = now() - interval '2 hours' WHERE ticket_id = %s",
        (ticket_id,),
    )
    assert conn.execute("SELECT * FROM record_sla_breaches()").fetchone() == (0, 0, 0)
    view = conn.execute(
        "SELECT resolution_status, hours_until_deadline FROM v_active_tickets_sla WHERE ticket_id = %s",
        (ticket_id,),
    ).fetchone()
    assert view == ("on_track", 1)
    # Back to work: the hour it had left is still ahead of it.
    with conn.transaction():  # one now() for the resumption and the check
        update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
        now = conn.execute("SELECT now()").fetchone()
    assert now is not None
    assert ticket(conn, ticket_id)["resolution_target"] == now[0] + timedelta(hours=1)
    assert conn.execute("SELECT * FROM record_sla_breaches()").fetchone() == (0, 0, 0)


def test_a_ticket_that_breached_before_it_waited_is_breached_as_of_the_wait(conn: Conn) -> None:
    ticket_id = insert_ticket(conn, priority_id=MEDIUM)
    update_ticket(conn, ticket_id, status_id=IN_PROGRESS)
    update_ticket(conn, ticket_id, status_id=WAITING)
    # The update's own breach check records it (as of the wait, not of now).
    conn.execute(
        "UPDATE tickets SET waiting_since = now() - interval '1 hour', "
        "resolution_target = now() - interval '3 hours 30 minutes' WHERE ticket_id = %s",
        (ticket_id,),
    )
    breach = "SELECT hours_overdue, escalated, actual_time FROM sla_breaches WHERE ticket_id = %s"
    # 2.5 hours overdue when the clock stopped: escalated (over an hour), and it does not grow
    # while the ticket waits, however often the scan runs.
    assert conn.execute(breach, (ticket_id,)).fetchall() == [(2, True, None)]
    assert conn.execute("SELECT * FROM record_sla_breaches()").fetchone() == (0, 0, 0)
    assert conn.execute(breach, (ticket_id,)).fetchall() == [(2, True, None)]
