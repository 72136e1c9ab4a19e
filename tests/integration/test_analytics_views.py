"""Migration 0008 (issue 16): the reporting views it rewrote and the indexes it replaced give
exactly the answers 0001's definitions give, on a year of generated data (bench/analytics.py's
generator, every status, breaches, several kiosks and QR codes) and again after more rows
arrive through the real trigger path, so an answer that lagged behind its rows would fail; and
its downgrade gives back 0007's schema exactly."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.engine import URL

from bench import analytics
from server_sync_api import migrate, schema
from server_sync_api.core.db import make_engine
from tests.helpers import pg
from tests.helpers.feedback import insert_feedback
from tests.integration.test_migrations import _schema

Conn = psycopg.Connection[tuple[Any, ...]]

# The views 0008 replaced, and the one whose index it replaced.
VIEWS = ("v_service_performance", "v_daily_ticket_stats", "v_qr_performance")


def _answers(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    return {view: sorted(conn.execute(f"SELECT * FROM {view}").fetchall(), key=repr) for view in VIEWS}


def _old_answers(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    """The same views as 0001 defined them (0008's down.sql), on the same rows; undone after."""
    with conn.transaction(force_rollback=True):
        conn.execute(schema.read_sql("v0008", "down.sql").encode())
        return _answers(conn)


def _assert_same(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    new = _answers(conn)
    old = _old_answers(conn)
    for view in VIEWS:
        assert new[view] == old[view], view
    return new


def test_rewritten_views_answer_as_0001_did_before_and_after_new_rows(db_url: URL) -> None:
    analytics.generate(pg.conninfo(db_url), 20_000)
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        before = _assert_same(conn)
        assert len(before["v_daily_ticket_stats"]) >= 365
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()
        assert tickets == (sum(row[1] for row in before["v_daily_ticket_stats"]),)

        # New rows through the triggers: a grievance and a 1 (tickets), a misuse-flagged 5, QR
        # feedback, a service with no feedback yet, then a ticket resolved late (a breach) and
        # one closed in time.
        conn.execute(
            "INSERT INTO service_master (service_id, service_name, entity_id) "
            "VALUES ('SVC-NEW', 'A service with no feedback yet', 'AGY-002')"
        )
        qr = conn.execute("SELECT qr_code_id, service_id FROM qr_codes ORDER BY 1 LIMIT 1").fetchone()
        assert qr is not None
        insert_feedback(conn, service_id="SVC-001", rating=4, grievance_flag=True)
        insert_feedback(conn, service_id="SVC-001", rating=1)
        insert_feedback(conn, service_id="SVC-001", rating=5, misuse_suspected=True)
        insert_feedback(conn, service_id=qr[1], rating=2, channel="qr_code", qr_code_id=qr[0])
        late, on_time = (
            row[0]
            for row in conn.execute(
                "SELECT ticket_id FROM tickets WHERE status_id = 1 ORDER BY ticket_id LIMIT 2"
            ).fetchall()
        )
        conn.execute(
            "UPDATE tickets SET response_target = now() - interval '2 hours', "
            "resolution_target = now() - interval '1 hour' WHERE ticket_id = %s",
            (late,),
        )
        conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_id = %s", (late,))
        conn.execute("UPDATE tickets SET status_id = 5 WHERE ticket_id = %s", (on_time,))
        breaches = conn.execute("SELECT count(*) FROM sla_breaches WHERE ticket_id = %s", (late,)).fetchone()
        assert breaches != (0,)

        after = _assert_same(conn)
        assert after != before
        services = {row[0]: row for row in after["v_service_performance"]}
        assert services["SVC-NEW"][3:] == (0, 0, None, None, {str(n): 0 for n in range(1, 6)}, 0)
        old_total = {row[0]: row[3] for row in before["v_service_performance"]}["SVC-001"]
        assert services["SVC-001"][3] == old_total + 3 + (qr[1] == "SVC-001")


def test_0008_downgrade_restores_0007_exactly(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0007")
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        schema_0007 = _schema(conn)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) != schema_0007
    migrate.downgrade(engine, "0007")
    engine.dispose()
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        assert _schema(conn) == schema_0007
