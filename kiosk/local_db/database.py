"""Opening the kiosk's SQLite file: pragmas for durability, migrations at start-up.

WAL with synchronous=FULL: once a write transaction commits, it survives a power cut. The
sync worker's own bookkeeping (claiming a batch, settling its answers) says it may commit with
synchronous=NORMAL (`resendable(engine)`): still atomic and safe from corruption, and kept if
only the process dies, but a power cut may undo the last such commits, which costs a resend
(the server answers `duplicate`), never a submission. A submission's own writes stay FULL,
and each FULL commit syncs the log with every commit before it.
Transactions start with BEGIN IMMEDIATE, so two processes never both read and then both try
to write (which SQLite would refuse with "database is locked"); the busy timeout makes the
second one wait instead. Units that only read say so (`reader(engine)`) and take no lock.

An error the machine causes (a full disk, the write lock held past the busy timeout, a folder
that cannot be written) leaves the engine as a `kiosk.faults.StorageFault`, so every caller
catches one type and shows staff what to do; SQLite's message, which can quote a statement's
parameters (a citizen's comment), never reaches a log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext

from kiosk import faults
from kiosk.local_db import privacy

log = logging.getLogger("kiosk.local_db")

DB_FILENAME = "kiosk.sqlite3"
# How long a write waits for another process's write lock before it is a DatabaseBusy fault.
# Every writer's transaction is short (one submission, one batch settled), so a wait this
# long means a stuck process.
BUSY_TIMEOUT_S = 10.0
# The app's GUI (main) thread waits far less: a frozen screen is worse than a tap that says
# it could not be saved, and the service manager's watchdog would restart a kiosk frozen for
# long. The sync worker and the commands keep BUSY_TIMEOUT_S.
SCREEN_BUSY_TIMEOUT_S = 1.0
SCRIPT_LOCATION = "kiosk.local_db:migrations"
# Every transaction begins IMMEDIATE (it may write) unless a unit says it only reads.
BEGIN_OPTION = "sqlite_begin"
# Where a pooled connection remembers the busy timeout it was last given.
_BUSY_INFO = "gea_busy_timeout_s"
# Each transaction's synchronous setting: FULL unless a unit says it may be undone by a power
# cut (`resendable`); where a pooled connection remembers the one it was last given.
SYNCHRONOUS_OPTION = "gea_synchronous"
_SYNCHRONOUS_INFO = "gea_synchronous"


def database_path(data_dir: Path) -> Path:
    return data_dir / DB_FILENAME


def _switch_to_wal(cursor: sqlite3.Cursor, busy_timeout_s: float) -> None:
    """WAL mode (kept in the file once set). Processes opening a new file at once each need an
    exclusive lock to switch it, from the shared lock they read with; SQLite answers one of
    them "database is locked" at once rather than let both wait for the other (its busy
    handler is skipped to avoid that deadlock), so the switch is tried again, within the busy
    timeout, as the handler would have waited."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def make_engine(
    path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S, *, screen_busy_timeout_s: float | None = None
) -> Engine:
    """The engine on `path`. With `screen_busy_timeout_s`, transactions begun on the main
    thread (the app's screen) wait that long for a write lock instead of `busy_timeout_s`."""
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": busy_timeout_s},
        # A failed statement's parameters are payloads: never in an exception's text.
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        record.info[_BUSY_INFO] = busy_timeout_s
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _switch_to_wal(cursor, busy_timeout_s)
        cursor.execute("PRAGMA synchronous=FULL")
        record.info[_SYNCHRONOUS_INFO] = "FULL"
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if screen_busy_timeout_s is not None:
            on_screen = threading.current_thread() is threading.main_thread()
            wanted = screen_busy_timeout_s if on_screen else busy_timeout_s
            info = connection.connection.info  # the pooled connection's, which threads share
            if info.get(_BUSY_INFO) != wanted:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={round(wanted * 1000)}")
                info[_BUSY_INFO] = wanted
        options = connection.get_execution_options()
        # Set for every transaction, not left from the last one: a connection back in the pool
        # after a resendable unit must not commit a submission with NORMAL.
        synchronous = options.get(SYNCHRONOUS_OPTION, "FULL")
        info = connection.connection.info
        if info.get(_SYNCHRONOUS_INFO) != synchronous:
            connection.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
            info[_SYNCHRONOUS_INFO] = synchronous
        mode = options.get(BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    @event.listens_for(engine, "handle_error")
    def _as_fault(context: ExceptionContext) -> BaseException | None:
        fault = faults.storage_fault(context.original_exception, path.parent)
        if fault is None:
            return None
        # The kind only: SQLite's message may quote the statement's parameters.
        log.warning("storage fault: %s (%s)", fault.code, type(context.original_exception).__name__)
        # Returned, not raised: SQLAlchemy raises it in place of its own exception (connecting
        # included), chained to SQLite's, after the handlers registered later (report_faults)
        # have seen the error too. A handler that raises ends the chain.
        return fault

    return engine


def report_faults(engine: Engine, board: faults.FaultBoard) -> None:
    """Keep `board` current: a storage fault is noted when it happens and cleared by the next
    write that commits (the disk has room again, the lock was let go)."""

    @event.listens_for(engine, "handle_error")
    def _note(context: ExceptionContext) -> None:
        fault = faults.storage_fault(context.original_exception)
        if fault is not None:
            board.report(fault)

    @event.listens_for(engine, "commit")
    def _clear(connection: Any) -> None:
        del connection
        board.clear("storage")


def reader(engine: Engine) -> Engine:
    """The same engine for units that only read: a deferred BEGIN takes no write lock, so a
    long read never holds up the sync worker or another process's insert."""
    return engine.execution_options(**{BEGIN_OPTION: "DEFERRED"})


def resendable(engine: Engine) -> Engine:
    """The same engine for the sync worker's bookkeeping (claim, settle, release): its commits
    skip the fsync (synchronous=NORMAL). A power cut may undo the last of them, which puts a
    batch back to `pending` or `sending`, and the next start-up sends it again; the server
    answers `duplicate`. Never for a write that records or changes a submission itself."""
    return engine.execution_options(**{SYNCHRONOUS_OPTION: "NORMAL"})


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the file to `revision`; every queued row is kept (tested per migration)."""
    command.upgrade(alembic_config(engine), revision)


def open_database(
    data_dir: Path, busy_timeout_s: float = BUSY_TIMEOUT_S, *, screen_busy_timeout_s: float | None = None
) -> Engine:
    """The data directory's database, created owner-only if new and migrated to head; the
    directory and everything in it made owner-only again if something widened them. Raises a
    StorageFault when the folder or the disk is in the way."""
    path = database_path(data_dir)
    try:
        privacy.make_private_dir(data_dir)
        # SQLite gives its -wal and -shm files the database file's mode: 0600 from the start.
        privacy.create_private_file(path)
        for repaired in privacy.repair(data_dir):
            log.warning("%s could be read by other accounts; made it owner-only", repaired)
    except OSError as exc:
        faults.raise_as_storage_fault(exc, data_dir)
        raise
    engine = make_engine(path, busy_timeout_s, screen_busy_timeout_s=screen_busy_timeout_s)
    try:
        newer = _newer_revision(engine)
        if newer is not None:
            raise faults.DataFromNewerVersion(newer)
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _newer_revision(engine: Engine) -> str | None:
    """The file's revision when this version's migrations do not know it (a downgrade)."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return None
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    known = {script.revision for script in scripts.walk_revisions()}
    return None if current in known else current
