"""The kiosk app as the service manager runs it: a real `gea-kiosk` process (offscreen) that
says READY=1 on the notify socket once the attract screen shows, pings WATCHDOG=1 from the
event loop, quits with status 0 on SIGTERM and SIGINT, logs to its data directory, and ends
with EXIT_CRASHED when internal errors keep coming, so the service starts it afresh."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import demo
from kiosk.local_db import database, outbox
from kiosk.ui.crash import CRASH_LIMIT, EXIT_CRASHED

GEA_KIOSK = shutil.which("gea-kiosk", path=os.path.dirname(sys.executable))
PROCESS_TIMEOUT_S = 60.0


class NotifySocket:
    """The service manager's end of sd_notify: a datagram socket the kiosk writes to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(PROCESS_TIMEOUT_S)

    def receive(self) -> str:
        data, _ = self.sock.recvfrom(4096)
        return data.decode()

    def wait_for(self, wanted: str) -> list[str]:
        """Every message until one that contains `wanted` (a timeout fails the test)."""
        seen: list[str] = []
        while True:
            try:
                message = self.receive()
            except TimeoutError:
                raise AssertionError(f"no {wanted!r} in {PROCESS_TIMEOUT_S} s; got {seen}") from None
            seen.append(message)
            if wanted in message:
                return seen


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.sock.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "kiosk"
    demo.prepare_offline(directory)  # enrolled with a server nobody answers: offline
    return directory


def kiosk_env(data_dir: Path, notify: NotifySocket, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "GEA_KIOSK_DATA_DIR": str(data_dir),
        "GEA_KIOSK_CONFIG": str(data_dir.parent / "absent-kiosk.toml"),
        "NOTIFY_SOCKET": str(notify.path),
        "WATCHDOG_USEC": "200000",  # pings every 100 ms
        **extra,
    }


def start_app(data_dir: Path, notify: NotifySocket) -> subprocess.Popen[str]:
    assert GEA_KIOSK is not None
    return subprocess.Popen(
        [GEA_KIOSK, "--windowed"],
        env=kiosk_env(data_dir, notify),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_ready_watchdog_and_a_clean_stop(data_dir: Path, notify: NotifySocket, stop: signal.Signals) -> None:
    process = start_app(data_dir, notify)
    try:
        before_ready = notify.wait_for("READY=1")
        assert not any("WATCHDOG" in m for m in before_ready), "no ping before the attract screen"
        # The watchdog follows WATCHDOG_USEC: several pings arrive from the event loop.
        for _ in range(3):
            assert notify.receive() == "WATCHDOG=1"
        process.send_signal(stop)
        notify.wait_for("STOPPING=1")
        status = process.wait(timeout=PROCESS_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_S)
    assert status == 0, stderr
    assert "Traceback" not in stderr
    log = (data_dir / "logs" / "kiosk.log").read_text()
    assert "starting on" in log
    assert "stopping (status 0)" in log
    assert oct((data_dir / "logs" / "kiosk.log").stat().st_mode & 0o777) == "0o600"


CRASHING_KIOSK = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from PySide6.QtCore import QTimer

    from kiosk import logs
    from kiosk.config import KioskSettings
    from kiosk.ui import app
    from kiosk.ui.screens.attract import AttractScreen

    # The injected bug: the attract screen fails every time it is entered after the first.
    entered = AttractScreen.entered
    calls = []

    def broken(self):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("injected bug in the attract screen")
        entered(self)

    AttractScreen.entered = broken
    data_dir = Path(sys.argv[1])
    logs.configure(data_dir, "INFO")
    settings = KioskSettings(services=["SVC-001"])
    qt = app.qt_app(settings)
    # Each recovery returns to the attract screen, which fails again: a kiosk that does not
    # recover. A citizen's tap starts the first failure.
    def tap():
        for widget in qt.topLevelWidgets():
            if hasattr(widget, "attract"):
                widget.attract.faces.buttons[3].click()
                widget.to_attract()
    QTimer.singleShot(500, tap)
    sys.exit(app.run(data_dir, settings, windowed=True))
    """
)


def test_errors_that_keep_coming_end_the_kiosk_for_the_service_to_restart(
    data_dir: Path, notify: NotifySocket
) -> None:
    # Nobody reads the notify socket here: its buffer fills with pings, which must never
    # block the event loop (they are dropped instead).
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_KIOSK, str(data_dir)],
        env=kiosk_env(data_dir, notify),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S * 2,
        check=False,
    )
    assert done.returncode == EXIT_CRASHED, done.stderr
    log = (data_dir / "logs" / "kiosk.log").read_text()
    assert log.count("injected bug in the attract screen") >= CRASH_LIMIT
    assert f"ending with status {EXIT_CRASHED}" in log
    # The rating tapped before the failures was kept: finished, not lost.
    engine = database.open_database(data_dir)
    try:
        assert outbox.counts(engine)["pending"] == 1
    finally:
        engine.dispose()
