"""`gea-kiosk`: the kiosk's command line (ARCHITECTURE section 2).

Environment faults (no catalog yet, not enrolled, another process syncing, a broken
kiosk.toml, a data directory that cannot be written) end with one clear line and exit status
2; bad input with exit status 2 too, as click does for usage errors. Nothing here prints or
logs the device token, the enrollment code or the PIN.

Every command logs like the app (kiosk.logs): `sync` to logs/sync.log, the others to
logs/cli.log, with warnings and errors on stderr too. Everything the process writes is
owner-only (umask 077): the data directory holds citizens' words and the device token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from kiosk import __version__, config, enroll_file, escpos_printer, faults, logs, paths, pin
from kiosk import demo as demo_setup
from kiosk.local_db import catalog_cache, database, identity, local_settings, lock, outbox, sync_health
from kiosk.services import CHANNELS, InvalidInput, KioskServices, NoCatalog

log = logging.getLogger("kiosk.cli")
# When this kiosk last began an enrollment (the write that proves the data directory works).
ENROLL_STARTED = "enroll.started_at"
# Files the kiosk creates are its user's alone (privacy.repair fixes older ones at start-up).
PRIVATE_UMASK = 0o077


class EnvironmentProblem(click.ClickException):
    exit_code = 2


class Context:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self.data_dir = paths.data_dir()
        self._engine: Engine | None = None

    def settings(self) -> config.KioskSettings:
        try:
            return config.load_settings(self.config_path)
        except config.KioskConfigError as exc:
            raise EnvironmentProblem(str(exc)) from None

    def engine(self) -> Engine:
        """The process's one engine on the data directory, disposed when the command ends."""
        if self._engine is None:
            try:
                self._engine = database.open_database(self.data_dir)
            except faults.StorageFault as exc:
                raise EnvironmentProblem(exc.staff_message) from None
        return self._engine

    def start_logging(self, program: str, what: str) -> None:
        """Log like the app: `logs/<program>.log` in the data directory. Called by the commands
        that work on it (not by --help, pin-hash or the self-test, so IT's own workstation gets
        no kiosk data directory from them). The app's stderr is its console; a command's is its
        user's, who reads only the problems there."""
        logs.configure(
            self.data_dir,
            self.settings().log_level,
            program=program,
            stderr_level=None if program == "kiosk" else "WARNING",
        )
        log.info("gea-kiosk %s: %s", __version__, what)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"kiosk.toml to read (default: ${paths.CONFIG_ENV} or {paths.config_file()}).",
)
@click.option("--windowed", is_flag=True, help="A normal window instead of full screen (kiosk mode).")
@click.option(
    "--selftest",
    is_flag=True,
    help="Check that this machine can run the kiosk (data directory, PIN, Qt, font, receipts, "
    "printer, server), print what to fix, and exit: 0 if nothing failed.",
)
@click.version_option(__version__, prog_name="gea-kiosk")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, windowed: bool, selftest: bool) -> None:
    """The GEA counter kiosk. Without a command, starts the kiosk (full screen)."""
    os.umask(PRIVATE_UMASK)
    ctx.obj = Context(config_path)
    ctx.call_on_close(ctx.obj.close)
    settings = ctx.obj.settings()  # a broken kiosk.toml is reported by every command, before it acts
    if selftest:
        from kiosk.ui import selftest as checks

        text, status = checks.report(checks.run_checks(ctx.obj.data_dir, settings))
        click.echo(text)
        raise SystemExit(status)
    if ctx.invoked_subcommand is None:
        from kiosk.ui import app

        _need_screen()
        ctx.obj.start_logging("kiosk", "the app")
        try:
            raise SystemExit(app.run(ctx.obj.data_dir, settings, windowed=windowed))
        except faults.LocalFault as exc:  # its storage in the way, or an installation damaged
            log.error("the kiosk cannot start: %s", exc.staff_message)
            raise EnvironmentProblem(exc.staff_message) from None


@main.command("demo")
@click.option("--offline", is_flag=True, help="Do not look for PostgreSQL: the built-in catalog, offline.")
@click.option(
    "--database-url",
    envvar="GEA_DEMO_DATABASE_URL",
    show_envvar=True,
    default=None,
    help="Where the demo server keeps feedback_db (a database it may create). Default: "
    f"{demo_setup.DEMO_DATABASE_URL} if a PostgreSQL answers there, else an embedded PostgreSQL "
    "in the demo's data directory.",
)
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="Demo server port."
)
@click.pass_obj
def demo_command(ctx: Context, offline: bool, database_url: str | None, port: int) -> None:
    """The product on this machine: the server on 127.0.0.1 with the demo catalog, an enrolled
    kiosk in a window, and each ticket that complaints make printed here with its status page.
    When no PostgreSQL can be had (not even an embedded one), the kiosk alone, offline, on a
    built-in catalog."""
    from kiosk.ui import app

    # Bad input is said before anything starts (and before a screen is looked for).
    try:
        staff_pin = demo_setup.demo_pin()
        if not offline and database_url:
            demo_setup.check_database_url(database_url)
    except demo_setup.DemoProblem as exc:
        raise EnvironmentProblem(str(exc)) from None
    _need_screen()
    # The demo counter serves passports alone (one tap to rate) unless kiosk.toml lists services;
    # the PIN is the demo's, even where kiosk.toml sets pin_hash for a real kiosk.
    settings = demo_setup.settings_for(ctx.settings())
    # Everything the online demo starts is on this stack, so it stops when the kiosk's window
    # closes or the demo fails: the ticket feed, the demo server, then an embedded PostgreSQL.
    with contextlib.ExitStack() as stack:
        directory = demo_setup.data_dir() / "online"
        server = None
        if not offline:
            try:
                server = demo_setup.start_online(stack, database_url, port, click.echo)
            except demo_setup.DemoProblem as exc:
                raise EnvironmentProblem(str(exc)) from None
        if server is None:
            directory = demo_setup.data_dir() / "offline"
            demo_setup.prepare_offline(directory)
            click.echo(
                "The kiosk runs OFFLINE on a built-in demo catalog: ratings are queued in "
                f"{directory} and never sent."
            )
        else:
            click.echo(
                f"Demo server: {server.url} (status pages at {server.url}/s/<reference>). Each complaint "
                "or low rating that becomes a ticket is printed here with its status page."
            )
            click.echo(
                f"Ticket desk: {server.url}/desk/ (sign in as {demo_setup.DEMO_OFFICER}, password "
                f"'{demo_setup.DEMO_OFFICER_PASSWORD}')."
            )
            click.echo(
                f"Phones: {server.url}/q/QR-SVC001-STG-COUNTER1 (a demo poster's form) and "
                f"{server.url}/feedback (the portal)."
            )
        logs.configure(directory, settings.log_level, program="kiosk")
        click.echo(
            f"Staff PIN: {staff_pin} "
            "(the staff button is at the top right). "
            f"Receipts are saved as PDF files in {settings.print_to_pdf}."
        )
        raise SystemExit(app.run(directory, settings, windowed=True))


@main.command("screenshots")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the PNG files."
)
def screenshots_command(out: Path) -> None:
    """Write a PNG of every screen and state, in each language (1920x1080)."""
    from kiosk.ui import screenshots

    written = screenshots.take(out)
    click.echo(f"Wrote {len(written)} screenshots to {out}.")


@main.command("pin-hash")
def pin_hash_command() -> None:
    """Print an argon2id hash of a staff PIN, for pin_hash in kiosk.toml."""
    value = _read_pin()
    click.echo(pin.hash_pin(value))


def _read_pin() -> str:
    """The PIN from GEA_KIOSK_PIN (for scripted installs) or asked twice, never an argument."""
    value = os.environ.get(pin.PIN_ENV)
    if value is None:
        if not sys.stdin.isatty():
            raise EnvironmentProblem(f"Set {pin.PIN_ENV} or run this in a terminal to type the PIN.")
        value = click.prompt("Staff PIN", hide_input=True, confirmation_prompt=True)
    try:
        pin.check_pin_format(value)
    except pin.PinRefused as exc:
        raise click.BadParameter(str(exc), param_hint="PIN") from None
    return value


@main.command("enroll")
@click.option("--server", "server_url", default=None, help="The sync server, e.g. https://feedback.gov.gd.")
@click.option("--code", default=None, help="The one-time code from gea-server devices add (or reenroll).")
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Enroll with IT's enroll.toml (server_url, code, pin_hash) instead, and delete it once "
    "enrolled; no file there is nothing to do.",
)
@click.pass_obj
def enroll_command(ctx: Context, server_url: str | None, code: str | None, from_file: Path | None) -> None:
    """Enroll this kiosk with the sync server and set the staff PIN (asked, or GEA_KIOSK_PIN,
    or kiosk.toml's pin_hash)."""
    if from_file is not None:
        if server_url is not None or code is not None:
            raise click.UsageError(
                "--from-file reads the server and code from the file: drop --server, --code"
            )
        _enroll_from_file(ctx, from_file)
        return
    if server_url is None or code is None:
        raise click.UsageError("give --server and --code (or --from-file)")
    settings = ctx.settings()
    # kiosk.toml's pin_hash wins over the one enroll stores: with it (and no GEA_KIOSK_PIN),
    # nothing is asked nor stored, so removing or changing it there is never undone by a copy.
    uses_toml_pin = bool(settings.pin_hash) and pin.PIN_ENV not in os.environ
    staff_pin_hash = None if uses_toml_pin else pin.hash_pin(_read_pin())
    ctx.start_logging("cli", "enroll")
    _enroll(ctx, server_url, code, staff_pin_hash)


def _enroll_from_file(ctx: Context, path: Path) -> None:
    """Enroll with IT's file, as the kiosk's account when run by root (kiosk.enroll_file). A
    failure is recorded where staff see it (the staff screen's problem line) and the file kept."""
    problem: str | None = None
    try:
        request = enroll_file.read(path)
    except enroll_file.EnrollFileError as exc:
        request, problem = None, str(exc)
    else:
        if request is None:
            click.echo(f"No enrollment file at {path}: nothing to do.")
            return
    try:
        account = enroll_file.kiosk_account(ctx.data_dir)
    except enroll_file.EnrollFileError as exc:  # never write the kiosk's data as root
        raise EnvironmentProblem(str(exc)) from None

    def work() -> int:
        try:
            ctx.start_logging("cli", f"enroll from {path}")
            engine = ctx.engine()
            enrolled = identity.load(engine)
            try:
                if request is None:
                    raise EnvironmentProblem(f"Not enrolled: {problem}")  # the problem names the file
                if request.pin_hash:  # staff can open staff mode and read why, even if this fails
                    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, request.pin_hash)
                _enroll(ctx, request.server_url, request.code, request.pin_hash)
            except EnvironmentProblem as exc:
                said = exc.message if str(path) in exc.message else f"{path}: {exc.message}"
                if enrolled is not None:  # a file left behind must not look like a kiosk gone
                    said += f" (the kiosk stays enrolled as {enrolled.device_code})"
                log.error("enrollment from a file failed: %s", said)
                with contextlib.suppress(faults.StorageFault):
                    local_settings.set_value(engine, local_settings.ENROLL_PROBLEM, said)
                raise
        except click.ClickException as exc:  # said here: a child process has no click to say it
            exc.show()
            return exc.exit_code
        return 0

    status = enroll_file.run_as(account, work)
    if status != 0:
        raise SystemExit(status if status > 0 else 1)
    # The code is spent: the file goes, so it is not tried again at the next start.
    path.unlink(missing_ok=True)
    click.echo(f"{path} used and removed.")


def _enroll(ctx: Context, server_url: str, code: str, staff_pin_hash: str | None) -> None:
    """Enroll with a one-time code, store the staff PIN's hash (when given), fetch the catalog."""
    from kiosk import bootstrap
    from kiosk.sync import client as sync_client
    from kiosk.sync import errors as sync_errors

    settings = ctx.settings()
    engine = ctx.engine()
    previous = identity.load(engine)
    try:
        # A one-time code is spent by the server's answer: make sure first that this kiosk
        # can write what it gets (a full disk, a stuck database say so now, code unspent).
        local_settings.set_value(engine, ENROLL_STARTED, datetime.now(UTC).isoformat())
    except faults.StorageFault as exc:
        raise EnvironmentProblem(f"Not enrolled: {exc.staff_message}") from None
    log.info("enrolling with %s", server_url)
    try:
        enrolled = sync_client.enroll(
            server_url, code, timeouts=bootstrap.timeouts(settings), verify=bootstrap.tls_verify(settings)
        )
    except sync_errors.SyncError as exc:
        log.warning("enrollment refused or failed: %s", type(exc).__name__)
        raise EnvironmentProblem(f"Enrollment failed: {exc.message}") from None
    except ValueError as exc:  # a server URL that is not one, a CA bundle that is not PEM
        raise EnvironmentProblem(f"Enrollment failed: {exc}") from None
    unsent = sum(n for state, n in outbox.counts(engine).items() if state in ("open", "pending", "sending"))
    if previous is not None and previous.device_code != enrolled.device_code and unsent:
        raise EnvironmentProblem(
            f"This kiosk holds {unsent} unsent submissions of {previous.device_code}; enrolling it as "
            f"{enrolled.device_code} would strand them. Ask IT for a code for the same device: "
            f"gea-server devices reenroll {previous.device_code}"
        )
    try:
        identity.save(
            engine,
            ctx.data_dir,
            identity.Identity(
                enrolled.device_code, enrolled.entity_id, server_url.rstrip("/"), enrolled.public_base_url
            ),
            enrolled.device_token,
        )
        if staff_pin_hash is not None:
            local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, staff_pin_hash)
        sync_health.clear_not_authorized(engine)
        # Enrolled, however: an earlier failure from enroll.toml is no longer the kiosk's problem.
        local_settings.delete_value(engine, local_settings.ENROLL_PROBLEM)
    except faults.StorageFault as exc:
        log.error("enrolled as %s, but it could not be saved: %s", enrolled.device_code, exc.code)
        raise EnvironmentProblem(
            f"The server enrolled this kiosk as {enrolled.device_code}, but it could not be saved here: "
            f"{exc.staff_message} Once that is fixed, ask IT for a new code: gea-server devices reenroll "
            f"{enrolled.device_code}"
        ) from None
    log.info("enrolled as %s for %s", enrolled.device_code, enrolled.entity_id)
    click.echo(f"Enrolled as {enrolled.device_code} for {enrolled.entity_id}.")
    # The catalog is fetched here, whether or not the kiosk app runs beside this command, so
    # a submission can be queued the moment this returns. The app notices the new enrollment
    # within seconds and starts (or resumes) sending by itself.
    try:
        with sync_client.SyncClient(
            server_url,
            enrolled.device_token,
            timeouts=bootstrap.timeouts(settings),
            verify=bootstrap.tls_verify(settings),
        ) as client:
            fetched = client.catalog()
        if fetched is None:  # a 304, though no If-None-Match was sent: a proxy's doing
            raise sync_errors.RetryLater("the server answered 304 Not Modified to a first request")
        etag, body = fetched
        catalog_cache.store(engine, body, etag)
        log.info("catalog downloaded: %d services", len(body.get("services", [])))
        click.echo(f"Catalog downloaded ({len(body.get('services', []))} services).")
    except sync_errors.SyncError as exc:
        log.warning("catalog not downloaded: %s", type(exc).__name__)
        click.echo(f"The catalog could not be downloaded yet ({exc.message}); it will be when online.")
    except faults.StorageFault as exc:
        click.echo(f"The catalog could not be saved yet ({exc.staff_message}); it will be when online.")


@main.command("sync")
@click.option("--once", "mode", flag_value="once", help="Send everything queued now, then exit.")
@click.option("--watch", "mode", flag_value="watch", help="Run the sync worker until stopped (no windows).")
@click.pass_obj
def sync_command(ctx: Context, mode: str | None) -> None:
    """Send the queue to the server.

    \b
    Exit status: 0 everything due was delivered; 1 the server could not be reached or
    failed (the queue is kept and retried); 2 not enrolled or misconfigured; 3 another
    process (the kiosk app) syncs this data directory; 4 this kiosk is not authorized.
    """
    from kiosk import bootstrap
    from kiosk.sync import errors as sync_errors

    if mode is None:
        raise click.UsageError("say --once or --watch")
    settings = ctx.settings()
    ctx.start_logging("sync", f"sync --{mode}")
    try:
        with bootstrap.sync_session(ctx.engine(), ctx.data_dir, settings) as session:
            recovered = session.recovered
            if recovered.reopened_open or recovered.returned_sending:
                click.echo(
                    f"Recovered after a stop: {recovered.reopened_open} unfinished and "
                    f"{recovered.returned_sending} in-flight submissions queued again."
                )
            if mode == "watch":
                _watch(session.worker)
                return
            with contextlib.suppress(sync_errors.SyncError):
                session.worker.refresh_catalog()
            report = session.worker.drain_once(ignore_backoff=True)
    except lock.SyncLockHeld as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(3) from None
    except outbox.NotEnrolled as exc:
        raise EnvironmentProblem(str(exc)) from None
    except ValueError as exc:  # kiosk.toml's CA bundle cannot be used
        raise EnvironmentProblem(str(exc)) from None
    except faults.StorageFault as exc:
        raise EnvironmentProblem(exc.staff_message) from None
    except sync_errors.NotAuthorized as exc:
        click.echo(f"This kiosk is not authorized ({exc.message}). Ask IT to re-enroll it.", err=True)
        raise SystemExit(4) from None
    click.echo(
        f"Sent {report.sent}: {report.synced} delivered, {report.rejected} rejected, {report.released} kept."
    )
    if not report.ok:
        click.echo(f"Not everything could be delivered: {report.last_error}. The queue is kept.", err=True)
        raise SystemExit(1)


def _watch(worker: Any) -> None:
    """Run the worker until SIGTERM or Ctrl-C, then stop it cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    click.echo("Syncing; stop with Ctrl-C or SIGTERM.", err=True)
    stop.wait()
    worker.stop()
    click.echo("Stopped.", err=True)


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (ARCHITECTURE section 6).")
@click.pass_obj
def status_command(ctx: Context, as_json: bool) -> None:
    """The queue by state and the sync health."""
    from kiosk import health

    ctx.start_logging("cli", "status")
    engine = ctx.engine()
    report = health.report(engine, ctx.data_dir)
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    counts = report["counts"]
    click.echo(
        f"Device:        {report['device_code'] or 'not enrolled'}  ({report['server_url'] or 'no server'})"
    )
    if report.get("enroll_problem"):
        click.echo(f"Enrollment:    FAILED: {report['enroll_problem']}")
    if report["device_code"]:
        authorized = "yes" if report["authorized"] else "NO: ask IT to re-enroll this kiosk"
        click.echo(f"Authorized:    {authorized}")
    click.echo("Queue:         " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    click.echo(f"Oldest queued: {report['oldest_pending_at'] or '-'}")
    click.echo(f"Last success:  {report['last_success_at'] or 'never'}")
    if report["offline_since"]:
        click.echo(f"Offline since: {report['offline_since']}")
    for row in outbox.rejected(engine):
        click.echo(f"Rejected:      {row.reference_code}: {row.error_code}: {row.last_error}")


@main.command("submit")
@click.option("--service", "service_id", required=True, help="Service id from the catalog, e.g. SVC-001.")
@click.option("--rating", required=True, type=click.IntRange(1, 5), help="1 (very bad) to 5 (very good).")
@click.option("--grievance", is_flag=True, help="The citizen wants to make a complaint.")
@click.option("--text", default=None, help="The citizen's comment.")
@click.option(
    "--channel",
    default="walk_in",
    show_default=True,
    type=click.Choice(CHANNELS),
    help="Where the feedback came from (a paper card at the counter is walk_in).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"reference_code": ..., "client_uuid": ...}.')
@click.pass_obj
def submit_command(
    ctx: Context, service_id: str, rating: int, grievance: bool, text: str | None, channel: str, as_json: bool
) -> None:
    """Queue a finished submission (paper feedback cards, IT smoke tests); prints its reference."""
    ctx.start_logging("cli", "submit")
    services = KioskServices(ctx.engine())
    try:
        submission = services.submit_card(service_id, rating, grievance=grievance, text=text, channel=channel)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc)) from None
    except (NoCatalog, outbox.NotEnrolled) as exc:
        raise EnvironmentProblem(str(exc)) from None
    except faults.StorageFault as exc:
        raise EnvironmentProblem(exc.staff_message) from None
    log.info("queued %s (channel %s)", submission.reference_code, channel)
    if as_json:
        click.echo(
            json.dumps({"reference_code": submission.reference_code, "client_uuid": submission.client_uuid})
        )
    else:
        click.echo(f"Queued {submission.reference_code}. It is sent when the kiosk is online.")


@main.command("print-test")
@click.pass_obj
def print_test_command(ctx: Context) -> None:
    """Print a sample receipt on the printer kiosk.toml names, as the kiosk prints a citizen's.

    \b
    For IT after setting up or changing a printer. The sample is marked as a test (reference
    SELFTEST-...); its QR code opens this kiosk's status page address, so scanning it with a
    phone also shows that phones reach the server. Nothing a citizen gave is printed or changed.
    Exit status: 0 printed (or saved as a PDF); 1 not printed, with what to do; 2 kiosk.toml or
    the data directory is wrong.
    """
    from kiosk import receipt as receipts

    settings = ctx.settings()
    ctx.start_logging("cli", "print-test")
    engine = ctx.engine()
    who = identity.load(engine)
    # Printing draws nothing on screen: the same over SSH, at the desktop or beside the running
    # kiosk, with no display needed (the bundle ships the off-screen platform for --selftest).
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from kiosk.ui import app, selftest

    app.qt_app(settings)  # the receipt's layout is Qt's, in the kiosk's own font
    sample = replace(selftest.sample_receipt(), entity_name="gea-kiosk print-test")
    if who is not None:
        # The address this kiosk's receipts open, and its code on the slip, to tell kiosks apart.
        sample = replace(
            sample,
            status_url=receipts.status_url(who.public_base_url, sample.reference_code),
            device_code=who.device_code,
        )
    # The kiosk's own printer, built by the app's own builder: whichever back-end kiosk.toml
    # chooses (a CUPS or Windows printer, the PDF folder, a thermal printer) is the one tested.
    printer = app.build_parts(ctx.data_dir, settings, engine=engine).printer
    target = _printer_in_words(settings)
    click.echo(f"Printing a test receipt ({sample.reference_code}, {settings.paper} paper) on {target}.")
    outcome = printer.print_receipt(sample)
    if not outcome.ok:
        # INFO: the printing code has logged the fault itself, as a warning (on stderr too).
        log.info("print-test: not printed on %s", target)
        click.echo(f"NOT printed: {outcome.message}", err=True)
        click.echo(_print_test_advice(ctx, settings, printer.state()), err=True)
        raise SystemExit(1)
    log.info("print-test: printed on %s", target)
    click.echo(f"Printed: {outcome.message}")
    if outcome.pdf_path is not None:
        click.echo(f"The PDF: {outcome.pdf_path}")
    click.echo(f"Its QR code opens {sample.status_url}")
    if who is None:
        click.echo("This kiosk is not enrolled yet: that is an example address until it is.")
    else:
        click.echo("That status page says the reference is unknown: the receipt is only a test.")


def _printer_in_words(settings: config.KioskSettings) -> str:
    if settings.escpos:
        return f"the ESC/POS printer {escpos_printer.parse_target(settings.escpos)} (escpos)"
    if settings.print_to_pdf is not None:
        return f"PDF files in {settings.print_to_pdf} (print_to_pdf)"
    if settings.printer:
        return f'the printer "{settings.printer}"'
    return "the system's default printer"


def _print_test_advice(ctx: Context, settings: config.KioskSettings, state: str) -> str:
    """What IT can do about a receipt that did not print, by what kiosk.toml chose."""
    toml = ctx.config_path or paths.config_file()
    if settings.escpos:
        target = escpos_printer.parse_target(settings.escpos)
        if isinstance(target, escpos_printer.TcpTarget):
            return (
                f"Check the printer's power, paper and network cable; `nc -vz {target.host} {target.port}` "
                f"must connect. Fix escpos in {toml} if the address is wrong, then run this again "
                "(deploy.md: Thermal printers)."
            )
        return (
            f"Check the printer's power, paper and USB cable; `lsusb` must list {target}, and the "
            "kiosk's account needs the udev rule in deploy.md (Thermal printers). Then run this again."
        )
    if settings.print_to_pdf is not None:
        return (
            f"Make {settings.print_to_pdf} a folder the kiosk's account can write, or set another "
            f"print_to_pdf in {toml}."
        )
    name = settings.printer or "NAME"
    if state == "missing":
        wanted = f'no printer named "{settings.printer}"' if settings.printer else "no default printer"
        if sys.platform == "win32":
            return (
                f"This computer has {wanted}: Settings > Bluetooth & devices > Printers & scanners "
                f"lists the printers' names. Set printer in {toml} to one of them (or leave it out "
                "for the default), then run this again."
            )
        # A CUPS that is not running looks to its clients like one without the printer.
        return (
            f"This computer has {wanted}: `lpstat -p -d` lists the printers CUPS knows and its "
            f"default (if it says the scheduler is not running, start CUPS). Set printer in {toml} "
            "to one of them (or leave it out for the default), or add the printer with lpadmin, "
            "then run this again."
        )
    if sys.platform == "win32":
        return (
            "Check the printer's paper, power and cable, clear its queue in Printers & scanners, "
            "then run this again."
        )
    return (
        f"Check the printer's paper, power and cable. Then `lpstat -l -p {name}` says why its queue "
        f"stopped, `cupsenable {name}` restarts it and `cupsaccept {name}` lets it take jobs again "
        "(CUPS' log: /var/log/cups/error_log). Run this again once it is fixed."
    )


def _need_screen() -> None:
    from kiosk.ui import app

    try:
        app.check_screen()
    except app.NoScreen as exc:
        raise EnvironmentProblem(str(exc)) from None


def _identity_or_fail(engine: Engine) -> identity.Identity:
    found = identity.load(engine)
    if found is None:
        raise EnvironmentProblem("This kiosk is not enrolled: run gea-kiosk enroll --server URL --code CODE.")
    return found


if __name__ == "__main__":
    main()
