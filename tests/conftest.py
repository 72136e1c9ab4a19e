"""Shared fixtures. Database tests get a fresh copy of a migrated template database."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

# Without a display Qt aborts the interpreter; headless unless a developer asks for a screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psycopg
import pytest
from sqlalchemy.engine import URL

from kiosk import logs
from server_sync_api import embedded_pg
from tests.helpers import desk, pg, server

TESTS_DIR = Path(__file__).parent


def _needs_database(config: pytest.Config) -> bool:
    """Runs that select only tests/unit need no database."""
    unit = TESTS_DIR / "unit"
    selected = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    return not (selected and all(path == unit or unit in path.parents for path in selected))


_EMBEDDED = pytest.StashKey[tuple[contextlib.ExitStack, embedded_pg.Started]]()


def pytest_configure(config: pytest.Config) -> None:
    """With no PostgreSQL configured or running, start the suite's own, once per run.

    Done in the controlling process before the xdist workers exist, so they inherit its URL
    (GEA_TEST_PG_URL); stopped in pytest_unconfigure, which also runs after a failure or a
    Ctrl-C. A SIGTERM is made a KeyboardInterrupt for the same reason; a run killed outright
    leaves the server running, and the next run stops it (embedded_pg)."""
    if hasattr(config, "workerinput") or config.getoption("help") or not _needs_database(config):
        return
    if not pg.needs_embedded():
        return
    stack = contextlib.ExitStack()
    try:
        started = stack.enter_context(embedded_pg.running(pg.embedded_dir(), durable=False))
    except (embedded_pg.EmbeddedUnavailable, embedded_pg.EmbeddedFailed) as exc:
        stack.close()
        why = (
            f"{pg.ADMIN_URL_ENV}=embedded asks for the suite's own PostgreSQL"
            if os.environ.get(pg.ADMIN_URL_ENV)
            else f"No PostgreSQL is configured ({pg.ADMIN_URL_ENV}) or answers on 127.0.0.1:5432"
        )
        raise pytest.UsageError(f"{why}, and it could not start: {exc}") from None
    # Put back at the end: pytest may run again in this process (pytester, an IDE).
    configured = os.environ.get(pg.ADMIN_URL_ENV)
    stack.callback(_restore_env, pg.ADMIN_URL_ENV, configured)
    os.environ[pg.ADMIN_URL_ENV] = started.cluster.url().render_as_string(hide_password=False)
    config.stash[_EMBEDDED] = (stack, started)
    pg.drop_leftover_databases()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
        stack.callback(signal.signal, signal.SIGTERM, signal.SIG_DFL)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_unconfigure(config: pytest.Config) -> None:
    embedded = config.stash.get(_EMBEDDED, None)
    if embedded is not None:
        del config.stash[_EMBEDDED]
        embedded[0].close()


def pytest_report_header(config: pytest.Config) -> str | None:
    embedded = config.stash.get(_EMBEDDED, None)
    if embedded is None:
        return None
    started = embedded[1]
    how = "first start, initdb" if started.initialized else "reused"
    if started.stale_stopped:
        how += ", after stopping the server a killed run left"
    return (
        f"postgresql: the suite's own PostgreSQL {started.cluster.major_version()} in "
        f"{started.cluster.root} on port {started.cluster.port} ({how}; {started.seconds:.2f} s)"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail the whole run at once, with one clear message, when PostgreSQL is unreachable.

    Done here, in the controlling process, because an exit raised inside an xdist worker
    surfaces as an internal error."""
    if hasattr(session.config, "workerinput") or not _needs_database(session.config):
        return
    try:
        pg.check_admin_connection()
    except pg.PostgresUnreachable as exc:
        pytest.exit(str(exc), returncode=3)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path))
        if TESTS_DIR / "integration" in path.parents or TESTS_DIR / "browser" in path.parents:
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
def anyio_backend() -> str:
    return "asyncio"  # psycopg's async connections need asyncio


@pytest.fixture
async def aconn(db_url: URL) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """An autocommit async connection to the test's own database, as the desk's services and
    the officers' command line hold one."""
    async with await psycopg.AsyncConnection.connect(pg.conninfo(db_url), autocommit=True) as connection:
        yield connection


@pytest.fixture
def live_server(db_url: URL) -> Iterator[server.LiveServer]:
    """The real API over real HTTP on 127.0.0.1, against this test's own database."""
    with server.serve(server.settings_for(db_url)) as live:
        yield live


@pytest.fixture
def live_desk(db_url: URL) -> Iterator[server.LiveServer]:
    """The real app with the officers' desk set up, over real HTTP on 127.0.0.1."""
    with desk.serve_desk(db_url) as live:
        yield live


@pytest.fixture
def device(live_server: server.LiveServer, db_url: URL) -> server.EnrolledDevice:
    """A kiosk of the passport office (AGY-002, service SVC-001), enrolled over HTTP."""
    return server.enroll(live_server, db_url, "AGY-002")
