"""Two officers on one ticket at the same moment (services/desk_tickets.py, issue 13).

Security review: while one transaction changed a ticket's status, another waiting to lock the
ticket found nothing and the desk answered 404 instead of "changed meanwhile" (409): the lock
joined ticket_status, and once granted PostgreSQL re-checked the join against the old status
row. The first tests make the race happen every time: a second connection holds its change
uncommitted until the desk's transaction is seen waiting for the lock, then commits.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api.domain import Officer
from server_sync_api.services import desk_tickets
from server_sync_api.services.desk_tickets import DeskError, StaleTicket
from tests.helpers import desk, pg, server
from tests.helpers.tickets import category_id, insert_ticket, row_version, ticket_number

pytestmark = pytest.mark.pg

Conn = psycopg.Connection[tuple[Any, ...]]
AConn = psycopg.AsyncConnection[Any]


@pytest.fixture
def supervisor(conn: Conn) -> Officer:
    row = conn.execute(
        "INSERT INTO officers (email, display_name, entity_id, role) "
        "VALUES ('sue@gov.gd', 'Sue', 'DEPT-003', 'supervisor') RETURNING officer_id"
    ).fetchone()
    assert row is not None
    return Officer(row[0], "sue@gov.gd", "Sue", "DEPT-003", "supervisor", True)


@pytest.fixture
def ticket(conn: Conn) -> str:
    """An open DEPT-003 ticket in category General."""
    return ticket_number(conn, insert_ticket(conn, category_id=category_id(conn, "General")))


async def waiting_for_a_lock(conn: Conn, pid: int) -> None:
    """Returns once backend `pid` waits for a lock (the desk's transaction, at its FOR UPDATE)."""
    for _ in range(1000):
        row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if row is not None and row[0] == "Lock":
            return
        await anyio.sleep(0.01)
    raise AssertionError("the desk's transaction never waited for the ticket's lock")


async def while_changed_meanwhile(
    db_url: URL, conn: Conn, aconn: AConn, number: str, change: str, action: Callable[[], Awaitable[int]]
) -> int | DeskError:
    """Runs `action` on `aconn` while another transaction has made `change` (SQL SET list) to
    the ticket and not yet committed; commits it once `action` waits for the lock. Returns what
    `action` returned, or the DeskError it raised."""
    outcome: list[int | DeskError] = []

    async def act() -> None:
        try:
            outcome.append(await action())
        except DeskError as exc:
            outcome.append(exc)

    with psycopg.connect(pg.conninfo(db_url)) as other:
        other.execute(f"UPDATE tickets SET {change} WHERE ticket_number = %s", (number,))
        async with anyio.create_task_group() as group:
            group.start_soon(act)
            await waiting_for_a_lock(conn, aconn.info.backend_pid)
            other.commit()
    return outcome[0]


CHANGES = {
    "status": "status_id = 2",  # In Progress
    "priority": "priority_id = 1",
    "category": (
        "category_id = (SELECT category_id FROM ticket_categories WHERE category_name = 'Labour services')"
    ),
    "assignee": "assigned_to = 'sue@gov.gd'",
}


@pytest.mark.anyio
@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_change_made_meanwhile_makes_the_page_stale_never_not_found(
    db_url: URL, conn: Conn, aconn: AConn, supervisor: Officer, ticket: str, change: str
) -> None:
    seen = row_version(conn, ticket)
    outcome = await while_changed_meanwhile(
        db_url,
        conn,
        aconn,
        ticket,
        CHANGES[change],
        lambda: desk_tickets.change_priority(aconn, supervisor, ticket, seen, 4),
    )
    assert isinstance(outcome, StaleTicket), outcome
    assert row_version(conn, ticket) == seen + 1
    row = conn.execute("SELECT priority_id FROM tickets WHERE ticket_number = %s", (ticket,)).fetchone()
    assert row is not None
    assert row[0] != 4  # the stale change was not made


@pytest.mark.anyio
@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_change_on_the_newest_version_waits_for_the_lock_and_is_made(
    db_url: URL, conn: Conn, aconn: AConn, supervisor: Officer, ticket: str, change: str
) -> None:
    """Holding the version the other transaction is about to commit, the desk's change goes
    through once it commits, and works from what was committed (names included)."""
    newest = row_version(conn, ticket) + 1
    registry = category_id(conn, "Registry counter service")
    outcome = await while_changed_meanwhile(
        db_url,
        conn,
        aconn,
        ticket,
        CHANGES[change],
        lambda: desk_tickets.change_category(aconn, supervisor, ticket, newest, registry),
    )
    assert outcome == newest + 1
    old_category = "Labour services" if change == "category" else "General"
    row = conn.execute(
        "SELECT a.old_value, a.new_value, a.changed_by FROM ticket_activities a "
        "JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s AND a.activity_type = 'category_change'",
        (ticket,),
    ).fetchone()
    assert row == (old_category, "Registry counter service", "sue@gov.gd")


@pytest.mark.anyio
async def test_a_status_move_made_meanwhile_is_judged_from_the_new_status(
    db_url: URL, conn: Conn, aconn: AConn, supervisor: Officer, ticket: str
) -> None:
    """Open -> Resolved commits while the desk waits to move the newest version on to Reopened
    (which Open may not do): the workflow is judged from Resolved, the status committed."""
    newest = row_version(conn, ticket) + 1
    outcome = await while_changed_meanwhile(
        db_url,
        conn,
        aconn,
        ticket,
        "status_id = 4",  # Resolved
        lambda: desk_tickets.change_status(aconn, supervisor, ticket, newest, "reopened"),
    )
    assert outcome == newest + 1
    row = conn.execute(
        "SELECT a.old_value, a.new_value FROM ticket_activities a JOIN tickets t USING (ticket_id) "
        "WHERE t.ticket_number = %s AND a.activity_type = 'status_change' ORDER BY a.activity_id",
        (ticket,),
    ).fetchall()
    assert row == [("Open", "Resolved"), ("Resolved", "Reopened")]


# -- Over HTTP -----------------------------------------------------------------------------------

POSTS = 16


@pytest.fixture
def live_desk(db_url: URL) -> Iterator[server.LiveServer]:
    # A connection for every post at once, so they all meet at the ticket's lock.
    with desk.serve_desk(db_url, db_pool_max_size=POSTS + 4) as live:
        yield live


def test_many_officers_posting_the_same_version_at_once_make_one_change_and_the_rest_409(
    live_desk: server.LiveServer, conn: Conn, ticket: str
) -> None:
    desk.add_officer(conn, "sue@gov.gd", "DEPT-003", "supervisor")
    version = row_version(conn, ticket)
    with desk.sign_in(live_desk, "sue@gov.gd") as signed_in:
        token = desk.csrf_of(signed_in.get(f"/desk/tickets/{ticket}").text)
        cookies = dict(signed_in.cookies)
    start = threading.Barrier(POSTS)
    answers: list[int] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        # Every post moves the status (Open to In Progress or Waiting): each one would change
        # the ticket's status_id, the column whose join made the lock lose the ticket.
        data = {"csrf_token": token, "version": str(version), "status": ("in_progress", "waiting")[i % 2]}
        with live_desk.client(follow_redirects=False, cookies=cookies) as client:
            start.wait()
            answer = client.post(f"/desk/tickets/{ticket}/status", data=data)
        with lock:
            answers.append(answer.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(POSTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [303] + [409] * (POSTS - 1)
    assert row_version(conn, ticket) == version + 1
    moves = conn.execute(
        "SELECT count(*) FROM ticket_activities a JOIN tickets t USING (ticket_id) "
        "WHERE t.ticket_number = %s AND a.activity_type = 'status_change'",
        (ticket,),
    ).fetchone()
    assert moves == (1,)
