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


def _server_jit() -> str:
    """jit as the server gives it to a database with no setting of its own."""
    return _jit(pg.admin_url())


def test_jit_is_off_for_new_sessions_of_a_migrated_database_and_of_its_copies(
    empty_db_url: URL, db_url: URL
) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0012")
    assert _jit(empty_db_url) == _server_jit()
    migrate.upgrade(engine)
    assert _jit(empty_db_url) == "off"
    migrate.downgrade(engine, "0012")
    engine.dispose()
    assert _jit(empty_db_url) == _server_jit()
    # db_url is a copy of the tests' migrated template (tests/helpers/pg.copy_database).
    assert _jit(db_url) == "off"


def test_a_jit_setting_the_database_had_before_is_kept(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0012")
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET jit = on").format(sql.Identifier(conn.info.dbname)))
    notices: list[str] = []
    migrate.upgrade(engine, on_notice=notices.append)
    engine.dispose()
    assert _jit(empty_db_url) == "on"
    assert notices == [
        "this database has a jit setting of its own, which is kept (feedback_db runs best with jit = off)"
    ]


def _turn_off_as(conn: Conn, role: str) -> list[tuple[str | None, str | None]]:
    """Run 0013's statement that turns JIT off as `role`; the notices it gives."""
    up = schema.read_sql("v0013", "up.sql")
    notices: list[tuple[str | None, str | None]] = []

    def note(diagnostic: psycopg.errors.Diagnostic) -> None:
        notices.append((diagnostic.sqlstate, diagnostic.message_primary))

    conn.add_notice_handler(note)
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        conn.execute(up[up.index("DO $$") :].encode())
    finally:
        conn.execute("RESET ROLE")
        conn.remove_notice_handler(note)
    return notices


def test_a_role_without_the_owners_rights_is_told_how_to_turn_jit_off(db_url: URL) -> None:
    """A role that owns nothing, and one that is a member of the owner's role without its
    rights (NOINHERIT): ALTER DATABASE would fail for both, so each is told instead."""
    stranger, member, owner = (f"gea_t_{uuid.uuid4().hex[:8]}" for _ in range(3))
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        name = conn.info.dbname
        database = sql.Identifier(name)
        conn.execute(sql.SQL("ALTER DATABASE {} RESET jit").format(database))
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(stranger)))
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(owner)))
        conn.execute(
            sql.SQL("CREATE ROLE {} NOINHERIT IN ROLE {}").format(
                sql.Identifier(member), sql.Identifier(owner)
            )
        )
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, sql.Identifier(owner)))
        try:
            told = [_turn_off_as(conn, stranger), _turn_off_as(conn, member)]
        finally:
            conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(database))
            for role in (member, owner, stranger):
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    notice = (
        migrate.OPERATOR_NOTICE,
        "only the database's owner may turn off JIT compilation for it, which feedback_db runs best "
        f'without: as the owner, run "ALTER DATABASE {name} SET jit = off"',
    )
    assert told == [[notice], [notice]]
    assert _jit(db_url) == _server_jit()
