"""The mail server: one connection per run, STARTTLS and login as configured, and every
failure sorted into what a retry can fix and what it cannot.

* Temporary (retried with backoff): the server cannot be reached or times out, TLS or the
  login fails, a 4xx answer, the sender refused, the connection drops. Configuration mistakes
  land here too, so fixing them later still delivers everything that waited.
* Permanent for one recipient: a 5xx refusal of that address or of the message for it. A
  policy refusal (530, or an enhanced status 5.7.x such as "relaying denied") is not: it says
  the server will not take mail from us, usually a login or relay setting IT can fix, and it
  would otherwise drop every notification at once.

No text built here holds the password: errors name the host, port and user only, and any
server answer that happens to echo the password has it masked.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from types import TracebackType

from pydantic import SecretStr

# Seconds for connecting and for each answer; a stuck server must not hold the claimed rows.
TIMEOUT_S = 30.0
# RFC 8314: port 465 speaks TLS from the first byte ("submissions"); other ports use STARTTLS.
IMPLICIT_TLS_PORT = 465
# Characters of a server's answer kept in an error (answers can be long and multi-line).
ANSWER_SHOWN = 200
_ENHANCED_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class MailServer:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: SecretStr | None
    # The envelope sender (bare address) and the From header (may carry a display name).
    sender: str

    @property
    def envelope_from(self) -> str:
        return parseaddr(self.sender)[1]

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class MailFailure(Exception):
    """A message was not accepted. `permanent`: not worth retrying for this recipient.
    `connection_lost`: the connection is unusable, so the rest of the run fails the same way."""

    def __init__(self, reason: str, *, permanent: bool = False, connection_lost: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.connection_lost = connection_lost


def is_permanent(code: int, answer: str) -> bool:
    if not 500 <= code < 600 or code == 530:
        return False
    enhanced = _ENHANCED_STATUS.match(answer)
    return not (enhanced is not None and enhanced.group(2) == "7")


class Mailer:
    """Sends messages one recipient at a time over one connection, opened at the first send.

    A connection that has delivered and then drops (servers cap messages per connection) is
    opened once more for the message in hand; one that fails before delivering anything is not,
    so a dead server costs one connection attempt per run."""

    def __init__(self, server: MailServer, *, timeout: float = TIMEOUT_S) -> None:
        self._server = server
        self._timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._delivered_on_connection = 0
        self._broken: MailFailure | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Hand `message` to the server for `recipient`; raises MailFailure if not accepted."""
        if self._broken is not None:
            raise self._broken
        try:
            self._send_once(message, recipient)
        except MailFailure as failure:
            if not failure.connection_lost or self._delivered_on_connection == 0:
                self._remember(failure)
                raise
            self._drop()
            try:
                self._send_once(message, recipient)
            except MailFailure as again:
                self._remember(again)
                raise

    def _remember(self, failure: MailFailure) -> None:
        if failure.connection_lost:
            self._broken = failure
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None
        self._delivered_on_connection = 0

    def _send_once(self, message: EmailMessage, recipient: str) -> None:
        smtp = self._smtp or self._connect()
        try:
            smtp.send_message(message, from_addr=self._server.envelope_from, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()))
            text = self._answer(answer)
            raise MailFailure(
                f"the mail server refused {recipient}: {code} {text}", permanent=is_permanent(code, text)
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            # Every message would be refused the same way: stop and retry them all later.
            raise MailFailure(
                f"the mail server refused the sender {self._server.envelope_from}: "
                f"{exc.smtp_code} {self._answer(exc.smtp_error)}",
                connection_lost=True,
            ) from None
        except smtplib.SMTPDataError as exc:
            text = self._answer(exc.smtp_error)
            raise MailFailure(
                f"the mail server refused the message to {recipient}: {exc.smtp_code} {text}",
                permanent=is_permanent(exc.smtp_code, text),
            ) from None
        except smtplib.SMTPNotSupportedError:
            # An address that needs SMTPUTF8 from a server without it: no retry will change that.
            raise MailFailure(
                f"the mail server cannot take the address {recipient} (it needs SMTPUTF8)", permanent=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise MailFailure(
                f"the mail server answered {exc.smtp_code} {self._answer(exc.smtp_error)}",
                connection_lost=exc.smtp_code == 421,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, reset, timed out
            raise MailFailure(
                f"the connection to the mail server at {self._server.where} failed: {_describe(exc)}",
                connection_lost=True,
            ) from None
        self._delivered_on_connection += 1

    def _connect(self) -> smtplib.SMTP:
        server = self._server
        context = ssl.create_default_context()
        smtp: smtplib.SMTP | None = None
        try:
            # The constructors connect (and close again on a bad greeting); the host given here
            # is also the name the server's certificate is checked against.
            if server.port == IMPLICIT_TLS_PORT:
                smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=self._timeout, context=context)
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=self._timeout)
                if server.starttls:
                    smtp.starttls(context=context)
            if server.username is not None:
                password = server.password.get_secret_value() if server.password else ""
                smtp.login(server.username, password)
        except smtplib.SMTPNotSupportedError as exc:
            _close_quietly(smtp)
            raise MailFailure(self._unsupported(str(exc)), connection_lost=True) from None
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(smtp)
            raise MailFailure(
                f"the mail server at {server.where} refused the login of {server.username}: "
                f"{exc.smtp_code} {self._answer(exc.smtp_error)}",
                connection_lost=True,
            ) from None
        except smtplib.SMTPResponseException as exc:
            _close_quietly(smtp)
            raise MailFailure(
                f"the mail server at {server.where} answered {exc.smtp_code} {self._answer(exc.smtp_error)}",
                connection_lost=True,
            ) from None
        except ssl.SSLError as exc:
            _close_quietly(smtp)
            raise MailFailure(
                f"TLS with the mail server at {server.where} failed: "
                f"{getattr(exc, 'verify_message', None) or exc.reason or exc}",
                connection_lost=True,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            _close_quietly(smtp)
            raise MailFailure(
                f"cannot reach the mail server at {server.where}: {_describe(exc)}", connection_lost=True
            ) from None
        self._smtp = smtp
        return smtp

    def _unsupported(self, what: str) -> str:
        where = self._server.where
        if "STARTTLS" in what:
            return (
                f"the mail server at {where} does not offer STARTTLS; set GEA_SERVER_SMTP_STARTTLS=false "
                "only for a server on this host or a trusted network"
            )
        return (
            f"the mail server at {where} offers no login (AUTH) on this connection; unset "
            "GEA_SERVER_SMTP_USERNAME, or use STARTTLS if it offers login only after it"
        )

    def _answer(self, answer: bytes | str) -> str:
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
        text = " ".join(text.split())
        password = self._server.password.get_secret_value() if self._server.password else ""
        if len(password) >= 3:
            text = text.replace(password, "***")
        return text[:ANSWER_SHOWN]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()
