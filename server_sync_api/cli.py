"""`gea-server`: the server's command line (ARCHITECTURE section 2).

Each command reads its settings from the environment (FEEDBACK_DB_URL, GEA_SERVER_*) and
turns environment faults (a missing setting, an unreachable database) into one clear line
and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click
import psycopg

from server_sync_api import __version__, demo, migrate
from server_sync_api.commands.calendars import calendars_group
from server_sync_api.commands.maintenance import maintenance_command
from server_sync_api.commands.notify import notify_command
from server_sync_api.commands.osticket import osticket_push_command
from server_sync_api.commands.qr_poster import qr_poster_command
from server_sync_api.commands.sla_scan import sla_scan_command
from server_sync_api.commands.support import (
    EnvironmentProblem,
    database_errors,
    engine_or_exit,
    migrated_connection,
    require_head,
    require_migrated,
    settings_or_exit,
)
from server_sync_api.core.config import ServerSettings, SettingsError, require_api_settings
from server_sync_api.core.db import libpq_conninfo
from server_sync_api.domain import Officer, Role
from server_sync_api.services import devices as device_admin
from server_sync_api.services import officers as officer_admin


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gea-server")
def main() -> None:
    """Run and administer the GEA feedback sync server and its database, feedback_db."""


# Commands kept in their own modules (server_sync_api/commands/).
for _command in (
    sla_scan_command,
    maintenance_command,
    notify_command,
    osticket_push_command,
    calendars_group,
    qr_poster_command,
):
    main.add_command(_command)


@main.command("migrate")
def migrate_command() -> None:
    """Create or upgrade feedback_db to the latest schema (safe to run again)."""
    settings = settings_or_exit()
    engine = engine_or_exit(settings)
    with database_errors():
        before = migrate.current_revision(engine)
        migrate.upgrade(
            engine,
            timezone=settings.timezone,
            on_notice=lambda line: click.echo(f"Note: {line}."),
            osticket=settings.osticket_enabled,
        )
        after = migrate.current_revision(engine)
    engine.dispose()
    where = settings.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"feedback_db at {where} is already at revision {after}; time zone {settings.timezone}.")
    else:
        click.echo(
            f"feedback_db at {where} upgraded from {before or 'empty'} to {after}; "
            f"time zone {settings.timezone}."
        )
    if settings.osticket_enabled:
        click.echo("New tickets are queued for osTicket (gea-server osticket-push sends them).")


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Load the demo catalog (ministries, services, categories, QR codes); idempotent."""
    engine = engine_or_exit(settings_or_exit())
    require_head(engine)
    with database_errors(), engine.begin() as connection:
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

    settings = settings_or_exit()
    try:
        require_api_settings(settings)
    except SettingsError as exc:
        raise EnvironmentProblem(str(exc)) from None
    require_head(engine_or_exit(settings))
    if settings.session_secret is None:
        click.echo(
            "Note: GEA_SERVER_SESSION_SECRET is not set, so the officers' ticket desk (/desk/) says it "
            "is not set up; kiosks and the public pages are served as usual.",
            err=True,
        )
    elif not settings.oidc_enabled:
        click.echo(
            "Note: the ticket desk signs officers in with local passwords only (GEA_SERVER_OIDC_* not set)."
        )
    if settings.scheduler == "on":
        click.echo(
            "Scheduler on: the SLA scan, mail to officers, the osTicket push and maintenance run "
            "from this server (one worker across all hosts at a time)."
        )
    # uvicorn's own logging set-up, with our loggers (server_sync_api.*) on the same handler.
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["server_sync_api"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    uvicorn.run(
        "server_sync_api.main:create_served_app",
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
    settings = settings_or_exit()
    with migrated_connection(settings) as conn:
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
    settings = settings_or_exit()
    with migrated_connection(settings) as conn:
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
    settings = settings_or_exit()
    with migrated_connection(settings) as conn:
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
    settings = settings_or_exit()
    with migrated_connection(settings) as conn:
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


# --- officers ------------------------------------------------------------------------------------

# Where scripts give an officer's password instead of typing it; never an argument (ps shows those).
OFFICER_PASSWORD_ENV = "GEA_OFFICER_PASSWORD"
_ROLE_WORDS = {"officer": "officer", "supervisor": "supervisor", "admin": "administrator"}

_T = TypeVar("_T")


@main.group("officers")
def officers_group() -> None:
    """Add, list, disable and enable the desk's officers, and reset their passwords."""


def _officers(settings: ServerSettings, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[_T]]) -> _T:
    """Run `work` on its own connection in one transaction, committed when it returns; the
    officers service's refusals become usage errors (exit 2) that say what to fix."""
    require_migrated(settings)

    async def run() -> _T:
        async with await psycopg.AsyncConnection.connect(libpq_conninfo(settings.url)) as conn:
            return await work(conn)

    with database_errors():
        try:
            return asyncio.run(run())
        except officer_admin.OfficerError as exc:
            raise click.UsageError(str(exc)) from None


def _new_password(email: str) -> str:
    """From GEA_OFFICER_PASSWORD, else asked twice without echo; refused early if it breaks a rule."""
    password = os.environ.get(OFFICER_PASSWORD_ENV)
    if password is None:
        try:
            password = click.prompt(
                f"Password for {email.strip().lower()}", hide_input=True, confirmation_prompt=True
            )
        except click.Abort:  # no terminal to ask (a script, stdin closed) or Ctrl-C
            raise click.UsageError(
                f"no password given: set {OFFICER_PASSWORD_ENV} when running without a terminal"
            ) from None
    try:
        officer_admin.check_password_rules(password, email)
    except officer_admin.WeakPassword as exc:
        where = OFFICER_PASSWORD_ENV if OFFICER_PASSWORD_ENV in os.environ else "the password typed"
        raise click.UsageError(f"{where}: {exc}") from None
    return password


def _reach(role: str, entity_id: str) -> str:
    if role == "admin":
        return f"administrator of every entity (home entity {entity_id})"
    return f"{_ROLE_WORDS.get(role, role)} of {entity_id} and the entities under it"


@officers_group.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The officer's full name, e.g. 'Ana Pérez'.")
@click.option("--entity", "entity_id", required=True, help="The entity they work for, e.g. DEPT-003.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["officer", "supervisor", "admin"]),
    help="officer: their entity's tickets and below; supervisor: also assigns; admin: everything.",
)
@click.option(
    "--no-password",
    is_flag=True,
    help="No local password: they sign in through the identity provider only (linked by verified email).",
)
def officers_add(email: str, name: str, entity_id: str, role: Role, no_password: bool) -> None:
    """Add an officer. The password comes from GEA_OFFICER_PASSWORD, or is asked twice."""
    settings = settings_or_exit()
    require_migrated(settings)
    password = None if no_password else _new_password(email)
    officer = _officers(
        settings,
        lambda conn: officer_admin.add(
            conn, email=email, display_name=name, entity_id=entity_id, role=role, password=password
        ),
    )
    how = (
        "signs in with a password"
        if password is not None
        else "signs in through the identity provider (linked at the first sign-in by verified email)"
    )
    click.echo(
        f"Added officer {officer.email} ({device_admin.one_line(officer.display_name)}), "
        f"{_reach(officer.role, officer.entity_id)}; {how}."
    )
    if password is None and not settings.oidc_enabled:
        click.echo(
            "Note: no identity provider is configured here (GEA_SERVER_OIDC_ISSUER), so they cannot "
            "sign in until one is, or until IT sets a password: "
            f"gea-server officers reset-password {officer.email}"
        )


@officers_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per officer, in a list.")
def officers_list(as_json: bool) -> None:
    """Every officer: role, entity, how they sign in, and when they last did."""
    settings = settings_or_exit()
    listing = _officers(settings, officer_admin.list_officers)
    if as_json:
        click.echo(json.dumps([_listing_json(item) for item in listing], indent=2))
        return
    if not listing:
        click.echo(
            "No officers yet. Add one with: gea-server officers add EMAIL --name NAME --entity ENTITY "
            "--role officer|supervisor|admin"
        )
        return
    click.echo(
        f"{'EMAIL':<32} {'NAME':<24} {'ROLE':<10} {'ENTITY':<9} {'STATE':<8} "
        f"{'SIGNS IN WITH':<17} LAST SIGN-IN"
    )
    for item in listing:
        o = item.officer
        state = "active" if o.active else "disabled"
        last = _local(item.last_sign_in_at, settings) if item.last_sign_in_at else "never"
        click.echo(
            f"{o.email:<32} {device_admin.one_line(o.display_name)[:24]:<24} {o.role:<10} "
            f"{o.entity_id:<9} {state:<8} {item.sign_in:<17} {last}"
        )
    disabled = sum(1 for item in listing if not item.officer.active)
    click.echo(f"{len(listing)} officers, {disabled} disabled.")


def _listing_json(item: officer_admin.OfficerListing) -> dict[str, object]:
    o = item.officer
    return {
        "officer_id": o.officer_id,
        "email": o.email,
        "display_name": o.display_name,
        "entity_id": o.entity_id,
        "role": o.role,
        "active": o.active,
        "language": o.language,
        "sign_in": item.sign_in,
        "last_sign_in_at": item.last_sign_in_at.isoformat() if item.last_sign_in_at else None,
        "disabled_at": item.disabled_at.isoformat() if item.disabled_at else None,
    }


@officers_group.command("disable")
@click.argument("email")
def officers_disable(email: str) -> None:
    """Stop an officer: they cannot sign in, and their open desk sessions end now."""
    settings = settings_or_exit()

    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[bool, Officer]:
        before = await officer_admin.by_email(conn, email)
        return (before is not None and not before.active), await officer_admin.disable(conn, email)

    already, officer = _officers(settings, work)
    if already:
        click.echo(f"Officer {officer.email} was already disabled; nothing changed.")
    else:
        click.echo(
            f"Officer {officer.email} disabled: their desk sessions have ended and they cannot sign in. "
            f"To bring them back: gea-server officers enable {officer.email}"
        )


@officers_group.command("enable")
@click.argument("email")
def officers_enable(email: str) -> None:
    """Let a disabled officer sign in again."""
    officer = _officers(settings_or_exit(), lambda conn: officer_admin.enable(conn, email))
    click.echo(f"Officer {officer.email} enabled: they can sign in again.")


@officers_group.command("reset-password")
@click.argument("email")
def officers_reset_password(email: str) -> None:
    """Set a new password (from GEA_OFFICER_PASSWORD, or asked twice) and restart the sign-in delay."""
    settings = settings_or_exit()
    require_migrated(settings)
    password = _new_password(email)
    officer = _officers(settings, lambda conn: officer_admin.reset_password(conn, email, password))
    click.echo(f"New password set for {officer.email}; failed sign-ins before it no longer slow them down.")


if __name__ == "__main__":
    main()
