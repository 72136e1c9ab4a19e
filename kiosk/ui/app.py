"""Starts the kiosk: Qt, the shipped font and stylesheet, the crash guard, the local database
(one engine for the process, disposed on the way out), the sync keeper that follows
enrollment live, the window, and the service manager's ready and watchdog signals."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget
from sqlalchemy import Engine

from kiosk import __version__, bootstrap, faults, health
from kiosk.citizen_flow import CitizenFlow
from kiosk.config import KioskSettings
from kiosk.local_db import database
from kiosk.services import KioskServices
from kiosk.staff_gate import StaffGate
from kiosk.sync import client as sync_client
from kiosk.sync.keeper import SyncKeeper
from kiosk.ui import resources
from kiosk.ui.crash import CrashGuard
from kiosk.ui.printing import ReceiptPrinter
from kiosk.ui.supervisor import SupervisorNotifier
from kiosk.ui.window import KioskParts, KioskWindow

log = logging.getLogger("kiosk.ui")

REFERENCE_SIZE = (1920, 1080)
# Staff look-ups wait less than the worker's pushes: someone stands at the counter.
LOOKUP_TIMEOUTS = sync_client.Timeouts(connect=3.0, read_write=5.0)


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
    engine: Engine | None = None,
    keeper: SyncKeeper | None = None,
    board: faults.FaultBoard | None = None,
    lookups: bool = False,
) -> KioskParts:
    """The window's parts over `engine` (opened here when not given). With `lookups`, staff
    look-ups ask the server with whatever enrollment the kiosk has at that moment."""
    engine = engine if engine is not None else database.open_database(data_dir)
    board = board if board is not None else faults.FaultBoard()
    services = KioskServices(engine, on_pending=keeper.wake if keeper is not None else None)
    printer = ReceiptPrinter.configured(settings, board=board)
    return KioskParts(
        settings=settings,
        services=services,
        flow=CitizenFlow(services),
        gate=StaffGate(engine, settings.pin_hash),
        printer=printer,
        health=lambda: health.report(engine, data_dir),
        board=board,
        lookups=(
            sync_client.EnrolledLookups(
                engine, data_dir, timeouts=LOOKUP_TIMEOUTS, verify=bootstrap.tls_verify(settings)
            )
            if lookups
            else None
        ),
        keeper=keeper,
    )


@contextlib.contextmanager
def running_kiosk(data_dir: Path, settings: KioskSettings) -> Iterator[KioskParts]:
    """The parts of a running kiosk, its keeper started: the worker runs here as soon as the
    kiosk is enrolled, unless another process (`gea-kiosk sync --watch`) holds the lock.
    Raises a StorageFault when the data directory cannot be opened at all."""
    # Also makes the data directory owner-only again. The screen never waits long for a lock.
    engine = database.open_database(data_dir, screen_busy_timeout_s=database.SCREEN_BUSY_TIMEOUT_S)
    try:
        board = faults.FaultBoard()
        database.report_faults(engine, board)
        keeper = bootstrap.keeper(engine, data_dir, settings, board=board)
        parts = build_parts(data_dir, settings, engine=engine, keeper=keeper, board=board, lookups=True)
        keeper.set_printer_state(parts.printer.heartbeat_state)
        keeper.check()  # the worker starts before the first citizen, not 2 s after
        keeper.start()
        try:
            yield parts
        finally:
            keeper.stop()
    finally:
        engine.dispose()


def misfit(need: QSize, screen: QSize) -> str | None:
    """None when a window that needs `need` fits `screen`; else what staff and IT should know."""
    if need.width() <= screen.width() and need.height() <= screen.height():
        return None
    return (
        f"The kiosk needs a screen of at least {need.width()}x{need.height()} pixels and this one has "
        f"{screen.width()}x{screen.height()}: part of it is cut off. Use a 1920x1080 screen (or lower "
        "text_scale in kiosk.toml if the text is what does not fit)."
    )


def _say_if_it_does_not_fit(window: QWidget, board: faults.FaultBoard) -> None:
    """A kiosk cut off at the screen's edge hides faces from citizens: say so in the log and on
    the staff screen (the off-screen platform has no real screen to fit)."""
    screen = window.screen()
    if screen is None or QGuiApplication.platformName() == "offscreen":
        return
    problem = misfit(window.minimumSizeHint(), screen.availableGeometry().size())
    if problem is not None:
        log.warning("%s", problem)
        board.note("screen", "screen_too_small", problem)


def _quit_on_signals(app: QApplication) -> None:
    """systemd or IT stopping the kiosk (SIGTERM), Ctrl-C in its terminal (SIGINT), the
    terminal closing (SIGHUP): leave the event loop with status 0, so the citizen's open row
    is finished and the worker stops cleanly. Python runs signal handlers only between
    bytecodes, after the write in progress; a timer gives it a moment twice a second while
    Qt waits for events."""
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: app.quit())
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(500)


def run(data_dir: Path, settings: KioskSettings, *, windowed: bool) -> int:
    """The kiosk until staff exit kiosk mode, the service stops it (0), or it gives up after
    repeated internal errors (crash.EXIT_CRASHED, so the service starts it afresh)."""
    app = qt_app(settings)
    log.info("gea-kiosk %s starting on %s (Qt %s)", __version__, data_dir, app.platformName())
    with running_kiosk(data_dir, settings) as parts:
        guard = CrashGuard(parts.board)
        guard.install()
        notifier = SupervisorNotifier(app)
        try:
            window = KioskWindow(parts)
            guard.crashed.connect(window.recover)
            window.exit_requested.connect(app.quit)
            _quit_on_signals(app)
            if windowed:
                window.allow_close()
                window.resize(*REFERENCE_SIZE)
                window.show()
            else:
                window.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint)
                window.showFullScreen()
                _say_if_it_does_not_fit(window, parts.board)
            QTimer.singleShot(0, notifier.ready)  # once the event loop has shown the attract screen
            code = app.exec()
            notifier.stopping()
            window.finish_citizen()
            log.info("gea-kiosk stopping (status %d)", code)
            return code
        finally:
            notifier.close()
            guard.uninstall()
