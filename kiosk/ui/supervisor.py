"""Tells the service manager how the kiosk is doing (systemd's notify protocol, sd_notify(3)).

When the service runs the kiosk with `Type=notify` (the installer's unit), systemd sets
NOTIFY_SOCKET: the kiosk sends READY=1 once the attract screen shows, and WATCHDOG=1 from a
Qt timer, so an event loop that freezes stops the pings and `WatchdogSec=` restarts the
kiosk. Without NOTIFY_SOCKET (a desk test, Windows) nothing is sent.

The protocol is one datagram of `KEY=value` lines to a Unix socket (an address starting
with "@" is in the abstract namespace); it is written here rather than through the sdnotify
package, which reads the address only from the process environment and blocks when the
manager stops reading.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Final

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger("kiosk.ui")

NOTIFY_SOCKET: Final = "NOTIFY_SOCKET"
WATCHDOG_USEC: Final = "WATCHDOG_USEC"
# Without WATCHDOG_USEC (a unit with no WatchdogSec=), a ping this often harms nothing.
DEFAULT_PING_MS: Final = 10_000


class SupervisorNotifier(QObject):
    def __init__(self, parent: QObject | None = None, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(parent)
        env = os.environ if environ is None else environ
        address = env.get(NOTIFY_SOCKET, "")
        self.active = bool(address)
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        usec = env.get(WATCHDOG_USEC, "")
        # Ping at half the watchdog's period, as sd_watchdog_enabled(3) advises.
        self.ping_ms = max(1, int(usec) // 2000) if usec.isdigit() and int(usec) > 0 else DEFAULT_PING_MS
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.ping)

    def send(self, message: str) -> None:
        if not self.active:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # A manager that stops reading must never freeze the GUI thread on a full
                # socket buffer: a ping that does not fit is dropped.
                self._socket.setblocking(False)
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:  # no manager listening (any more): the kiosk runs on
            log.debug("service manager not told %r: %s", message.split("\n")[0], exc)

    def ready(self) -> None:
        """The attract screen shows: ready for citizens, and the watchdog starts."""
        if not self.active:
            return
        self.send("READY=1\nSTATUS=Ready for citizens")
        self._timer.start(self.ping_ms)
        log.info("told the service manager the kiosk is ready (watchdog every %d ms)", self.ping_ms)

    def ping(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self._timer.stop()
        self.send("STOPPING=1")

    def close(self) -> None:
        self._timer.stop()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
