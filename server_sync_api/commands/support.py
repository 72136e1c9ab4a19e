"""What every `gea-server` command shares: settings, the engine, and faults as one clear line.

Each command reads its settings from the environment (FEEDBACK_DB_URL, GEA_SERVER_*) and
turns environment faults (a missing setting, an unreachable database) into one clear line
and exit status 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg
import sqlalchemy.exc
from sqlalchemy import Engine

from server_sync_api import migrate
from server_sync_api.core.config import ServerSettings, SettingsError, load_settings
from server_sync_api.core.db import DatabaseUnavailable, check_reachable, libpq_conninfo, make_engine


class EnvironmentProblem(click.ClickException):
    exit_code = 2


class Refused(click.ClickException):
    """A request the person can fix (an unknown service, calendar or entity, a missing folder):
    one line, exit 2."""

    exit_code = 2


def settings_or_exit() -> ServerSettings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise EnvironmentProblem(str(exc)) from None


def engine_or_exit(settings: ServerSettings) -> Engine:
    engine = make_engine(settings.url)
    try:
        check_reachable(engine)
    except DatabaseUnavailable as exc:
        raise EnvironmentProblem(str(exc)) from None
    return engine


@contextmanager
def database_errors() -> Iterator[None]:
    """A refusal by the database (missing rights, a full disk...) as one line, not a traceback."""
    try:
        yield
    except (sqlalchemy.exc.DBAPIError, psycopg.Error) as exc:
        cause = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
        first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise EnvironmentProblem(f"the database refused: {first_line}") from None


def require_head(engine: Engine) -> None:
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        raise EnvironmentProblem(
            f"feedback_db is at revision {current or 'none (empty)'}, not {head}: "
            "run `gea-server migrate` first."
        )


def require_migrated(settings: ServerSettings) -> None:
    """feedback_db is reachable and at the head revision; otherwise one line and exit 2."""
    engine = engine_or_exit(settings)
    try:
        with database_errors():  # a role that may not read alembic_version: one line, not a traceback
            require_head(engine)
    finally:
        engine.dispose()


@contextmanager
def migrated_connection(settings: ServerSettings, **kwargs: Any) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection to a reachable feedback_db at the head revision."""
    require_migrated(settings)
    with database_errors(), psycopg.connect(libpq_conninfo(settings.url), **kwargs) as conn:
        yield conn
