"""PostgreSQL for tests: one migrated template database per test session (and per xdist
worker), and a fresh copy of it for every test that asks, so tests never delete rows by hand
and can commit, run concurrent connections, and see triggers exactly as production does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from server_sync_api import demo, migrate
from server_sync_api.core.db import libpq_conninfo, make_engine

ADMIN_URL_ENV = "GEA_TEST_PG_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_TIMEZONE = "America/Grenada"


class PostgresUnreachable(Exception):
    pass


def admin_url() -> URL:
    return make_url(os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)).set(drivername="postgresql+psycopg")


def conninfo(url: URL) -> str:
    return libpq_conninfo(url)


def check_admin_connection() -> None:
    url = admin_url()
    try:
        with psycopg.connect(conninfo(url), connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise PostgresUnreachable(
            f"The tests need PostgreSQL and cannot reach it at {url.host}:{url.port or 5432} "
            f"({first_line}). Start it (on Debian: pg_ctlcluster --skip-systemctl-redirect 15 main "
            f"start) or point {ADMIN_URL_ENV} at a server where the user may create databases."
        ) from None


def _admin_execute(statement: sql.Composed) -> None:
    with psycopg.connect(conninfo(admin_url()), autocommit=True) as connection:
        connection.execute(statement)


def create_template(name: str, *, with_demo: bool = True) -> URL:
    """Create database `name` at head with the demo catalog, ready to be copied."""
    drop_database(name)
    _admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = admin_url().set(database=name)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, timezone=TEST_TIMEZONE)
        if with_demo:
            with engine.begin() as connection:
                demo.seed_demo(connection)
    finally:
        engine.dispose()
    return url


def copy_database(template: str, name: str) -> URL:
    _admin_execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    )
    return admin_url().set(database=name)


def drop_database(name: str) -> None:
    _admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def fresh_database(template: str, prefix: str = "gea_t") -> Iterator[URL]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    url = copy_database(template, name)
    try:
        yield url
    finally:
        drop_database(name)


@contextmanager
def empty_database(prefix: str = "gea_e") -> Iterator[URL]:
    """A brand-new database with nothing in it, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin_url().set(database=name)
    finally:
        drop_database(name)
