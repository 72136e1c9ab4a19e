"""One citizen's pass through the kiosk, as rules the screens follow (ARCHITECTURE section 7).

The screens only show what this says: when a tap counts, which submission an answer belongs
to, when a receipt is offered, and when a submission is finished. No Qt here, so the rules are
tested without widgets and the CLI could drive them too.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiosk.local_db import identity, outbox
from kiosk.receipt import Receipt, status_url
from kiosk.services import InvalidInput, KioskServices

# The server turns these into tickets (feedback_db's trigger: grievance or rating <= 2), so the
# citizen gets a receipt to follow them up.
TICKET_RATING_MAX = 2
# The thank-you screen stays at least this long and ignores taps meanwhile: a child drumming on
# the screen records one rating, not fifty.
THANK_YOU_MIN_S = 2.0
# More ratings than this within the window are still kept, but flagged `misuse_suspected` so
# analytics can leave them out. A busy counter serves a citizen every minute or two.
BURST_MAX_RATINGS = 5
BURST_WINDOW_S = 60.0


@dataclass
class Answer:
    """What the current citizen has told the kiosk so far."""

    submission: outbox.Submission
    service_id: str
    rating: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def complaint(self) -> bool:
        return bool(self.details.get("grievance_flag"))

    @property
    def gets_ticket(self) -> bool:
        return self.complaint or self.rating <= TICKET_RATING_MAX


class CitizenFlow:
    """Holds at most one citizen's open submission; a new rating finishes the previous one."""

    def __init__(
        self,
        services: KioskServices,
        clock: Callable[[], float] = time.monotonic,
        thank_you_s: float = THANK_YOU_MIN_S,
    ) -> None:
        self.services = services
        self._clock = clock
        self.thank_you_s = thank_you_s
        self._recent: deque[float] = deque()
        self._quiet_until = 0.0
        self.current: Answer | None = None

    def accepts_taps(self) -> bool:
        """False while the thank-you screen must ignore taps."""
        return self._clock() >= self._quiet_until

    def rate(self, service_id: str, rating: int) -> Answer | None:
        """The one tap that records a rating. None when the tap is ignored (thank-you screen)."""
        now = self._clock()
        if now < self._quiet_until:
            return None
        self.finish()
        while self._recent and now - self._recent[0] > BURST_WINDOW_S:
            self._recent.popleft()
        submission = self.services.begin_feedback(
            service_id, rating, misuse_suspected=len(self._recent) >= BURST_MAX_RATINGS
        )
        # Counted once recorded: a tap the kiosk refused is not a rating.
        self._recent.append(now)
        self._quiet_until = now + self.thank_you_s
        self.current = Answer(submission, service_id, rating)
        return self.current

    def add_details(self, **details: Any) -> None:
        """Sub-ratings, comment, complaint: written to the same open row at once, so nothing
        the citizen said is lost if the power goes a second later."""
        if self.current is None:
            raise RuntimeError("no citizen's submission is open")
        given = {k: v for k, v in details.items() if v is not None}
        self.services.add_details(self.current.submission.client_uuid, **given)
        self.current.details.update(given)

    def comment(self, text: str, complaint: bool) -> None:
        """What the citizen typed. A complaint marks the submission a grievance, which the
        server turns into a ticket, and must say what went wrong."""
        text = text.strip()
        if complaint and not text:
            raise InvalidInput("a complaint needs a few words on what went wrong")
        details: dict[str, Any] = {"feedback_text": text or None}
        if complaint:
            details["grievance_flag"] = True
        self.add_details(**details)

    def finish(self) -> Answer | None:
        """The citizen is done (or left, or the next one started): the row goes to the queue."""
        answer, self.current = self.current, None
        if answer is not None:
            self.services.finish_feedback(answer.submission.client_uuid)
        return answer

    def receipt_for(self, answer: Answer) -> Receipt | None:
        """The printed receipt for a submission that becomes a ticket; None when the kiosk
        has no identity (it cannot say where to follow the ticket up)."""
        return receipt_for(self.services, answer.submission.reference_code)


def receipt_for(services: KioskServices, reference_code: str) -> Receipt | None:
    """A receipt for any submission still in the outbox (first print and staff reprints)."""
    who = identity.load(services.engine)
    row = outbox.find(services.engine, reference_code)
    if who is None or row is None:
        return None
    payload = row.payload
    catalog = services.catalog()
    service = catalog.services.get(str(payload.get("service_id")))
    return Receipt(
        reference_code=row.reference_code,
        status_url=status_url(who.public_base_url, row.reference_code),
        service_name=service.name if service else str(payload.get("service_id")),
        entity_name=catalog.entity_name(str(payload.get("entity_id"))),
        recorded_at=row.recorded_at,
        complaint=bool(payload.get("grievance_flag")),
        rating=payload.get("rating"),
        device_code=who.device_code,
        ticket_number=row.ticket_number,
    )
