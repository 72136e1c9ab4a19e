"""Ticket numbers YYYYMM-NNNNNN: the month of creation in the configured zone, one counter per
month, no duplicates and no gaps under concurrency or rollbacks (ARCHITECTURE 4.2)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.helpers.feedback import DEFAULT_ENTITY_ID, DEFAULT_SERVICE_ID, insert_feedback
from tests.helpers.pg import conninfo

GRENADA = ZoneInfo("America/Grenada")


def number_for(conn, created_at: datetime | None = None) -> str:
    """Insert low-rated feedback (created_at back-filled if given); return its ticket's number."""
    extra = {} if created_at is None else {"created_at": created_at}
    feedback_id = insert_feedback(conn, rating=1, **extra)
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_number_is_month_of_creation_and_six_digits(conn):
    feedback_id = insert_feedback(conn, rating=2)
    number, created_at = conn.execute(
        "SELECT ticket_number, created_at FROM tickets WHERE feedback_id = %s", (feedback_id,)
    ).fetchone()
    assert re.fullmatch(r"\d{6}-\d{6}", number)
    assert number == created_at.astimezone(GRENADA).strftime("%Y%m") + "-000001"


def test_numbers_are_sequential_within_a_month_and_restart_in_the_next(conn):
    march = datetime(2026, 3, 15, 12, tzinfo=UTC)
    april = datetime(2026, 4, 2, 12, tzinfo=UTC)
    assert [number_for(conn, march) for _ in range(3)] == ["202603-000001", "202603-000002", "202603-000003"]
    assert number_for(conn, april) == "202604-000001"
    assert number_for(conn, april) == "202604-000002"
    # A back-filled ticket in March continues March's sequence.
    assert number_for(conn, march) == "202603-000004"


def test_feedback_that_makes_no_ticket_uses_no_number(conn):
    march = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert number_for(conn, march) == "202603-000001"
    insert_feedback(conn, rating=4, created_at=march)
    assert number_for(conn, march) == "202603-000002"


@pytest.mark.parametrize(
    ("created_at", "expected_month"),
    [
        # Midnight on 1 January in America/Grenada (UTC-4) is 04:00 UTC.
        ("2026-01-01 03:59:59+00", "202512"),
        ("2026-01-01 03:59:59.999999+00", "202512"),
        ("2026-01-01 04:00:00+00", "202601"),
        ("2026-02-01 03:59:59+00", "202601"),
        ("2026-02-01 04:00:00+00", "202602"),
    ],
)
def test_month_is_taken_in_the_configured_zone_around_midnight(conn, created_at, expected_month):
    assert number_for(conn, datetime.fromisoformat(created_at)) == f"{expected_month}-000001"


def test_tickets_either_side_of_month_end_midnight_number_in_their_own_month(conn):
    before = number_for(conn, datetime.fromisoformat("2026-01-01 03:59:59+00:00"))
    after = number_for(conn, datetime.fromisoformat("2026-01-01 04:00:00+00:00"))
    assert (before, after) == ("202512-000001", "202601-000001")
    assert conn.execute("SELECT * FROM ticket_number_counters ORDER BY 1").fetchall() == [
        ("202512", 1),
        ("202601", 1),
    ]


def test_changing_app_settings_timezone_to_utc_changes_the_month(conn):
    late_evening = datetime.fromisoformat("2026-01-31 23:30:00-04:00")  # 2026-02-01 03:30 UTC
    assert number_for(conn, late_evening) == "202601-000001"
    conn.execute("UPDATE app_settings SET timezone = 'UTC'")
    assert number_for(conn, late_evening) == "202602-000001"
    assert number_for(conn, datetime.fromisoformat("2026-01-01 03:59:59+00:00")) == "202601-000002"


def test_ticket_inserted_directly_is_numbered_in_its_month(conn):
    row = conn.execute(
        "INSERT INTO tickets (entity_id, service_id, title, created_at) "
        "VALUES (%s, %s, 'Raised by staff', '2026-06-30 23:59:59-04') RETURNING ticket_number",
        (DEFAULT_ENTITY_ID, DEFAULT_SERVICE_ID),
    ).fetchone()
    assert row == ("202606-000001",)


def test_generate_ticket_number_uses_the_given_time(conn):
    rows = [
        conn.execute("SELECT generate_ticket_number(%s)", (at,)).fetchone()[0]
        for at in ("2026-07-01 03:00+00", "2026-07-01 05:00+00", "2026-07-01 06:00+00")
    ]
    assert rows == ["202606-000001", "202607-000001", "202607-000002"]


def test_number_widens_past_999999_in_a_month(conn):
    conn.execute("INSERT INTO ticket_number_counters (year_month, last_value) VALUES ('202603', 999998)")
    march = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert [number_for(conn, march) for _ in range(3)] == [
        "202603-999999",
        "202603-1000000",
        "202603-1000001",
    ]
    assert conn.execute(
        "SELECT last_value FROM ticket_number_counters WHERE year_month = '202603'"
    ).fetchone() == (1000001,)


def test_rolled_back_ticket_leaves_no_gap(conn):
    march = datetime(2026, 3, 15, 12, tzinfo=UTC)
    assert number_for(conn, march) == "202603-000001"
    with conn.transaction(force_rollback=True):
        assert number_for(conn, march) == "202603-000002"
    assert number_for(conn, march) == "202603-000002"


WORKERS = 8
TRANSACTIONS_PER_WORKER = 50
ROWS_PER_TRANSACTION = 7
CREATED_AT = datetime(2026, 5, 15, 12, tzinfo=UTC)


@pytest.mark.slow
@pytest.mark.parametrize("rollback_every", [None, 5], ids=["all-commit", "one-in-five-rolls-back"])
def test_concurrent_inserts_number_tickets_uniquely_and_without_gaps(conn, db_url, rollback_every):
    """8 connections insert low-rated feedback at once, several rows per transaction."""
    barrier = threading.Barrier(WORKERS)

    def worker(index: int) -> int:
        committed = 0
        try:
            with psycopg.connect(conninfo(db_url)) as worker_conn:
                barrier.wait()
                for tx in range(TRANSACTIONS_PER_WORKER):
                    rows = [
                        (DEFAULT_SERVICE_ID, DEFAULT_ENTITY_ID, 1 + (index + tx + n) % 2, "kiosk", CREATED_AT)
                        for n in range(ROWS_PER_TRANSACTION)
                    ]
                    roll_back = rollback_every is not None and (index + tx) % rollback_every == 0
                    with worker_conn.transaction(force_rollback=roll_back), worker_conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO service_feedback "
                            "(service_id, entity_id, rating, channel, created_at) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            rows,
                        )
                    if not roll_back:
                        committed += len(rows)
        except BaseException:
            barrier.abort()
            raise
        return committed

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(worker, i) for i in range(WORKERS)]
        committed = sum(f.result() for f in futures)

    expected_committed = WORKERS * TRANSACTIONS_PER_WORKER * ROWS_PER_TRANSACTION
    if rollback_every is not None:
        expected_committed -= expected_committed // rollback_every
    assert committed == expected_committed >= 2000

    numbers = [n for (n,) in conn.execute("SELECT ticket_number FROM tickets").fetchall()]
    assert len(numbers) == len(set(numbers)) == committed
    assert sorted(numbers) == [f"202605-{i:06d}" for i in range(1, committed + 1)]
    assert conn.execute("SELECT * FROM ticket_number_counters").fetchall() == [("202605", committed)]
    assert conn.execute("SELECT count(*) FROM service_feedback").fetchone() == (committed,)
    assert conn.execute(
        "SELECT count(*) FROM service_feedback f WHERE NOT EXISTS "
        "(SELECT 1 FROM tickets t WHERE t.feedback_id = f.feedback_id)"
    ).fetchone() == (0,)
