"""Desk sessions, kept in PostgreSQL (ARCHITECTURE 4.13) so any worker on any host serves them.

The browser holds a random token; the table holds only its SHA-256, so a copy of the table
signs nobody in. A session ends at its absolute expiry, after the idle limit without a request,
when the officer signs out, or when the officer is disabled (a trigger deletes the rows, and
every look-up also joins an active officer). Signing in always makes a new token: a token
planted before sign-in is never promoted.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg import AsyncConnection

from server_sync_api.domain import Officer

# A request refreshes last_seen_at at most this often, so reading pages is not a write each.
TOUCH_EVERY = timedelta(seconds=60)

Method = Literal["password", "oidc"]


@dataclass(frozen=True)
class Session:
    officer: Officer
    method: str
    created_at: datetime
    expires_at: datetime


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


async def start(
    conn: AsyncConnection[Any],
    officer_id: int,
    method: Method,
    absolute: timedelta,
    *,
    replacing: str | None = None,
) -> str:
    """A new session for the officer; returns the token for the cookie. The session the browser
    held before (if any) ends here: sign-in rotates the token."""
    token = secrets.token_urlsafe(32)
    async with conn.transaction():
        if replacing:
            await conn.execute("DELETE FROM officer_sessions WHERE token_hash = %s", (_digest(replacing),))
        await conn.execute(
            "INSERT INTO officer_sessions (token_hash, officer_id, method, expires_at) "
            "VALUES (%s, %s, %s, now() + %s)",
            (_digest(token), officer_id, method, absolute),
        )
    return token


async def resume(conn: AsyncConnection[Any], token: str, idle: timedelta) -> Session | None:
    """The live session behind a cookie's token, or None (unknown, expired, idle too long, or
    its officer disabled). Refreshes the idle clock."""
    if not token or len(token) > 200:
        return None
    digest = _digest(token)
    cursor = await conn.execute(
        """
        SELECT o.officer_id, o.email, o.display_name, o.entity_id, o.role, o.active, o.language,
               s.method, s.created_at, s.expires_at, s.last_seen_at < now() - %(touch)s
        FROM officer_sessions s
        JOIN officers o ON o.officer_id = s.officer_id AND o.active
        WHERE s.token_hash = %(digest)s AND s.expires_at > now() AND s.last_seen_at > now() - %(idle)s
        """,
        {"digest": digest, "idle": idle, "touch": TOUCH_EVERY},
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    if row[10]:
        await conn.execute(
            "UPDATE officer_sessions SET last_seen_at = now() WHERE token_hash = %s", (digest,)
        )
    officer = Officer(
        officer_id=row[0],
        email=row[1],
        display_name=row[2],
        entity_id=row[3],
        role=row[4],
        active=row[5],
        language=row[6],
    )
    return Session(officer=officer, method=row[7], created_at=row[8], expires_at=row[9])


async def end(conn: AsyncConnection[Any], token: str) -> None:
    await conn.execute("DELETE FROM officer_sessions WHERE token_hash = %s", (_digest(token),))


async def end_all(conn: AsyncConnection[Any], officer_id: int, *, keeping: str | None = None) -> int:
    """Ends every session of the officer (after a password change, all but the current one)."""
    cursor = await conn.execute(
        "DELETE FROM officer_sessions WHERE officer_id = %s AND token_hash IS DISTINCT FROM %s",
        (officer_id, _digest(keeping) if keeping else None),
    )
    return cursor.rowcount
