"""Kiosk administration for `gea-server devices`: add, list (the fleet view), revoke, re-enroll."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from server_sync_api import security

# Fleet-view thresholds (ARCHITECTURE 5): what makes a kiosk worth a visit.
CLOCK_DRIFT_LIMIT_S = 300
BACKLOG_AGE = timedelta(hours=1)
# Characters of a kiosk's error message in its flag, so the table keeps one line per kiosk.
ERROR_MESSAGE_SHOWN = 80


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
    last_error_code: str | None  # what the kiosk reports is wrong now (ARCHITECTURE 5)
    last_error_message: str | None
    last_error_at: datetime | None  # when it first reported that code
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
    rows = conn.cursor(row_factory=dict_row).execute(
        "SELECT device_code, name, entity_id, is_active, token_hash IS NOT NULL AS enrolled, last_seen_at, "
        "last_sync_at, queue_depth, oldest_pending_at, clock_drift_seconds, app_version, printer_state, "
        "last_error_code, last_error_message, last_error_at, "
        "enrollment_code_hash IS NOT NULL AS code_issued FROM kiosk_devices ORDER BY device_code"
    )
    result = []
    for r in rows:
        problems: list[str] = []
        if r["is_active"] and r["enrolled"]:
            if r["last_seen_at"] is None:
                problems.append("never seen")
            elif now - r["last_seen_at"] > silent_after:
                problems.append(f"silent {_ago(now - r['last_seen_at'])}")
            if r["oldest_pending_at"] is not None and now - r["oldest_pending_at"] > BACKLOG_AGE:
                problems.append(
                    f"backlog {r['queue_depth'] or '?'} items, oldest {_ago(now - r['oldest_pending_at'])}"
                )
            if r["printer_state"] == "error":
                problems.append("printer failing")
            if r["clock_drift_seconds"] is not None and abs(r["clock_drift_seconds"]) > CLOCK_DRIFT_LIMIT_S:
                problems.append(f"clock off by {_ago(timedelta(seconds=abs(r['clock_drift_seconds'])))}")
            if r["last_error_code"] is not None:
                problems.append(
                    _error_flag(r["last_error_code"], r["last_error_message"], now - r["last_error_at"])
                )
        result.append(
            FleetRow(
                device_code=r["device_code"],
                name=r["name"],
                entity_id=r["entity_id"],
                is_active=r["is_active"],
                enrolled=r["enrolled"],
                state=(
                    "active"
                    if r["is_active"] and r["enrolled"]
                    else ("pending" if r["code_issued"] else "revoked")
                ),
                last_seen_at=r["last_seen_at"],
                last_sync_at=r["last_sync_at"],
                queue_depth=r["queue_depth"],
                oldest_pending_at=r["oldest_pending_at"],
                clock_drift_seconds=r["clock_drift_seconds"],
                app_version=r["app_version"],
                printer_state=r["printer_state"],
                last_error_code=r["last_error_code"],
                last_error_message=r["last_error_message"],
                last_error_at=r["last_error_at"],
                problems=tuple(problems),
            )
        )
    return result


def _error_flag(code: str, message: str | None, age: timedelta) -> str:
    """`error disk_full for 2 h: Only 120 MB left...`: the code to act on, and enough of the
    message to know what it means; the whole message is in the JSON output."""
    flag = f"error {code} for {_ago(age)}"
    text = one_line(message or "")
    if len(text) > ERROR_MESSAGE_SHOWN:
        text = text[: ERROR_MESSAGE_SHOWN - 3].rstrip() + "..."
    return f"{flag}: {text}" if text else flag


def one_line(text: str) -> str:
    """Text a kiosk sent, made safe for one line of a terminal table: control and format
    characters (newlines, tabs, escape sequences that would drive IT's terminal, bidi
    overrides) become spaces, and runs of spaces become one."""
    return " ".join("".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text).split())


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
