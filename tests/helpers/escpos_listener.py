"""A network receipt printer's raw port (9100) on 127.0.0.1, for the ESC/POS tests: it takes
connections as such a printer does and records the bytes of each.

- "print": reads the job to its end (the client's half-close), records it, then closes its
  end, as a printer that has the whole job does.
- "break": reads the first `break_after` bytes and then resets the connection with the rest
  unread, as a printer switched off, or its network card restarting, in the middle of a job.

`closed_port()` gives a port with nothing listening on it: a printer that is off, or at
another address, refuses the connection. `silent_port()` gives one that never answers a
connection, like an address with no printer behind a network that drops what it cannot deliver.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Mode = Literal["print", "break"]
HOST = "127.0.0.1"
# An abortive close: SO_LINGER on with a zero timeout makes close() send a reset, not a FIN.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, listener: EscposListener, port: int) -> None:
        self.listener = listener
        super().__init__((HOST, port), _Connection)


class _Connection(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        listener = self.server.listener
        connection: socket.socket = self.request
        received = bytearray()
        if listener.mode == "break":
            while len(received) < listener.break_after:
                chunk = connection.recv(listener.break_after - len(received))
                if not chunk:
                    break
                received += chunk
            listener.record(bytes(received))
            if received:  # a probe (no bytes) is let go like any other
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
                connection.close()
            return
        while chunk := connection.recv(65536):
            received += chunk
        # Recorded before this end closes, so a client that saw the close finds its job here.
        listener.record(bytes(received))


class EscposListener:
    def __init__(self, mode: Mode = "print", *, break_after: int = 16, port: int = 0) -> None:
        self.mode: Mode = mode
        self.break_after = break_after
        self._lock = threading.Condition()
        self._received: list[bytes] = []
        self._server = _Server(self, port)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"tcp://{HOST}:{self.port}"

    def record(self, data: bytes) -> None:
        with self._lock:
            self._received.append(data)
            self._lock.notify_all()

    def wait_for_connections(self, count: int, timeout_s: float = 30.0) -> None:
        """Until `count` connections have ended here (a probe's end comes after the prober's)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._received) >= count, timeout_s):
                raise AssertionError(f"{len(self._received)} connections after {timeout_s} s, not {count}")

    def wait_for_jobs(self, count: int, timeout_s: float = 30.0) -> list[bytes]:
        """The jobs, once `count` connections that sent something have ended here: a sender may
        see the printer close before this side has recorded what it read."""
        with self._lock:
            if not self._lock.wait_for(lambda: sum(1 for data in self._received if data) >= count, timeout_s):
                raise AssertionError(f"fewer than {count} jobs after {timeout_s} s")
            return [data for data in self._received if data]

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._received)

    @property
    def jobs(self) -> list[bytes]:
        """What each connection that sent anything sent (probes send nothing)."""
        with self._lock:
            return [data for data in self._received if data]

    def start(self) -> EscposListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@contextmanager
def escpos_listener(
    mode: Mode = "print", *, break_after: int = 16, port: int = 0
) -> Iterator[EscposListener]:
    listener = EscposListener(mode, break_after=break_after, port=port).start()
    try:
        yield listener
    finally:
        listener.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago and has nothing listening now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connections are never answered: a listener with room for one
    waiting connection (backlog 0), taken by a connection of its own, so Linux drops every
    later one's SYN and the client waits until its timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
        listening.bind((HOST, 0))
        listening.listen(0)
        port: int = listening.getsockname()[1]
        with socket.create_connection((HOST, port)):
            yield port
