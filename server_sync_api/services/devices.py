"""Kiosk administration for `gea-server devices`: add, list (the fleet view), revoke, re-enroll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from server_sync_api import security

# Fleet-view thresholds (ARCHITECTURE 5): what makes a kiosk worth a visit.
CLOCK_DRIFT_LIMIT_S = 300
BACKLOG_AGE = timedelta(hours=1)


class DeviceError(Exception):
    """A request IT can fix: an unknown entity or device code."""


@dataclass(frozen=True)
class NewCode:
    device_code: str
    enrollment_code: str
    expires_at: datetime


@dataclass(frozen=True)
class FleetRow:
    device_code: str
    name: str
    entity_id: str
    is_active: bool
    enrolled: bool
    state: str  # active, pending (waiting for its enrollment code to be used) or revoked
    last_seen_at: datetime | None
    last_sync_at: datetime | None
    queue_depth: int | None
    oldest_pending_at: datetime | None
    clock_drift_seconds: int | None
    app_version: str | None
    printer_state: str | None
    problems: tuple[str, ...]


def add_device(conn: psycopg.Connection[Any], name: str, entity_id: str, ttl_hours: int) -> NewCode:
    name = name.strip()
    if not name:
        raise DeviceError(
            "--name must not be empty: say where the kiosk stands, e.g. 'Passport office, counter 2'."
        )
    found = conn.execute("SELECT 1 FROM entity_master WHERE unique_entity_id = %s", (entity_id,)).fetchone()
    if found is None:
        raise DeviceError(
            f"No entity {entity_id!r}. List them with: psql -c 'SELECT unique_entity_id FROM entity_master'"
        )
    code = security.new_enrollment_code()
    row = conn.execute(
        "INSERT INTO kiosk_devices (name, entity_id, enrollment_code_hash, enrollment_expires_at, is_active) "
        "VALUES (%s, %s, %s, now() + make_interval(hours => %s), FALSE) "
        "RETURNING device_code, enrollment_expires_at",
        (name[:255], entity_id, security.enrollment_code_digest(code), ttl_hours),
    ).fetchone()
    assert row is not None
    return NewCode(device_code=row[0], enrollment_code=code, expires_at=row[1])


def reenroll_device(conn: psycopg.Connection[Any], device_code: str, ttl_hours: int) -> NewCode:
    """A new code for the same device code; its current token works until the code is used."""
    code = security.new_enrollment_code()
    row = conn.execute(
        "UPDATE kiosk_devices SET enrollment_code_hash = %s, "
        "enrollment_expires_at = now() + make_interval(hours => %s) "
        "WHERE device_code = %s RETURNING device_code, enrollment_expires_at",
        (security.enrollment_code_digest(code), ttl_hours, device_code.upper()),
    ).fetchone()
    if row is None:
        raise DeviceError(f"No device {device_code!r}: see gea-server devices list.")
    return NewCode(device_code=row[0], enrollment_code=code, expires_at=row[1])


def revoke_device(conn: psycopg.Connection[Any], device_code: str) -> None:
    row = conn.execute(
        "UPDATE kiosk_devices SET is_active = FALSE, token_hash = NULL, enrollment_code_hash = NULL, "
        "enrollment_expires_at = NULL WHERE device_code = %s RETURNING device_id",
        (device_code.upper(),),
    ).fetchone()
    if row is None:
        raise DeviceError(f"No device {device_code!r}: see gea-server devices list.")


def fleet(conn: psycopg.Connection[Any], silent_after: timedelta) -> list[FleetRow]:
    now_row = conn.execute("SELECT now()").fetchone()
    assert now_row is not None
    now: datetime = now_row[0]
    rows = conn.execute(
        "SELECT device_code, name, entity_id, is_active, token_hash IS NOT NULL, last_seen_at, last_sync_at, "
        "queue_depth, oldest_pending_at, clock_drift_seconds, app_version, printer_state, "
        "enrollment_code_hash IS NOT NULL FROM kiosk_devices ORDER BY device_code"
    ).fetchall()
    result = []
    for r in rows:
        problems: list[str] = []
        if r[3] and r[4]:
            if r[5] is None:
                problems.append("never seen")
            elif now - r[5] > silent_after:
                problems.append(f"silent {_ago(now - r[5])}")
            if r[8] is not None and now - r[8] > BACKLOG_AGE:
                problems.append(f"backlog {r[7] or '?'} items, oldest {_ago(now - r[8])}")
            if r[11] == "error":
                problems.append("printer failing")
            if r[9] is not None and abs(r[9]) > CLOCK_DRIFT_LIMIT_S:
                problems.append(f"clock off by {_ago(timedelta(seconds=abs(r[9])))}")
        result.append(
            FleetRow(
                device_code=r[0],
                name=r[1],
                entity_id=r[2],
                is_active=r[3],
                enrolled=r[4],
                state="active" if r[3] and r[4] else ("pending" if r[12] else "revoked"),
                last_seen_at=r[5],
                last_sync_at=r[6],
                queue_depth=r[7],
                oldest_pending_at=r[8],
                clock_drift_seconds=r[9],
                app_version=r[10],
                printer_state=r[11],
                problems=tuple(problems),
            )
        )
    return result


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
