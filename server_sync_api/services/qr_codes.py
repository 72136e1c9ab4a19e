"""QR codes for posters (issue 15): every statement `gea-server qr-poster` runs.

A poster's code is a qr_codes row: a value, the service (and its entity) it rates, and the
place the poster hangs (location, or none). The public form answers at
`<public base URL>/q/<value>` (QR_PATH).

`code_for` finds the active code of a service and place, or registers one. Reprinting a
poster must not change its code, or the posters already on the walls would split the
place's scans and ratings between codes; so an active row for the same service and the same
place (no place matching no place) is reused, the oldest if several, and only otherwise is a
row added. Two runs at once for the same service take turns on a transaction-level advisory
lock on the service (POSTER_LOCK_CLASS, hashtext of the service id), so they cannot both
find nothing and both insert. A new value is VALUE_LENGTH Crockford characters, upper case
(e.g. 7QX4K2M9): short to type from the poster, with no I, L, O or U to misread; 32^8 values
make a clash unlikely, and one is retried with another value.

`retire` sets a code inactive: its posters stop being reused and a new one is made next time.
The public form decides what an inactive code's page shows.

Each function works inside the caller's transaction; nothing here commits.

Exceptions, each with a message for the person who can fix the input::

    QrCodeError
    ├── UnknownService    no service by that id
    ├── InactiveService   the service is not taking feedback (service_master.is_active)
    ├── BadLocation       a blank or too long --location
    └── UnknownCode       no QR code by that value (retire)
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote

import psycopg
from psycopg.rows import dict_row

from server_sync_api.security import CROCKFORD

Conn = psycopg.Connection[Any]

QR_PATH: Final = "/q/"
VALUE_LENGTH: Final = 8
LOCATION_LIMIT: Final = 255  # qr_codes.location
# The first key of this command's advisory locks (the two-key form: its keys never meet the
# one-key locks of jobs and migrations, services/job_locks.py).
POSTER_LOCK_CLASS: Final = 0x6EA_0A12
# Tries for an unused value; each clashes with a chance of (codes in use) / 32^8.
VALUE_TRIES: Final = 5


class QrCodeError(Exception):
    """A request the person can fix; the message says how."""


class UnknownService(QrCodeError):
    pass


class InactiveService(QrCodeError):
    pass


class BadLocation(QrCodeError):
    pass


class UnknownCode(QrCodeError):
    pass


@dataclass(frozen=True)
class Service:
    service_id: str
    service_name: str
    entity_id: str
    entity_name: str


@dataclass(frozen=True)
class PosterCode:
    """A service's code for one place, and whether this run registered it."""

    qr_code_id: int
    value: str
    service: Service
    location: str | None
    new: bool
    scan_count: int


@dataclass(frozen=True)
class Retired:
    value: str
    service_id: str
    location: str | None
    already: bool  # it was inactive before


def public_url(public_base_url: str, value: str) -> str:
    """The address a poster's code opens: the public form of that code."""
    return f"{public_base_url.rstrip('/')}{QR_PATH}{quote(value, safe='')}"


def new_value() -> str:
    """VALUE_LENGTH random Crockford characters, e.g. 7QX4K2M9."""
    return "".join(secrets.choice(CROCKFORD) for _ in range(VALUE_LENGTH))


def clean_location(location: str | None) -> str | None:
    """The place as stored and compared: its words separated by single spaces (so "Counter 1 "
    and "Counter  1" are one place); None for no place. Case is kept: it is printed."""
    if location is None:
        return None
    cleaned = " ".join(location.split())
    if not cleaned:
        raise BadLocation("--location is blank: name the place (e.g. 'Counter 2') or leave it out")
    if len(cleaned) > LOCATION_LIMIT:
        raise BadLocation(
            f"--location is {len(cleaned)} characters long; at most {LOCATION_LIMIT} fit: shorten it"
        )
    return cleaned


_SERVICE = """
SELECT s.service_id, s.service_name, s.entity_id, e.entity_name, s.is_active
FROM service_master s JOIN entity_master e ON e.unique_entity_id = s.entity_id
WHERE s.service_id = %s
"""


def active_service(conn: Conn, service_id: str) -> Service:
    """The service by its id, refused when unknown or inactive."""
    row = conn.execute(_SERVICE, (service_id,)).fetchone()
    if row is None:
        raise UnknownService(_unknown_service(conn, service_id))
    sid, name, entity_id, entity_name, active = row
    if not active:
        quoted = sid.replace("'", "''")
        raise InactiveService(
            f"service {sid} ({name}) is inactive, so it takes no feedback: choose an active service, "
            f"or make it active again first (UPDATE service_master SET is_active = true "
            f"WHERE service_id = '{quoted}')"
        )
    return Service(sid, name, entity_id, entity_name)


def _unknown_service(conn: Conn, service_id: str) -> str:
    near = conn.execute(
        "SELECT service_id FROM service_master WHERE lower(service_id) = lower(%s) ORDER BY 1 LIMIT 1",
        (service_id.strip(),),
    ).fetchone()
    if near is not None:
        return f"no service {service_id!r}: did you mean {near[0]}? (service ids are case-sensitive)"
    return (
        f"no service {service_id!r} in feedback_db: give a service_id from service_master "
        "(SELECT service_id, service_name FROM service_master WHERE is_active), or --all for every "
        "active service"
    )


def active_services(conn: Conn) -> list[Service]:
    """Every active service, by id."""
    rows = conn.execute(
        "SELECT s.service_id, s.service_name, s.entity_id, e.entity_name "
        "FROM service_master s JOIN entity_master e ON e.unique_entity_id = s.entity_id "
        "WHERE s.is_active ORDER BY s.service_id"
    ).fetchall()
    return [Service(*row) for row in rows]


def code_for(conn: Conn, service: Service, location: str | None) -> PosterCode:
    """The active code of `service` at `location` (None: no place), registered if it has none.

    `location` as `clean_location` gives it. Holds the service's poster lock until the
    caller's transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (POSTER_LOCK_CLASS, service.service_id))
    with conn.cursor(row_factory=dict_row) as cursor:
        found = cursor.execute(
            "SELECT qr_code_id, qr_code_value, scan_count FROM qr_codes "
            "WHERE service_id = %s AND location IS NOT DISTINCT FROM %s AND is_active "
            "ORDER BY created_at, qr_code_id LIMIT 1",
            (service.service_id, location),
        ).fetchone()
        if found is not None:
            return PosterCode(
                found["qr_code_id"], found["qr_code_value"], service, location, False, found["scan_count"]
            )
        for _ in range(VALUE_TRIES):
            added = cursor.execute(
                "INSERT INTO qr_codes (qr_code_value, entity_id, service_id, location) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (qr_code_value) DO NOTHING "
                "RETURNING qr_code_id, qr_code_value",
                (new_value(), service.entity_id, service.service_id, location),
            ).fetchone()
            if added is not None:
                return PosterCode(added["qr_code_id"], added["qr_code_value"], service, location, True, 0)
    raise RuntimeError(f"{VALUE_TRIES} new QR code values in a row were taken already")


def retire(conn: Conn, value: str) -> Retired:
    """Make the code `value` inactive: the value as printed (case forgiven), or the whole
    address from the poster."""
    wanted = unquote(value.strip().rstrip("/").rsplit(QR_PATH, 1)[-1])
    row = conn.execute(
        "SELECT qr_code_id, qr_code_value, service_id, location, is_active FROM qr_codes "
        "WHERE qr_code_value IN (%(value)s::text, upper(%(value)s::text)) "
        "ORDER BY qr_code_value = %(value)s::text DESC LIMIT 1 FOR UPDATE",
        {"value": wanted},
    ).fetchone()
    if row is None:
        raise UnknownCode(
            f"no QR code {wanted!r}: give the value at the end of the poster's address (.../q/VALUE)"
        )
    qr_code_id, stored, service_id, location, active = row
    if active:
        conn.execute("UPDATE qr_codes SET is_active = false WHERE qr_code_id = %s", (qr_code_id,))
    return Retired(stored, service_id, location, already=not active)
