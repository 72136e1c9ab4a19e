"""Set-based ingest (migration 0007): a statement's feedback makes its tickets, numbers, SLA
targets, audit, outbox, QR and rate-limit rows per statement, with the same rows the seed's row
triggers made, numbers still unique and gapless under concurrency, and a downgrade that brings
the row triggers back exactly."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate
from server_sync_api.core.db import make_engine
from tests.helpers import pg
from tests.helpers.feedback import insert_feedback
from tests.integration.test_migrations import _schema

Conn = psycopg.Connection[tuple[Any, ...]]

COLUMNS = (
    "client_uuid", "reference_code", "channel", "service_id", "entity_id", "rating",
    "service_quality", "staff_behavior", "waiting_time", "cleanliness", "grievance_flag",
    "feedback_text", "category_id", "priority_id", "ip_hash", "qr_code_id", "recorded_at",
    "clock_offset_s", "created_at",
)  # fmt: skip
TYPES = (
    "uuid", "varchar", "varchar", "varchar", "varchar", "int", "int", "int", "int", "int", "bool",
    "text", "int", "int", "varchar", "int", "timestamptz", "int", "timestamptz",
)  # fmt: skip
# One statement for the whole batch, as services/ingest.py writes a kiosk's batch.
BATCH_INSERT = (
    f"INSERT INTO service_feedback ({', '.join(COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in TYPES)}) AS u ORDER BY 1 "
    "ON CONFLICT DO NOTHING"
)


def insert_batch(conn: Conn, rows: Sequence[tuple[object, ...]]) -> int:
    cursor = conn.execute(BATCH_INSERT, [list(column) for column in zip(*rows, strict=True)])
    return cursor.rowcount


def varied_rows(conn: Conn, count: int, now: datetime, seed: int = 7) -> list[tuple[object, ...]]:
    """Every kind of row the rules treat differently: ratings 1-5, grievances, staff walk-ins
    with their own category and priority, portal and QR rows from a few repeated addresses (some
    within the last hour, some older), kiosk clocks right, wrong and unknown, and a month boundary
    in the server's zone (America/Grenada, UTC-4)."""
    rnd = random.Random(seed)
    services = conn.execute("SELECT service_id, entity_id FROM service_master ORDER BY 1").fetchall()
    chains = {
        sid: [row[0] for row in conn.execute("SELECT category_id FROM service_category_chain(%s)", (sid,))]
        for sid, _ in services
    }
    qr_codes = conn.execute("SELECT qr_code_id, service_id, entity_id FROM qr_codes ORDER BY 1").fetchall()
    addresses = [f"{rnd.getrandbits(256):064x}" for _ in range(4)]
    moments = [
        datetime(2026, 4, 1, 3, 59, 59, tzinfo=UTC),  # still March in Grenada
        datetime(2026, 4, 1, 4, 0, 0, tzinfo=UTC),  # April
        datetime(2026, 4, 15, 12, 0, tzinfo=UTC),
        now - timedelta(minutes=20),  # inside the rate-limit hour
        now - timedelta(hours=3),  # outside it
    ]
    rows: list[tuple[object, ...]] = []
    for i in range(count):
        channel = rnd.choice(("kiosk", "kiosk", "walk_in", "portal", "qr_code"))
        service_id, entity_id = rnd.choice(services)
        qr_code_id = None
        if channel == "qr_code":
            qr_code_id, service_id, entity_id = rnd.choice(qr_codes)
        rating = rnd.randint(1, 5)
        grievance = channel == "walk_in" and rnd.random() < 0.6
        created_at = rnd.choice(moments)
        recorded_at = rnd.choice((None, created_at - timedelta(minutes=5), created_at - timedelta(days=30)))
        rows.append(
            (
                uuid.UUID(int=rnd.getrandbits(128), version=4),
                f"K0001-{i:06d}-{rnd.getrandbits(16):04X}",
                channel,
                service_id,
                entity_id,
                rating,
                *(rnd.choice((None, 1, 3, 5)) for _ in range(4)),
                grievance,
                rnd.choice((None, "Nobody answered the phone. " * rnd.randint(1, 3))),
                rnd.choice(chains[service_id]) if channel == "walk_in" and rnd.random() < 0.5 else None,
                rnd.choice((1, 2, 3, 4)) if channel == "walk_in" and rnd.random() < 0.5 else None,
                rnd.choice(addresses) if channel in ("portal", "qr_code") else None,
                qr_code_id,
                recorded_at,
                rnd.choice((None, 0, -600, 900)),
                created_at,
            )
        )
    return rows


def outcome(conn: Conn) -> dict[str, list[tuple[object, ...]]]:
    """Everything the triggers derive from feedback, keyed by what is stable across databases
    (client_uuid and ticket number rather than generated ids)."""
    queries = {
        "tickets": """
            SELECT f.client_uuid, t.ticket_number, t.entity_id, t.service_id, t.category_id,
                   t.priority_id, t.status_id, t.title, t.description, t.sla_start, t.created_at,
                   t.response_target, t.resolution_target, t.sla_calendar_id, t.paused
            FROM tickets t JOIN service_feedback f USING (feedback_id)""",
        "activities": """
            SELECT t.ticket_number, a.activity_type, a.old_value, a.new_value, a.changed_by, a.created_at
            FROM ticket_activities a JOIN tickets t USING (ticket_id)""",
        "notifications": """
            SELECT t.ticket_number, n.event, n.detail, n.state
            FROM notification_outbox n JOIN tickets t USING (ticket_id)""",
        "osticket": """
            SELECT t.ticket_number, o.state FROM osticket_outbox o JOIN tickets t USING (ticket_id)""",
        "rate_limit": """
            SELECT ip_hash, submission_count, window_start, window_end, requires_captcha
            FROM submission_rate_limit""",
        "qr_codes": "SELECT qr_code_id, feedback_received FROM qr_codes",
        "counters": "SELECT year_month, last_value FROM ticket_number_counters",
    }
    return {name: sorted(conn.execute(query).fetchall(), key=repr) for name, query in queries.items()}


def prepare(conn: Conn) -> None:
    """A calendar on one ministry (its subtree counts working hours) and osTicket enabled."""
    calendar = conn.execute(
        "INSERT INTO sla_calendars (name, timezone) VALUES ('Office hours', 'America/Grenada') "
        "RETURNING calendar_id"
    ).fetchone()
    assert calendar is not None
    for weekday in range(1, 6):
        conn.execute(
            "INSERT INTO sla_calendar_hours (calendar_id, weekday, opens, closes) "
            "VALUES (%s, %s, '08:00', '16:00')",
            (calendar[0], weekday),
        )
    conn.execute("UPDATE entity_master SET sla_calendar_id = %s WHERE unique_entity_id = 'MIN-003'", calendar)
    conn.execute("UPDATE app_settings SET osticket_enabled = TRUE")


def test_a_batch_makes_the_same_rows_the_row_triggers_made(empty_db_url: URL, db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0006")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    engine.dispose()
    now = datetime.now(UTC)
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as seed_conn:
        prepare(seed_conn)
        rows = varied_rows(seed_conn, 400, now)
        # The same batch twice: the second statement's rows all conflict and make nothing.
        assert insert_batch(seed_conn, rows) == 400
        assert insert_batch(seed_conn, rows) == 0
        expected = outcome(seed_conn)

    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        prepare(conn)
        assert insert_batch(conn, rows) == 400
        assert insert_batch(conn, rows) == 0
        got = outcome(conn)

    # The batch exercised every path, so an empty list here would prove nothing.
    assert len(expected["tickets"]) > 100
    assert any(row[13] is not None for row in expected["tickets"])  # a calendar's working hours
    assert {str(row[1])[:6] for row in expected["tickets"]} >= {"202603", "202604"}
    assert {row[4] for row in expected["rate_limit"]} == {True, False}  # CAPTCHA required or not
    assert expected["notifications"]
    assert expected["osticket"]
    assert any(count for _, count in expected["qr_codes"])
    for name in expected:
        assert got[name] == expected[name], name


def test_one_statement_takes_each_months_counter_once_and_numbers_in_feedback_order(conn: Conn) -> None:
    march = datetime(2026, 3, 31, 12, tzinfo=UTC)
    april = datetime(2026, 4, 2, 12, tzinfo=UTC)
    insert_feedback(conn, rating=1, created_at=march)  # March's counter is at 1 already
    rows = varied_rows(conn, 60, datetime.now(UTC))
    rows = [(*row[:5], 1, *row[6:18], april if i % 2 else march) for i, row in enumerate(rows)]
    insert_batch(conn, rows)
    numbers = conn.execute(
        "SELECT t.ticket_number FROM tickets t JOIN service_feedback f USING (feedback_id) "
        "WHERE f.reference_code LIKE 'K0001-%%' ORDER BY f.feedback_id"
    ).fetchall()
    march_numbers = [n for (n,) in numbers if n.startswith("202603")]
    april_numbers = [n for (n,) in numbers if n.startswith("202604")]
    assert march_numbers == [f"202603-{n:06d}" for n in range(2, 32)]
    assert april_numbers == [f"202604-{n:06d}" for n in range(1, 31)]
    counters: dict[str, int] = dict(
        conn.execute("SELECT year_month, last_value FROM ticket_number_counters").fetchall()
    )
    assert counters == {"202603": 31, "202604": 30}


def test_concurrent_batches_number_without_gaps_or_duplicates(db_url: URL) -> None:
    """Four writers, each with batches over two months in opposite orders, a third of them rolled
    back: every committed ticket has a number, numbers run 1..N in each month, none twice."""
    info = pg.conninfo(db_url)
    with psycopg.connect(info) as conn:
        services = conn.execute("SELECT service_id, entity_id FROM service_master ORDER BY 1").fetchall()
    months = (datetime(2026, 5, 20, 12, tzinfo=UTC), datetime(2026, 6, 10, 12, tzinfo=UTC))
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        rnd = random.Random(n)
        try:
            with psycopg.connect(info) as conn:
                start.wait()
                for batch in range(12):
                    order = months if (n + batch) % 2 else months[::-1]
                    rows = []
                    for i in range(40):
                        service_id, entity_id = rnd.choice(services)
                        code = f"K{n:04d}-{batch:03d}{i:03d}-AAAA"
                        rows.append(
                            (uuid.uuid4(), code, "kiosk", service_id, entity_id, rnd.choice((1, 2, 5)),
                             None, None, None, None, False, None, None, None, None, None, None, None,
                             order[i % 2])
                        )  # fmt: skip
                    with conn.transaction(force_rollback=batch % 3 == 2):
                        insert_batch(conn, rows)
        except BaseException as exc:  # reported below, with the thread's own traceback
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []

    with psycopg.connect(info) as conn:
        low_rated = conn.execute("SELECT count(*) FROM service_feedback WHERE rating <= 2").fetchone()
        by_month: dict[str, list[int]] = {}
        for (number,) in conn.execute("SELECT ticket_number FROM tickets"):
            month, n = number.split("-")
            by_month.setdefault(month, []).append(int(n))
        counters: dict[str, int] = dict(
            conn.execute("SELECT year_month, last_value FROM ticket_number_counters").fetchall()
        )
    assert low_rated is not None
    assert sum(len(ns) for ns in by_month.values()) == low_rated[0] > 0
    for month, numbers in by_month.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), month
        assert counters[month] == len(numbers)


@pytest.mark.parametrize("table", ["service_feedback", "tickets"])
def test_an_unknown_entity_is_still_refused(conn: Conn, table: str) -> None:
    """0007 dropped the entity-only foreign keys; the (service, entity) key still refuses it."""
    row = {"service_id": "SVC-003", "entity_id": "NO-SUCH-ENTITY"}
    if table == "service_feedback":
        statement = (
            "INSERT INTO service_feedback (service_id, entity_id, rating, channel) "
            "VALUES (%s, %s, 4, 'kiosk')"
        )
    else:
        statement = "INSERT INTO tickets (service_id, entity_id, title) VALUES (%s, %s, 'Walk-in')"
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as exc_info:
        conn.execute(statement, (row["service_id"], row["entity_id"]))
    assert exc_info.value.diag.constraint_name == f"fk_{table}_service_entity"


def test_0007_downgrade_restores_0006_exactly_and_its_row_triggers_work(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0006")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        schema_0006 = _schema(conn)
    migrate.upgrade(engine, revision="0007")
    migrate.downgrade(engine, "0006")
    engine.dispose()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_0006
        insert_batch(conn, varied_rows(conn, 50, datetime.now(UTC)))
        made = conn.execute(
            "SELECT count(*) FROM service_feedback f JOIN tickets t USING (feedback_id) "
            "JOIN ticket_activities a ON a.ticket_id = t.ticket_id AND a.activity_type = 'created'"
        ).fetchone()
        wanted = conn.execute(
            "SELECT count(*) FROM service_feedback WHERE grievance_flag OR rating <= 2"
        ).fetchone()
    assert wanted is not None
    assert wanted[0] > 0
    assert made == wanted


@pytest.mark.parametrize(
    ("before", "after"),
    [("0010", "0011"), ("0011", "0012"), ("0012", "0013")],
    ids=[
        "0011: the service-only key",
        "0012: the targets-given flag",
        "0013: active tickets by entity, no JIT",
    ],
)
def test_a_downgrade_restores_the_version_before_exactly(empty_db_url: URL, before: str, after: str) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision=before)
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        schema_before = _schema(conn)
    migrate.upgrade(engine, revision=after)
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) != schema_before
    migrate.downgrade(engine, before)
    engine.dispose()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_before


def _sla_trigger_calls(conn: Conn) -> int:
    """Calls of trg_calculate_sla's function so far in this transaction."""
    row = conn.execute(
        "SELECT pg_stat_get_xact_function_calls('set_ticket_sla_targets()'::regprocedure)"
    ).fetchone()
    assert row is not None
    return int(row[0] or 0)


def test_the_row_sla_trigger_skips_only_the_tickets_a_feedback_statement_completed(db_url: URL) -> None:
    """0012: a batch's tickets come with every SLA column given, so trg_calculate_sla does not
    run for them (the same rows, test_a_batch_makes_the_same_rows_the_row_triggers_made); any
    other ticket, in the same transaction too, still gets its calendar and targets."""
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        conn.execute("SET track_functions = 'pl'")
        prepare(conn)
        rows = varied_rows(conn, 100, datetime.now(UTC))
        insert_batch(conn, rows)
        made = conn.execute("SELECT count(*) FROM tickets").fetchone()
        assert made is not None
        assert made[0] > 10
        assert _sla_trigger_calls(conn) == 0
        flag = conn.execute("SELECT current_setting('feedback_db.ticket_targets_set', TRUE)").fetchone()
        assert flag == ("",)  # off again once the statement's tickets are in

        # A walk-in ticket of an entity under the calendar, nothing given: filled as ever.
        ticket = conn.execute(
            "INSERT INTO tickets (entity_id, service_id, title) "
            "SELECT entity_id, service_id, 'Walk-in' FROM service_master "
            "WHERE entity_sla_calendar(entity_id) IS NOT NULL ORDER BY service_id LIMIT 1 "
            "RETURNING sla_calendar_id = entity_sla_calendar(entity_id), "
            "response_target IS NOT NULL, resolution_target IS NOT NULL"
        ).fetchone()
        assert ticket == (True, True, True)
        assert _sla_trigger_calls(conn) == 1

        # The flag set by hand skips nothing a row lacks: its targets are still computed.
        conn.execute("SELECT set_config('feedback_db.ticket_targets_set', 'on', TRUE)")
        ticket = conn.execute(
            "INSERT INTO tickets (entity_id, service_id, title) "
            "SELECT entity_id, service_id, 'Walk-in' FROM service_master ORDER BY service_id LIMIT 1 "
            "RETURNING response_target IS NOT NULL, resolution_target IS NOT NULL"
        ).fetchone()
        assert ticket == (True, True)
        assert _sla_trigger_calls(conn) == 2
        conn.rollback()
