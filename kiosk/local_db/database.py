"""Opening the kiosk's SQLite file: pragmas for durability, migrations at start-up.

WAL with synchronous=FULL: once a write transaction commits, it survives a power cut.
Transactions start with BEGIN IMMEDIATE, so two processes never both read and then both try
to write (which SQLite would refuse with "database is locked"); the busy timeout makes the
second one wait instead. Units that only read say so (`reader(engine)`) and take no lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

DB_FILENAME = "kiosk.sqlite3"
BUSY_TIMEOUT_MS = 10_000
SCRIPT_LOCATION = "kiosk.local_db:migrations"
# Every transaction begins IMMEDIATE (it may write) unless a unit says it only reads.
BEGIN_OPTION = "sqlite_begin"


def database_path(data_dir: Path) -> Path:
    return data_dir / DB_FILENAME


def make_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def reader(engine: Engine) -> Engine:
    """The same engine for units that only read: a deferred BEGIN takes no write lock, so a
    long read never holds up the sync worker or another process's insert."""
    return engine.execution_options(**{BEGIN_OPTION: "DEFERRED"})


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the file to `revision`; every queued row is kept (tested per migration)."""
    command.upgrade(alembic_config(engine), revision)


def open_database(data_dir: Path) -> Engine:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_path(data_dir))
    migrate(engine)
    return engine
