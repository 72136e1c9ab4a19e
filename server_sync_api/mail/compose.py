"""One message to one officer: about one event, or a digest of several (after a backlog an
officer gets one message, not fifty). Plain text and HTML in the officer's language, each
ticket linked to the desk, and a Message-ID that a retry of the same message reuses."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import jinja2

from server_sync_api.mail import words

Event = Literal["new_ticket", "breach", "escalation", "reassigned"]
# Why this officer gets it: the assignee, else the supervisors over the ticket, else the admins.
Reason = Literal["assignee", "supervisor", "admin"]

# Ticket numbers a digest's subject lists before "and 3 more".
SUBJECT_NUMBERS = 5
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Addressee:
    email: str
    name: str
    language: str  # 'en' or 'es'


@dataclass(frozen=True)
class Happening:
    """What one outbox row tells one officer, with the names already looked up."""

    notification_id: int
    event: Event
    ticket_number: str
    title: str
    office: str
    created_at: datetime
    reason: Reason
    priority: str | None = None  # new_ticket: the priority it was opened with
    respond_by: datetime | None = None  # new_ticket
    target: Literal["response", "resolution"] | None = None  # breach, escalation
    due: datetime | None = None  # breach, escalation: when the target fell
    assigned_by: str | None = None  # reassigned: who did it (a name, or the database role)
    assignee: str | None = None  # reassigned: to whom, when not to the recipient
    previous: str | None = None  # reassigned: who had it before


@dataclass(frozen=True)
class Letterhead:
    """What every message shares: the sender, where the desk is, and the zone times are shown in."""

    sender: str
    base_url: str
    zone: ZoneInfo


@dataclass(frozen=True)
class TicketBlock:
    number: str
    title: str
    office: str
    url: str
    lines: tuple[str, ...]


def message_id(notification_ids: Sequence[int], recipient: str, sender: str) -> str:
    """The same notifications to the same officer always get the same Message-ID, so a message
    sent again after a lost answer is recognisably the same one. The address is hashed: a
    Message-ID travels in headers other people may see (replies, forwards)."""
    ids = sorted(notification_ids)
    key = ",".join(map(str, ids)) + "|" + recipient.strip().lower()
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    kind = f"n{ids[0]}" if len(ids) == 1 else f"digest{len(ids)}"
    return f"<gea-{kind}.{digest}@{sender_domain(sender)}>"


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def compose(addressee: Addressee, happenings: Sequence[Happening], letterhead: Letterhead) -> EmailMessage:
    if not happenings:
        raise ValueError("a message needs at least one event")
    t = words.translator(addressee.language)
    ordered = sorted(happenings, key=lambda h: (h.created_at, h.notification_id))
    subject = _one_line(_subject(ordered, addressee.language, t))
    values = {
        "t": t,
        "lang": addressee.language,
        "subject": subject,
        "name": addressee.name,
        "intro": t("digest.intro", count=len(ordered)) if len(ordered) > 1 else None,
        "tickets": _blocks(ordered, addressee.language, letterhead, t),
        "why": t("why.digest") if len(ordered) > 1 else t(f"why.{ordered[0].reason}"),
    }
    message = EmailMessage()
    message["From"] = letterhead.sender
    message["To"] = formataddr((_one_line(addressee.name), addressee.email))
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(
        [h.notification_id for h in ordered], addressee.email, letterhead.sender
    )
    # Out-of-office replies and mailing-list software leave automatic mail alone (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(_TEMPLATES.get_template("notification.txt").render(values))
    message.add_alternative(_TEMPLATES.get_template("notification.html").render(values), subtype="html")
    # After the parts: making the message multipart moves every Content-* header into the first.
    message["Content-Language"] = addressee.language
    return message


def _subject(ordered: Sequence[Happening], language: str, t: Callable[..., str]) -> str:
    numbers = list(dict.fromkeys(h.ticket_number for h in ordered))
    if len(ordered) > 1:
        if len(numbers) == 1:
            return t("subject.digest.one_ticket", count=len(ordered), number=numbers[0])
        listed = ", ".join(numbers[:SUBJECT_NUMBERS])
        if len(numbers) > SUBJECT_NUMBERS:
            listed = t("subject.digest.more", numbers=listed, more=len(numbers) - SUBJECT_NUMBERS)
        return t("subject.digest", count=len(ordered), tickets=len(numbers), numbers=listed)
    h = ordered[0]
    if h.event == "new_ticket":
        priority = words.priority_word(h.priority or "", language)
        return t("subject.new_ticket", priority=priority, number=h.ticket_number, title=h.title)
    if h.event in ("breach", "escalation"):
        return t(f"subject.{h.event}.{h.target}", number=h.ticket_number)
    if h.assignee is None:
        return t("subject.reassigned.you", number=h.ticket_number)
    return t("subject.reassigned.other", number=h.ticket_number, name=h.assignee)


def _blocks(
    ordered: Sequence[Happening], language: str, letterhead: Letterhead, t: Callable[..., str]
) -> list[TicketBlock]:
    """The events grouped by ticket, tickets in the order of their first event."""
    by_ticket: dict[str, list[Happening]] = {}
    for h in ordered:
        by_ticket.setdefault(h.ticket_number, []).append(h)
    return [
        TicketBlock(
            number=number,
            title=group[0].title,
            office=group[0].office,
            url=f"{letterhead.base_url}/desk/tickets/{number}",
            lines=tuple(_sentence(h, language, letterhead.zone, t) for h in group),
        )
        for number, group in by_ticket.items()
    ]


def _sentence(h: Happening, language: str, zone: ZoneInfo, t: Callable[..., str]) -> str:
    if h.event == "new_ticket":
        text = t("event.new_ticket", priority=words.priority_word(h.priority or "", language))
        if h.respond_by is not None:
            text += " " + t("event.new_ticket.respond_by", due=_when(h.respond_by, zone))
        return text
    if h.event in ("breach", "escalation"):
        due = _when(h.due, zone) if h.due is not None else "?"
        return t(f"event.{h.event}.{h.target}", due=due)
    by = h.assigned_by or "?"
    if h.assignee is None:
        text = t("event.reassigned.you", by=by)
    else:
        text = t("event.reassigned.other", by=by, name=h.assignee)
    if h.previous:
        text += " " + t("event.reassigned.previous", name=h.previous)
    return text


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def _one_line(text: str) -> str:
    """Text from the database made safe for a header: control characters (a newline would
    start a header of its own) become spaces, runs of spaces one."""
    return " ".join("".join(" " if unicodedata.category(c).startswith("C") else c for c in text).split())
