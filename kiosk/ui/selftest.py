"""`gea-kiosk --selftest`: can this machine run the kiosk? For IT after an install or an
update, and for the installer's last step.

Each check says ok, warn (the kiosk runs, but something needs a look: not enrolled yet, no
printer, the server out of reach) or FAIL (the kiosk cannot work here), with what to do. The
checks touch nothing a citizen gave: the data directory is opened as the kiosk opens it at
start-up (migrations included), and the sample receipt goes to a temporary folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication
from sqlalchemy import Engine

from kiosk import __version__, bootstrap, escpos_printer, health, logs, pin
from kiosk.config import KioskSettings
from kiosk.local_db import database, identity, outbox, privacy
from kiosk.receipt import Receipt, status_url
from kiosk.staff_gate import StaffGate
from kiosk.sync import client as sync_client
from kiosk.sync import errors as sync_errors
from kiosk.ui import app, printing, resources
from kiosk.ui.i18n import LanguageSwitch
from kiosk.ui.printing import ReceiptPrinter

Status = Literal["ok", "warn", "FAIL"]
SHIPPED_FONT = "Atkinson Hyperlegible"
SERVER_TIMEOUTS = sync_client.Timeouts(connect=3.0, read_write=5.0)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


class _Run:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def check(self, name: str, test: Callable[[], tuple[Status, str]]) -> None:
        """A check that raises has failed; its message says why."""
        try:
            status, detail = test()
        except Exception as exc:  # every failure is a finding to print, not a crash
            status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
        self.checks.append(Check(name, status, detail))


def run_checks(data_dir: Path, settings: KioskSettings) -> list[Check]:
    run = _Run()
    engine: Engine | None = None

    def data() -> tuple[Status, str]:
        nonlocal engine
        engine = database.open_database(data_dir)
        counts = outbox.counts(engine)
        return "ok", f"{data_dir}: schema up to date, {health.waiting(counts)} waiting to be sent"

    run.check("version", lambda: ("ok", f"gea-kiosk {__version__}"))
    # Before the data check: opening the database makes the directory owner-only again.
    run.check("privacy", lambda: _privacy(data_dir))
    run.check("data directory", data)
    run.check("log", lambda: _log(data_dir, settings))
    if engine is not None:
        opened = engine
        run.check("enrollment", lambda: _enrollment(opened, data_dir))
        run.check("staff PIN", lambda: _staff_pin(opened, settings))
    run.check("screen", _screen)
    run.check("font", _font)
    run.check("stylesheets", lambda: _stylesheets(settings))
    run.check("Spanish", _spanish)
    run.check("receipt", lambda: _receipt(settings))
    run.check("printer", lambda: _printer(settings))
    if engine is not None:
        opened = engine
        run.check("server", lambda: _server(opened, data_dir, settings))
        engine.dispose()
    return run.checks


def _privacy(data_dir: Path) -> tuple[Status, str]:
    wide = privacy.too_wide(data_dir)
    if wide:
        shown = ", ".join(str(p) for p in wide[:3]) + (f" and {len(wide) - 3} more" if len(wide) > 3 else "")
        return "warn", (
            f"other accounts could read {shown}; the kiosk makes them owner-only whenever it opens "
            "its data (this check included): find out what widened them"
        )
    return "ok", "the data directory and its files are owner-only (700/600)"


def _log(data_dir: Path, settings: KioskSettings) -> tuple[Status, str]:
    path = logs.log_file(data_dir)
    folder = logs.log_dir(data_dir)
    if folder.exists() and not os.access(folder, os.W_OK):
        return "warn", f"{folder} cannot be written: the kiosk would log to stderr only"
    size = f", {path.stat().st_size / 1000:.0f} kB now" if path.is_file() else ""
    limit = logs.MAX_BYTES * (logs.BACKUP_COUNT + 1) / 1_000_000
    return "ok", f"{path} at {settings.log_level}{size} (rotated, at most {limit:.0f} MB with its backups)"


def _enrollment(engine: Engine, data_dir: Path) -> tuple[Status, str]:
    who = identity.load(engine)
    if who is None:
        return "warn", "not enrolled yet: run gea-kiosk enroll --server URL --code CODE"
    if identity.read_token(data_dir) is None:
        return "FAIL", f"{who.device_code} lost its token file: re-enroll it (gea-server devices reenroll)"
    return "ok", f"{who.device_code}, server {who.server_url}"


def _staff_pin(engine: Engine, settings: KioskSettings) -> tuple[Status, str]:
    pin_hash = StaffGate(engine, settings.pin_hash).pin_hash()
    if pin_hash is None:
        return "warn", "none set, so staff mode stays closed: gea-kiosk pin-hash, then pin_hash in kiosk.toml"
    pin.check_hash(pin_hash)
    source = "kiosk.toml" if settings.pin_hash else "set at enrollment"
    return "ok", f"{pin_hash.split('$')[1]} hash, {source}"


def _screen() -> tuple[Status, str]:
    try:
        app.check_screen()
    except app.NoScreen:
        # Over SSH there is no screen; the rest is still worth checking, off screen.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        _application()
        return "warn", "no screen in this session; checked off screen (the kiosk needs its desktop)"
    qt = _application()
    return "ok", f"Qt platform {qt.platformName()}"


def _application() -> QApplication:
    """Created only after the screen check, which may choose the off-screen platform."""
    existing = QApplication.instance()
    return existing if isinstance(existing, QApplication) else QApplication(["gea-kiosk"])


def _font() -> tuple[Status, str]:
    family = resources.load_fonts(_application())
    if family != SHIPPED_FONT:
        return "FAIL", f"{SHIPPED_FONT} did not load from {resources.root()}: reinstall the kiosk"
    # Where the resources came from tells IT which installation is running.
    return "ok", f"{family}, from {resources.root()}"


def _stylesheets(settings: KioskSettings) -> tuple[Status, str]:
    for high_contrast in (False, True):
        if "font-size" not in resources.stylesheet(high_contrast, settings.text_scale):
            return "FAIL", f"a stylesheet in {resources.root()} is empty or damaged: reinstall the kiosk"
    return "ok", f"normal and high contrast, text scale {settings.text_scale:g}"


def _spanish() -> tuple[Status, str]:
    _application()
    switch = LanguageSwitch()
    switch.set_language("es")
    try:
        said = QCoreApplication.translate("AttractScreen", "How did we do today?")
    finally:
        switch.set_language("en")
    if said == "How did we do today?":
        return "FAIL", "the Spanish translation loads but translates nothing: reinstall the kiosk"
    return "ok", said


def sample_receipt() -> Receipt:
    code = "SELFTEST-000001-TEST"
    return Receipt(
        reference_code=code,
        status_url=status_url("https://feedback.example.org", code),
        service_name="Self-test",
        entity_name="gea-kiosk --selftest",
        recorded_at=datetime.now(UTC),
        complaint=True,
        rating=1,
        device_code="SELFTEST",
        ticket_number=None,
    )


def _receipt(settings: KioskSettings) -> tuple[Status, str]:
    _application()
    with tempfile.TemporaryDirectory(prefix="gea-selftest-") as folder:
        outcome = ReceiptPrinter(None, Path(folder), settings.paper).print_receipt(sample_receipt())
        if not outcome.ok or outcome.pdf_path is None:
            return "FAIL", f"{settings.paper} receipt and its QR code could not be drawn: {outcome.message}"
        size = outcome.pdf_path.stat().st_size
    return "ok", f"{settings.paper} receipt with its QR code drawn ({size / 1000:.0f} kB PDF)"


def _printer(settings: KioskSettings) -> tuple[Status, str]:
    _application()
    if settings.escpos:
        return _escpos(escpos_printer.parse_target(settings.escpos))
    printer = ReceiptPrinter(settings.printer, settings.print_to_pdf, settings.paper)
    state = printer.refresh()
    if settings.print_to_pdf is not None:
        if state != "ok":
            return "FAIL", f"receipts cannot be saved in {settings.print_to_pdf}: check print_to_pdf"
        return "ok", f"receipts saved as PDF files in {settings.print_to_pdf}"
    if state == "missing":
        wanted = f"the printer {settings.printer!r}" if settings.printer else "a printer"
        return "warn", f"{wanted} is not connected; receipts are offered on screen only until it is"
    return "ok", settings.printer or "the system's default printer"


def _escpos(target: escpos_printer.Target) -> tuple[Status, str]:
    """Which ESC/POS printer, whether it answers, and that python-escpos composes a receipt
    here (its printer database is data a bundle must carry). Nothing is printed."""
    sample = sample_receipt()
    data = escpos_printer.compose(sample, printing.wording(sample))
    kind = "network" if isinstance(target, escpos_printer.TcpTarget) else "USB"
    try:
        escpos_printer.probe(target)
    except escpos_printer.NoAccess as exc:
        return "warn", f"ESC/POS {kind} printer: {exc}"
    except escpos_printer.NotReachable as exc:
        return "warn", f"ESC/POS {kind} printer: {exc}; receipts are offered on screen only until it answers"
    answers = "answers" if kind == "network" else "is plugged in"
    return "ok", f"ESC/POS {kind} printer {target} {answers} (a receipt is {len(data)} bytes of ESC/POS)"


def _server(engine: Engine, data_dir: Path, settings: KioskSettings) -> tuple[Status, str]:
    try:
        client = sync_client.open_client(
            engine, data_dir, timeouts=SERVER_TIMEOUTS, verify=bootstrap.tls_verify(settings)
        )
    except outbox.NotEnrolled:  # the enrollment check says what to do
        return "warn", "not checked: the kiosk is not enrolled"
    with client:
        try:
            client.catalog()
        except sync_errors.NotAuthorized:
            return "FAIL", "the server refused this kiosk: ask for gea-server devices reenroll"
        except sync_errors.SyncError as exc:
            return "warn", f"out of reach ({exc}); the kiosk keeps everything until it is back"
    return "ok", "reached, and it knows this kiosk"


def report(checks: list[Check]) -> tuple[str, int]:
    """The lines to print and the exit status: 1 if any check failed."""
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    failed = [c for c in checks if c.status == "FAIL"]
    lines.append(f"{len(failed)} failed, {sum(c.status == 'warn' for c in checks)} to look at.")
    return "\n".join(lines), 1 if failed else 0
