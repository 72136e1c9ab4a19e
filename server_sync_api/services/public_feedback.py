"""Feedback from citizens' own phones and browsers: the QR poster's form (channel `qr_code`)
and the web portal's (`portal`), with no device and no account (ARCHITECTURE 4.10 and 5).

Per hashed address (an IPv6 address by its /64), over a rolling hour of accepted submissions:
0-1 are free, 2-4 need a solved CAPTCHA (services/captcha.py), 5 or more are refused until the
oldest leaves the hour. The trigger on `service_feedback` records each accepted one in
`submission_rate_limit`; the seed's `check_rate_limit` and `requires_captcha` read it. Refusals
do not count. An advisory lock on the address makes check-and-insert one step, so parallel
requests cannot slip past the limit together. Every attempt, whatever its outcome, is a row of
the security log `submission_attempts` (kept 7 days).

A submission may carry its own `client_uuid` (the form's hidden field): sent again (a reload,
a double tap, a retry after a lost answer) it answers the first one's reference instead of
counting twice.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from server_sync_api.core.config import ServerSettings
from server_sync_api.protocol import COMMENT_MAX_CHARS
from server_sync_api.security import CROCKFORD
from server_sync_api.services import captcha, waits

FREE_PER_HOUR = 2  # accepted in the last hour before a CAPTCHA is needed (requires_captcha)
LIMIT_PER_HOUR = 5  # accepted in the last hour before the next is refused (check_rate_limit)
WINDOW = timedelta(hours=1)
PUBLIC_CHANNELS = ("qr_code", "portal")
REFERENCE_RANDOM_CHARS = 8  # 40 bits (ARCHITECTURE 6)
ATTEMPT_TYPE = "public_feedback"
SUB_RATINGS = ("service_quality", "staff_behavior", "waiting_time", "cleanliness")


@dataclass(frozen=True)
class Target:
    """Where the feedback goes: a service, and the poster it came through, if any."""

    service_id: str
    entity_id: str
    service_name: str
    entity_name: str
    qr_code_id: int | None = None
    qr_code_value: str | None = None
    location: str | None = None

    @property
    def channel(self) -> str:
        return "qr_code" if self.qr_code_id is not None else "portal"


@dataclass(frozen=True)
class Feedback:
    """What the citizen answered, already checked (see `check`)."""

    rating: int
    service_quality: int | None = None
    staff_behavior: int | None = None
    waiting_time: int | None = None
    cleanliness: int | None = None
    feedback_text: str | None = None
    grievance_flag: bool = False
    client_uuid: uuid.UUID | None = None


@dataclass(frozen=True)
class Accepted:
    reference_code: str
    ticket_number: str | None
    repeated: bool  # the same client_uuid was accepted before; nothing new was stored


@dataclass(frozen=True)
class RateState:
    needs_captcha: bool
    allowed: bool
    retry_after_s: int  # until the next submission is allowed (0: now)


class Refused(Exception):
    """Not accepted; `code` and `message` as the API answers them. A CAPTCHA refusal carries a
    fresh challenge, a rate refusal the seconds to wait."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        challenge: dict[str, Any] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.challenge = challenge
        self.retry_after_s = retry_after_s


class UnknownQrCode(Exception):
    pass


class InactiveQrCode(Exception):
    """A retired poster (`service_open`: its service still takes feedback at the portal), or a
    poster of a service no longer offered."""

    def __init__(self, target: Target, service_open: bool) -> None:
        super().__init__(target.qr_code_value)
        self.target = target
        self.service_open = service_open


CAPTCHA_REQUIRED = "Several submissions came from your network in the last hour: confirm you are a person."
CAPTCHA_INVALID = "The check that you are a person did not pass or has expired. Try it again."


# A problem with one answer: the English message (a key the pages translate) and its values.
Problem = tuple[str, dict[str, object]]

CHOOSE_RATING = "Choose how you rate the service, from 1 (very poor) to 5 (very good)."
CHOOSE_NUMBER = "Choose a number from 1 to 5."
TEXT_TOO_LONG = "Your comment is {length} characters; shorten it to {limit} or fewer."
TEXT_UNSTORABLE = "Your comment has a character we cannot store. Remove it and send again."


def check(
    rating: object,
    sub_ratings: dict[str, object],
    feedback_text: str | None,
    grievance_flag: bool,
    client_uuid: uuid.UUID | None = None,
) -> tuple[Feedback | None, dict[str, Problem]]:
    """The citizen's answers as a Feedback, or the problems by field name. Ratings are whole
    numbers 1 to 5 (the form sends them as text); the comment at most COMMENT_MAX_CHARS."""
    errors: dict[str, Problem] = {}

    def score(name: str, value: object, required: bool) -> int | None:
        if value is None or value == "":
            if required:
                errors[name] = (CHOOSE_RATING, {})
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            number = int(value)  # ASCII digits only: "²" is a digit to isdigit, not to int
        if number is None or not 1 <= number <= 5:
            errors[name] = (CHOOSE_NUMBER, {})
            return None
        return number

    main = score("rating", rating, True)
    subs = {name: score(name, sub_ratings.get(name), False) for name in SUB_RATINGS}
    text = (feedback_text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if "\x00" in text:
        errors["feedback_text"] = (TEXT_UNSTORABLE, {})
    elif len(text) > COMMENT_MAX_CHARS:
        errors["feedback_text"] = (
            TEXT_TOO_LONG,
            {"length": f"{len(text):,}", "limit": f"{COMMENT_MAX_CHARS:,}"},
        )
    if errors or main is None:
        return None, errors
    return (
        Feedback(
            rating=main,
            feedback_text=text or None,
            grievance_flag=grievance_flag,
            client_uuid=client_uuid,
            **subs,
        ),
        {},
    )


def describe(problems: dict[str, Problem]) -> str:
    """The problems in English, one sentence each, for the JSON API."""
    return " ".join(f"{field}: {text.format(**values)}" for field, (text, values) in problems.items())


_TARGET = """
SELECT s.service_id, s.entity_id, s.service_name, e.entity_name, q.qr_code_id, q.qr_code_value,
       q.location, q.is_active, s.is_active AND e.is_active
FROM qr_codes q
JOIN service_master s ON s.service_id = q.service_id
JOIN entity_master e ON e.unique_entity_id = s.entity_id
WHERE q.qr_code_value = %(value)s OR q.qr_code_value = upper(%(value)s)
ORDER BY q.qr_code_value = %(value)s DESC
LIMIT 1
"""


async def qr_target(conn: AsyncConnection[Any], value: str, *, count_scan: bool = False) -> Target:
    """The poster's service. A value is matched as printed or upper-cased (typed on a phone).
    `count_scan` adds one to its scan count (the page was opened). UnknownQrCode, or
    InactiveQrCode for a retired poster or a service no longer offered."""
    if not value or len(value) > 500 or "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise UnknownQrCode(value)
    cursor = await conn.execute(_TARGET, {"value": value})
    row = await cursor.fetchone()
    if row is None:
        raise UnknownQrCode(value)
    target = Target(*row[:7])
    poster_active, service_open = row[7], row[8]
    if not (poster_active and service_open):
        raise InactiveQrCode(target, service_open)
    if count_scan:
        await conn.execute(
            "UPDATE qr_codes SET scan_count = scan_count + 1 WHERE qr_code_id = %s", (target.qr_code_id,)
        )
    return target


async def service_target(conn: AsyncConnection[Any], service_id: str) -> Target | None:
    """An active service, for the portal; None for an unknown or inactive one."""
    if not service_id or len(service_id) > 50 or "\x00" in service_id:
        return None
    cursor = await conn.execute(
        "SELECT s.service_id, s.entity_id, s.service_name, e.entity_name FROM service_master s "
        "JOIN entity_master e ON e.unique_entity_id = s.entity_id "
        "WHERE s.service_id = %s AND s.is_active AND e.is_active",  # as `services` lists them
        (service_id,),
    )
    row = await cursor.fetchone()
    return Target(*row) if row else None


@dataclass(frozen=True)
class ServiceChoice:
    service_id: str
    service_name: str
    entity_name: str


async def services(conn: AsyncConnection[Any]) -> list[ServiceChoice]:
    """Every active service, by office then name: the portal's picker."""
    cursor = await conn.execute(
        "SELECT s.service_id, s.service_name, e.entity_name FROM service_master s "
        "JOIN entity_master e ON e.unique_entity_id = s.entity_id "
        "WHERE s.is_active AND e.is_active ORDER BY e.entity_name, s.service_name, s.service_id"
    )
    return [ServiceChoice(*row) for row in await cursor.fetchall()]


_RATE_STATE = """
SELECT NOT requires_captcha(%(h)s, %(free)s) AS free,
       check_rate_limit(%(h)s, %(limit)s, 1) AS allowed,
       coalesce(array_agg(window_start ORDER BY window_start)
                FILTER (WHERE window_start IS NOT NULL), '{}') AS starts,
       now()
FROM (SELECT window_start FROM submission_rate_limit
      WHERE ip_hash = %(h)s AND window_start > now() - interval '1 hour') AS w
"""


async def rate_state(conn: AsyncConnection[Any], ip_hash: str) -> RateState:
    cursor = await conn.execute(_RATE_STATE, {"h": ip_hash, "free": FREE_PER_HOUR, "limit": LIMIT_PER_HOUR})
    row = await cursor.fetchone()
    assert row is not None  # an aggregate always answers one row
    free, allowed, starts, now = row
    starts_list: list[datetime] = list(starts)
    retry = 0
    if not allowed:
        # The next is allowed once enough of the hour's submissions have left it.
        # (Rows count one each as the trigger writes them; a back-filled count could make the
        # rows fewer than the sum, so the index is kept in range.)
        leaving = starts_list[max(0, len(starts_list) - LIMIT_PER_HOUR)] if starts_list else now
        retry = max(1, int((leaving + WINDOW - now).total_seconds()) + 1)
    return RateState(needs_captcha=not free, allowed=bool(allowed), retry_after_s=retry)


async def submit(
    conn: AsyncConnection[Any],
    target: Target,
    feedback: Feedback,
    *,
    ip_hash: str,
    address: str,
    captcha_payload: str | None,
    settings: ServerSettings,
) -> Accepted:
    """Store the feedback (its ticket follows from the triggers) and commit; or log the refusal,
    commit that, and raise Refused."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('gea-public:' || %s, 0))", (ip_hash,))
    if feedback.client_uuid is not None:
        earlier = await _earlier(conn, feedback.client_uuid, address)
        if earlier is not None:
            await _log(conn, address, True, "repeated")
            await conn.commit()
            return earlier
    state = await rate_state(conn, ip_hash)
    if not state.allowed:
        await _refuse(
            conn,
            address,
            Refused(
                429,
                "rate_limited",
                f"{LIMIT_PER_HOUR} submissions came from your network in the last hour, the most we "
                f"take. Try again in {waits.in_words(state.retry_after_s)}.",
                retry_after_s=state.retry_after_s,
            ),
        )
    if state.needs_captcha:
        if not captcha_payload:
            challenge = await captcha.issue(conn, ip_hash, settings)
            await _refuse(
                conn, address, Refused(400, "captcha_required", CAPTCHA_REQUIRED, challenge=challenge)
            )
        if not await captcha.redeem(conn, ip_hash, captcha_payload or "", settings):
            challenge = await captcha.issue(conn, ip_hash, settings)
            await _refuse(
                conn, address, Refused(400, "captcha_invalid", CAPTCHA_INVALID, challenge=challenge)
            )
    client_uuid = feedback.client_uuid or uuid.uuid4()
    for _ in range(3):  # a new reference on the (astronomically rare) clash with another's
        reference = await _new_reference(conn)
        cursor = await conn.execute(
            """
            INSERT INTO service_feedback (
                client_uuid, reference_code, channel, service_id, entity_id, rating,
                service_quality, staff_behavior, waiting_time, cleanliness, grievance_flag,
                feedback_text, qr_code_id, ip_hash, recorded_at, clock_offset_s)
            VALUES (%(uuid)s, %(reference)s, %(channel)s, %(service)s, %(entity)s, %(rating)s,
                    %(service_quality)s, %(staff_behavior)s, %(waiting_time)s, %(cleanliness)s,
                    %(grievance)s, %(text)s, %(qr)s, %(ip_hash)s, now(), 0)
            ON CONFLICT DO NOTHING
            RETURNING feedback_id
            """,
            {
                "uuid": client_uuid,
                "reference": reference,
                "channel": target.channel,
                "service": target.service_id,
                "entity": target.entity_id,
                "rating": feedback.rating,
                "service_quality": feedback.service_quality,
                "staff_behavior": feedback.staff_behavior,
                "waiting_time": feedback.waiting_time,
                "cleanliness": feedback.cleanliness,
                "grievance": feedback.grievance_flag,
                "text": feedback.feedback_text,
                "qr": target.qr_code_id,
                "ip_hash": ip_hash,
            },
        )
        row = await cursor.fetchone()
        if row is not None:
            cursor = await conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (row[0],))
            ticket = await cursor.fetchone()
            await _log(conn, address, True, "created")
            await conn.commit()
            return Accepted(reference, ticket[0] if ticket else None, repeated=False)
        earlier = await _earlier(conn, client_uuid, address)
        if earlier is not None:  # cannot happen under the lock, but answers rightly if it does
            await _log(conn, address, True, "repeated")
            await conn.commit()
            return earlier
    raise RuntimeError("could not make a unique reference code")


async def log_refusal(conn: AsyncConnection[Any], address: str, code: str) -> None:
    """Log an attempt refused before `submit` (a malformed body, an unknown poster); commits."""
    await _log(conn, address, False, code)
    await conn.commit()


async def _earlier(conn: AsyncConnection[Any], client_uuid: uuid.UUID, address: str) -> Accepted | None:
    cursor = await conn.execute(
        "SELECT f.reference_code, t.ticket_number, f.channel FROM service_feedback f "
        "LEFT JOIN tickets t ON t.feedback_id = f.feedback_id WHERE f.client_uuid = %s",
        (client_uuid,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    if row[2] not in PUBLIC_CHANNELS:  # a kiosk's: never answered to a browser
        await _refuse(
            conn,
            address,
            Refused(409, "duplicate_submission_id", "This form was already used. Open the page again."),
        )
    return Accepted(row[0], row[1], repeated=True)


async def _new_reference(conn: AsyncConnection[Any]) -> str:
    cursor = await conn.execute("SELECT nextval('web_reference_seq')")
    row = await cursor.fetchone()
    assert row is not None
    tail = "".join(secrets.choice(CROCKFORD) for _ in range(REFERENCE_RANDOM_CHARS))
    return f"WEB-{int(row[0]):06d}-{tail}"


async def _log(conn: AsyncConnection[Any], address: str, success: bool, outcome: str) -> None:
    await conn.execute(
        "INSERT INTO submission_attempts (ip_address, attempt_type, success, error_message) "
        "VALUES (%s, %s, %s, %s)",
        (address[:45] or None, ATTEMPT_TYPE, success, outcome),
    )


async def _refuse(conn: AsyncConnection[Any], address: str, refusal: Refused) -> None:
    await _log(conn, address, False, refusal.code)
    await conn.commit()
    raise refusal
