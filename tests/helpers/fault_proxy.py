"""A TCP proxy on 127.0.0.1 in front of the live server whose behaviour a test switches at run
time, so the kiosk's sync engine meets real network faults on real sockets (STYLE: "the fault
tests use the real server behind a real proxy"), never a patched httpx.

It understands just enough HTTP/1.1 to work one request per connection: it reads the request
(head and Content-Length body) and adds `Connection: close`, so the server closes after
answering and the kiosk opens a new connection for its next request. A mode switch therefore
takes effect at the kiosk's very next request; with kept-alive connections a connection opened
in pass-through would carry later requests past the fault.
"""

from __future__ import annotations

import enum
import json
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from http import HTTPStatus
from types import TracebackType

# Generous bounds for a healthy exchange on the loopback: they only stop a broken test hanging.
IO_TIMEOUT_S = 30.0
POLL_S = 0.05  # how often the accept loop and a stalled connection look for a mode change or close


class Mode(enum.StrEnum):
    PASS = "pass"  # forward the request, relay the whole answer
    REFUSE = "refuse"  # nothing listens on the port: connect() fails with ECONNREFUSED
    HANG_UP = "hang_up"  # accept, then close before reading anything
    DROP_REQUEST = "drop_request"  # read the request, never forward it, close
    DROP_RESPONSE = "drop_response"  # forward (the server commits), close without answering
    STATUS_503 = "503"  # answer 503 with Retry-After; the server never sees the request
    STATUS_429 = "429"  # the same with 429
    STALL = "stall"  # read the request, never answer: hold until the client gives up
    RESET_MID_BODY = "reset_mid_body"  # forward, send the head and a few body bytes, then RST


@dataclass
class Counts:
    connections: int = 0  # connections accepted in this mode
    requests: int = 0  # requests read in full
    forwarded: int = 0  # requests the server answered (so it committed what they carried)


@dataclass(frozen=True)
class Exchange:
    """One request the server answered, with what it answered (delivered to the kiosk or not)."""

    mode: Mode
    request_line: str
    status: int
    body: bytes


class FaultProxy:
    """Use as a context manager; `url` is what the kiosk talks to."""

    def __init__(self, upstream_port: int, retry_after: str = "120", reset_after_bytes: int = 8) -> None:
        self.upstream_port = upstream_port
        self.retry_after = retry_after  # the canned 503/429's Retry-After: seconds or an HTTP-date
        self.reset_after_bytes = reset_after_bytes  # body bytes sent before the RST
        self.exchanges: list[Exchange] = []
        self._counts = {mode: Counts() for mode in Mode}
        self._modes: tuple[Mode, ...] = (Mode.PASS,)
        self._turn = 0
        self._changed = threading.Condition()  # guards the counts and exchanges; notified on each count
        self._port_lock = threading.Lock()  # guards the socket, the modes and the turn
        self._closing = threading.Event()
        self._socket = self._bind(0)
        self._socket.listen()
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads = [threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}", daemon=True)]

    def __enter__(self) -> FaultProxy:
        self._threads[0].start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        for thread in list(self._threads):
            thread.join(IO_TIMEOUT_S)
        self._socket.close()

    def set_mode(self, *modes: Mode) -> None:
        """One mode, or several taken in turn by each new connection (a flapping link).
        REFUSE stands alone: it is the state of the port, not of a connection."""
        if not modes or (Mode.REFUSE in modes and len(modes) > 1):
            raise ValueError("give one mode, or several without REFUSE")
        with self._port_lock:  # not while the accept loop waits in accept() (at most POLL_S)
            listening = self._modes != (Mode.REFUSE,)
            if listening and modes == (Mode.REFUSE,):
                # A bound socket that does not listen keeps the port ours (SO_REUSEPORT lets it
                # bind beside the listener), so no other test can take it while we refuse.
                spare = self._bind(self.port)
                self._socket.close()
                self._socket = spare
            elif not listening and modes != (Mode.REFUSE,):
                self._socket.listen()
            self._modes, self._turn = modes, 0

    def counts(self, mode: Mode) -> Counts:
        with self._changed:
            return replace(self._counts[mode])

    def summary(self) -> dict[str, tuple[int, int, int]]:
        """mode → (connections, requests, forwarded), for the modes that saw a connection."""
        with self._changed:
            return {
                m.value: (c.connections, c.requests, c.forwarded)
                for m, c in self._counts.items()
                if c.connections
            }

    def wait_until(self, predicate: Callable[[], bool], timeout: float = IO_TIMEOUT_S) -> bool:
        """Wait (without sleeping blindly) until `predicate` holds; it is re-checked on each count."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    @staticmethod
    def _bind(port: int) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.settimeout(POLL_S)  # accept() returns now and then to see a mode change or close
        return sock

    def _count(self, mode: Mode, field: str) -> None:
        with self._changed:
            counts = self._counts[mode]
            setattr(counts, field, getattr(counts, field) + 1)
            self._changed.notify_all()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            accepted = self._accept()
            if accepted is not None:
                thread = threading.Thread(target=self._handle, args=accepted, daemon=True)
                self._threads.append(thread)
                thread.start()

    def _accept(self) -> tuple[socket.socket, Mode] | None:
        """The next connection and the mode it gets; None after POLL_S without one."""
        with self._port_lock:
            if self._modes != (Mode.REFUSE,):
                try:
                    client, _ = self._socket.accept()
                except TimeoutError:
                    return None
                self._turn += 1
                return client, self._modes[(self._turn - 1) % len(self._modes)]
        self._closing.wait(POLL_S)
        return None

    def _handle(self, client: socket.socket, mode: Mode) -> None:
        self._count(mode, "connections")
        try:
            with client:
                client.settimeout(IO_TIMEOUT_S)
                request = b"" if mode is Mode.HANG_UP else _read_request(client)
                if not request:
                    return
                self._count(mode, "requests")
                if mode in (Mode.STATUS_503, Mode.STATUS_429):
                    client.sendall(_canned(int(mode.value), self.retry_after))
                elif mode is Mode.STALL:
                    self._hold(client)
                elif mode is not Mode.DROP_REQUEST:
                    self._forward(client, mode, request)
        except OSError:
            pass  # the kiosk gave up or reset first: what a fault test expects to happen

    def _forward(self, client: socket.socket, mode: Mode, request: bytes) -> None:
        with socket.create_connection(("127.0.0.1", self.upstream_port), IO_TIMEOUT_S) as upstream:
            upstream.sendall(request)
            response = b"".join(iter(lambda: upstream.recv(65536), b""))
        head, _, body = response.partition(b"\r\n\r\n")
        # The kiosk must not reuse the connection either: a request it sent on it while this
        # thread closes would meet a reset that no fault asked for.
        head = _closing(head)
        response = head + b"\r\n\r\n" + body
        exchange = Exchange(mode, request.split(b"\r\n", 1)[0].decode(), int(head.split()[1]), body)
        with self._changed:
            self.exchanges.append(exchange)
        self._count(mode, "forwarded")
        if mode is Mode.PASS:
            client.sendall(response)
        elif mode is Mode.RESET_MID_BODY:
            client.sendall(response[: len(head) + 4 + self.reset_after_bytes])
            # Linger on, timeout 0: close() sends RST instead of FIN, as a crashing middlebox does.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _hold(self, client: socket.socket) -> None:
        """Answer nothing until the client closes (its read timeout) or the proxy does."""
        client.settimeout(POLL_S)
        while not self._closing.is_set():
            try:
                if not client.recv(65536):
                    return
            except TimeoutError:
                continue


def _read_request(client: socket.socket) -> bytes:
    """One request, rewritten to ask the server to close after answering; b"" if the client
    closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    while length and len(body) < int(length[1]):
        chunk = client.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return _closing(head) + b"\r\n\r\n" + body


def _closing(head: bytes) -> bytes:
    """A message head that says `Connection: close`, whatever it said before."""
    return re.sub(rb"(?i)\r\n(connection|keep-alive):[^\r]*", b"", head) + b"\r\nConnection: close"


def _canned(status: int, retry_after: str) -> bytes:
    """An answer in the server's error shape, as an overloaded server or gateway would give."""
    code = "rate_limited" if status == 429 else "service_unavailable"
    body = json.dumps({"error": {"code": code, "message": "Try again later."}}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
        f"Retry-After: {retry_after}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
