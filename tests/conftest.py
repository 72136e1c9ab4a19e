"""Shared fixtures. Database tests get a fresh copy of a migrated template database."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

# Without a display Qt aborts the interpreter; headless unless a developer asks for a screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psycopg
import pytest
from sqlalchemy.engine import URL

from kiosk import logs
from tests.helpers import pg, server

TESTS_DIR = Path(__file__).parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail the whole run at once, with one clear message, when PostgreSQL is unreachable.

    Done here, in the controlling process, because an exit raised inside an xdist worker
    surfaces as an internal error. Runs that select only tests/unit need no database.
    """
    if hasattr(session.config, "workerinput"):
        return
    unit = TESTS_DIR / "unit"
    selected = [Path(arg.split("::")[0]).resolve() for arg in session.config.args]
    if selected and all(path == unit or unit in path.parents for path in selected):
        return
    try:
        pg.check_admin_connection()
    except pg.PostgresUnreachable as exc:
        pytest.exit(str(exc), returncode=3)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path))
        if TESTS_DIR / "integration" in path.parents:
            item.add_marker(pytest.mark.integration)
        if TESTS_DIR / "gui" in path.parents:
            item.add_marker(pytest.mark.qt)
        if "pg_template" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pg)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For tests that configure the kiosk's logging: the handlers and levels the process had
    before are put back (kiosk.logs.configure changes the root logger's)."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers), logging.getLogger("kiosk").level)
    yield
    logs.reset()
    root.setLevel(before[0])
    root.handlers[:] = before[1]
    logging.getLogger("kiosk").setLevel(before[2])


@pytest.fixture(scope="session")
def pg_template(worker_id: str) -> Iterator[str]:
    """Name of a migrated database holding the demo catalog, one per test process."""
    try:
        pg.check_admin_connection()
    except pg.PostgresUnreachable as exc:
        pytest.exit(str(exc), returncode=3)
    name = f"gea_tpl_{os.getpid()}_{worker_id}"
    pg.create_template(name)
    yield name
    pg.drop_database(name)


@pytest.fixture
def db_url(pg_template: str) -> Iterator[URL]:
    """A fresh database at head with the demo catalog, dropped after the test."""
    with pg.fresh_database(pg_template) as url:
        yield url


@pytest.fixture
def conn(db_url: URL) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the test's own database."""
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as connection:
        yield connection


@pytest.fixture
def empty_db_url(pg_template: str) -> Iterator[URL]:
    """A brand-new, empty database (no schema), dropped after the test."""
    del pg_template  # requested for the reachability check and the pg marker
    with pg.empty_database() as url:
        yield url


@pytest.fixture
def live_server(db_url: URL) -> Iterator[server.LiveServer]:
    """The real API over real HTTP on 127.0.0.1, against this test's own database."""
    with server.serve(server.settings_for(db_url)) as live:
        yield live


@pytest.fixture
def device(live_server: server.LiveServer, db_url: URL) -> server.EnrolledDevice:
    """A kiosk of the passport office (AGY-002, service SVC-001), enrolled over HTTP."""
    return server.enroll(live_server, db_url, "AGY-002")
