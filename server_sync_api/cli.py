"""`gea-server`: the server's command line (ARCHITECTURE section 2).

Each command reads its settings from the environment (FEEDBACK_DB_URL, GEA_SERVER_*) and
turns environment faults (a missing setting, an unreachable database) into one clear line
and exit status 2, never a traceback.
"""

from __future__ import annotations

import click
from sqlalchemy import Engine

from server_sync_api import __version__, demo, migrate
from server_sync_api.core.config import ServerSettings, SettingsError, load_settings
from server_sync_api.core.db import DatabaseUnavailable, check_reachable, make_engine


class EnvironmentProblem(click.ClickException):
    exit_code = 2


def _settings() -> ServerSettings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise EnvironmentProblem(str(exc)) from None


def _engine(settings: ServerSettings) -> Engine:
    engine = make_engine(settings.url)
    try:
        check_reachable(engine)
    except DatabaseUnavailable as exc:
        raise EnvironmentProblem(str(exc)) from None
    return engine


def _require_head(engine: Engine) -> None:
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        raise EnvironmentProblem(
            f"feedback_db is at revision {current or 'none (empty)'}, not {head}: "
            "run `gea-server migrate` first."
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gea-server")
def main() -> None:
    """Run and administer the GEA feedback sync server and its database, feedback_db."""


@main.command("migrate")
def migrate_command() -> None:
    """Create or upgrade feedback_db to the latest schema (safe to run again)."""
    settings = _settings()
    engine = _engine(settings)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine, timezone=settings.timezone)
    after = migrate.current_revision(engine)
    where = settings.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"feedback_db at {where} is already at revision {after}; time zone {settings.timezone}.")
    else:
        click.echo(
            f"feedback_db at {where} upgraded from {before or 'empty'} to {after}; "
            f"time zone {settings.timezone}."
        )


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Load the demo catalog (ministries, services, categories, QR codes); idempotent."""
    engine = _engine(_settings())
    _require_head(engine)
    with engine.begin() as connection:
        report = demo.seed_demo(connection)
    if report.total == 0:
        click.echo("The demo catalog is already loaded; nothing changed.")
    else:
        click.echo(
            f"Demo catalog loaded: {report.entities} entities, {report.services} services, "
            f"{report.categories} ticket categories, {report.qr_codes} QR codes added."
        )
