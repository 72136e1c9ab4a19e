"""The service manager's watchdog pings come from the Qt event loop, so a frozen loop stops
them (and systemd's WatchdogSec= restarts the kiosk). The real process's READY=1, pings and
STOPPING=1 are tested in tests/integration/test_kiosk_app_process.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from kiosk.ui.supervisor import DEFAULT_PING_MS, SupervisorNotifier

WAIT_MS = 10_000


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    yield sock
    sock.close()


def drain(sock: socket.socket) -> list[str]:
    """Every datagram waiting now, without waiting for more."""
    sock.setblocking(False)
    messages = []
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        return messages
    finally:
        sock.setblocking(True)


def test_a_frozen_event_loop_stops_the_watchdog_pings(qtbot: QtBot, listener: socket.socket) -> None:
    notifier = SupervisorNotifier(environ={"NOTIFY_SOCKET": listener.getsockname(), "WATCHDOG_USEC": "40000"})
    try:
        assert notifier.ping_ms == 20
        notifier.ready()
        qtbot.waitUntil(lambda: "WATCHDOG=1" in drain(listener), timeout=WAIT_MS)
        drain(listener)
        time.sleep(0.3)  # the GUI thread is frozen: 15 ping periods with no event processing
        assert drain(listener) == [], "no ping can come from a loop that does not run"
        qtbot.waitUntil(lambda: "WATCHDOG=1" in drain(listener), timeout=WAIT_MS)
    finally:
        notifier.close()


def test_ready_says_so_and_without_a_manager_nothing_is_sent(qtbot: QtBot, listener: socket.socket) -> None:
    del qtbot
    quiet = SupervisorNotifier(environ={})
    quiet.ready()
    assert not quiet.active
    assert quiet.ping_ms == DEFAULT_PING_MS
    quiet.close()
    notifier = SupervisorNotifier(environ={"NOTIFY_SOCKET": listener.getsockname()})
    try:
        notifier.ready()
        assert drain(listener) == ["READY=1\nSTATUS=Ready for citizens"]
        notifier.stopping()
        assert drain(listener) == ["STOPPING=1"]
    finally:
        notifier.close()
