"""Officers' passwords: argon2id hashes in PHC string form, and the rules a new password meets.

Plain functions with no database and no logging, so `services/officers.py` (which records
and throttles sign-ins) and the tests share one definition. No function here puts a password
or a hash in an exception message or a return value other than the hash itself.

Hashing and checking are slow on purpose (about a quarter of a second and 64 MiB with
argon2-cffi's defaults, RFC 9106's second recommendation): async callers run them in a
thread, never on the event loop.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
# Longer passwords are refused rather than hashed: a form cannot make the server hash megabytes.
MAX_LENGTH = 1024

_hasher = PasswordHasher()


class UnreadableHash(ValueError):
    """A stored hash argon2 cannot check (cut short, edited by hand, another scheme). No
    password matches it; the cure is a new password (`gea-server officers reset-password`)."""


def hash_password(password: str) -> str:
    """An argon2id PHC string (`$argon2id$v=19$m=...`) of `password`, with a random salt."""
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """True if `password` matches; False if not. UnreadableHash when no password could match."""
    try:
        return _hasher.verify(password_hash, password[: MAX_LENGTH + 1])
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        # argon2's own message may quote the hash: none of it goes further.
        raise UnreadableHash("the stored password hash cannot be checked") from None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's: hash again at sign-in."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify_nothing(password: str) -> None:
    """Spend the time of one check, against a hash no password matches: a sign-in for an
    account that does not exist, or has no password, then takes as long as a wrong password."""
    try:
        _hasher.verify(_dummy_hash(), password[: MAX_LENGTH + 1])
    except VerificationError:
        pass


@functools.cache
def _dummy_hash() -> str:
    # Made with the hasher's own parameters, so it costs what a real officer's hash costs.
    return _hasher.hash(secrets.token_urlsafe(32))


def rule_broken(password: str, email: str) -> str | None:
    """The rule `password` breaks, as a sentence for the person choosing it; None if it is fine."""
    if len(password) < MIN_LENGTH:
        return (
            f"The password must be at least {MIN_LENGTH} characters long "
            "(a few unrelated words make a good one)."
        )
    if len(password) > MAX_LENGTH:
        return f"The password must be at most {MAX_LENGTH} characters long."
    address = email.strip().lower()
    if password.strip().lower() in {address, address.partition("@")[0]}:
        return "The password must not be the email address or the part of it before the @."
    if len(set(password)) == 1:
        return "The password must not be one character repeated."
    return None
