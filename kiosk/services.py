"""What the kiosk does, as plain Python the UI and the CLI call (no Qt, no HTTP here).

Each call is one unit of work on the local database; the sync worker, told through
`on_pending`, sends what became pending. Input is checked against the cached catalog, so
the kiosk's own submissions never reach a server-side rejection for what it could know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from kiosk import catalog as catalogs
from kiosk.local_db import outbox
from kiosk.local_db.outbox import NotEnrolled
from kiosk.sync.errors import SyncError

__all__ = ["InvalidInput", "KioskServices", "LookupResult", "Lookups", "NoCatalog", "NotEnrolled"]

SUB_RATINGS = ("service_quality", "staff_behavior", "waiting_time", "cleanliness")
# What a kiosk may label its submissions (the server refuses portal and qr_code from a device:
# they are citizens' own phones, limited per address).
CHANNELS = ("kiosk", "walk_in", "api")


class InvalidInput(ValueError):
    """What a person entered cannot be accepted; the message says what to change."""


class NoCatalog(Exception):
    """The kiosk has never reached the server, so it does not know the services yet."""


@dataclass(frozen=True)
class LookupResult:
    reference_code: str | None
    ticket_number: str | None
    status: str  # the server's status, or the local state when offline
    source: str  # "server" or "kiosk"
    recorded_at: datetime | None = None


class KioskServices:
    def __init__(self, engine: Engine, on_pending: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self._on_pending = on_pending or (lambda: None)

    # --- the citizen's feedback ---------------------------------------------------------

    def begin_feedback(
        self, service_id: str, rating: int, *, misuse_suspected: bool = False
    ) -> outbox.Submission:
        """The first tap: durable before this returns."""
        service = self._service(service_id)
        _check_rating("rating", rating)
        payload = {
            "service_id": service.service_id,
            "entity_id": service.entity_id,
            "rating": rating,
            "channel": "kiosk",
            "misuse_suspected": misuse_suspected,
        }
        return outbox.begin(self.engine, payload)

    def add_details(self, client_uuid: str, **details: Any) -> None:
        """Sub-ratings, a comment, "I want to make a complaint", on the same submission."""
        for name in SUB_RATINGS:
            if details.get(name) is not None:
                _check_rating(name, details[name])
        text = details.get("feedback_text")
        if text is not None:
            details["feedback_text"] = self._checked_text(text)
        if "grievance_flag" in details and not isinstance(details["grievance_flag"], bool):
            raise InvalidInput("grievance_flag is yes or no")
        outbox.add_details(self.engine, client_uuid, details)

    def finish_feedback(self, client_uuid: str) -> None:
        if outbox.finish(self.engine, client_uuid):
            self._on_pending()

    # --- staff ----------------------------------------------------------------------------

    def log_walk_in(
        self,
        service_id: str,
        rating: int,
        description: str,
        *,
        category_id: int | None = None,
        priority_id: int | None = None,
        submitted_by: str | None = None,
    ) -> outbox.Submission:
        """A grievance staff log for a citizen at the counter: finished at once."""
        service = self._service(service_id)
        _check_rating("rating", rating)
        if not description.strip():
            raise InvalidInput("describe the grievance")
        catalog = self.catalog()
        if category_id is not None and category_id not in service.category_ids:
            raise InvalidInput(f"category {category_id} is not one of {service.name}'s categories")
        if priority_id is not None and priority_id not in catalog.priority_ids:
            raise InvalidInput(f"priority {priority_id} does not exist")
        payload = {
            "service_id": service.service_id,
            "entity_id": service.entity_id,
            "rating": rating,
            "channel": "walk_in",
            "grievance_flag": True,
            "feedback_text": self._checked_text(description),
            "category_id": category_id,
            "priority_id": priority_id,
            "submitted_by": (submitted_by or None) and submitted_by[:100],
        }
        submission = outbox.enqueue(self.engine, payload)
        self._on_pending()
        return submission

    def submit_card(
        self,
        service_id: str,
        rating: int,
        *,
        grievance: bool = False,
        text: str | None = None,
        channel: str = "walk_in",
    ) -> outbox.Submission:
        """A finished submission from a paper card or an IT smoke test (`gea-kiosk submit`)."""
        service = self._service(service_id)
        _check_rating("rating", rating)
        if channel not in CHANNELS:
            raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)}")
        payload = {
            "service_id": service.service_id,
            "entity_id": service.entity_id,
            "rating": rating,
            "channel": channel,
            "grievance_flag": grievance,
            "feedback_text": None if text is None else self._checked_text(text),
        }
        submission = outbox.enqueue(self.engine, payload)
        self._on_pending()
        return submission

    # --- look-ups ---------------------------------------------------------------------------

    def lookup(self, code: str, server: Lookups | None) -> LookupResult | None:
        """A reference code or ticket number: the server's answer when it can be reached (the
        ticket may have moved on since), else what the outbox knows."""
        code = code.strip().upper()
        if server is not None:
            try:
                found = server.status(code) if _looks_like_reference(code) else server.ticket(code)
            except SyncError:
                found = None  # offline or failing: the outbox still knows our own submissions
            else:
                if found is not None:
                    return LookupResult(
                        found.get("reference_code") or (code if _looks_like_reference(code) else None),
                        found.get("ticket_number"),
                        str(found["status"]),
                        "server",
                        _parse_time(found.get("received_at")),
                    )
        return self.lookup_local(code)

    def lookup_local(self, code: str) -> LookupResult | None:
        """A reference code or ticket number from the outbox (when the server is out of reach)."""
        code = code.strip().upper()
        row = outbox.find(self.engine, code) or outbox.find_by_ticket(self.engine, code)
        if row is None:
            return None
        return LookupResult(row.reference_code, row.ticket_number, row.state.value, "kiosk", row.recorded_at)

    def has_receipt(self, reference_code: str | None) -> bool:
        """Only a submission still in this kiosk's outbox has a receipt to print here."""
        return reference_code is not None and outbox.find(self.engine, reference_code) is not None

    def rejected(self) -> list[outbox.OutboxRow]:
        """Submissions the server refused for good, for staff, with its reasons."""
        return outbox.rejected(self.engine)

    # --- helpers ----------------------------------------------------------------------------

    def catalog(self) -> catalogs.Catalog:
        found = catalogs.load(self.engine)
        if found is None:
            raise NoCatalog(
                "The kiosk has no catalog yet: connect it to the network and run gea-kiosk sync --once."
            )
        return found

    def _service(self, service_id: str) -> catalogs.Service:
        service = self.catalog().services.get(service_id)
        if service is None:
            raise InvalidInput(f"service {service_id} is not in this kiosk's catalog")
        return service

    def _checked_text(self, text: str) -> str:
        text = text.replace("\x00", "")
        limit = self.catalog().comment_max_chars
        if len(text) > limit:
            raise InvalidInput(f"the text has {len(text):,} characters; at most {limit:,} are allowed")
        return text


class Lookups(Protocol):
    """The server's look-ups (kiosk.sync.client.SyncClient); a protocol so this module needs
    no HTTP."""

    def status(self, reference_code: str) -> dict[str, Any] | None: ...

    def ticket(self, ticket_number: str) -> dict[str, Any] | None: ...


def _looks_like_reference(code: str) -> bool:
    """Reference codes are K0007-000123-ABCD (a kiosk's) or WEB-000123-ABCD2345 (a phone's);
    ticket numbers (202612-000123) have no such tail."""
    parts = code.rsplit("-", 2)
    return len(parts) == 3 and parts[1].isdigit() and 6 <= len(parts[1]) <= 10 and 4 <= len(parts[2]) <= 8


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _check_rating(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
        raise InvalidInput(f"{name} must be a whole number from 1 to 5")
