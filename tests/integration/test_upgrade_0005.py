"""Upgrading a running deployment to 0005: the API's role, given only what 0004 needed, keeps
taking complaints the moment the upgrade commits (its tickets' triggers now queue
notifications and read calendars), and `migrate` says what it granted."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate
from server_sync_api.core.db import make_engine
from tests.helpers import pg


def test_a_role_that_writes_tickets_keeps_writing_them_after_the_upgrade(empty_db_url: URL) -> None:
    role = f"gea_api_up_{os.getpid()}"
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0004")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    admin: psycopg.Connection[Any]
    with psycopg.connect(pg.conninfo(pg.admin_url()), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as owner:
            owner.execute(
                sql.SQL(
                    "GRANT SELECT ON entity_master, service_master, priority_levels, ticket_status, "
                    "ticket_categories, app_settings TO {role}; "
                    "GRANT SELECT, INSERT, UPDATE ON tickets, ticket_number_counters TO {role}; "
                    "GRANT INSERT ON ticket_activities TO {role}; "
                    "GRANT SELECT, INSERT, UPDATE ON sla_breaches TO {role}"
                ).format(role=sql.Identifier(role))
            )
        notes: list[str] = []
        migrate.upgrade(engine, on_notice=notes.append)
        engine.dispose()
        assert any(role in note and "notification_outbox" in note for note in notes), notes

        as_api = empty_db_url.set(username=role, password=None)
        with psycopg.connect(pg.conninfo(as_api), autocommit=True) as api:
            api.execute(
                "INSERT INTO tickets (entity_id, service_id, title, priority_id) "
                "VALUES ('DEPT-003', 'SVC-003', 'Grievance after the upgrade', 2)"
            )
        with psycopg.connect(pg.conninfo(empty_db_url)) as owner:
            assert owner.execute("SELECT event FROM notification_outbox").fetchall() == [("new_ticket",)]
    finally:
        with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as owner:
            owner.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(pg.conninfo(pg.admin_url()), autocommit=True) as admin:
            admin.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                    sql.Identifier(str(empty_db_url.database)), sql.Identifier(role)
                )
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
