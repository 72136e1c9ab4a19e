"""PostgreSQL for tests: one migrated template database per test session (and per xdist
worker), and a fresh copy of it for every test that asks, so tests never delete rows by hand
and can commit, run concurrent connections, and see triggers exactly as production does.

Which server: the one GEA_TEST_PG_URL names; else the one answering on 127.0.0.1:5432; else
(or with GEA_TEST_PG_URL=embedded) the suite's own embedded PostgreSQL
(server_sync_api/embedded_pg.py) in `.test-postgres/` at the top of the checkout
(GEA_TEST_EMBEDDED_PG_DIR moves it), started once per run by the controlling process
(tests/conftest.py), which then sets GEA_TEST_PG_URL to it for the workers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from server_sync_api import demo, embedded_pg, migrate
from server_sync_api.core.db import libpq_conninfo, make_engine

ADMIN_URL_ENV = "GEA_TEST_PG_URL"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# GEA_TEST_PG_URL=embedded: the suite's own PostgreSQL even where another one runs.
EMBEDDED = "embedded"
EMBEDDED_DIR_ENV = "GEA_TEST_EMBEDDED_PG_DIR"
REPO = Path(__file__).resolve().parents[2]
# Databases a PostgreSQL keeps for itself; any other on the suite's own cluster is a test's.
_SERVER_DATABASES = ("postgres", "template0", "template1")
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
            f"The tests cannot use the PostgreSQL at {url.host}:{url.port or 5432} ({first_line}). "
            f"Point {ADMIN_URL_ENV} at a server where the user may create databases, or unset it: "
            "the suite then uses what answers on 127.0.0.1:5432, and starts a PostgreSQL of its own "
            "when nothing does."
        ) from None


def needs_embedded() -> bool:
    """True when GEA_TEST_PG_URL says `embedded`, or is unset and nothing answers on
    127.0.0.1:5432."""
    configured = os.environ.get(ADMIN_URL_ENV)
    if configured:
        return configured == EMBEDDED
    return not embedded_pg.answers(embedded_pg.LOOPBACK, embedded_pg.DEFAULT_PORT)


def embedded_dir() -> Path:
    return Path(os.environ.get(EMBEDDED_DIR_ENV) or REPO / ".test-postgres")


def drop_leftover_databases() -> list[str]:
    """On the suite's own cluster: drop the databases a killed run left behind."""
    with psycopg.connect(conninfo(admin_url()), autocommit=True) as connection:
        names = [
            str(row[0])
            for row in connection.execute(
                "SELECT datname FROM pg_database WHERE NOT (datname = ANY(%s))", (list(_SERVER_DATABASES),)
            )
        ]
    for name in names:
        drop_database(name)
    return names


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


# Settings PostgreSQL stores as an already quoted list ("$user", public): given back as they
# are, as pg_dump does, where any other value is given back as one literal.
_LIST_SETTINGS = frozenset(
    {"search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries"}
)


def copy_database(template: str, name: str) -> URL:
    """A copy of `template` that behaves as it does: CREATE DATABASE copies the objects but not
    the settings given with ALTER DATABASE ... SET (feedback_db's jit = off, 0013), so those
    are given to the copy too."""
    with psycopg.connect(conninfo(admin_url()), autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
        try:
            settings = connection.execute(
                "SELECT unnest(s.setconfig) FROM pg_db_role_setting s "
                "JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = %s AND s.setrole = 0",
                (template,),
            ).fetchall()
            for (setting,) in settings:
                key, _, value = setting.partition("=")
                given = sql.SQL(value) if key.lower() in _LIST_SETTINGS else sql.Literal(value)
                connection.execute(
                    sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                        sql.Identifier(name), sql.Identifier(key), given
                    )
                )
        except BaseException:
            drop_database(name)
            raise
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
