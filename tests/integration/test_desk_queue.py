"""The desk's queue against a real feedback_db: its order, every filter, keyset paging, the CSV
export and the officer's scope (services/desk_queue.py)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from server_sync_api.domain import Officer
from server_sync_api.services import desk_queue, desk_tickets
from server_sync_api.services.desk_queue import QueueFilters, QueueRow
from tests.helpers import desk
from tests.helpers.tickets import insert_ticket

pytestmark = pytest.mark.anyio

Conn = psycopg.Connection[tuple[Any, ...]]
AConn = psycopg.AsyncConnection[Any]
NOW = datetime.now(UTC)
RESOLVED, CLOSED, REOPENED, IN_PROGRESS, WAITING = 4, 5, 6, 2, 3


def add(conn: Conn, due: timedelta, *, responded: bool = False, **columns: object) -> str:
    """A ticket whose running deadline is `due` from now (the response target, or once responded
    the resolution target); returns its number."""
    if responded:
        targets = {
            "responded_at": NOW - timedelta(days=2),
            "response_target": NOW - timedelta(days=1),
            "resolution_target": NOW + due,
        }
    else:
        targets = {"response_target": NOW + due, "resolution_target": NOW + due + timedelta(days=5)}
    ticket_id = insert_ticket(conn, **{**targets, **columns})
    row = conn.execute("SELECT ticket_number FROM tickets WHERE ticket_id = %s", (ticket_id,)).fetchone()
    assert row is not None
    return str(row[0])


async def numbers(aconn: AConn, viewer: Officer, filters: QueueFilters | None = None) -> list[str]:
    page = await desk_queue.queue(aconn, viewer, filters or QueueFilters(), limit=500)
    assert page.next_cursor is None
    return [row.ticket_number for row in page.rows]


async def everything(aconn: AConn, viewer: Officer, filters: QueueFilters, limit: int) -> list[QueueRow]:
    rows: list[QueueRow] = []
    after = None
    for _ in range(100):
        page = await desk_queue.queue(aconn, viewer, filters, after=after, limit=limit)
        assert len(page.rows) <= limit
        rows += page.rows
        if page.next_cursor is None:
            return rows
        assert len(page.rows) == limit
        after = page.next_cursor
    raise AssertionError("paging never ended")


@pytest.fixture
def admin(conn: Conn) -> Officer:
    return desk.officer(conn, "admin@gov.gd", "GOV-000", "admin")


# -- Order ---------------------------------------------------------------------------------------


async def test_breached_first_oldest_deadline_first_then_reopened_then_nearest_deadline(
    conn: Conn, aconn: AConn, admin: Officer
) -> None:
    later = add(conn, timedelta(hours=5))
    tie_a = add(conn, timedelta(hours=9), status_id=IN_PROGRESS, responded=True)
    tie_b = add(conn, timedelta(hours=9), status_id=WAITING, responded=True)
    breached_recent = add(conn, timedelta(hours=-1), responded=True, status_id=IN_PROGRESS)
    reopened_far = add(conn, timedelta(days=10), responded=True, status_id=REOPENED)
    soon = add(conn, timedelta(hours=1))
    breached_old = add(conn, timedelta(hours=-3))
    reopened_breached = add(conn, timedelta(hours=-2), responded=True, status_id=REOPENED)
    reopened_near = add(conn, timedelta(days=2), responded=True, status_id=REOPENED)
    add(conn, timedelta(hours=-9), responded=True, status_id=RESOLVED)
    add(conn, timedelta(hours=-9), responded=True, status_id=CLOSED)
    # No target at all (a category-less import): last.
    no_target = insert_ticket(conn)
    conn.execute(
        "UPDATE tickets SET response_target = NULL, resolution_target = NULL WHERE ticket_id = %s",
        (no_target,),
    )

    page = await desk_queue.queue(aconn, admin, QueueFilters())
    got = [row.ticket_number for row in page.rows]
    assert got[:-1] == [
        breached_old, reopened_breached, breached_recent,  # breached, oldest deadline first
        reopened_near, reopened_far,  # then reopened
        soon, later, tie_a, tie_b,  # then the nearest deadline, ties by ticket_id
    ]  # fmt: skip
    assert len(got) == 10
    rows = {row.ticket_number: row for row in page.rows}
    assert [rows[n].breached for n in got] == [True] * 3 + [False] * 7
    assert [rows[n].reopened for n in got] == [False, True, False, True, True] + [False] * 5
    assert rows[got[-1]].next_deadline is None
    assert rows[soon].next_deadline == rows[soon].response_target
    assert rows[tie_a].next_deadline == rows[tie_a].resolution_target
    assert rows[tie_a].status_code == "in_progress"
    assert rows[tie_a].status_name == "In Progress"
    assert page.next_cursor is None


async def test_a_row_carries_names_and_the_assignee(conn: Conn, aconn: AConn, admin: Officer) -> None:
    officer = desk.officer(conn, "ana@gov.gd", "DEPT-003")
    category = conn.execute(
        "SELECT category_id FROM ticket_categories WHERE category_name = 'Certificate errors'"
    ).fetchone()
    assert category is not None
    number = add(conn, timedelta(hours=3), assigned_to="ana@gov.gd", category_id=category[0], priority_id=1)
    unknown = add(conn, timedelta(hours=4), assigned_to="someone@else.gd")

    rows = {row.ticket_number: row for row in (await desk_queue.queue(aconn, admin, QueueFilters())).rows}
    row = rows[number]
    assert (row.title, row.priority_id, row.priority_name) == ("Counter complaint", 1, "Critical")
    assert (row.category_name, row.service_id, row.service_name) == (
        "Certificate errors",
        "SVC-003",
        "Birth Certificate Request",
    )
    assert row.entity_name == "Civil Registry and Vital Statistics"
    assert (row.assigned_to, row.assignee_name) == ("ana@gov.gd", officer.display_name)
    assert (rows[unknown].assigned_to, rows[unknown].assignee_name) == ("someone@else.gd", None)
    assert row.created_at is not None
    assert row.responded_at is None


# -- Filters -------------------------------------------------------------------------------------


async def test_every_filter(conn: Conn, aconn: AConn, admin: Officer) -> None:
    me = desk.officer(conn, "me@gov.gd", "DEPT-003")
    cats: dict[str, int] = dict(
        conn.execute("SELECT category_name, category_id FROM ticket_categories").fetchall()
    )
    plain = add(conn, timedelta(hours=1))
    mine = add(conn, timedelta(hours=2), assigned_to="me@gov.gd", status_id=IN_PROGRESS, responded=True)
    theirs = add(conn, timedelta(hours=3), assigned_to="other@gov.gd", priority_id=1)
    breached = add(conn, timedelta(hours=-1), category_id=cats["Certificate errors"])
    passport = add(conn, timedelta(hours=4), service_id="SVC-001", entity_id="AGY-002", priority_id=4)
    reopened = add(conn, timedelta(days=1), responded=True, status_id=REOPENED, service_id="SVC-004")
    resolved = add(conn, timedelta(hours=-5), responded=True, status_id=RESOLVED)
    closed = add(conn, timedelta(hours=6), responded=True, status_id=CLOSED)

    async def check(filters: QueueFilters, expected: list[str]) -> None:
        assert await numbers(aconn, me if filters.assigned == "me" else admin, filters) == expected

    await check(QueueFilters(), [breached, reopened, plain, mine, theirs, passport])
    await check(QueueFilters(statuses=("in_progress",)), [mine])
    await check(QueueFilters(statuses=("resolved",)), [resolved])
    await check(QueueFilters(statuses=("closed", "open")), [breached, plain, theirs, passport, closed])
    await check(QueueFilters(statuses=("reopened", "resolved")), [reopened, resolved])
    await check(QueueFilters(priority_ids=(1, 4)), [theirs, passport])
    await check(QueueFilters(category_id=cats["Certificate errors"]), [breached])
    await check(QueueFilters(service_id="SVC-004"), [reopened])
    await check(QueueFilters(service_id="SVC-001"), [passport])
    await check(QueueFilters(assigned="me"), [mine])
    await check(QueueFilters(assigned="unassigned"), [breached, reopened, plain, passport])
    await check(QueueFilters(breached=True), [breached])
    # Resolved tickets' clocks have stopped: never "breached" in the queue.
    await check(QueueFilters(breached=True, statuses=("resolved",)), [])
    await check(QueueFilters(breached=True, priority_ids=(1,)), [])
    await check(QueueFilters(service_id="SVC-999"), [])


async def test_dates_are_whole_days_in_the_servers_zone(conn: Conn, aconn: AConn, admin: Officer) -> None:
    # America/Grenada is UTC-4 all year: 03:30 UTC on 2 March is 23:30 on 1 March there.
    late_on_first = add(conn, timedelta(hours=1), created_at=datetime(2026, 3, 2, 3, 30, tzinfo=UTC))
    start_of_second = add(conn, timedelta(hours=2), created_at=datetime(2026, 3, 2, 4, 0, tzinfo=UTC))
    end_of_third = add(conn, timedelta(hours=3), created_at=datetime(2026, 3, 4, 3, 59, 59, tzinfo=UTC))
    fourth = add(conn, timedelta(hours=4), created_at=datetime(2026, 3, 4, 4, 0, tzinfo=UTC))

    march = {"from": date(2026, 3, 2), "to": date(2026, 3, 3)}
    filters = QueueFilters(created_from=march["from"], created_to=march["to"])
    assert await numbers(aconn, admin, filters) == [start_of_second, end_of_third]
    assert await numbers(aconn, admin, QueueFilters(created_to=date(2026, 3, 1))) == [late_on_first]
    assert await numbers(aconn, admin, QueueFilters(created_from=date(2026, 3, 4))) == [fourth]
    one_day = QueueFilters(created_from=date(2026, 3, 1), created_to=date(2026, 3, 1))
    assert await numbers(aconn, admin, one_day) == [late_on_first]


# -- Paging --------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 4, 7])
async def test_paging_by_cursor_has_no_duplicates_and_no_gaps(
    conn: Conn, aconn: AConn, admin: Officer, limit: int
) -> None:
    for i in range(23):
        kind = i % 4
        due = timedelta(hours=(i % 5) - 2)  # equal deadlines on purpose: ties go by ticket_id
        if kind == 0:
            add(conn, due)
        elif kind == 1:
            add(conn, due, responded=True, status_id=REOPENED)
        elif kind == 2:
            add(conn, due, responded=True, status_id=IN_PROGRESS)
        else:
            add(conn, due, responded=True, status_id=CLOSED)

    for filters in (QueueFilters(), QueueFilters(statuses=("open", "closed", "reopened"))):
        whole = await numbers(aconn, admin, filters)
        paged = [row.ticket_number for row in await everything(aconn, admin, filters, limit)]
        assert paged == whole
        assert len(set(paged)) == len(paged)
    assert (
        len(await numbers(aconn, admin, QueueFilters(statuses=("open", "closed", "reopened")))) == 6 + 6 + 5
    )


async def test_a_new_urgent_ticket_does_not_shift_the_pages_already_read(
    conn: Conn, aconn: AConn, admin: Officer
) -> None:
    first = [add(conn, timedelta(hours=h)) for h in (1, 2, 3, 4)]
    page = await desk_queue.queue(aconn, admin, QueueFilters(), limit=2)
    assert [r.ticket_number for r in page.rows] == first[:2]
    add(conn, timedelta(minutes=30))  # lands before the cursor: the next page is unaffected
    assert page.next_cursor is not None
    rest = await desk_queue.queue(aconn, admin, QueueFilters(), after=page.next_cursor, limit=2)
    assert [r.ticket_number for r in rest.rows] == first[2:]


async def test_a_tampered_cursor_is_a_problem_not_a_crash(conn: Conn, aconn: AConn, admin: Officer) -> None:
    for h in range(3):
        add(conn, timedelta(hours=h + 1))
    page = await desk_queue.queue(aconn, admin, QueueFilters(), limit=1)
    cursor = page.next_cursor
    assert cursor is not None
    flipped = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    for bad in (flipped, cursor[:-3], "not-a-cursor", "x" * 400, "", "%%%", "ZZZZ" * 5):
        filters, problems = desk_queue.parse_filters({"after": bad})
        if bad:
            assert problems == [desk_queue.BAD_CURSOR_MESSAGE], bad
            with pytest.raises(desk_queue.BadCursor) as caught:
                await desk_queue.queue(aconn, admin, filters, after=bad)
            assert caught.value.message == desk_queue.BAD_CURSOR_MESSAGE
        else:
            assert problems == []
    assert desk_queue.parse_filters({"after": cursor}) == (QueueFilters(), [])


# -- URL parameters ------------------------------------------------------------------------------


def test_filters_read_from_and_written_to_the_url() -> None:
    params: dict[str, str | list[str]] = {
        "status": ["open", "reopened"],
        "priority": ["1", "3"],
        "category": "12",
        "service": "SVC-003",
        "assigned": "me",
        "breached": "1",
        "from": "2026-01-01",
        "to": "2026-01-31",
        "lang": "es",  # not a filter: ignored
    }
    filters, problems = desk_queue.parse_filters(params)
    assert problems == []
    assert filters == QueueFilters(
        statuses=("open", "reopened"),
        priority_ids=(1, 3),
        category_id=12,
        service_id="SVC-003",
        assigned="me",
        breached=True,
        created_from=date(2026, 1, 1),
        created_to=date(2026, 1, 31),
    )
    query = desk_queue.to_query(filters)
    rebuilt: dict[str, str | list[str]] = {}
    for key, value in query:
        rebuilt.setdefault(key, [])
        assert isinstance(rebuilt[key], list)
        rebuilt[key].append(value)  # type: ignore[union-attr]
    assert desk_queue.parse_filters(rebuilt) == (filters, [])
    assert desk_queue.to_query(QueueFilters()) == []
    # An HTML form's empty fields mean "not set".
    empty: dict[str, str | list[str]] = {
        "status": "",
        "priority": [""],
        "category": "",
        "assigned": "",
        "breached": "",
        "from": "",
    }
    assert desk_queue.parse_filters(empty) == (QueueFilters(), [])


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"status": "Open!"}, "Unknown status “Open!”."),
        ({"priority": ["1", "high"]}, "Unknown priority “high”."),
        ({"priority": "0"}, "Unknown priority “0”."),
        ({"priority": "99999999999"}, "Unknown priority “99999999999”."),
        ({"category": "-3"}, "Unknown category “-3”."),
        ({"category": "٣"}, "Unknown category “٣”."),
        ({"service": "SVC 003; DROP"}, "Unknown service “SVC 003; DROP”."),
        ({"assigned": "you"}, "“Assigned” must be “me” or “unassigned”."),
        ({"breached": "maybe"}, "“Breached” must be 1 or left out."),
        ({"from": "2026-02-30"}, "“From” must be a date written as YYYY-MM-DD (“2026-02-30” is not)."),
        ({"to": "yesterday"}, "“To” must be a date written as YYYY-MM-DD (“yesterday” is not)."),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "The “from” date is after the “to” date."),
        ({"status": [f"s{i}" for i in range(21)]}, "Choose at most 20 statuses."),
    ],
)
def test_bad_values_are_problems_and_are_left_out(params: dict[str, str | list[str]], problem: str) -> None:
    filters, problems = desk_queue.parse_filters(params)
    assert problems == [problem]
    assert filters.category_id is None
    assert filters.assigned is None
    assert filters.created_from is None
    assert filters.statuses == ()
    assert filters.breached is False
    assert filters.priority_ids in ((), (1,))


def test_a_long_bad_value_is_quoted_back_cut_short() -> None:
    _, problems = desk_queue.parse_filters({"service": "x" * 5000})
    assert problems == ["Unknown service “" + "x" * 40 + "…”."]


# -- CSV -----------------------------------------------------------------------------------------


async def test_csv_has_the_queues_rows_and_order_with_dangerous_cells_neutralised(
    conn: Conn, aconn: AConn, admin: Officer
) -> None:
    titles = [
        '=HYPERLINK("http://evil.example","Click")',
        "+1+2",
        "-2+3",
        "@SUM(A1:A9)",
        "\tTabbed",
        "\rReturned",
        'Quotes " and, commas\nand a new line',
        "Plain",
    ]
    for hours, title in enumerate(titles, start=1):
        add(conn, timedelta(hours=hours), title=title, assigned_to="admin@gov.gd")

    chunks = [chunk async for chunk in desk_queue.export_csv(aconn, admin, QueueFilters())]
    text = "".join(chunks)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [name for name, _ in desk_queue.EXPORT_COLUMNS]
    assert rows[0] == header
    assert header[:3] == ["Ticket number", "Title", "Status"]
    body = rows[1:]
    assert [row[1] for row in body] == [
        '\'=HYPERLINK("http://evil.example","Click")',
        "'+1+2",
        "'-2+3",
        "'@SUM(A1:A9)",
        "'\tTabbed",
        "'\rReturned",
        'Quotes " and, commas\nand a new line',
        "Plain",
    ]
    whole = await numbers(aconn, admin)
    assert [row[0] for row in body] == whole
    first = dict(zip(header, body[0], strict=True))
    assert first["Status"] == "Open"
    assert first["Breached"] == "no"
    assert first["Assignee"] == "Admin"
    assert datetime.fromisoformat(first["Created"]).tzinfo is not None
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


async def test_csv_of_many_rows_comes_in_batches_in_queue_order(
    conn: Conn, aconn: AConn, admin: Officer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desk_queue, "EXPORT_BATCH", 3)
    for i in range(10):
        add(conn, timedelta(hours=i % 3 - 1))
    chunks = [chunk async for chunk in desk_queue.export_csv(aconn, admin, QueueFilters())]
    assert len(chunks) == 1 + 4
    rows = list(csv.reader(io.StringIO("".join(chunks), newline="")))
    assert [row[0] for row in rows[1:]] == await numbers(aconn, admin)


def test_neutralise_leaves_ordinary_text_alone() -> None:
    assert desk_queue.neutralise("202601-000001") == "202601-000001"
    assert desk_queue.neutralise("Waited 3 hours") == "Waited 3 hours"
    assert desk_queue.neutralise("=1") == "'=1"
    assert desk_queue.neutralise("") == ""


# -- Scope ---------------------------------------------------------------------------------------


async def test_scope_an_agency_sees_nothing_of_another_admin_all_disabled_nothing(
    conn: Conn, aconn: AConn, admin: Officer
) -> None:
    registry = [add(conn, timedelta(hours=h)) for h in (1, 2)]  # DEPT-003
    registry.append(add(conn, timedelta(hours=-1)))
    passport = add(conn, timedelta(hours=3), service_id="SVC-001", entity_id="AGY-002")
    licence = add(conn, timedelta(hours=4), service_id="SVC-002", entity_id="UNIT-001")

    immigration = desk.officer(conn, "imm@gov.gd", "AGY-002")
    ministry = desk.officer(conn, "legal@gov.gd", "MIN-003", "supervisor")
    security = desk.officer(conn, "sec@gov.gd", "MIN-004")
    gone = desk.officer(conn, "gone@gov.gd", "DEPT-003", active=False)
    gone_admin = desk.officer(conn, "old-admin@gov.gd", "GOV-000", "admin", active=False)

    assert await numbers(aconn, immigration) == [passport]
    assert await numbers(aconn, ministry) == [registry[2], registry[0], registry[1]]
    assert await numbers(aconn, security) == [passport, licence]  # AGY-002, and UNIT-001 under AGY-003
    assert await numbers(aconn, admin) == [registry[2], registry[0], registry[1], passport, licence]
    assert await numbers(aconn, gone) == []
    assert await numbers(aconn, gone_admin) == []
    # Whatever the filter asks for.
    for filters in (
        QueueFilters(service_id="SVC-003"),
        QueueFilters(breached=True),
        QueueFilters(statuses=("open", "closed")),
    ):
        assert not set(await numbers(aconn, immigration, filters)) & set(registry)

    csv_text = "".join([chunk async for chunk in desk_queue.export_csv(aconn, immigration, QueueFilters())])
    assert [row[0] for row in csv.reader(io.StringIO(csv_text, newline=""))][1:] == [passport]
    for number in registry:
        assert number not in csv_text
    nothing = "".join([chunk async for chunk in desk_queue.export_csv(aconn, gone, QueueFilters())])
    assert len(list(csv.reader(io.StringIO(nothing, newline="")))) == 1  # the header alone

    # Another officer's cursor only says where a page starts: the scope still holds.
    page = await desk_queue.queue(aconn, admin, QueueFilters(), limit=1)
    assert page.next_cursor is not None
    foreign = await desk_queue.queue(aconn, immigration, QueueFilters(), after=page.next_cursor)
    assert [row.ticket_number for row in foreign.rows] == [passport]


async def test_filter_choices_are_those_of_the_scope(conn: Conn, aconn: AConn, admin: Officer) -> None:
    immigration = desk.officer(conn, "imm@gov.gd", "AGY-002")
    choices = await desk_queue.filter_choices(aconn, immigration)
    assert [code for code, _ in choices.statuses] == [
        "open", "in_progress", "reopened", "waiting", "resolved", "closed",
    ]  # fmt: skip
    assert choices.statuses[0] == ("open", "Open")
    assert list(choices.priorities) == [(1, "Critical"), (2, "High"), (3, "Medium"), (4, "Low")]
    assert [sid for sid, _ in choices.services] == ["SVC-001"]
    assert sorted(name for _, name in choices.categories) == [
        "General", "National security services", "Passport counter service", "Passport delays",
    ]  # fmt: skip
    assert all(isinstance(cid, int) for cid, _ in choices.categories)

    everything_ = await desk_queue.filter_choices(aconn, admin)
    assert len(everything_.services) == 12
    assert len(everything_.categories) == 15
    gone = desk.officer(conn, "gone@gov.gd", "DEPT-003", active=False)
    nothing = await desk_queue.filter_choices(aconn, gone)
    assert (nothing.services, nothing.categories) == ((), ())


# -- Hand-made cursors ---------------------------------------------------------------------------


def hand_made(as_of: str, deadline: str = "-", group: int = 2, ticket_id: int = 1) -> str:
    """A cursor written by hand: its check digits are no secret, so it passes them."""
    body = f"1|{as_of}|{group}|{deadline}|{ticket_id}"
    check = hashlib.blake2s(body.encode(), digest_size=6).hexdigest()
    return base64.urlsafe_b64encode(f"{body}|{check}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("as_of", "deadline"),
    [
        ("0001-01-01T00:00:00+14:00", "-"),  # PostgreSQL: a BC timestamp psycopg cannot read
        ("0001-01-01T00:00:00+00:00", "-"),
        ("1999-12-31T23:59:59+00:00", "-"),
        ("9999-12-31T23:59:59-14:00", "-"),  # past the calendar once in UTC
        ((NOW + timedelta(days=2)).isoformat(), "-"),  # judged "breached" in the future
        (NOW.isoformat(), "0001-01-01T00:00:00+14:00"),
        (NOW.isoformat(), "9999-12-31T23:59:59-14:00"),
        (NOW.isoformat(), "1970-01-01T00:00:00+00:00"),
    ],
    ids=[
        "as_of-year-1-at-+14",
        "as_of-year-1",
        "as_of-1999",
        "as_of-year-9999-at--14",
        "as_of-two-days-ahead",
        "deadline-year-1-at-+14",
        "deadline-year-9999-at--14",
        "deadline-1970",
    ],
)
async def test_a_hand_made_cursor_out_of_range_is_a_bad_cursor_not_a_crash(
    conn: Conn, aconn: AConn, admin: Officer, as_of: str, deadline: str
) -> None:
    """Security review: `as_of=0001-01-01T00:00:00+14:00` answered 500."""
    add(conn, timedelta(hours=1))
    cursor = hand_made(as_of, deadline)
    filters, problems = desk_queue.parse_filters({"after": cursor})
    assert problems == [desk_queue.BAD_CURSOR_MESSAGE]
    with pytest.raises(desk_queue.BadCursor) as caught:
        await desk_queue.queue(aconn, admin, filters, after=cursor)
    assert caught.value.message == desk_queue.BAD_CURSOR_MESSAGE
    # The connection is fine: the cursor was refused before any SQL.
    assert (await desk_queue.queue(aconn, admin, filters)).rows


async def test_a_hand_made_cursor_in_range_pages_as_a_real_one(
    conn: Conn, aconn: AConn, admin: Officer
) -> None:
    tickets = [add(conn, timedelta(hours=h)) for h in (1, 2, 3)]
    first = await desk_queue.queue(aconn, admin, QueueFilters(), limit=1)
    assert first.next_cursor is not None
    real = desk_queue._decode_cursor(first.next_cursor)
    assert real.deadline is not None
    # The same place, written by hand, in another offset and a minute ahead (clocks drift).
    as_of = (real.as_of + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-4)))
    cursor = hand_made(as_of.isoformat(), real.deadline.isoformat(), real.group, real.ticket_id)
    page = await desk_queue.queue(aconn, admin, QueueFilters(), after=cursor)
    assert [row.ticket_number for row in page.rows] == tickets[1:]


def test_a_cursor_with_characters_outside_base64_is_bad() -> None:
    cursor = hand_made(NOW.isoformat())
    for bad in (cursor[:4] + "\x00" + cursor[4:], cursor[:4] + "!" + cursor[4:], cursor + "é"):
        assert desk_queue.parse_filters({"after": bad})[1] == [desk_queue.BAD_CURSOR_MESSAGE]
    assert desk_queue.parse_filters({"after": cursor}) == (QueueFilters(), [])


def test_control_characters_in_a_filter_are_a_problem_quoted_without_them() -> None:
    for params, problem in [
        ({"status": "open\x00"}, "Unknown status “open\ufffd”."),
        ({"service": "SVC-003\x00"}, "Unknown service “SVC-003\ufffd”."),
        ({"category": "1\x00"}, "Unknown category “1\ufffd”."),
        (
            {"from": "2026-01\x0001"},
            "“From” must be a date written as YYYY-MM-DD (“2026-01\ufffd01” is not).",
        ),
    ]:
        filters, problems = desk_queue.parse_filters(params)
        assert problems == [problem]
        assert filters == QueueFilters()


async def test_a_waiting_ticket_past_its_deadline_is_paused_not_breached(
    conn: Conn, aconn: AConn, admin: Officer
) -> None:
    """Waiting pauses the resolution clock (0005): the desk judges it as the SLA scan does."""
    paused = add(
        conn, timedelta(hours=-2), responded=True, status_id=WAITING, waiting_since=NOW - timedelta(hours=3)
    )
    late_before_the_wait = add(
        conn, timedelta(hours=-2), responded=True, status_id=WAITING, waiting_since=NOW - timedelta(hours=1)
    )
    upcoming = add(conn, timedelta(hours=1), responded=True, status_id=IN_PROGRESS)

    page = await desk_queue.queue(aconn, admin, QueueFilters())
    assert [(row.ticket_number, row.breached) for row in page.rows] == [
        (late_before_the_wait, True),
        (paused, False),  # with the others, by its deadline
        (upcoming, False),
    ]
    assert await numbers(aconn, admin, QueueFilters(breached=True)) == [late_before_the_wait]
    assert [row.ticket_number for row in await everything(aconn, admin, QueueFilters(), limit=1)] == [
        late_before_the_wait,
        paused,
        upcoming,
    ]
    for number, breached in ((paused, False), (late_before_the_wait, True)):
        view = await desk_tickets.ticket(aconn, admin, number)
        assert view is not None
        assert view.breached is breached
