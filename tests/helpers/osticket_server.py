"""A stand-in for osTicket's ticket API on 127.0.0.1, for `gea-server osticket-push` tests.

It answers as osTicket 1.17/1.18 does (include/api.tickets.php, class.api.php, class.ticket.php):
only `POST {prefix}/api/tickets.json` (anything else under /api/ is 400 "URL not supported");
the `X-API-Key` header looked up together with the caller's address, 401 with osTicket's three
messages; a JSON object parsed as osTicket does, with unknown keys accepted but logged (osTicket
validates the structure leniently); then Ticket::create's checks (a known origin, a name and a
valid email, a subject and a message, no subject or name starting with = - + @), whose failures
are 500 "Unable to create new ticket :..." (1.16 and before said 400). A ticket made is
answered `201 Created` with its number as the whole body, as text/html.

Stricter than osTicket in one place: the body must be sent as application/json (osTicket goes
by the URL's .json alone), so a client that drops its Content-Type is caught here.

Faults for the next requests, in order: `Answer` (a status and body instead of the ticket),
`Drop` (the connection closes with no answer, after the ticket is made or before) and `Stall`
(no answer until released; the ticket is made when it is, as a slow osTicket would).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_KEY = "0123456789ABCDEF0123456789ABCDEF"  # osTicket's keys: 32 upper-case hex digits
# Validator::is_email, near enough: one @, a dotted domain, no spaces.
EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# What osTicket's formula validator refuses at the start of a text field (CSV injection).
FORMULA = ("=", "-", "+", "@")
KNOWN_KEYS = {
    "alert", "autorespond", "source", "topicId", "attachments", "message", "ip", "priorityId",
    "system_emails", "thread_entry_recipients",
    # The default ticket and contact forms' fields.
    "name", "email", "phone", "notes", "subject", "priority",
}  # fmt: skip
ORIGINS = {"api", "web", "email", "staff"}  # Ticket::create's origins; anything else is refused


@dataclass(frozen=True)
class Answer:
    status: int
    body: str = ""


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without an answer; with `create`, after
    making the ticket (the answer lost), else before (osTicket died first)."""

    create: bool = True


@dataclass
class Stall:
    """Hold the request unanswered until `release()`; then make the ticket and try to answer."""

    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


Fault = Answer | Drop | Stall


@dataclass(frozen=True)
class Created:
    number: str
    name: str
    email: str
    subject: str
    message_type: str  # text/html or text/plain, as osTicket reads the data URL
    message: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_ip: str


class FakeOsticket:
    def __init__(self, prefix: str = "/helpdesk") -> None:
        self.prefix = prefix
        self.api_key = API_KEY
        self.key_ip = "127.0.0.1"  # the address the key is bound to in osTicket's admin panel
        self.key_active = True
        self.can_create_tickets = True
        self.max_open_tickets = 0  # osTicket's per-user limit; 0 is unlimited
        self.tickets: list[Created] = []
        self.requests: list[Seen] = []
        self.warnings: list[str] = []  # what osTicket would write to its system log
        self._faults: deque[Fault] = deque()
        self._stalls: list[Stall] = []
        self._next_number = 100001
        self._lock = threading.Lock()
        self._busy = 0
        self._idle = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self.url = ""  # set by running(): what GEA_SERVER_OSTICKET_URL would say

    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def subjects(self) -> list[str]:
        with self._lock:
            return [t.subject for t in self.tickets]

    def release_stalls(self) -> None:
        for stall in self._stalls:
            stall.release()

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> None:
        """Until `count` requests have arrived (their handling may still go on)."""
        with self._idle:
            assert self._idle.wait_for(lambda: len(self.requests) >= count, timeout), "too few requests"

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no request is being handled (a released stall has made its ticket)."""
        with self._idle:
            assert self._idle.wait_for(lambda: self._busy == 0, timeout), "the fake osTicket is stuck"

    # --- one request ------------------------------------------------------------------------

    def _take_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def handle(self, seen: Seen) -> tuple[int, str] | Fault:
        with self._idle:
            self.requests.append(seen)
            self._idle.notify_all()
        route = re.fullmatch(re.escape(self.prefix) + r"/api/tickets\.(json|xml|email)", seen.path)
        if not seen.path.startswith(self.prefix + "/api/"):
            return 404, "Not Found"
        if seen.method != "POST" or route is None:
            return 400, "URL not supported"
        key = seen.headers.get("x-api-key")
        # API::lookupByKey($key, $ip): a wrong key and a key bound to another address look alike.
        if not key or key != self.api_key or seen.client_ip != self.key_ip:
            return 401, "Valid API key required"
        if not self.key_active:
            return 401, "API key not found/active or source IP not authorized"
        if not self.can_create_tickets:
            return 401, "API key not authorized"
        media_type = seen.headers.get("content-type", "").split(";")[0].strip().lower()
        if route.group(1) != "json" or media_type != "application/json":
            return 415, "Unsupported data format"
        try:
            data = json.loads(seen.body)
        except ValueError:
            return 400, "Syntax error, malformed JSON"
        if not isinstance(data, dict) or not data:
            return 400, "Syntax error, malformed JSON"
        for name in data:
            if name not in KNOWN_KEYS:
                self.warnings.append(f"{name}: Unexpected data received in API request")
        fault = self._take_fault()
        if isinstance(fault, Answer):
            return fault.status, fault.body
        errors = self._check(data)
        if errors:
            return 500, "Unable to create new ticket :" + "\n".join(errors)
        if fault is not None:
            return fault  # Drop and Stall make the ticket themselves, or not
        return 201, self.create(data).number

    def _check(self, data: dict[str, Any]) -> list[str]:
        errors = []
        source = data.get("source", "API")
        if not isinstance(source, str) or source.lower() not in ORIGINS:
            errors.append("Invalid ticket origin given")
        name, email = data.get("name"), data.get("email")
        if not isinstance(name, str) or not name.strip() or name.startswith(FORMULA):
            errors.append("Incomplete client information")
        elif not isinstance(email, str) or not EMAIL.fullmatch(email):
            errors.append("Incomplete client information")
        subject = data.get("subject")
        if not isinstance(subject, str) or not subject.strip():
            errors.append("Issue Summary: This field is required")
        elif subject.startswith(FORMULA):
            errors.append("Issue Summary: Content cannot start with the following characters: = - + @")
        message = data.get("message")
        if not isinstance(message, str) or not parse_rfc2397(message)[1].strip():
            errors.append("Issue Details: This field is required")
        for flag in ("alert", "autorespond"):
            if flag in data and not isinstance(data[flag], bool):
                errors.append(f"{flag}: expected true or false")
        if self.max_open_tickets and isinstance(email, str):
            with self._lock:
                open_tickets = sum(1 for t in self.tickets if t.email == email)
            if open_tickets >= self.max_open_tickets:
                errors.append("You've reached the maximum open tickets allowed.")
        return errors

    def create(self, data: dict[str, Any]) -> Created:
        kind, text = parse_rfc2397(data["message"])
        with self._lock:
            number = str(self._next_number)
            self._next_number += 1
            ticket = Created(number, data["name"], data["email"], data["subject"], kind, text, data)
            self.tickets.append(ticket)
        return ticket


def parse_rfc2397(value: str) -> tuple[str, str]:
    """osTicket's Format::parseRfc2397 for the message: (type, text). Like osTicket, the data
    is taken as it stands (no %-decoding), and base64 only when it is the sole parameter."""
    if not value.startswith("data:"):
        return "text/plain", value
    meta, _, contents = value[5:].partition(",")
    kind, _, extra = meta.partition(";")
    if extra == "base64":
        contents = base64.b64decode(contents).decode("utf-8", "replace")
    return (kind or "text/plain"), contents


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet; the test reads fake.requests

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        with fake._lock:
            fake._busy += 1
        try:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                client_ip=self.client_address[0],
            )
            result = fake.handle(seen)
            if isinstance(result, Drop):
                if result.create:
                    fake.create(json.loads(seen.body))
                self._hang_up()
            elif isinstance(result, Stall):
                fake._stalls.append(result)
                result.released.wait(timeout=60)
                number = fake.create(json.loads(seen.body)).number
                try:
                    self._answer(201, number)
                except OSError:
                    pass  # the client gave up long ago
            elif isinstance(result, tuple):
                self._answer(*result)
        finally:
            with fake._idle:
                fake._busy -= 1
                fake._idle.notify_all()

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        # As osTicket's Http::response: text/html whatever it says, and the connection closed.
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOsticket


@contextmanager
def running(prefix: str = "/helpdesk") -> Iterator[FakeOsticket]:
    """A FakeOsticket serving on a free 127.0.0.1 port until the block ends."""
    fake = FakeOsticket(prefix)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = fake
    fake.url = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    thread = threading.Thread(target=server.serve_forever, name="fake-osticket", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release_stalls()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
