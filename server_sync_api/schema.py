"""The SQL files that define feedback_db, and how migrations run them.

Functions, triggers and views live as versioned SQL files under `sql/vNNNN/`, so each
migration creates them whole and its downgrade restores the previous version's text
(ARCHITECTURE, STYLE: "replaceable objects").
"""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Connection, text


def read_sql(version: str, name: str) -> str:
    return resources.files("server_sync_api").joinpath("sql", version, name).read_text("utf-8")


def run_sql(connection: Connection, sql: str) -> None:
    """Run a multi-statement script inside the connection's transaction.

    It goes to psycopg without parameters, so nothing in it (`:=`, `%`, `$$`) is taken for
    a placeholder, and psycopg sends it as one simple query.
    """
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(sql)


def set_osticket_enabled(connection: Connection, enabled: bool) -> None:
    """Whether new tickets are queued for osTicket (read by the ticket trigger)."""
    connection.execute(
        text("UPDATE app_settings SET osticket_enabled = :on WHERE singleton AND osticket_enabled <> :on"),
        {"on": enabled},
    )


def set_timezone(connection: Connection, timezone: str) -> None:
    """Store the server's zone for triggers and views (ARCHITECTURE 4.1)."""
    connection.execute(
        text("UPDATE app_settings SET timezone = :tz WHERE singleton AND timezone <> :tz"),
        {"tz": timezone},
    )
