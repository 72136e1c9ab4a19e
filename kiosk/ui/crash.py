"""A kiosk never drops to the desktop: the last line of defence against bugs.

`CrashGuard` takes over `sys.excepthook` (an error in a slot or an event handler: PySide6
reports those there and carries on), `threading.excepthook` (an error that ends a thread)
and Qt's message handler (Qt's own warnings, into the log). Each error is logged with its
traceback and the thread it happened in, and noted on the fault board for the heartbeat.
An error on the GUI thread also tells the window (`crashed`), which shows "One moment,
please" and returns to the attract screen with a fresh citizen flow; what a citizen had
confirmed is already in the outbox.

Errors that keep coming (CRASH_LIMIT within CRASH_WINDOW_S) mean the kiosk is not
recovering: the guard ends the event loop with EXIT_CRASHED, and the supervisor (the
installer's service) starts a fresh process.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from PySide6.QtCore import QMessageLogContext, QObject, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from kiosk import faults

log = logging.getLogger("kiosk.ui.crash")
qt_log = logging.getLogger("kiosk.ui.qt")

CRASH_LIMIT: Final = 3
CRASH_WINDOW_S: Final = 60.0
# EX_SOFTWARE (sysexits.h): "an internal software error"; the service restarts on it.
EXIT_CRASHED: Final = 70

_QT_LEVELS: Final = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}

# The interpreter's own hooks, put back when the guard is removed and none was set before.
_DEFAULT_HOOK: Final = sys.__excepthook__
_DEFAULT_THREAD_HOOK: Final = threading.excepthook

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class CrashGuard(QObject):
    """Install with `install()`, remove with `uninstall()` (tests do; the app keeps it)."""

    # Where it happened ("MainThread"); emitted on the GUI thread.
    crashed = Signal(str)

    def __init__(
        self,
        board: faults.FaultBoard | None = None,
        *,
        limit: int = CRASH_LIMIT,
        window_s: float = CRASH_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._board = board
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self._previous_hook: Callable[[type[BaseException], BaseException, TracebackType | None], Any] | None
        self._previous_hook = None
        self._previous_thread_hook: Callable[[threading.ExceptHookArgs], Any] | None = None
        self._previous_qt_handler: Any = None
        self._installed = False
        self.given_up = False

    def install(self) -> None:
        if self._installed:
            return
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        sys.excepthook = self._on_exception
        threading.excepthook = self._on_thread_exception
        self._previous_qt_handler = qInstallMessageHandler(_qt_message)
        self._installed = True

    def uninstall(self) -> None:
        if not self._installed:
            return
        sys.excepthook = self._previous_hook or _DEFAULT_HOOK
        threading.excepthook = self._previous_thread_hook or _DEFAULT_THREAD_HOOK
        qInstallMessageHandler(self._previous_qt_handler)
        self._installed = False

    # --- the hooks ------------------------------------------------------------------------------

    def _on_exception(
        self, kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            # Ctrl-C in the terminal that started it: a request to quit, not a crash.
            app = QApplication.instance()
            if app is not None:
                app.quit()
            return
        where = threading.current_thread().name
        self._record(where, (kind, value, tb))
        if threading.current_thread() is threading.main_thread():
            self.crashed.emit(where)

    def _on_thread_exception(self, args: threading.ExceptHookArgs) -> None:
        if issubclass(args.exc_type, SystemExit):
            return
        where = args.thread.name if args.thread is not None else "a thread"
        value = args.exc_value or args.exc_type()
        self._record(where, (args.exc_type, value, args.exc_traceback))

    def _record(self, where: str, info: ExcInfo) -> None:
        text = "".join(traceback.format_exception(*info))
        log.critical("unexpected error in %s; the kiosk recovers\n%s", where, text.rstrip())
        if self._board is not None:
            self._board.note_crash(where)
        now = self._clock()
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self._window_s:
                self._times.popleft()
            too_many = len(self._times) >= self._limit and not self.given_up
            if too_many:
                self.given_up = True
        if too_many:
            log.critical(
                "%d unexpected errors within %.0f s: ending with status %d so the service starts "
                "the kiosk afresh",
                self._limit,
                self._window_s,
                EXIT_CRASHED,
            )
            app = QApplication.instance()
            if app is not None:
                app.exit(EXIT_CRASHED)  # thread-safe: posts to the GUI thread's event loop


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Qt's own messages, in the kiosk's log instead of a console nobody reads."""
    where = f" ({context.category})" if context.category and context.category != "default" else ""
    qt_log.log(_QT_LEVELS.get(kind, logging.WARNING), "%s%s", message, where)
