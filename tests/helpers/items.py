"""Submission items for POST /api/v1/submissions, shaped as a kiosk sends them (ARCHITECTURE 5).

`ItemFactory(device_code)` makes valid items with fresh client_uuids and reference codes
(`<device_code>-<6-digit sequence>-<4 Crockford characters>`); keyword arguments override or
add fields, and `omit` drops some. Defaults: a kiosk rating of 4 for SVC-001 of AGY-002 (the
passport office of the demo catalog), recorded now, which makes no ticket.
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

DEFAULT_SERVICE_ID = "SVC-001"  # Passport Application and Renewal
DEFAULT_ENTITY_ID = "AGY-002"  # Immigration and Passport Office

Item = dict[str, Any]


def iso(moment: datetime) -> str:
    """A timestamp as the kiosk sends it (ISO 8601; UTC with an offset unless naive)."""
    return moment.isoformat()


def utc_now() -> datetime:
    return datetime.now(UTC)


def random_suffix() -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(4))


def reference_code(device_code: str, sequence: int, suffix: str | None = None) -> str:
    return f"{device_code}-{sequence:06d}-{suffix or random_suffix()}"


def make_item(
    device_code: str,
    sequence: int,
    *,
    omit: Iterable[str] = (),
    **overrides: Any,
) -> Item:
    item: Item = {
        "client_uuid": str(uuid.uuid4()),
        "reference_code": reference_code(device_code, sequence),
        "channel": "kiosk",
        "service_id": DEFAULT_SERVICE_ID,
        "entity_id": DEFAULT_ENTITY_ID,
        "rating": 4,
        "grievance_flag": False,
        "misuse_suspected": False,
        "recorded_at": iso(utc_now()),
    }
    item.update(overrides)
    for name in omit:
        item.pop(name, None)
    return item


class ItemFactory:
    """Valid items of one device, each with the next local sequence number."""

    def __init__(self, device_code: str, first_sequence: int = 1) -> None:
        self.device_code = device_code
        self._sequence = itertools.count(first_sequence)

    def __call__(self, *, omit: Iterable[str] = (), **overrides: Any) -> Item:
        return make_item(self.device_code, next(self._sequence), omit=omit, **overrides)

    def many(self, count: int, **overrides: Any) -> list[Item]:
        return [self(**overrides) for _ in range(count)]


def device_status(
    *,
    device_time: datetime | None = None,
    queue_depth: int = 0,
    oldest_pending_at: datetime | None = None,
    app_version: str = "1.0.0",
    printer: str = "ok",
    last_error: Any = None,
) -> dict[str, Any]:
    """A batch's device_status; device_time defaults to now (a correct clock). `last_error`
    (any JSON value, so tests can send bad ones) is left out unless given, as older kiosks do."""
    status: dict[str, Any] = {
        "queue_depth": queue_depth,
        "oldest_pending_at": None if oldest_pending_at is None else iso(oldest_pending_at),
        "device_time": iso(device_time or utc_now()),
        "app_version": app_version,
        "printer": printer,
    }
    if last_error is not None:
        status["last_error"] = last_error
    return status


def batch(items: list[Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"items": items}
    if status is not None:
        body["device_status"] = status
    return body
