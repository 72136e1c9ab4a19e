"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd in a background thread): it keeps what
it accepts, and can refuse an address for good, refuse a message for a while, hold a message
until the test lets it through, ask for a login and speak STARTTLS with a certificate made for
the test."""

from __future__ import annotations

import asyncio
import datetime
import email.policy
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.server import free_port

HOST = "127.0.0.1"
# How long a held message waits for the test before the server lets it through anyway.
HOLD_LIMIT_S = 60.0


@dataclass(frozen=True)
class Received:
    envelope_from: str
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def body(self, subtype: str) -> str:
        """The text of the text/plain or text/html part."""
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        assert part.get_content_type() == f"text/{subtype}", f"no text/{subtype} part"
        return str(part.get_content())


@dataclass
class Inbox:
    """The server's behaviour and what it received. Change the attributes between runs."""

    received: list[Received] = field(default_factory=list)
    # Lower-cased addresses refused at RCPT with this answer, e.g. "550 5.1.1 No such user".
    refuse: dict[str, str] = field(default_factory=dict)
    # Messages (DATA) refused with a temporary 451 before the server starts accepting them;
    # the Message-IDs of the refused ones are kept.
    refuse_data: int = 0
    refused_message_ids: list[str] = field(default_factory=list)
    # When set, the first message waits at DATA until `release` is set (`holding` says when it
    # got there), so a test can act while a sender holds its claim.
    hold: bool = False
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    logins: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.messages() if address.lower() in (a.lower() for a in r.recipients)]

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        del server, session, rcpt_options
        answer = self.refuse.get(address.lower())
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        del server, session
        content = envelope.original_content or b""
        message = BytesParser(EmailMessage, policy=email.policy.default).parsebytes(content)
        with self._lock:
            if self.refuse_data > 0:
                self.refuse_data -= 1
                self.refused_message_ids.append(str(message["Message-ID"]))
                return "451 4.3.0 Try again later"
            hold, self.hold = self.hold, False
        if hold:
            self.holding.set()
            await asyncio.to_thread(self.release.wait, HOLD_LIMIT_S)
        with self._lock:
            self.received.append(
                Received(str(envelope.mail_from), tuple(str(r) for r in envelope.rcpt_tos), message)
            )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        del server, session, envelope, mechanism
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        # handled=False: aiosmtpd answers (235 or 535) itself.
        return AuthResult(success=(login, password) == (USERNAME, PASSWORD), handled=False)


USERNAME = "gea-mailer"
PASSWORD = "smtp-pass-Zq81-never-shown"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    inbox: Inbox

    def settings(self) -> dict[str, Any]:
        """ServerSettings values that send here (plain SMTP, no login)."""
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_starttls": False,
            "smtp_from": "GEA Feedback <feedback@gov.example.gd>",
        }


@contextmanager
def smtp_server(
    port: int | None = None, *, login: bool = False, tls: Path | None = None
) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 until the block ends. `login`: it offers AUTH and takes
    USERNAME / PASSWORD. `tls`: a directory from `make_certificate`; the server then offers
    STARTTLS and refuses mail before it."""
    inbox = Inbox()
    kwargs: dict[str, Any] = {}
    if login:
        kwargs.update(authenticator=inbox.authenticate, auth_require_tls=tls is not None)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls / "cert.pem", tls / "key.pem")
        kwargs.update(tls_context=context, require_starttls=True)
    controller = Controller(inbox, hostname=HOST, port=port or free_port(), **kwargs)
    controller.start()
    try:
        yield SmtpServer(HOST, controller.port, inbox)
    finally:
        inbox.release.set()
        controller.stop()


def make_certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 in `directory` (cert.pem, key.pem); point
    SSL_CERT_FILE at cert.pem for the client to trust it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return directory


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    return free_port()
