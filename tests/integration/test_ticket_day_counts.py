"""Ticket counts per day (migration 0010): appended by the triggers on tickets, breaches and the
server's zone in the transaction of each change, so v_daily_ticket_stats, which sums them, gives
the answer 0001's definition gives from the rows themselves through the desk's whole life of a
ticket (responses, late and timely resolutions, closing, reopening), breaches recorded, moved
and removed, imported tickets, a change of zone and concurrent writers. No writer waits on
another's counts, and folding each day's rows (maintenance) changes no answer, even beside a
writer. The migration counts the stored rows, grants the API's role what its tickets now
write, and its downgrade restores 0009 exactly."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate, schema
from server_sync_api.core.db import make_engine
from tests.helpers import pg
from tests.helpers.processes import wait_until
from tests.helpers.roles import documented_grants, login_role
from tests.helpers.tickets import insert_ticket
from tests.helpers.views import as_counted, insert_columns, services_of
from tests.integration.test_migrations import _schema

Conn = psycopg.Connection[tuple[Any, ...]]
OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"
BATCH = (
    "INSERT INTO service_feedback (client_uuid, channel, service_id, entity_id, rating, created_at) "
    "SELECT * FROM unnest(%s::uuid[], %s::varchar[], %s::varchar[], %s::varchar[], %s::int[], "
    "%s::timestamptz[]) ORDER BY 1"
)
# 0001's definition (v0008's down.sql restores it), counting the rows on each call.
COUNTED = schema.read_sql("v0008", "down.sql")
NOW = datetime.now(UTC)


def daily(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM v_daily_ticket_stats ORDER BY date").fetchall()


def counted(conn: Conn) -> list[tuple[Any, ...]]:
    return as_counted(conn, COUNTED, daily)


def assert_current(conn: Conn) -> None:
    assert daily(conn) == counted(conn)


def low_ratings(
    services: Sequence[tuple[str, str]], count: int, rnd: random.Random
) -> list[tuple[object, ...]]:
    """Feedback that makes a ticket each, created over the last ten days at any hour (days in
    the server's zone differ from UTC's)."""
    rows: list[tuple[object, ...]] = []
    for _ in range(count):
        service_id, entity_id = rnd.choice(services)
        created = NOW - timedelta(
            days=rnd.randint(0, 9), hours=rnd.randint(0, 23), minutes=rnd.randint(0, 59)
        )
        rows.append(
            (uuid.UUID(int=rnd.getrandbits(128), version=4), "kiosk", service_id, entity_id, 1, created)
        )
    return rows


def insert_batch(conn: Conn, rows: Sequence[tuple[object, ...]]) -> None:
    insert_columns(conn, BATCH, rows)


def ticket_ids(conn: Conn, status: int, count: int) -> list[int]:
    rows = conn.execute(
        "SELECT ticket_id FROM tickets WHERE status_id = %s ORDER BY ticket_id LIMIT %s", (status, count)
    ).fetchall()
    assert len(rows) == count
    return [int(row[0]) for row in rows]


def test_the_view_reads_day_totals_as_current_as_the_rows(conn: Conn) -> None:
    conn.autocommit = True
    assert daily(conn) == []
    insert_batch(conn, low_ratings(services_of(conn), 120, random.Random(4)))
    assert_current(conn)

    late, timely, closed, reopened = (ticket_ids(conn, 1, 40)[i::4] for i in range(4))
    # Late: both targets already past, so resolving records breaches (trg_check_sla_breach).
    conn.execute(
        "UPDATE tickets SET response_target = now() - interval '3 hours', "
        "resolution_target = now() - interval '2 hours' WHERE ticket_id = ANY(%s)",
        (late,),
    )
    conn.execute("UPDATE tickets SET status_id = 2 WHERE ticket_id = ANY(%s)", (timely + closed,))
    conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_id = ANY(%s)", (late + timely + reopened,))
    conn.execute("UPDATE tickets SET status_id = 5 WHERE ticket_id = ANY(%s)", (closed,))
    assert_current(conn)
    assert any(row[5] is not None and row[5] < 100 for row in daily(conn))  # some resolved late

    conn.execute("UPDATE tickets SET status_id = 6 WHERE ticket_id = ANY(%s)", (reopened,))
    assert_current(conn)
    conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_id = ANY(%s)", (reopened[:3],))
    assert_current(conn)

    # Breaches removed, recorded, moved and changed by hand for resolved tickets, each flipping
    # whether the ticket counts as resolved in time.
    conn.execute("DELETE FROM sla_breaches WHERE ticket_id = ANY(%s)", (timely[:6] + late[:5],))
    assert_current(conn)
    conn.execute(
        "INSERT INTO sla_breaches (ticket_id, breach_type, clock_started_at, expected_time, actual_time) "
        "SELECT ticket_id, 'response_breach', timestamptz '2000-01-01' + ticket_id * interval '1 second', "
        "created_at, now() FROM tickets WHERE ticket_id = ANY(%s)",
        (timely[:4],),
    )
    assert_current(conn)
    conn.execute("UPDATE sla_breaches SET ticket_id = %s WHERE ticket_id = %s", (timely[5], timely[0]))
    # Two breaches of one ticket moved to another in one statement.
    conn.execute(
        "INSERT INTO sla_breaches (ticket_id, breach_type, clock_started_at, expected_time, actual_time) "
        "VALUES (%s, 'resolution_breach', timestamptz '2001-01-01', now() - interval '1 day', now())",
        (timely[1],),
    )
    conn.execute("UPDATE sla_breaches SET ticket_id = %s WHERE ticket_id = %s", (timely[6], timely[1]))
    conn.execute(
        "UPDATE sla_breaches SET hours_overdue = hours_overdue + 1 WHERE ticket_id = ANY(%s)", (late,)
    )
    assert_current(conn)

    # A ticket written straight in, already resolved and closed (an import), and a created_at
    # moved to another day by hand.
    conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, status_id, created_at, resolved_at, closed_at) "
        "VALUES ('DEPT-003', 'SVC-003', 'Imported', 5, now() - interval '20 days', "
        "now() - interval '15 days 3 hours', now() - interval '14 days')"
    )
    conn.execute(
        "UPDATE tickets SET created_at = created_at - interval '2 days' WHERE ticket_id = %s", (late[6],)
    )
    assert_current(conn)

    # Breaches all gone at once (nothing references sla_breaches, so it can be truncated).
    conn.execute("TRUNCATE sla_breaches")
    assert_current(conn)

    # Another zone: every day is another day.
    conn.execute("UPDATE app_settings SET timezone = 'Asia/Kolkata'")
    assert_current(conn)
    assert len(daily(conn)) >= 10


def deltas_per_day(conn: Conn) -> dict[Any, int]:
    rows = conn.execute("SELECT day, count(*) FROM ticket_day_deltas GROUP BY day").fetchall()
    return {day: int(n) for day, n in rows}


def test_a_transaction_holding_a_new_ticket_open_holds_back_no_other_ticket_of_the_day(db_url: URL) -> None:
    """The first version upserted one row per day: every ticket of the day then waited for an
    open transaction that had made one. Appended rows are nobody else's to lock."""
    info = pg.conninfo(db_url)
    with psycopg.connect(info) as slow, psycopg.connect(info, autocommit=True) as conn:
        # Its own number, so it does not hold the month's ticket counter: an import, say.
        insert_ticket(
            slow,
            ticket_number="202501-900001",
            title="Back-filled",
            status_id=4,
            resolved_at=NOW,
            closed_at=NOW,
        )
        conn.execute("SET lock_timeout = '20s'")  # a wait fails the test instead of hanging it
        insert_batch(conn, low_ratings(services_of(conn), 5, random.Random(8)))
        conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_number <> '202501-900001'")
        made = daily(conn)
        slow.commit()
        assert sum(row[1] for row in made) == 5
        assert sum(row[1] for row in daily(conn)) == 6
        assert_current(conn)


def test_folding_each_days_rows_into_one_changes_no_answer_even_beside_a_writer(db_url: URL) -> None:
    info = pg.conninfo(db_url)
    with psycopg.connect(info, autocommit=True) as conn, psycopg.connect(info) as writer:
        services = services_of(conn)
        for seed in range(4):
            insert_batch(conn, low_ratings(services, 25, random.Random(seed)))
        conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_id % 3 = 0")
        conn.execute("UPDATE tickets SET status_id = 5 WHERE ticket_id % 6 = 0")
        conn.execute("UPDATE tickets SET status_id = 6 WHERE ticket_id % 12 = 0")
        before = daily(conn)
        rows_before = sum(deltas_per_day(conn).values())
        assert max(deltas_per_day(conn).values()) > 1

        # A writer's rows not yet committed while the fold runs: not folded, not lost.
        insert_batch(writer, low_ratings(services, 10, random.Random(50)))
        folded = conn.execute("SELECT compact_ticket_day_totals()").fetchone()
        assert folded is not None
        assert daily(conn) == before
        per_day = deltas_per_day(conn)
        assert set(per_day.values()) == {1}
        assert folded[0] == rows_before - len(per_day)
        writer.commit()
        assert_current(conn)
        assert sum(row[1] for row in daily(conn)) == sum(row[1] for row in before) + 10

        # Folding again folds only what came since; a day that sums to nothing keeps no row.
        conn.execute("SELECT compact_ticket_day_totals()")
        assert set(deltas_per_day(conn).values()) == {1}
        assert_current(conn)
        conn.execute(
            "INSERT INTO ticket_day_deltas (day, created) VALUES ('1999-01-01', 1), ('1999-01-01', -1)"
        )
        conn.execute("SELECT compact_ticket_day_totals()")
        assert date(1999, 1, 1) not in deltas_per_day(conn)
        assert_current(conn)


BREACH = (
    "INSERT INTO sla_breaches (ticket_id, breach_type, clock_started_at, expected_time, actual_time) "
    "SELECT ticket_id, %s, created_at, created_at + interval '1 hour', now() "
    "FROM tickets WHERE ticket_id = %s"
)


def resolved_ticket(conn: Conn) -> int:
    """A ticket resolved in time (no breach), created and resolved on the same day whatever the
    hour the test runs."""
    return insert_ticket(
        conn, created_at="2026-01-15 12:00:00+00", status_id=4, responded_at="2026-01-15 12:30:00+00",
        resolved_at="2026-01-15 13:00:00+00", response_target="2026-01-15 16:00:00+00",
        resolution_target="2026-01-16 12:00:00+00",
    )  # fmt: skip


def waits_on_the_ticket(watcher: Conn, pid: int) -> None:
    """Until the backend `pid` waits for another transaction's lock on a ticket's row."""
    wait_until(
        lambda: watcher.execute(
            "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = %s AND NOT l.granted AND l.locktype = 'tuple' AND c.relname = 'tickets' "
            "UNION ALL "
            "SELECT 1 FROM pg_stat_activity a WHERE a.pid = %s AND a.wait_event = 'transactionid'",
            (pid, pid),
        ).fetchone(),
        "a wait on the ticket's row",
    )


def in_thread(conn: Conn, statement: str, params: tuple[object, ...]) -> threading.Thread:
    def run() -> None:
        with conn.transaction():
            conn.execute(statement, params)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("second", ["breach", "resolve"])
def test_changes_to_one_ticket_at_once_are_judged_one_after_the_other(db_url: URL, second: str) -> None:
    """Each transaction judges "resolved in time" from what it sees. Two first breaches added at
    once, or a breach added while another transaction resolves the ticket, each blind to the
    other, counted it out twice or not at all; the second now waits for the first."""
    info = pg.conninfo(db_url)
    with (
        psycopg.connect(info, autocommit=True) as conn,
        psycopg.connect(info) as first,
        psycopg.connect(info) as other,
    ):
        ticket = resolved_ticket(conn)
        if second == "resolve":
            conn.execute(
                "UPDATE tickets SET status_id = 2, resolved_at = NULL WHERE ticket_id = %s", (ticket,)
            )
        before = daily(conn)
        first.execute(BREACH, ("response_breach", ticket))  # not committed yet
        if second == "breach":
            thread = in_thread(other, BREACH, ("resolution_breach", ticket))
        else:
            thread = in_thread(
                other,
                "UPDATE tickets SET status_id = 4, resolved_at = '2026-01-15 13:00:00+00' "
                "WHERE ticket_id = %s",
                (ticket,),
            )
        waits_on_the_ticket(conn, other.info.backend_pid)
        first.commit()
        thread.join()
        assert daily(conn) != before
        assert_current(conn)
        assert daily(conn)[0][5] == 0  # resolved, with a breach: not in time


def test_a_statement_changing_many_tickets_takes_no_lock_per_ticket(conn: Conn) -> None:
    """Row locks, not lock-table entries: resolving 400 late tickets at once (a breach recorded
    for each, by statements of their own) holds no more of PostgreSQL's shared lock table
    (max_locks_per_transaction per connection) than resolving 20."""
    conn.autocommit = True
    insert_batch(conn, low_ratings(services_of(conn), 400, random.Random(21)))

    def locks_held_resolving(count: int) -> int:
        with conn.transaction(force_rollback=True):
            conn.execute(
                "UPDATE tickets SET response_target = now() - interval '3 hours', "
                "resolution_target = now() - interval '2 hours' WHERE ticket_id <= %s",
                (count,),
            )
            conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_id <= %s", (count,))
            breached = conn.execute("SELECT count(DISTINCT ticket_id) FROM sla_breaches").fetchone()
            assert breached == (count,)
            held = conn.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()").fetchone()
            assert held is not None
            return int(held[0])

    assert locks_held_resolving(400) <= locks_held_resolving(20) + 5
    assert_current(conn)


def test_a_ticket_times_or_breaches_change_only_under_read_committed(db_url: URL) -> None:
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        ticket = resolved_ticket(conn)
        conn.commit()
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.InvalidTransactionState, match="READ COMMITTED transaction") as exc:
            conn.execute(BREACH, ("response_breach", ticket))
        assert exc.value.diag.message_hint is not None
        conn.rollback()
        conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        with pytest.raises(psycopg.errors.InvalidTransactionState, match="this one is SERIALIZABLE"):
            conn.execute("UPDATE tickets SET status_id = 5 WHERE ticket_id = %s", (ticket,))
        conn.rollback()
        conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        insert_ticket(conn, title="New tickets need no lock")  # a new ticket has no breaches to judge
        conn.commit()


def test_a_breach_moved_with_a_new_id_and_the_zones_row_replaced_are_counted(conn: Conn) -> None:
    conn.autocommit = True
    moved, target = resolved_ticket(conn), resolved_ticket(conn)
    conn.execute(BREACH, ("response_breach", moved))
    conn.execute(
        "UPDATE sla_breaches SET breach_id = breach_id + 1000, ticket_id = %s WHERE ticket_id = %s",
        (target, moved),
    )
    assert_current(conn)
    # Without its row the zone is app_timezone()'s default; with a new one, whatever it says.
    conn.execute("UPDATE app_settings SET timezone = 'Asia/Kolkata'")
    insert_batch(conn, low_ratings(services_of(conn), 40, random.Random(12)))
    conn.execute("DELETE FROM app_settings")
    assert_current(conn)
    conn.execute("INSERT INTO app_settings (timezone) VALUES ('Pacific/Kiritimati')")
    assert_current(conn)


def test_concurrent_writers_keep_exact_day_totals(db_url: URL) -> None:
    """Three writers adding tickets over the same days (a third of their batches rolled back)
    while a fourth resolves and closes them: the totals are the committed rows' counts, and no
    writer deadlocks on another."""
    info = pg.conninfo(db_url)
    with psycopg.connect(info) as conn:
        services = services_of(conn)
        insert_batch(conn, low_ratings(services, 60, random.Random(99)))
        conn.commit()
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        rnd = random.Random(n)
        try:
            with psycopg.connect(info) as conn:
                start.wait()
                for batch in range(8):
                    with conn.transaction(force_rollback=batch % 3 == 2):
                        insert_batch(conn, low_ratings(services, 30, rnd))
        except BaseException as exc:  # reported below
            failures.append(exc)

    def desk() -> None:
        try:
            with psycopg.connect(info, autocommit=True) as conn:
                start.wait()
                # Open → In Progress → Resolved → Closed → Reopened → Resolved, ten tickets a step.
                for old, new in ((1, 2), (2, 4), (4, 5), (5, 6), (6, 4)):
                    for ticket in ticket_ids(conn, old, 10):
                        conn.execute("UPDATE tickets SET status_id = %s WHERE ticket_id = %s", (new, ticket))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=desk))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with psycopg.connect(info, autocommit=True) as conn:
        assert_current(conn)
        assert sum(row[1] for row in daily(conn)) == 60 + 3 * 6 * 30


def test_0010_counts_the_stored_rows_grants_the_api_role_and_downgrades_exactly(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0009")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        insert_batch(conn, low_ratings(services_of(conn), 80, random.Random(5)))
        conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_id % 3 = 0")
        conn.execute("UPDATE tickets SET status_id = 5 WHERE ticket_id % 5 = 0")
        before = daily(conn)
        schema_0009 = _schema(conn)
    lines = documented_grants(OPERATIONS, "## The database role for the API").splitlines()
    newer = ("ticket_day_deltas", "compact_ticket_day_totals")
    grants = "\n".join(line for line in lines if not any(name in line for name in newer))
    with login_role(empty_db_url, grants, prefix="gea_api_up10") as as_api:
        notes: list[str] = []
        migrate.upgrade(engine, revision="0010", on_notice=notes.append)
        assert any(str(as_api.username) in note and "ticket_day_deltas" in note for note in notes), notes
        # It may archive activities (maintenance), so it may fold the day counts too.
        assert any(
            str(as_api.username) in note and "compact_ticket_day_totals()" in note for note in notes
        ), notes
        with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
            assert daily(conn) == before  # the stored rows, counted by the migration
        with psycopg.connect(pg.conninfo(as_api), autocommit=True) as api:
            insert_batch(api, low_ratings(services_of(api), 10, random.Random(6)))
            api.execute("UPDATE tickets SET status_id = 4 WHERE ticket_id % 7 = 1")
            api.execute("SELECT compact_ticket_day_totals()")
        with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
            assert_current(conn)
            assert daily(conn) != before
    migrate.downgrade(engine, "0009")
    engine.dispose()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_0009
