"""Officers' accounts (ARCHITECTURE 4.13): adding, listing, disabling, passwords and sign-in.

Used by `gea-server officers ...` and by the desk. Every function takes an async psycopg
connection and leaves the transaction to its caller: nothing here commits. Where a function
needs several statements to hold together it opens `conn.transaction()`, which is the whole
transaction on an autocommit connection and a savepoint inside the caller's otherwise.

Exceptions, each with a message for the person who can fix the input::

    OfficerError
    ├── OfficerExists        an account with that email, in any case, exists
    ├── UnknownOfficer       no such account (or a disabled one changing its password)
    ├── UnknownEntity        no such entity
    ├── WeakPassword         a password rule is broken; the message says which
    └── WrongPassword        change_own_password: the current password is not right
        └── TooManyAttempts  ... and it was tried too often: retry_after_s says when to retry

Sign-in never raises for a refused attempt: it returns a `SignIn` whose `outcome` says why,
for the record and the tests, while the desk shows one message whatever the outcome.

**Every attempt is recorded** in `officer_sign_ins` (account as typed and lower-cased, the
officer when known, the HMAC of the address, method, outcome), with the rows of `reset_password`
('password_reset') and `change_own_password` ('password_changed', 'wrong_password').

**The growing delay.** Failed password sign-ins are counted per (account typed, address):
the failures since that pair's last success, since the account's last password reset, and
within the last 24 hours. The first three are free; after that the next attempt is let
through only 2 ** (failures - 3) seconds after the last failure (1 s, 2 s, 4 s ...), at most
15 minutes. An attempt inside the delay checks no password, is recorded as 'throttled' and
says how long to wait; it does not lengthen the delay. Because the address is part of the
key, nobody elsewhere can lock an officer out by failing on their account. A reset by IT
(`reset_password`) restarts the count for every address. Attempts on one (account, address)
take an advisory lock in turn, so two at once cannot both slip through a delay.

**Timing.** An unknown account, one with no password and a disabled one each cost one
argon2 check like a wrong password, so the time taken does not tell which accounts exist.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from server_sync_api import passwords
from server_sync_api.domain import ROLES, Officer, Role

log = logging.getLogger("server_sync_api.officers")

# The growing delay (module docstring).
FREE_FAILURES = 3
MAX_DELAY_S = 15 * 60
FAILURE_WINDOW = timedelta(hours=24)
# Outcomes of a checked password that count as failures. 'throttled' does not: nothing was checked.
FAILURES = ("wrong_password", "unknown_account", "disabled", "no_password")

# officer_sign_ins.ip_hash of the rows that come from no address: IT's command line, and a
# password change in the desk (a signed-in officer; it is throttled on its own key).
CLI_ADDRESS = "cli"
DESK_ADDRESS = "desk"

EMAIL_MAX_LENGTH = 254
DISPLAY_NAME_MAX_LENGTH = 200
# What the database's ck_officers_email_format allows, and no control characters.
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+")

_COLUMNS = "officer_id, email, display_name, entity_id, role, active, language"

ROLE_REACH: dict[str, str] = {
    "officer": "sees and works the tickets of their entity and the entities under it",
    "supervisor": "the same as an officer, plus assigning tickets and the breach view of their subtree",
    "admin": "every ticket of every entity, plus officers and devices",
}


class OfficerError(Exception):
    """A request the person can fix; the message says how."""


class OfficerExists(OfficerError):
    pass


class UnknownOfficer(OfficerError):
    pass


class UnknownEntity(OfficerError):
    pass


class WeakPassword(OfficerError):
    pass


class WrongPassword(OfficerError):
    pass


class TooManyAttempts(WrongPassword):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"The current password was wrong too many times: try again in {_wait_words(retry_after_s)}."
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class SignIn:
    """The result of a sign-in attempt. `officer` is set exactly when `outcome` is 'ok'.

    Other outcomes: 'wrong_password', 'unknown_account', 'disabled', 'no_password' (the account
    signs in through the identity provider only), 'throttled' (retry after `retry_after_s`),
    and for the identity provider 'not_linked' (the email's account is linked to another
    subject) and 'email_not_verified'."""

    officer: Officer | None
    outcome: str
    retry_after_s: int = 0

    @property
    def ok(self) -> bool:
        return self.officer is not None


@dataclass(frozen=True)
class OfficerListing:
    officer: Officer
    sign_in: str  # 'password', 'identity provider', 'both' or 'none yet'
    last_sign_in_at: datetime | None
    disabled_at: datetime | None


@dataclass(frozen=True)
class SignInRecord:
    """One line of an officer's own sign-in history."""

    at: datetime
    method: str  # 'password' or 'oidc'
    outcome: str


# --- passwords -----------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """argon2id, as a PHC string. Slow: async code runs it in a thread."""
    return passwords.hash_password(password)


def check_password_rules(password: str, email: str) -> None:
    """WeakPassword, saying the rule, unless `password` is at least 12 and at most 1024
    characters, is not the email or its part before the @, and is not one character repeated."""
    problem = passwords.rule_broken(password, email)
    if problem is not None:
        raise WeakPassword(problem)


# --- accounts ------------------------------------------------------------------------------------


async def add(
    conn: AsyncConnection[Any],
    *,
    email: str,
    display_name: str,
    entity_id: str,
    role: Role,
    password: str | None,
) -> Officer:
    """A new, active officer. `password` None: they sign in through the identity provider only,
    linked at their first sign-in there by their verified email."""
    email = _normalise_email(email)
    _check_email(email)
    name = display_name.strip()
    if not name:
        raise OfficerError("The name must not be empty: give the officer's full name, e.g. 'Ana Pérez'.")
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        raise OfficerError(f"The name must be at most {DISPLAY_NAME_MAX_LENGTH} characters.")
    if role not in ROLES:
        raise OfficerError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
    entity_id = entity_id.strip()
    cursor = await conn.execute("SELECT 1 FROM entity_master WHERE unique_entity_id = %s", (entity_id,))
    if await cursor.fetchone() is None:
        raise UnknownEntity(
            f"No entity {entity_id!r}. List them with: psql -c 'SELECT unique_entity_id, entity_name "
            "FROM entity_master ORDER BY 1'"
        )
    password_hash = None
    if password is not None:
        check_password_rules(password, email)
        password_hash = await asyncio.to_thread(passwords.hash_password, password)
    try:
        async with conn.transaction():
            cursor = await conn.execute(
                f"INSERT INTO officers (email, display_name, entity_id, role, password_hash, "
                f"password_changed_at) VALUES (%s, %s, %s, %s, %s, "
                f"CASE WHEN %s::text IS NULL THEN NULL ELSE now() END) RETURNING {_COLUMNS}",
                (email, name, entity_id, role, password_hash, password_hash),
            )
            row = await cursor.fetchone()
    except psycopg.errors.UniqueViolation:
        raise OfficerExists(
            f"An officer with the email {email} exists already: see gea-server officers list."
        ) from None
    assert row is not None
    return _officer(row)


async def list_officers(conn: AsyncConnection[Any]) -> list[OfficerListing]:
    """Every officer, active or not, by email."""
    cursor = await conn.execute(
        f"""
        SELECT {_COLUMNS}, password_hash IS NOT NULL, oidc_subject IS NOT NULL, disabled_at,
               (SELECT max(s.at) FROM officer_sign_ins s
                WHERE s.officer_id = o.officer_id AND s.outcome = 'ok')
        FROM officers o
        ORDER BY lower(email)
        """
    )
    listing = []
    for row in await cursor.fetchall():
        has_password, linked, disabled_at, last_sign_in_at = row[7:]
        sign_in = {
            (True, False): "password",
            (False, True): "identity provider",
            (True, True): "both",
            (False, False): "none yet",
        }[(has_password, linked)]
        listing.append(OfficerListing(_officer(row[:7]), sign_in, last_sign_in_at, disabled_at))
    return listing


async def by_id(conn: AsyncConnection[Any], officer_id: int) -> Officer | None:
    cursor = await conn.execute(f"SELECT {_COLUMNS} FROM officers WHERE officer_id = %s", (officer_id,))
    row = await cursor.fetchone()
    return None if row is None else _officer(row)


async def by_email(conn: AsyncConnection[Any], email: str) -> Officer | None:
    """The officer with that email, whatever its case or surrounding spaces."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM officers WHERE lower(email) = %s", (_normalise_email(email),)
    )
    row = await cursor.fetchone()
    return None if row is None else _officer(row)


async def has_password(conn: AsyncConnection[Any], officer_id: int) -> bool:
    """Whether the officer has a local password (else they sign in through the identity provider)."""
    cursor = await conn.execute(
        "SELECT password_hash IS NOT NULL FROM officers WHERE officer_id = %s", (officer_id,)
    )
    row = await cursor.fetchone()
    return bool(row and row[0])


async def disable(conn: AsyncConnection[Any], email: str) -> Officer:
    """The officer can no longer sign in, and their sessions end in the same transaction (a
    trigger deletes them). Disabling a disabled officer keeps the first disabled_at."""
    cursor = await conn.execute(
        f"UPDATE officers SET active = FALSE, disabled_at = coalesce(disabled_at, now()) "
        f"WHERE lower(email) = %s RETURNING {_COLUMNS}",
        (_normalise_email(email),),
    )
    return _officer(await _one(cursor, email))


async def enable(conn: AsyncConnection[Any], email: str) -> Officer:
    cursor = await conn.execute(
        f"UPDATE officers SET active = TRUE, disabled_at = NULL WHERE lower(email) = %s RETURNING {_COLUMNS}",
        (_normalise_email(email),),
    )
    return _officer(await _one(cursor, email))


async def reset_password(conn: AsyncConnection[Any], email: str, password: str) -> Officer:
    """IT sets a new password (also for an identity-provider account, which may then use both).

    Recorded as 'password_reset' (ip_hash 'cli'), which restarts the failure count of the
    growing delay for this account from every address. The officer's sessions end: a reset
    is what IT does when a password was forgotten or may be known to someone else."""
    officer = await by_email(conn, email)
    if officer is None:
        raise _unknown(email)
    check_password_rules(password, officer.email)
    password_hash = await asyncio.to_thread(passwords.hash_password, password)
    async with conn.transaction():
        await conn.execute(
            "UPDATE officers SET password_hash = %s, password_changed_at = now() WHERE officer_id = %s",
            (password_hash, officer.officer_id),
        )
        await conn.execute("DELETE FROM officer_sessions WHERE officer_id = %s", (officer.officer_id,))
        await _record(
            conn, None, officer.email, officer.officer_id, CLI_ADDRESS, "password", "password_reset"
        )
    return officer


async def change_own_password(conn: AsyncConnection[Any], officer_id: int, current: str, new: str) -> None:
    """A signed-in officer changes their password, giving the current one.

    WrongPassword if `current` is not right; TooManyAttempts (a WrongPassword) once it has
    been wrong more than three times, with the same growing delay as sign-in on its own key
    (the account and 'desk'); WeakPassword if `new` breaks a rule. Both outcomes are recorded
    ('password_changed', 'wrong_password'; ip_hash 'desk'), and the wrong password is recorded
    before WrongPassword is raised: a caller that rolls its transaction back on the exception
    loses that row, so catch it inside the transaction."""
    officer, password_hash = await _with_hash(conn, officer_id)
    if officer is None or not officer.active:
        raise UnknownOfficer("This account is disabled or no longer exists.")
    if password_hash is None:
        raise OfficerError("This account signs in through the identity provider: change the password there.")
    check_password_rules(new, officer.email)
    if new == current:
        raise WeakPassword("The new password must differ from the current one.")
    refusal: WrongPassword | None = None
    async with conn.transaction():
        at = await _lock_and_clock(conn, officer.email, DESK_ADDRESS, None)
        wait = await _retry_after_s(conn, officer.email, DESK_ADDRESS, at)
        if wait:
            await _record(conn, at, officer.email, officer_id, DESK_ADDRESS, "password", "throttled")
            refusal = TooManyAttempts(wait)
        elif not await _matches(officer, password_hash, current):
            await _record(conn, at, officer.email, officer_id, DESK_ADDRESS, "password", "wrong_password")
            refusal = WrongPassword("The current password is not right.")
        else:
            new_hash = await asyncio.to_thread(passwords.hash_password, new)
            await conn.execute(
                "UPDATE officers SET password_hash = %s, password_changed_at = now() WHERE officer_id = %s",
                (new_hash, officer_id),
            )
            await _record(conn, at, officer.email, officer_id, DESK_ADDRESS, "password", "password_changed")
    # Raised outside the block, so the row recording the refusal is kept.
    if refusal is not None:
        raise refusal


# --- sign-in -------------------------------------------------------------------------------------


async def sign_in_with_password(
    conn: AsyncConnection[Any], *, email: str, password: str, ip_hash: str, now: datetime | None = None
) -> SignIn:
    """Check a password sign-in from the address whose HMAC is `ip_hash`, under the growing
    delay, and record it. `now` (the database's clock when None) lets tests move time."""
    account = _account(email)
    async with conn.transaction():
        at = await _lock_and_clock(conn, account, ip_hash, now)
        cursor = await conn.execute(
            f"SELECT {_COLUMNS}, password_hash FROM officers WHERE lower(email) = %s", (account,)
        )
        row = await cursor.fetchone()
        officer = None if row is None else _officer(row[:7])
        password_hash: str | None = None if row is None else row[7]
        officer_id = None if officer is None else officer.officer_id

        wait = await _retry_after_s(conn, account, ip_hash, at)
        if wait:
            result = SignIn(None, "throttled", wait)
        elif officer is None:
            await asyncio.to_thread(passwords.verify_nothing, password)
            result = SignIn(None, "unknown_account")
        elif password_hash is None:
            await asyncio.to_thread(passwords.verify_nothing, password)
            result = SignIn(None, "disabled" if not officer.active else "no_password")
        elif not await _matches(officer, password_hash, password):
            result = SignIn(None, "disabled" if not officer.active else "wrong_password")
        elif not officer.active:
            result = SignIn(None, "disabled")
        else:
            result = SignIn(officer, "ok")
            if passwords.needs_rehash(password_hash):
                new_hash = await asyncio.to_thread(passwords.hash_password, password)
                await conn.execute(
                    "UPDATE officers SET password_hash = %s WHERE officer_id = %s", (new_hash, officer_id)
                )
        await _record(conn, at, account, officer_id, ip_hash, "password", result.outcome)
    if result.outcome not in ("ok", "throttled"):
        log.info("Password sign-in refused (%s) for officer %s", result.outcome, officer_id or "unknown")
    return result


async def sign_in_with_oidc(
    conn: AsyncConnection[Any],
    *,
    issuer: str,
    subject: str,
    email: str | None,
    email_verified: bool,
    ip_hash: str,
) -> SignIn:
    """Sign in the officer the identity provider vouched for, and record it.

    An officer linked to (issuer, subject) signs in whatever email the provider sends now.
    Otherwise an active officer with that email and no link yet is linked and signed in, but
    only when the provider says the email is verified ('email_not_verified' otherwise); an
    officer with that email linked to another subject is 'not_linked', nobody with it is
    'unknown_account', and a disabled officer is 'disabled'."""
    address = _account(email) if email else None
    async with conn.transaction():
        cursor = await conn.execute(
            f"SELECT {_COLUMNS} FROM officers WHERE oidc_issuer = %s AND oidc_subject = %s",
            (issuer, subject),
        )
        row = await cursor.fetchone()
        officer = None if row is None else _officer(row)
        if officer is not None:
            result = SignIn(officer, "ok") if officer.active else SignIn(None, "disabled")
        elif address is None:
            result = SignIn(None, "unknown_account")
        else:
            # Locked, so two first sign-ins at once link once; the second finds the link made.
            cursor = await conn.execute(
                f"SELECT {_COLUMNS}, oidc_issuer, oidc_subject FROM officers "
                "WHERE lower(email) = %s FOR UPDATE",
                (address,),
            )
            row = await cursor.fetchone()
            officer = None if row is None else _officer(row[:7])
            if row is None or officer is None:
                result = SignIn(None, "unknown_account")
            elif (row[7], row[8]) == (issuer, subject):
                result = SignIn(officer, "ok") if officer.active else SignIn(None, "disabled")
            elif row[8] is not None:
                result = SignIn(None, "not_linked")
            elif not email_verified:
                result = SignIn(None, "email_not_verified")
            elif not officer.active:
                result = SignIn(None, "disabled")
            else:
                await conn.execute(
                    "UPDATE officers SET oidc_issuer = %s, oidc_subject = %s WHERE officer_id = %s",
                    (issuer, subject, officer.officer_id),
                )
                log.info("Officer %s linked to their identity provider account", officer.officer_id)
                result = SignIn(officer, "ok")
        account = address or (officer.email if officer else f"oidc:{subject}"[:EMAIL_MAX_LENGTH])
        officer_id = None if officer is None else officer.officer_id
        await _record(conn, None, account, officer_id, ip_hash, "oidc", result.outcome)
    if not result.ok:
        log.info(
            "Identity provider sign-in refused (%s) for officer %s", result.outcome, officer_id or "unknown"
        )
    return result


async def recent_sign_ins(conn: AsyncConnection[Any], officer_id: int, limit: int = 20) -> list[SignInRecord]:
    """The officer's latest sign-ins and password changes, newest first, for their own page."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(
        "SELECT at, method, outcome FROM officer_sign_ins WHERE officer_id = %s "
        "ORDER BY at DESC, sign_in_id DESC LIMIT %s",
        (officer_id, limit),
    )
    return [SignInRecord(**row) for row in await cursor.fetchall()]


# --- helpers -------------------------------------------------------------------------------------


def _normalise_email(email: str) -> str:
    return email.strip().lower()


def _account(typed: str) -> str:
    """What was typed as the account, as recorded and keyed: lower-cased, no NUL (which
    PostgreSQL cannot store), cut to the column's length."""
    return _normalise_email(typed).replace("\x00", "")[:EMAIL_MAX_LENGTH]


def _check_email(email: str) -> None:
    if (
        len(email) > EMAIL_MAX_LENGTH
        or not _EMAIL_SHAPE.fullmatch(email)
        or any(not ch.isprintable() for ch in email)
    ):
        raise OfficerError(
            f"{email!r} is not an email address: write it like ana.perez@gov.gd "
            f"(at most {EMAIL_MAX_LENGTH} characters)."
        )


def _officer(row: tuple[Any, ...] | Any) -> Officer:
    officer_id, email, display_name, entity_id, role, active, language = row
    return Officer(
        officer_id=officer_id,
        email=email,
        display_name=display_name,
        entity_id=entity_id,
        role=role,
        active=active,
        language=language,
    )


async def _one(cursor: psycopg.AsyncCursor[Any], email: str) -> Any:
    row = await cursor.fetchone()
    if row is None:
        raise _unknown(email)
    return row


def _unknown(email: str) -> UnknownOfficer:
    return UnknownOfficer(
        f"No officer with the email {_normalise_email(email)}: see gea-server officers list."
    )


async def _with_hash(conn: AsyncConnection[Any], officer_id: int) -> tuple[Officer | None, str | None]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS}, password_hash FROM officers WHERE officer_id = %s", (officer_id,)
    )
    row = await cursor.fetchone()
    return (None, None) if row is None else (_officer(row[:7]), row[7])


async def _matches(officer: Officer, password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(passwords.verify, password_hash, password)
    except passwords.UnreadableHash:
        log.error(
            "Officer %s has a password hash that cannot be checked; nobody can sign in with a "
            "password until IT runs: gea-server officers reset-password EMAIL",
            officer.officer_id,
        )
        return False


async def _lock_and_clock(
    conn: AsyncConnection[Any], account: str, ip_hash: str, now: datetime | None
) -> datetime:
    """Take the (account, address) lock until the transaction ends; return the time of the attempt."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"officer sign-in\n{account}\n{ip_hash}",)
    )
    if now is not None:
        return now
    # The database's clock, read after the wait for the lock: the same for every host.
    cursor = await conn.execute("SELECT clock_timestamp()")
    row = await cursor.fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


async def _retry_after_s(conn: AsyncConnection[Any], account: str, ip_hash: str, now: datetime) -> int:
    """Seconds before the next password attempt on (account, address) may be checked; 0: now."""
    cursor = await conn.execute(
        """
        WITH since AS (
            SELECT greatest(
                %(now)s - %(window)s,
                -- the pair's last success (or password change in the desk)
                (SELECT max(at) FROM officer_sign_ins
                 WHERE account = %(account)s AND ip_hash = %(ip_hash)s
                   AND outcome IN ('ok', 'password_changed')),
                -- the account's last reset by IT, from any address
                (SELECT max(at) FROM officer_sign_ins
                 WHERE account = %(account)s AND outcome = 'password_reset')
            ) AS t
        )
        SELECT count(*), max(at) FROM officer_sign_ins, since
        WHERE account = %(account)s AND ip_hash = %(ip_hash)s AND method = 'password'
          AND outcome = ANY(%(failures)s) AND at > since.t AND at <= %(now)s
        """,
        {
            "now": now,
            "window": FAILURE_WINDOW,
            "account": account,
            "ip_hash": ip_hash,
            "failures": list(FAILURES),
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    failures = int(row[0])
    delay = delay_after(failures)
    if not delay:
        return 0
    last_failure: datetime = row[1]
    remaining = (last_failure + timedelta(seconds=delay) - now).total_seconds()
    return max(0, math.ceil(remaining))


def delay_after(failures: int) -> int:
    """Seconds the next attempt waits after the last of `failures` failures: 0 for the first
    three, then 1, 2, 4 ... up to MAX_DELAY_S."""
    if failures < FREE_FAILURES:
        return 0
    shift: int = min(failures - FREE_FAILURES, 20)
    return min(1 << shift, MAX_DELAY_S)


async def _record(
    conn: AsyncConnection[Any],
    at: datetime | None,
    account: str,
    officer_id: int | None,
    ip_hash: str,
    method: str,
    outcome: str,
) -> None:
    await conn.execute(
        "INSERT INTO officer_sign_ins (at, account, officer_id, ip_hash, method, outcome) "
        "VALUES (coalesce(%s, clock_timestamp()), %s, %s, %s, %s, %s)",
        (at, account, officer_id, ip_hash, method, outcome),
    )


def _wait_words(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
