"""Turning a one-time enrollment code into a device token (ARCHITECTURE 5, "Enrollment")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from server_sync_api import security


class EnrollmentRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Enrolled:
    device_code: str
    device_token: str
    entity_id: str


async def recent_failures(conn: AsyncConnection[Any], address: str, window_minutes: int) -> int:
    cursor = await conn.execute(
        "SELECT count(*) FROM submission_attempts WHERE attempt_type = 'enroll' AND NOT success "
        "AND ip_address = %s AND created_at > now() - make_interval(mins => %s)",
        (address, window_minutes),
    )
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def record_attempt(conn: AsyncConnection[Any], address: str, success: bool, error: str | None) -> None:
    await conn.execute(
        "INSERT INTO submission_attempts (ip_address, attempt_type, success, error_message) "
        "VALUES (%s, 'enroll', %s, %s)",
        (address[:45], success, error),
    )


async def enroll(conn: AsyncConnection[Any], code: str) -> Enrolled:
    """Consume the code (single use, unexpired) and issue the device's new token.

    The device becomes active again and any earlier token stops working: this is also how a
    revoked or reinstalled kiosk comes back under its own device code.
    """
    code_digest = security.enrollment_code_digest(code)
    token = security.new_device_token()
    cursor = await conn.execute(
        """
        UPDATE kiosk_devices
        SET token_hash = %(token)s, enrollment_code_hash = NULL, enrollment_expires_at = NULL,
            is_active = TRUE
        WHERE enrollment_code_hash = %(code)s AND enrollment_expires_at > now()
        RETURNING device_code, entity_id
        """,
        {"token": security.digest(token), "code": code_digest},
    )
    row = await cursor.fetchone()
    if row is not None:
        return Enrolled(device_code=row[0], device_token=token, entity_id=row[1])
    cursor = await conn.execute(
        "SELECT device_code FROM kiosk_devices WHERE enrollment_code_hash = %s", (code_digest,)
    )
    expired = await cursor.fetchone()
    if expired is not None:
        raise EnrollmentRefused(
            "enrollment_code_expired",
            f"This enrollment code has expired. Ask IT for a new one "
            f"(gea-server devices reenroll {expired[0]}).",
        )
    raise EnrollmentRefused(
        "invalid_enrollment_code",
        "This enrollment code is not valid or was already used. Check it, or ask IT for a new one.",
    )
