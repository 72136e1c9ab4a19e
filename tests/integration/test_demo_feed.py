"""The demo's ticket feed (kiosk/demo_feed.py) against a real feedback_db: complaints and low
ratings become tickets by the database's own triggers, and the feed says each one once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from kiosk import demo_feed
from tests.helpers import pg
from tests.helpers.feedback import insert_feedback
from tests.helpers.processes import wait_until
from tests.helpers.server import free_port
from tests.helpers.terminal import Terminal
from tests.helpers.tickets import insert_ticket

STATUS_BASE = "http://127.0.0.1:8765"
StartFeed = Callable[[Terminal], demo_feed.TicketFeed]
FAST = 0.05  # the feed's poll interval here


def polls_later(feed: demo_feed.TicketFeed, count: int = 3) -> None:
    """Until the feed has polled `count` more times: whatever it would say, it has said."""
    target = feed.polls + count
    wait_until(lambda: feed.polls >= target, f"{count} more polls")


def complaint(conn: psycopg.Connection[tuple[object, ...]], reference: str, rating: int = 1) -> str:
    """A submission the triggers make a ticket of (rating 1 or 2, or a grievance); its number."""
    feedback_id = insert_feedback(conn, service_id="SVC-001", rating=rating, reference_code=reference)
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None, "no ticket made"
    return str(row[0])


def libpq(url: URL) -> str:
    return pg.conninfo(url)


def allow_connections(database: str | None, allowed: bool) -> sql.Composed:
    return sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
        sql.Identifier(str(database)), sql.SQL("true" if allowed else "false")
    )


@pytest.fixture
def feed_on(db_url: URL) -> Iterator[StartFeed]:
    started: list[demo_feed.TicketFeed] = []

    def start(said: Terminal) -> demo_feed.TicketFeed:
        feed = demo_feed.TicketFeed(
            db_url.render_as_string(hide_password=False), STATUS_BASE, said, interval_s=FAST
        )
        feed.start()
        started.append(feed)
        return feed

    yield start
    for feed in started:
        feed.stop()


def test_a_complaint_that_becomes_a_ticket_is_said_once_with_its_status_page(
    conn: psycopg.Connection[tuple[object, ...]], feed_on: StartFeed
) -> None:
    older = complaint(conn, "T0001-000001-AAAA")  # there before the feed: never said
    said = Terminal()
    feed = feed_on(said)

    first = complaint(conn, "T0001-000002-BBBB", rating=1)
    wait_until(lambda: said.tickets() == [first], "the complaint's ticket is said")
    line = said.out()[0]
    assert f"New ticket {first} (High): " in line
    assert line.endswith(f"status page {STATUS_BASE}/s/T0001-000002-BBBB")
    # The SLA deadlines, in the server's zone (app_settings), as the status page shows them.
    deadlines = conn.execute(
        "SELECT to_char(t.response_target AT TIME ZONE a.timezone, 'YYYY-MM-DD HH24:MI'), "
        "to_char(t.resolution_target AT TIME ZONE a.timezone, 'YYYY-MM-DD HH24:MI'), a.timezone "
        "FROM tickets t, app_settings a WHERE t.ticket_number = %s",
        (first,),
    ).fetchone()
    assert deadlines is not None
    assert f"respond by {deadlines[0]}, resolve by {deadlines[1]} ({deadlines[2]})" in line
    assert deadlines[2] == pg.TEST_TIMEZONE

    insert_feedback(conn, service_id="SVC-001", rating=5, reference_code="T0001-000003-CCCC")  # no ticket
    second = complaint(conn, "T0001-000004-DDDD", rating=2)
    wait_until(lambda: len(said.tickets()) == 2, "the second ticket is said")
    polls_later(feed)

    assert said.tickets() == [first, second]
    assert older not in said.tickets()
    assert f"New ticket {second} (Medium): " in said.out()[1]
    assert said.err() == []


def test_a_ticket_whose_insert_commits_after_a_later_one_is_still_said(
    db_url: URL, conn: psycopg.Connection[tuple[object, ...]], feed_on: StartFeed
) -> None:
    said = Terminal()
    feed = feed_on(said)
    with psycopg.connect(libpq(db_url)) as slow:  # one transaction, committed at the end
        # Its own number, so it does not hold the month's ticket counter (which would make the
        # second insert wait for this transaction): a back-filled ticket, say.
        insert_ticket(slow, ticket_number="202501-900001", title="Back-filled")  # takes its id first
        later = complaint(conn, "T0001-000002-BBBB")  # a higher id, committed at once
        wait_until(lambda: said.tickets() == [later], "the committed ticket is said")
        polls_later(feed)  # the earlier id, not yet visible, is being looked for
        slow.commit()
    wait_until(lambda: len(said.tickets()) == 2, "the late ticket is said")
    polls_later(feed)
    assert said.tickets() == [later, "202501-900001"]


def test_a_ticket_with_no_submission_behind_it_is_said_without_a_status_page(
    conn: psycopg.Connection[tuple[object, ...]], feed_on: StartFeed
) -> None:
    said = Terminal()
    feed_on(said)
    conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, priority_id) "
        "VALUES ('AGY-002', 'SVC-001', 'Phoned in', 4)"
    )
    wait_until(lambda: len(said.tickets()) == 1, "the ticket is said")
    assert "(Low): " in said.out()[0]
    assert said.out()[0].endswith("no status page (no receipt behind it)")


def test_a_database_that_fails_is_said_once_and_the_feed_goes_on_when_it_is_back(
    db_url: URL, conn: psycopg.Connection[tuple[object, ...]], feed_on: StartFeed
) -> None:
    said = Terminal()
    feed = feed_on(said)
    name = db_url.database
    admin = psycopg.connect(pg.conninfo(pg.admin_url()), autocommit=True)
    try:
        # An outage of this test's own database: no new connection, the feed's own cut.
        admin.execute(allow_connections(name, False))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = %s",
            (name, demo_feed.APPLICATION_NAME),
        )
        wait_until(lambda: len(said.err()) == 1, "the failure is said")
        polls_later(feed, 5)  # failing every time
        assert len(said.err()) == 1, said.err()
        assert said.err()[0].startswith("The ticket feed cannot read feedback_db (")
        assert said.err()[0].endswith("; it keeps trying.")
        # A ticket made during the outage (over a connection opened before it) is said after it.
        during = complaint(conn, "T0001-000001-AAAA")
        polls_later(feed)
        assert said.tickets() == []
    finally:
        admin.execute(allow_connections(name, True))
        admin.close()
    wait_until(lambda: said.tickets() == [during], "the ticket made during the outage is said")
    assert said.err()[1:] == ["The ticket feed reads feedback_db again."]
    after = complaint(conn, "T0001-000002-BBBB")
    wait_until(lambda: said.tickets() == [during, after], "the next ticket is said")


def test_a_feed_that_never_reaches_its_database_stops_cleanly() -> None:
    said = Terminal()
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/gea_demo"
    feed = demo_feed.TicketFeed(nowhere, STATUS_BASE, said, interval_s=FAST)
    feed.start()
    try:
        polls_later(feed, 5)
    finally:
        feed.stop()
    assert len(said.err()) == 1, said.err()
    assert "cannot read feedback_db" in said.err()[0]
    assert said.out() == []
    assert not any(t.name == "demo-ticket-feed" and t.is_alive() for t in threading.enumerate())


def test_the_line_for_a_ticket() -> None:
    ticket = demo_feed.NewTicket(
        7,
        "202607-000012",
        "High",
        "2026-07-04 13:05",
        "2026-07-06 22:05",
        "America/Grenada",
        "K0001-000003-X7QZ",
    )
    assert demo_feed.line_for(ticket, "http://127.0.0.1:8765/") == (
        "New ticket 202607-000012 (High): respond by 2026-07-04 13:05, resolve by 2026-07-06 22:05 "
        "(America/Grenada); status page http://127.0.0.1:8765/s/K0001-000003-X7QZ"
    )
    bare = demo_feed.NewTicket(8, "202607-000013", "Low", None, None, "UTC", None)
    assert demo_feed.line_for(bare, "http://x") == (
        "New ticket 202607-000013 (Low): no SLA deadline; no status page (no receipt behind it)"
    )
