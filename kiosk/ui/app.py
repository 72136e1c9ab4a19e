"""Starts the kiosk: Qt, the shipped font and stylesheet, the local database, the sync worker
(when this process holds the data directory's lock), and the window."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from kiosk import bootstrap, health
from kiosk.citizen_flow import CitizenFlow
from kiosk.config import KioskSettings
from kiosk.local_db import database, lock, outbox
from kiosk.services import KioskServices, Lookups
from kiosk.staff_gate import StaffGate
from kiosk.sync import client as sync_client
from kiosk.sync.worker import SyncWorker
from kiosk.ui import resources
from kiosk.ui.printing import ReceiptPrinter
from kiosk.ui.window import KioskParts, KioskWindow

log = logging.getLogger(__name__)

REFERENCE_SIZE = (1920, 1080)


class NoScreen(Exception):
    """Qt would abort the interpreter: there is no display to open a window on."""


def check_screen() -> None:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise NoScreen(
            "No screen to show the kiosk on (neither DISPLAY nor WAYLAND_DISPLAY is set). Run it on "
            "the kiosk's desktop, under xvfb-run, or with QT_QPA_PLATFORM=offscreen."
        )


def qt_app(settings: KioskSettings) -> QApplication:
    """The one QApplication, with the kiosk's font and stylesheet."""
    check_screen()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("gea-kiosk")
    resources.load_fonts(app)
    app.setStyleSheet(resources.stylesheet(settings.high_contrast, settings.text_scale))
    return app


def build_parts(
    data_dir: Path,
    settings: KioskSettings,
    *,
    worker: SyncWorker | None = None,
    worker_where: str = "none",
    lookups: Lookups | None = None,
) -> KioskParts:
    engine = database.open_database(data_dir)
    services = KioskServices(engine, on_pending=worker.wake if worker is not None else None)
    printer = ReceiptPrinter(settings.printer, settings.print_to_pdf, settings.paper)
    if worker is not None:
        worker.set_printer_state(printer.heartbeat_state)
    return KioskParts(
        settings=settings,
        services=services,
        flow=CitizenFlow(services),
        gate=StaffGate(engine, settings.pin_hash),
        printer=printer,
        health=lambda: health.report(engine, data_dir),
        lookups=lookups,
        worker=worker,
        worker_where=worker_where,
    )


@contextlib.contextmanager
def running_kiosk(data_dir: Path, settings: KioskSettings) -> Iterator[KioskParts]:
    """The parts of a running kiosk. The worker runs here unless another process (a
    `gea-kiosk sync --watch`) holds the lock; a kiosk that is not enrolled still starts and
    says so to staff, since it cannot send anything anyway."""
    with contextlib.ExitStack() as stack:
        worker: SyncWorker | None = None
        where = "none"
        try:
            session = stack.enter_context(bootstrap.sync_session(data_dir, settings))
            worker, where = session.worker, "running"
        except lock.SyncLockHeld:
            where = "elsewhere"
        except outbox.NotEnrolled:
            where = "none"
        lookups: sync_client.SyncClient | None = None
        with contextlib.suppress(outbox.NotEnrolled):
            lookups = stack.enter_context(
                sync_client.open_client(
                    database.open_database(data_dir),
                    data_dir,
                    timeouts=sync_client.Timeouts(connect=3.0, read_write=5.0),
                    verify=bootstrap.tls_verify(settings),
                )
            )
        parts = build_parts(data_dir, settings, worker=worker, worker_where=where, lookups=lookups)
        if worker is not None:
            worker.start()
        yield parts


def _quit_on_sigterm(app: QApplication) -> None:
    """systemd (or IT) stopping the kiosk: leave the event loop, so the citizen's open row is
    finished and the worker stops cleanly. Python runs signal handlers only between bytecodes,
    so a timer gives it a moment twice a second while Qt waits for events."""
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    if hasattr(signal, "SIGHUP"):  # the terminal that started it closed (the demo, a desk test)
        signal.signal(signal.SIGHUP, lambda *_: app.quit())
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(500)


def run(data_dir: Path, settings: KioskSettings, *, windowed: bool) -> int:
    """The kiosk until staff exit kiosk mode (or the window closes, when windowed)."""
    app = qt_app(settings)
    with running_kiosk(data_dir, settings) as parts:
        window = KioskWindow(parts)
        window.exit_requested.connect(app.quit)
        _quit_on_sigterm(app)
        if windowed:
            window.allow_close()
            window.resize(*REFERENCE_SIZE)
            window.show()
        else:
            window.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
            window.showFullScreen()
        code = app.exec()
        parts.flow.finish()
        return code
