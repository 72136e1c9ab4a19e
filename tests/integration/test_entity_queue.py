"""Migration 0013 (issue 16): v_entity_ticket_queue reads the active tickets from their own
index without touching the table, and JIT compilation is off for the database, for the
sessions that begin after `migrate` and in a copy of a migrated database; a role that may not
turn it off is told what to run. The view's text is 0001's, unchanged."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from bench import analytics
from server_sync_api import migrate, schema
from server_sync_api.core.db import make_engine
from tests.helpers import pg

Conn = psycopg.Connection[tuple[Any, ...]]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def _jit(url: URL) -> str:
    with psycopg.connect(pg.conninfo(url)) as conn:
        row = conn.execute("SHOW jit").fetchone()
    assert row is not None
    return str(row[0])


def test_the_entity_queue_reads_active_tickets_from_their_index_alone(db_url: URL) -> None:
    analytics.generate(pg.conninfo(db_url), 20_000)  # ends with VACUUM ANALYZE
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        row = conn.execute("EXPLAIN (FORMAT JSON) SELECT * FROM v_entity_ticket_queue").fetchone()
        assert row is not None
        scans = [node for node in _nodes(row[0][0]["Plan"]) if node.get("Relation Name") == "tickets"]
        active = conn.execute("SELECT count(*) FROM tickets WHERE status_id NOT IN (4, 5)").fetchone()
        counted = conn.execute("SELECT sum(total_open_tickets) FROM v_entity_ticket_queue").fetchone()
    assert [(s["Node Type"], s["Index Name"]) for s in scans] == [
        ("Index Only Scan", "ix_tickets_active_by_entity")
    ]
    assert active is not None
    assert active[0] > 100
    assert counted == active


def test_jit_is_off_for_new_sessions_of_a_migrated_database_and_of_its_copies(
    empty_db_url: URL, db_url: URL
) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0012")
    assert _jit(empty_db_url) == "on"  # PostgreSQL's default, as this server has it
    migrate.upgrade(engine)
    assert _jit(empty_db_url) == "off"
    migrate.downgrade(engine, "0012")
    engine.dispose()
    assert _jit(empty_db_url) == "on"
    # db_url is a copy of the tests' migrated template (tests/helpers/pg.copy_database).
    assert _jit(db_url) == "off"


def test_a_role_that_does_not_own_the_database_is_told_how_to_turn_jit_off(db_url: URL) -> None:
    up = schema.read_sql("v0013", "up.sql")
    turn_off = up[up.index("DO $$") :]
    role = f"gea_t_{uuid.uuid4().hex[:8]}"
    notices: list[tuple[str | None, str | None]] = []
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(sql.SQL("ALTER DATABASE {} RESET jit").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        try:
            conn.add_notice_handler(lambda d: notices.append((d.sqlstate, d.message_primary)))
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            conn.execute(turn_off.encode())
            conn.execute("RESET ROLE")
        finally:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert notices == [
        (
            migrate.OPERATOR_NOTICE,
            "only the database's owner may turn off JIT compilation for it; as its owner, run: "
            f"ALTER DATABASE {name} SET jit = off",
        )
    ]
    assert _jit(db_url) == "on"
