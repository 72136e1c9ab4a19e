"""Slow calls stay off the GUI thread: the staff PIN's deliberately slow hash and handing a
receipt to the print system. Taps are processed meanwhile, a busy indicator shows once a
call takes longer than BUSY_AFTER_MS, and a late answer for a screen staff left is dropped."""

from __future__ import annotations

import threading

import argon2
from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

from kiosk.ui.window import BUSY_AFTER_MS
from tests.gui.conftest import WindowFactory
from tests.gui.test_kiosk_window import STAFF_PIN, key, rate, tap

WAIT_MS = 30_000
# A hash that takes seconds to check (the kiosk's own take about half a second): long enough
# that the test's taps certainly land while it runs.
SLOW_HASHER = argon2.PasswordHasher(time_cost=30, memory_cost=64 * 1024)


def test_taps_are_processed_while_a_slow_pin_check_runs(qtbot: QtBot, make_window: WindowFactory) -> None:
    window = make_window(pin_hash=SLOW_HASHER.hash(STAFF_PIN))
    tap(window.staff_button)
    pad = window.staff_login.pad
    for digit in STAFF_PIN:
        tap(key(pad, digit))
    tap(key(pad, "OK"))
    checking = [t for t in threading.enumerate() if t.name == "pin-check"]
    assert len(checking) == 1, "the PIN is checked on a thread of its own"
    assert not pad.is_enabled_for_input(), "no second PIN while the first is checked"
    # Past BUSY_AFTER_MS the screen says what it is doing, while the event loop keeps running.
    qtbot.waitUntil(lambda: window.staff_login.message.text() == "Checking the PIN…", timeout=WAIT_MS)
    assert BUSY_AFTER_MS <= 100
    assert checking[0].is_alive()
    tap(window.staff_login.cancel_button)
    assert window.current is window.attract, "the tap was handled at once"
    assert checking[0].is_alive(), "...while the PIN was still being checked"
    rate(window, 4)  # and a citizen can use the kiosk meanwhile
    checking[0].join(WAIT_MS / 1000)
    QCoreApplication.processEvents()  # the check's (right) answer arrives now
    assert window.current is window.thanks, "a late answer does not open staff mode behind a citizen"


def test_a_right_pin_checked_off_the_gui_thread_opens_staff_mode(
    qtbot: QtBot, make_window: WindowFactory
) -> None:
    window = make_window(pin_hash=SLOW_HASHER.hash(STAFF_PIN))
    tap(window.staff_button)
    pad = window.staff_login.pad
    for digit in STAFF_PIN:
        tap(key(pad, digit))
    with qtbot.waitSignal(window.pin_answered, timeout=WAIT_MS):
        tap(key(pad, "OK"))
    assert window.current is window.staff_home
