"""The staff PIN: set by IT, stored only as a slow hash in PHC string form, checked slowly.

`gea-kiosk pin-hash` and `gea-kiosk enroll` write argon2id. A `pin_hash` in kiosk.toml may also
be scrypt (ARCHITECTURE 7), as other tools write it::

    $scrypt$ln=<log2 N>,r=<block size>,p=<parallelism>$<salt>$<hash>

with the salt and hash in standard base64 without padding (the PHC string format; passlib's
`scrypt` and `@phc/scrypt` write this).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import argon2
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Where scripts (an installer, the demo) give the staff PIN instead of typing it; never an argument.
PIN_ENV = "GEA_KIOSK_PIN"
PIN_MIN_DIGITS = 6
PIN_MAX_DIGITS = 12

# A scrypt hash that asks for more than this is refused rather than checked: one check would
# hold this much memory on the kiosk (passlib's default, ln=16 and r=8, needs 64 MiB).
SCRYPT_MAX_MEMORY = 512 * 1024 * 1024
SCRYPT_MAX_P = 16  # each unit of p is another full pass: 16 is already 16 times as slow
SCRYPT_PREFIX = "$scrypt$"

_hasher = PasswordHasher()


class PinRefused(ValueError):
    pass


class UnreadableHash(ValueError):
    """The PIN hash is not one this kiosk can check (cut short, mistyped, an unknown scheme or
    scrypt parameters beyond SCRYPT_MAX_MEMORY). No PIN can match it; the message says why."""


def check_pin_format(pin: str) -> None:
    if not pin.isdigit() or not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        raise PinRefused(f"the PIN must be {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")


def hash_pin(pin: str) -> str:
    check_pin_format(pin)
    return _hasher.hash(pin)


def check_hash(pin_hash: str) -> None:
    """Raise UnreadableHash unless `pin_hash` is an argon2id or scrypt PHC string that
    verify_pin can check. Nothing is hashed: this is cheap."""
    if pin_hash.startswith(SCRYPT_PREFIX):
        _ScryptHash.parse(pin_hash)
    elif pin_hash.startswith("$argon2id$"):
        try:
            argon2.extract_parameters(pin_hash)
        except InvalidHashError:
            raise UnreadableHash("the argon2id hash is cut short or mistyped") from None
        *_, salt, digest = pin_hash.split("$")
        # argon2's own minimums: an 8-byte salt, a 4-byte hash.
        if len(_b64(salt, "salt", "argon2id")) < 8 or len(_b64(digest, "hash", "argon2id")) < 4:
            raise UnreadableHash("the argon2id salt or hash is missing or cut short")
    else:
        raise UnreadableHash("it is neither an argon2id ($argon2id$...) nor a scrypt ($scrypt$...) hash")


def verify_pin(pin_hash: str, pin: str) -> bool:
    """True if `pin` matches; False if it does not. UnreadableHash if no PIN could match,
    because the hash itself is broken: that is IT's to fix, not a wrong PIN."""
    if pin_hash.startswith(SCRYPT_PREFIX):
        return _ScryptHash.parse(pin_hash).matches(pin)
    check_hash(pin_hash)
    try:
        return _hasher.verify(pin_hash, pin)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError) as exc:
        # argon2 could not run the check at all ("Decoding failed", "Output is too short").
        raise UnreadableHash(f"the argon2id hash cannot be checked ({exc})") from None


def _scrypt_memory(log2_n: int, r: int, p: int) -> int:
    """Bytes one scrypt check holds, as OpenSSL counts them (its V array and B blocks)."""
    return 128 * r * ((1 << log2_n) + p + 2)


def _b64(text: str, what: str, scheme: str = "scrypt") -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise UnreadableHash(f"the {scheme} {what} is not base64") from None


@dataclass(frozen=True)
class _ScryptHash:
    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, text: str) -> _ScryptHash:
        parts = text.split("$")
        # "", "scrypt", parameters, salt, hash
        if len(parts) != 5 or parts[1] != "scrypt":
            raise UnreadableHash("write a scrypt hash as $scrypt$ln=N,r=N,p=N$<salt>$<hash>")
        try:
            params = dict(item.split("=", 1) for item in parts[2].split(","))
            log2_n, r, p = (int(params.pop(key)) for key in ("ln", "r", "p"))
        except (KeyError, ValueError):
            raise UnreadableHash("the scrypt parameters must be ln=N,r=N,p=N") from None
        if params:
            raise UnreadableHash(f"unknown scrypt parameter {sorted(params)[0]!r} (use ln, r and p)")
        if not (1 <= log2_n <= 31 and r >= 1 and 1 <= p <= SCRYPT_MAX_P):
            raise UnreadableHash(
                f"the scrypt parameters are out of range (ln 1 to 31, r at least 1, p 1 to {SCRYPT_MAX_P})"
            )
        if _scrypt_memory(log2_n, r, p) > SCRYPT_MAX_MEMORY:
            raise UnreadableHash(
                f"the scrypt parameters ask for more than {SCRYPT_MAX_MEMORY // 2**20} MiB; "
                "use ln=16,r=8,p=1 or smaller"
            )
        salt, digest = _b64(parts[3], "salt"), _b64(parts[4], "hash")
        if not salt or len(digest) < 16:
            raise UnreadableHash("the scrypt salt or hash is missing or cut short")
        return cls(log2_n, r, p, salt, digest)

    def matches(self, pin: str) -> bool:
        n = 1 << self.log2_n
        computed = hashlib.scrypt(
            pin.encode("utf-8"),
            salt=self.salt,
            n=n,
            r=self.r,
            p=self.p,
            dklen=len(self.digest),
            maxmem=_scrypt_memory(self.log2_n, self.r, self.p) + 2**20,
        )
        return hmac.compare_digest(computed, self.digest)
