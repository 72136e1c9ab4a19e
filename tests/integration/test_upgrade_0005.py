"""Upgrading a running deployment to 0005: the API's role, given only what 0004 needed, keeps
taking complaints the moment the upgrade commits (its tickets' triggers now queue
notifications and read calendars), and `migrate` says what it granted."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate
from server_sync_api.core.db import make_engine
from tests.helpers import pg
from tests.helpers.roles import login_role

GRANTS_AT_0004 = (
    "GRANT SELECT ON entity_master, service_master, priority_levels, ticket_status, "
    "ticket_categories, app_settings TO gea_api; "
    "GRANT SELECT, INSERT, UPDATE ON tickets, ticket_number_counters TO gea_api; "
    "GRANT INSERT ON ticket_activities TO gea_api; "
    "GRANT SELECT, INSERT, UPDATE ON sla_breaches TO gea_api"
)


def test_a_role_that_writes_tickets_keeps_writing_them_after_the_upgrade(empty_db_url: URL) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, revision="0004")
    with engine.begin() as connection:
        demo.seed_demo(connection)
    with login_role(empty_db_url, GRANTS_AT_0004, prefix="gea_api_up") as as_api:
        role = str(as_api.username)
        notes: list[str] = []
        migrate.upgrade(engine, on_notice=notes.append)
        engine.dispose()
        assert any(role in note and "notification_outbox" in note for note in notes), notes

        with psycopg.connect(pg.conninfo(as_api), autocommit=True) as api:
            api.execute(
                "INSERT INTO tickets (entity_id, service_id, title, priority_id) "
                "VALUES ('DEPT-003', 'SVC-003', 'Grievance after the upgrade', 2)"
            )
        with psycopg.connect(pg.conninfo(empty_db_url)) as owner:
            assert owner.execute("SELECT event FROM notification_outbox").fetchall() == [("new_ticket",)]
