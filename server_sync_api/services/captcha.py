"""The public form's CAPTCHA: ALTCHA proof-of-work challenges, self-hosted, single use.

A challenge (PBKDF2/SHA-256, `captcha_cost` iterations a try) hides a random counter between
half of `captcha_max_tries` and all of it; the citizen's browser finds it in a second or two,
with no third party, no tracking and nothing to look at or listen to. The server signs the
challenge and the key it expects (deterministic mode), so checking a solution is two HMACs.

The library checks signature, expiry and solution; it does not remember solved challenges, so
each one is also a `captcha_challenges` row (its nonce, the address's HMAC, 30 minutes), and
`validate_captcha` marks it solved exactly once: a replayed or another address's solution is
refused (ARCHITECTURE 5).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import altcha
from psycopg import AsyncConnection

from server_sync_api.core.config import ServerSettings

ALGORITHM = "PBKDF2/SHA-256"
VALID_FOR = timedelta(minutes=30)
# A payload is base64 of a small JSON object; anything longer is not one.
PAYLOAD_MAX_CHARS = 4_096


def _secret(settings: ServerSettings, purpose: bytes) -> bytes:
    """A key for one purpose, derived from the address-hash secret, so IT configures one secret.
    Rotating that secret only voids the challenges outstanding."""
    base = settings.ip_hash_secret.get_secret_value() if settings.ip_hash_secret else ""
    return hmac.new(base.encode("utf-8"), b"gea-altcha-" + purpose, hashlib.sha256).digest()


async def issue(conn: AsyncConnection[Any], ip_hash: str, settings: ServerSettings) -> dict[str, Any]:
    """A new challenge for this address, recorded; the dict is what the widget takes."""
    low = settings.captcha_max_tries // 2
    expires = datetime.now(UTC) + VALID_FOR
    challenge = altcha.create_challenge(
        ALGORITHM,
        settings.captcha_cost,
        counter=low + secrets.randbelow(settings.captcha_max_tries - low + 1),
        expires_at=expires,
        hmac_secret=_secret(settings, b"challenge"),
        hmac_key_secret=_secret(settings, b"key"),
    )
    await conn.execute(
        "INSERT INTO captcha_challenges (ip_hash, challenge_code, expires_at) VALUES (%s, %s, %s)",
        (ip_hash, challenge.parameters.nonce, expires),
    )
    result: dict[str, Any] = challenge.to_dict()
    return result


async def redeem(conn: AsyncConnection[Any], ip_hash: str, payload: str, settings: ServerSettings) -> bool:
    """True once for a correct solution of an unexpired challenge issued to this address;
    False for anything else (malformed, tampered, wrong, expired, reused, another address's)."""
    if not payload or len(payload) > PAYLOAD_MAX_CHARS:
        return False
    try:
        result = altcha.verify_solution(
            payload.strip(),
            _secret(settings, b"challenge"),
            hmac_key_secret=_secret(settings, b"key"),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    if not result.verified:
        return False
    nonce = altcha.Payload.from_base64(payload.strip()).challenge.parameters.nonce
    cursor = await conn.execute("SELECT validate_captcha(%s, %s)", (ip_hash, nonce))
    row = await cursor.fetchone()
    return bool(row and row[0])
