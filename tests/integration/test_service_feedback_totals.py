"""Per-service feedback totals (migration 0009): kept by the feedback statement triggers in the
same statement as the rows they count, so v_service_performance, which reads them, gives the
answer 0001's definition gives from the rows themselves after batches, single rows, corrections
and deletions, under concurrent writers; the migration counts the rows already stored, grants
the API's role what its submissions now write, and its downgrade restores 0008 exactly."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate, schema
from server_sync_api.core.db import make_engine
from tests.helpers import pg
from tests.helpers.feedback import insert_feedback
from tests.helpers.roles import documented_grants, login_role
from tests.helpers.views import as_counted, insert_columns, services_of
from tests.integration.test_migrations import _schema

Conn = psycopg.Connection[tuple[Any, ...]]
OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"
COLUMNS = (
    "client_uuid, reference_code, channel, service_id, entity_id, rating, grievance_flag, misuse_suspected"
)
BATCH = (
    f"INSERT INTO service_feedback ({COLUMNS}) "
    "SELECT * FROM unnest(%s::uuid[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], "
    "%s::int[], %s::bool[], %s::bool[]) ORDER BY 1"
)
# 0001's definition, counting the rows on each call (the answer the totals must give).
COUNTED = schema.read_sql("v0008", "down.sql").split("CREATE OR REPLACE VIEW v_daily_ticket_stats")[0]


def performance(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM v_service_performance ORDER BY service_id").fetchall()


def counted(conn: Conn) -> list[tuple[Any, ...]]:
    return as_counted(conn, COUNTED, performance)


def assert_current(conn: Conn) -> None:
    assert performance(conn) == counted(conn)


def random_rows(
    services: Sequence[tuple[str, str]], count: int, rnd: random.Random
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for _ in range(count):
        service_id, entity_id = rnd.choice(services)
        rows.append(
            (uuid.UUID(int=rnd.getrandbits(128), version=4), None, "kiosk", service_id, entity_id,
             rnd.randint(1, 5), rnd.random() < 0.1, rnd.random() < 0.05)
        )  # fmt: skip
    return rows


def insert_batch(conn: Conn, rows: Sequence[tuple[object, ...]]) -> None:
    insert_columns(conn, BATCH, rows)


def test_the_view_reads_totals_as_current_as_the_rows(conn: Conn) -> None:
    conn.autocommit = True
    assert_current(conn)  # no feedback yet: zero counts, NULL averages
    insert_batch(conn, random_rows(services_of(conn), 300, random.Random(3)))
    assert_current(conn)
    insert_feedback(conn, service_id="SVC-002", rating=2, misuse_suspected=True)
    insert_feedback(conn, service_id="SVC-002", rating=5, grievance_flag=True)
    assert_current(conn)
    # Corrections by hand: a rating, a flag, a service moved, rows deleted; and an UPDATE that
    # changes no count (a comment) writes no totals row.
    conn.execute("UPDATE service_feedback SET rating = 6 - rating WHERE feedback_id % 7 = 0")
    conn.execute(
        "UPDATE service_feedback SET misuse_suspected = NOT misuse_suspected WHERE feedback_id % 11 = 0"
    )
    conn.execute(
        "UPDATE service_feedback SET service_id = 'SVC-004', entity_id = 'DEPT-003' "
        "WHERE feedback_id % 13 = 0 "
        "AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.feedback_id = service_feedback.feedback_id)"
    )
    assert_current(conn)
    before = conn.execute("SELECT service_id, xmin::text FROM service_feedback_totals ORDER BY 1").fetchall()
    conn.execute("UPDATE service_feedback SET feedback_text = 'Corrected' WHERE feedback_id % 5 = 0")
    assert (
        conn.execute("SELECT service_id, xmin::text FROM service_feedback_totals ORDER BY 1").fetchall()
        == before
    )
    conn.execute(
        "DELETE FROM service_feedback f WHERE feedback_id % 3 = 0 "
        "AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.feedback_id = f.feedback_id)"
    )
    assert_current(conn)
    assert any(row[3] for row in performance(conn))  # the view is not all zeros


def test_concurrent_batches_keep_exact_totals(db_url: URL) -> None:
    """Four writers with batches over the same services, a third rolled back: the totals are the
    committed rows' counts, and no writer deadlocks on another."""
    info = pg.conninfo(db_url)
    with psycopg.connect(info) as conn:
        services = services_of(conn)
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        rnd = random.Random(n)
        try:
            with psycopg.connect(info) as conn:
                start.wait()
                for batch in range(10):
                    with conn.transaction(force_rollback=batch % 3 == 2):
                        insert_batch(conn, random_rows(services, 50, rnd))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with psycopg.connect(info, autocommit=True) as conn:
        assert_current(conn)
        total = conn.execute("SELECT sum(submissions) FROM service_feedback_totals").fetchone()
        assert total == (4 * 7 * 50,)


def test_0009_counts_the_stored_rows_grants_the_api_role_and_downgrades_exactly(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0008")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        insert_batch(conn, random_rows(services_of(conn), 200, random.Random(9)))
        before = performance(conn)
        schema_0008 = _schema(conn)
    # The API's role as docs/operations.md had it before 0009.
    lines = documented_grants(OPERATIONS, "## The database role for the API").splitlines()
    newer = ("service_feedback_totals", "ticket_day_deltas", "compact_ticket_day_totals")
    grants = "\n".join(line for line in lines if not any(table in line for table in newer))
    with login_role(empty_db_url, grants, prefix="gea_api_up9") as as_api:
        notes: list[str] = []
        migrate.upgrade(engine, revision="0009", on_notice=notes.append)
        assert any(
            str(as_api.username) in note and "service_feedback_totals" in note for note in notes
        ), notes
        with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
            assert performance(conn) == before  # the stored rows, counted by the migration
        with psycopg.connect(pg.conninfo(as_api), autocommit=True) as api:
            insert_batch(api, random_rows(services_of(api), 20, random.Random(10)))
        with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
            assert_current(conn)
            assert performance(conn) != before
    migrate.downgrade(engine, "0008")
    engine.dispose()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_0008
