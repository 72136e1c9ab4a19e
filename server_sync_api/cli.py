"""`gea-server`: the server's command line (ARCHITECTURE section 2).

Each command reads its settings from the environment (FEEDBACK_DB_URL, GEA_SERVER_*) and
turns environment faults (a missing setting, an unreachable database) into one clear line
and exit status 2, never a traceback.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import click
import psycopg
import sqlalchemy.exc
from sqlalchemy import Engine

from server_sync_api import __version__, demo, migrate
from server_sync_api.core.config import ServerSettings, SettingsError, load_settings, require_api_settings
from server_sync_api.core.db import DatabaseUnavailable, check_reachable, libpq_conninfo, make_engine
from server_sync_api.services import devices as device_admin


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


@contextmanager
def _database_errors() -> Iterator[None]:
    """A refusal by the database (missing rights, a full disk...) as one line, not a traceback."""
    try:
        yield
    except (sqlalchemy.exc.DBAPIError, psycopg.Error) as exc:
        cause = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
        first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise EnvironmentProblem(f"the database refused: {first_line}") from None


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
    with _database_errors():
        before = migrate.current_revision(engine)
        migrate.upgrade(
            engine, timezone=settings.timezone, on_notice=lambda line: click.echo(f"Note: {line}.")
        )
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
    with _database_errors(), engine.begin() as connection:
        report = demo.seed_demo(connection)
    if report.total == 0:
        click.echo("The demo catalog is already loaded; nothing changed.")
    else:
        click.echo(
            f"Demo catalog loaded: {report.entities} entities, {report.services} services, "
            f"{report.categories} ticket categories, {report.qr_codes} QR codes added."
        )


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes; about one per core (docs/operations.md).",
)
def serve_command(host: str, port: int, workers: int) -> None:
    """Serve the sync API with uvicorn (behind a reverse proxy that terminates TLS)."""
    import uvicorn

    settings = _settings()
    try:
        require_api_settings(settings)
    except SettingsError as exc:
        raise EnvironmentProblem(str(exc)) from None
    _require_head(_engine(settings))
    # uvicorn's own logging set-up, with our loggers (server_sync_api.*) on the same handler.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["server_sync_api"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run(
        "server_sync_api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
        log_config=log_config,
    )


@main.group("devices")
def devices_group() -> None:
    """Enroll, list, revoke and re-enroll counter kiosks."""


@contextmanager
def _connection(settings: ServerSettings) -> Iterator[psycopg.Connection[Any]]:
    engine = _engine(settings)
    _require_head(engine)
    engine.dispose()
    with _database_errors(), psycopg.connect(libpq_conninfo(settings.url)) as conn:
        yield conn


def _print_code(new: device_admin.NewCode, as_json: bool, settings: ServerSettings, verb: str) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "device_code": new.device_code,
                    "enrollment_code": new.enrollment_code,
                    "expires_at": new.expires_at.isoformat(),
                }
            )
        )
        return
    click.echo(f"Device {new.device_code} {verb}.")
    until = _local(new.expires_at, settings)
    click.echo(f"Enrollment code: {new.enrollment_code}  (single use, valid until {until})")
    click.echo(
        f"On the kiosk:    gea-kiosk enroll --server {settings.public_base_url} --code {new.enrollment_code}"
    )


@devices_group.command("add")
@click.option("--name", required=True, help="Where the kiosk stands, e.g. 'Passport office, counter 2'.")
@click.option("--entity", "entity_id", required=True, help="The entity it serves, e.g. AGY-002.")
@click.option("--json", "as_json", is_flag=True, help='Print {"device_code": ..., "enrollment_code": ...}.')
def devices_add(name: str, entity_id: str, as_json: bool) -> None:
    """Register a kiosk and print its one-time enrollment code."""
    settings = _settings()
    with _connection(settings) as conn:
        try:
            new = device_admin.add_device(conn, name, entity_id, settings.enrollment_code_ttl_hours)
        except device_admin.DeviceError as exc:
            raise click.ClickException(str(exc)) from None
    _print_code(new, as_json, settings, f"added for {entity_id}")


@devices_group.command("reenroll")
@click.argument("device_code")
@click.option("--json", "as_json", is_flag=True, help="Print the code as JSON.")
def devices_reenroll(device_code: str, as_json: bool) -> None:
    """Issue a new enrollment code for the same device code (revoked, reinstalled or lost token)."""
    settings = _settings()
    with _connection(settings) as conn:
        try:
            new = device_admin.reenroll_device(conn, device_code, settings.enrollment_code_ttl_hours)
        except device_admin.DeviceError as exc:
            raise click.ClickException(str(exc)) from None
    _print_code(
        new, as_json, settings, "can be enrolled again; its old token stops working when the code is used"
    )


@devices_group.command("revoke")
@click.argument("device_code")
def devices_revoke(device_code: str) -> None:
    """Stop a kiosk: its token is refused from its next request on."""
    settings = _settings()
    with _connection(settings) as conn:
        try:
            device_admin.revoke_device(conn, device_code)
        except device_admin.DeviceError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"Device {device_code.upper()} revoked: its next request is refused. "
        f"To bring it back: gea-server devices reenroll {device_code.upper()}"
    )


@devices_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per device, in a list.")
def devices_list(as_json: bool) -> None:
    """The fleet: every kiosk's health, with the ones that need a visit flagged."""
    settings = _settings()
    with _connection(settings) as conn:
        rows = device_admin.fleet(conn, timedelta(hours=settings.silent_after_hours))
    if as_json:
        click.echo(json.dumps([_row_json(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("No kiosks yet. Add one with: gea-server devices add --name NAME --entity ENTITY")
        return
    click.echo(
        f"{'CODE':<8} {'ENTITY':<9} {'STATE':<9} {'LAST SEEN':<17} {'QUEUE':>5} "
        f"{'VERSION':<9} {'NAME':<28} ATTENTION"
    )
    for r in rows:
        seen = _local(r.last_seen_at, settings) if r.last_seen_at else "never"
        queue = "-" if r.queue_depth is None else str(r.queue_depth)
        # The kiosk chose this text; one_line keeps its control characters out of the terminal.
        version = device_admin.one_line(r.app_version or "") or "-"
        flags = "; ".join(r.problems) or ("awaiting enrollment" if r.state == "pending" else "")
        click.echo(
            f"{r.device_code:<8} {r.entity_id:<9} {r.state:<9} {seen:<17} {queue:>5} "
            f"{version[:9]:<9} {r.name[:28]:<28} {flags}"
        )
    flagged = sum(1 for r in rows if r.problems)
    click.echo(f"{len(rows)} kiosks, {flagged} need attention.")


def _row_json(r: device_admin.FleetRow) -> dict[str, object]:
    return {
        key: value.isoformat()
        if isinstance(value, datetime)
        else list(value)
        if isinstance(value, tuple)
        else value
        for key, value in r.__dict__.items()
    }


def _local(moment: datetime, settings: ServerSettings) -> str:
    from zoneinfo import ZoneInfo

    return f"{moment.astimezone(ZoneInfo(settings.timezone)):%Y-%m-%d %H:%M}"


if __name__ == "__main__":
    main()
