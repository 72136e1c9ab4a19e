"""Device tokens, enrollment codes and address hashes.

Tokens and codes are random, shown once, and stored only as SHA-256 digests: they carry
enough entropy (256 and 60 bits) that a plain digest cannot be reversed, and a lookup by
digest never compares secrets byte by byte. Addresses, which have little entropy, get a
keyed HMAC instead (ARCHITECTURE 4.9).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Crockford base32: no I, L, O or U, so a code read aloud or typed from paper survives.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})
ENROLLMENT_CODE_GROUPS = 3
ENROLLMENT_CODE_GROUP_LENGTH = 4


def new_device_token() -> str:
    return secrets.token_urlsafe(32)


def new_enrollment_code() -> str:
    """Twelve Crockford characters in groups of four, e.g. 7QX4-K2M9-A3DE (60 bits)."""
    groups = (
        "".join(secrets.choice(CROCKFORD) for _ in range(ENROLLMENT_CODE_GROUP_LENGTH))
        for _ in range(ENROLLMENT_CODE_GROUPS)
    )
    return "-".join(groups)


def normalize_enrollment_code(code: str) -> str:
    """What IT typed, as the canonical code: case, spaces, dashes and look-alikes forgiven."""
    return "".join(ch for ch in code.upper() if ch.isalnum()).translate(_CROCKFORD_ALIASES)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def enrollment_code_digest(code: str) -> str:
    return digest(normalize_enrollment_code(code))


def ip_hash(address: str, key: str) -> str:
    return hmac.new(key.encode("utf-8"), address.encode("utf-8"), hashlib.sha256).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
