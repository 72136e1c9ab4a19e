"""Bring feedback_db to the head revision (or back), as `gea-server migrate` does."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from server_sync_api import schema
from server_sync_api.core.config import DEFAULT_TIMEZONE

SCRIPT_LOCATION = "server_sync_api:migrations"
# Any constant will do; it keeps two `migrate` runs (say, two API hosts starting at once)
# from racing each other through the same DDL.
MIGRATION_LOCK_KEY = 0x6EA_F00D
# The SQLSTATE of a migration's RAISE NOTICE meant for the operator (class 01, "warning").
OPERATOR_NOTICE = "01GEA"


def alembic_config(connection: Connection | None = None, timezone: str = DEFAULT_TIMEZONE) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    config.attributes["timezone"] = timezone
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(
    engine: Engine,
    timezone: str = DEFAULT_TIMEZONE,
    revision: str = "head",
    on_notice: Callable[[str], None] | None = None,
    osticket: bool | None = None,
) -> None:
    """Upgrade to `revision` and store the time zone; safe to run again at any time.

    `on_notice` gets what the migrations say to the operator (notices raised with
    OPERATOR_NOTICE, such as an optional extension the server does not offer); PostgreSQL's
    own notices ("already exists, skipping") are not passed on. `osticket`, when given, says
    whether new tickets are queued for osTicket (GEA_SERVER_OSTICKET_URL is set)."""
    with engine.connect() as connection:
        driver_connection = connection.connection.driver_connection
        assert isinstance(driver_connection, psycopg.Connection)

        def notice(diagnostic: psycopg.errors.Diagnostic) -> None:
            if on_notice is not None and diagnostic.sqlstate == OPERATOR_NOTICE:
                on_notice(str(diagnostic.message_primary))

        driver_connection.add_notice_handler(notice)
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            command.upgrade(alembic_config(connection, timezone), revision)
            connection.commit()
            schema.set_timezone(connection, timezone)
            if osticket is not None:
                schema.set_osticket_enabled(connection, osticket)
            connection.commit()
        finally:
            # After a failure the transaction is aborted; end it, or the unlock would fail too
            # and hide the real error. (Closing the session releases the lock in any case.)
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.commit()
            # The connection goes back to the engine's pool: it keeps no handler of this call's.
            driver_connection.remove_notice_handler(notice)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), revision)
        connection.commit()
