"""osTicket's ticket API as `gea-server osticket-push` uses it: what is sent, and what each answer
or failure means for a ticket that may or may not now exist in osTicket.

The API (osTicket's setup/doc/api/tickets.md, include/api.tickets.php and class.api.php):
`POST {url}/api/tickets.json` with the key in `X-API-Key`, a JSON object with name, email,
subject and message, answered `201 Created` with the new ticket's number as the whole body.
osTicket looks the key up together with the caller's address (each key is bound to one IP) and
answers 401 when either is wrong. It has no idempotency key, so an answer that was lost leaves
the ticket's fate unknown: those are `parked` for a person, never sent again on their own.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from server_sync_api.core.config import ServerSettings, mail_domain_of
from server_sync_api.services.devices import one_line

API_PATH = "/api/tickets.json"
# Who osTicket records as the ticket's user. Citizens give no contact, so every ticket comes
# from GEA's own address; the name says where the tickets come from.
DEFAULT_SENDER_NAME = "GEA Citizen Feedback"
# osTicket answers quickly unless it mails alerts synchronously (slow SMTP); past these the
# request counts as lost. Connecting should never take long.
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# osTicket's numbers are digits by default but its number format is configurable; the outbox
# keeps up to 50 characters (osticket_outbox.remote_id).
REMOTE_ID_MAX = 50
# What a 201's body must look like to be taken for the ticket's number: digits by default, or
# osTicket's configurable number format (letters, digits and a few separators). Anything else
# (an HTML page from something in between) is a created ticket whose number is unknown.
NUMBER_ANSWER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,49}")
# Characters of an answer's body kept in last_error: enough for osTicket's one-line messages,
# not a proxy's whole error page.
BODY_SHOWN = 200


class OsticketNotConfigured(Exception):
    """A setting the push needs is missing; the message names it and how to set it."""


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom tickets are sent. The key is kept out of repr()."""

    url: str
    api_key: str
    sender_name: str
    sender_email: str

    def __repr__(self) -> str:
        return f"Endpoint(url={self.url!r}, sender_email={self.sender_email!r})"

    @property
    def shown_url(self) -> str:
        """The API's address for messages, without any user:password a URL may carry."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal keeps its brackets
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    def scrub(self, text: str) -> str:
        """Text from outside (an answer's body, an error) with the key taken out, in case a
        proxy or osTicket ever echoes the request's headers back."""
        return text.replace(self.api_key, "[API key]") if self.api_key else text


def endpoint(settings: ServerSettings) -> Endpoint:
    if settings.osticket_url is None or settings.osticket_api_key is None:
        raise OsticketNotConfigured(
            "osTicket is not configured: set GEA_SERVER_OSTICKET_URL (osTicket's address, e.g. "
            "https://helpdesk.gov.gd) and GEA_SERVER_OSTICKET_API_KEY (an API key made in osTicket's "
            "Admin Panel, Manage, API Keys); see docs/osticket.md"
        )
    key = settings.osticket_api_key.get_secret_value()
    # osTicket's keys are 32 hex digits; anything unprintable would break the header (and an
    # error quoting it would print the key), so it is refused here without being shown.
    if not key or not key.isascii() or not key.isprintable() or any(ch.isspace() for ch in key):
        raise OsticketNotConfigured(
            "GEA_SERVER_OSTICKET_API_KEY holds spaces or characters no API key has: copy the key "
            "again from osTicket's Admin Panel, Manage, API Keys"
        )
    name, email = _sender(settings)
    return Endpoint(
        url=settings.osticket_url + API_PATH,
        api_key=key,
        sender_name=name,
        sender_email=email,
    )


def _sender(settings: ServerSettings) -> tuple[str, str]:
    if settings.osticket_email is not None:
        name, address = parseaddr(settings.osticket_email)
        return (name.strip() or DEFAULT_SENDER_NAME), address
    # osTicket refuses an address at an IP or a bare host name ("Incomplete client information");
    # the settings refuse that combination when they load, with the same rule.
    domain = mail_domain_of(settings.public_base_url)
    if domain is None:
        raise OsticketNotConfigured(
            "GEA_SERVER_OSTICKET_EMAIL is not set and the public address's host is no mail domain: "
            "set GEA_SERVER_OSTICKET_EMAIL to the address osTicket should record as the tickets' "
            "sender, e.g. feedback@gov.gd"
        )
    return DEFAULT_SENDER_NAME, f"feedback@{domain}"


@dataclass(frozen=True)
class TicketFacts:
    """What osTicket is told about one GEA ticket."""

    ticket_number: str
    title: str
    description: str | None
    service_name: str
    entity_id: str
    entity_name: str
    priority_name: str
    category_name: str | None
    created_at: datetime
    response_target: datetime | None
    resolution_target: datetime | None


def desk_link(settings: ServerSettings, ticket_number: str) -> str:
    return f"{settings.public_base_url}/desk/tickets/{ticket_number}"


def subject(ticket: TicketFacts) -> str:
    # The GEA number first: with no idempotency key, it is how a person finds a ticket that may
    # have been created twice, or not at all.
    return f"[GEA {ticket.ticket_number}] {ticket.title.strip()}"


def payload(ticket: TicketFacts, sender: Endpoint, settings: ServerSettings) -> dict[str, object]:
    """The JSON body of the request. No ip: GEA keeps only a keyed hash of a citizen's address.
    No priorityId or topicId: their ids are the osTicket's own, so its defaults apply and the
    message states GEA's priority. No auto-reply: it would go to our own sender address."""
    return {
        "name": sender.sender_name,
        "email": sender.sender_email,
        "subject": subject(ticket),
        # osTicket reads an RFC 2397 data URL; plain (not base64), since its parser takes the
        # charset and base64 parameters as one when both are given.
        "message": "data:text/html;charset=utf-8," + message_html(ticket, settings),
        "source": "API",
        "alert": True,
        "autorespond": False,
    }


def message_html(ticket: TicketFacts, settings: ServerSettings) -> str:
    zone = ZoneInfo(settings.timezone)

    def when(moment: datetime | None) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} ({settings.timezone})" if moment else "not set"

    rows = [
        ("GEA ticket", ticket.ticket_number),
        ("Service", ticket.service_name),
        ("Office", f"{ticket.entity_name} ({ticket.entity_id})"),
        ("Priority", ticket.priority_name),
        ("Category", ticket.category_name or "none"),
        ("Received", when(ticket.created_at)),
        ("First response due", when(ticket.response_target)),
        ("Resolution due", when(ticket.resolution_target)),
    ]
    table = "".join(f"<tr><th>{_h(label)}</th><td>{_h(value)}</td></tr>" for label, value in rows)
    comment = (ticket.description or "").strip()
    said = (
        f"<blockquote>{_h(comment).replace(chr(10), '<br>')}</blockquote>"
        if comment
        else "<p><em>The citizen wrote no comment.</em></p>"
    )
    link = desk_link(settings, ticket.ticket_number)
    return (
        f"<p>{_h(ticket.title.strip())}</p><table>{table}</table>"
        f"<p><strong>The citizen's comment:</strong></p>{said}"
        f'<p>Work on it in the GEA ticket desk: <a href="{_h(link)}">{_h(link)}</a></p>'
        "<p>The citizen gave no contact details. A public reply written in the GEA desk is what "
        "they read on their status page; replies sent from here reach only GEA's sender address.</p>"
    )


def _h(text: str) -> str:
    return html.escape(text, quote=True)


# --- what an answer means --------------------------------------------------------------------

Verdict = Literal["sent", "retry", "parked"]


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    remote_id: str | None = None
    error: str | None = None
    # The fault is osTicket's or the set-up's, not this ticket's (unreachable, key refused,
    # wrong address): the run stops instead of failing every due ticket the same way.
    stop_run: bool = False


def from_response(response: httpx.Response, sender: Endpoint, ticket_number: str) -> Outcome:
    code = response.status_code
    # one_line: the body reaches IT's terminal (--parked, the summary), control characters out.
    body = sender.scrub(one_line(response.text))[:BODY_SHOWN]
    said = f"osTicket answered HTTP {code}" + (f": {body}" if body else "")
    if code == 201:
        remote_id = response.text.strip()
        if NUMBER_ANSWER.fullmatch(remote_id):
            return Outcome("sent", remote_id=remote_id)
        return Outcome(
            "parked",
            error=f"osTicket answered 201 Created (so the ticket exists) but its number was "
            f"{body[:60]!r}: find [GEA {ticket_number}] in osTicket and record its number with "
            "--mark-sent",
        )
    if 300 <= code < 400:
        where = response.headers.get("location", "?")
        return Outcome(
            "retry",
            error=f"osTicket answered HTTP {code}, redirecting to {sender.scrub(where)}: set "
            "GEA_SERVER_OSTICKET_URL to the address osTicket is served at (https rather than http?)",
            stop_run=True,
        )
    if code == 401:
        return Outcome("retry", error=f"{said}. {_key_hint(body)}", stop_run=True)
    if code == 403:
        return Outcome(
            "retry",
            error=f"{said}. osTicket refused the sender {sender.sender_email}: check osTicket's "
            "ticket filters and banlist, and that users who are not registered may open tickets",
        )
    if code in (404, 405) or "URL not supported" in body:
        return Outcome(
            "retry",
            error=f"{said}. No osTicket API at {sender.shown_url}: set GEA_SERVER_OSTICKET_URL to "
            "osTicket's root address, and check that its web server passes /api/ to osTicket "
            "(api/.htaccess, or the nginx rule for api/http.php)",
            stop_run=True,
        )
    if code in (502, 504):
        # A proxy's answer: it may have passed the request on and given up waiting for osTicket,
        # which can still have created the ticket.
        return Outcome(
            "parked",
            error=f"{said}. A proxy in front of osTicket gave up; osTicket may still have created "
            f"the ticket: look for [GEA {ticket_number}] in osTicket",
        )
    if "maximum open tickets" in body.lower():
        return Outcome(
            "retry",
            error=f"{said}. Every GEA ticket comes from {sender.sender_email}: set osTicket's "
            "Admin Panel, Settings, Tickets, Maximum Open Tickets to 0 (unlimited)",
        )
    if code == 503:
        return Outcome("retry", error=f"{said}. osTicket is unavailable; sent again later", stop_run=True)
    # osTicket's refusals of one ticket: 400 for a bad body, and for validation errors (500 from
    # 1.17 on, 400 before), such as a required field added to its ticket form.
    return Outcome("retry", error=f"{said}. Sent again later; if this persists, fix what it names")


def is_remote_id(text: str) -> bool:
    """What a person may record with --mark-sent: looser than NUMBER_ANSWER, since they read it
    off osTicket itself, whatever number format it was set up with."""
    return 0 < len(text) <= REMOTE_ID_MAX and text.isprintable() and not any(ch.isspace() for ch in text)


def _key_hint(body: str) -> str:
    if "not authorized" in body and "source IP" not in body:  # "API key not authorized"
        return (
            "The key may not create tickets: in osTicket's Admin Panel, Manage, API Keys, tick "
            "'Can Create Tickets' for it"
        )
    if "not found/active" in body:
        return "The key is disabled: set it Active in osTicket's Admin Panel, Manage, API Keys"
    return (
        "osTicket knows no key with this value for this server's address: check "
        "GEA_SERVER_OSTICKET_API_KEY, and that the key's IP Address in osTicket's Admin Panel, "
        "Manage, API Keys is the address this server reaches osTicket from"
    )


def from_error(exc: httpx.TransportError, sender: Endpoint, ticket_number: str) -> Outcome:
    what = sender.scrub(one_line(str(exc))) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.ProxyError | httpx.PoolTimeout):
        # No connection, so nothing reached osTicket (name lookups and TLS handshakes fail here too).
        return Outcome(
            "retry",
            error=f"could not connect to osTicket at {sender.shown_url} ({what}); nothing was sent",
            stop_run=True,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        # Refused by httpx before sending. Its words may quote the headers, so they are not kept.
        return Outcome(
            "retry",
            error=f"the request to {sender.shown_url} could not be made ({type(exc).__name__}); "
            "nothing was sent",
            stop_run=True,
        )
    if isinstance(exc, httpx.WriteError | httpx.WriteTimeout):
        # The request did not leave whole, and osTicket reads the whole body before it acts.
        return Outcome("retry", error=f"the request to osTicket broke off while sending ({what})")
    # Read timeouts, a connection closed after the request went out: osTicket may have it.
    return Outcome(
        "parked",
        error=f"the request reached osTicket but its answer was lost ({type(exc).__name__}: {what}): "
        f"look for [GEA {ticket_number}] in osTicket",
    )
