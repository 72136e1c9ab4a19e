"""A kiosk never drops to the desktop: bugs injected in a screen and in the sync worker's
thread are logged with their traceback, noted for the heartbeat, and recovered from, with
nothing the citizen confirmed lost (kiosk/ui/crash.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import qWarning
from pytestqt.qtbot import QtBot

from kiosk import bootstrap, faults
from kiosk.config import KioskSettings
from kiosk.local_db import database
from kiosk.local_db.models import OutboxState
from kiosk.sync.keeper import Where
from kiosk.sync.worker import SyncWorker
from kiosk.ui import window as window_module
from kiosk.ui.crash import CrashGuard
from tests.gui.conftest import WindowFactory
from tests.gui.test_kiosk_window import only_row, rate, tap

WAIT_MS = 20_000


@pytest.fixture
def guard(qtbot: QtBot) -> Iterator[CrashGuard]:
    """The guard as the app installs it, removed after the test (pytest-qt's own exception
    capture is put back)."""
    del qtbot  # the QApplication must exist first
    board = faults.FaultBoard()
    crash_guard = CrashGuard(board)
    crash_guard.install()
    yield crash_guard
    crash_guard.uninstall()


def board_of(guard: CrashGuard) -> faults.FaultBoard:
    board = guard._board  # noqa: SLF001 (the test built it)
    assert board is not None
    return board


@pytest.mark.qt_no_exception_capture
def test_a_bug_in_a_screen_shows_one_moment_then_a_fresh_attract_screen(
    qtbot: QtBot,
    make_window: WindowFactory,
    guard: CrashGuard,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    window = make_window()
    guard.crashed.connect(window.recover)
    monkeypatch.setattr(window_module, "RECOVER_MS", 200)

    def broken(*_: Any) -> None:
        raise RuntimeError("injected bug in the thank-you screen")

    monkeypatch.setattr(window.thanks, "show_answer", broken)
    old_flow = window.flow
    with caplog.at_level(logging.INFO, logger="kiosk"):
        tap(window.attract.faces.buttons[1])  # the rating is written, then the screen fails
        assert window.current is window.one_moment
        qtbot.waitUntil(lambda: window.current is window.attract, timeout=WAIT_MS)
    # Logged with its traceback and where it happened; noted for the heartbeat.
    crash = [r for r in caplog.records if r.name == "kiosk.ui.crash"]
    assert crash, "the error was logged"
    assert "injected bug in the thank-you screen" in crash[0].getMessage()
    assert "Traceback" in crash[0].getMessage()
    assert board_of(guard).last_error() == {
        "code": "internal_error",
        "message": "The kiosk recovered from an internal error in MainThread.",
    }
    # What the citizen confirmed is kept, finished as it stood; the next citizen starts afresh.
    row = only_row(window)
    assert row.state is OutboxState.PENDING
    assert row.payload["rating"] == 2
    assert window.flow is not old_flow
    assert window.flow.current is None
    monkeypatch.undo()
    rate(window, 5)
    assert window.thanks.title.text() == "Thank you!"


@pytest.mark.qt_no_exception_capture
def test_a_bug_that_kills_the_sync_thread_is_logged_and_the_keeper_starts_a_new_worker(
    qtbot: QtBot, kiosk_dir: Path, guard: CrashGuard, caplog: pytest.LogCaptureFixture
) -> None:
    del qtbot
    engine = database.open_database(kiosk_dir)
    keeper = bootstrap.keeper(engine, kiosk_dir, KioskSettings(), board=board_of(guard))
    try:
        assert keeper.check().where is Where.RUNNING  # the demo kiosk is enrolled (offline)
        first = keeper.worker
        assert first is not None
        assert first.is_alive()

        def broken() -> float:
            raise RuntimeError("injected bug in the sync worker")

        with caplog.at_level(logging.INFO, logger="kiosk"):
            first._seconds_to_next_cycle = broken  # type: ignore[method-assign]
            first.wake()
            first.join(WAIT_MS / 1000)
            assert not first.is_alive(), "the injected bug ended the worker's thread"
            assert keeper.check().where is Where.RUNNING
        second = keeper.worker
        assert isinstance(second, SyncWorker)
        assert second is not first
        assert second.is_alive()
        messages = [r.getMessage() for r in caplog.records]
        assert any("unexpected error in gea-kiosk-sync" in m and "injected bug" in m for m in messages)
        assert any("the sync worker had stopped; starting a new one" in m for m in messages)
        assert board_of(guard).last_error() is not None
        assert not guard.given_up
    finally:
        keeper.stop()
        engine.dispose()


def test_qt_warnings_go_to_the_kiosk_log(guard: CrashGuard, caplog: pytest.LogCaptureFixture) -> None:
    del guard
    with caplog.at_level(logging.INFO, logger="kiosk"):
        qWarning("a warning from Qt itself")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("kiosk.ui.qt", logging.WARNING, "a warning from Qt itself")
    ]


def test_thread_ends_by_system_exit_are_not_crashes(guard: CrashGuard) -> None:
    thread = threading.Thread(target=lambda: (_ for _ in ()).throw(SystemExit(0)), name="quiet")
    thread.start()
    thread.join()
    assert board_of(guard).last_error() is None
