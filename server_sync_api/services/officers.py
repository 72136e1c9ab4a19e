"""Officers' accounts (ARCHITECTURE 4.13): adding, listing, disabling, passwords and sign-in.

Used by `gea-server officers ...` and by the desk. Every function takes an async psycopg
connection and leaves the transaction to its caller: nothing here commits, except the two
that check a password against the growing delay (`sign_in_with_password`,
`change_own_password`), which commit each of their phases (below). Where a function needs
several statements to hold together it opens `conn.transaction()`, which is the whole
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
('password_reset') and `change_own_password` ('password_changed', 'wrong_password'), and the
identity provider's refusals before any account is known (`record_oidc_refusal`).

**The growing delay.** Failed password sign-ins are counted per (account typed, address):
the failures since that pair's last success, since the account's last password reset, and
within the last 24 hours. The first three are free; after that the next attempt is let
through only 2 ** (failures - 3) seconds after the last failure (1 s, 2 s, 4 s ...), at most
15 minutes. An attempt inside the delay checks no password, is recorded as 'throttled' and
says how long to wait; it does not lengthen the delay. Because the address is part of the
key, nobody elsewhere can lock an officer out by failing on their account. A reset by IT
(`reset_password`) restarts the count for every address.

**The address's budget.** The delay alone never slows somebody who tries a new made-up
account each time, and each try costs an argon2 check. So an address also has a budget across
all accounts: after ADDRESS_BUDGET failed password attempts within ADDRESS_WINDOW, its next
attempts are refused as 'throttled' without hashing anything until the oldest of them leaves
the window. Successes do not refill it (one real account must not buy unlimited guesses on the
others). The desk passes an IPv6 address as its /64 (ARCHITECTURE 5), so a whole subscriber
network is one address here.

**Phases: no connection is held while argon2 runs.** A check takes about a quarter of a second;
holding a pooled connection (and a lock) through it let a flood of sign-ins take every
connection and leave kiosks with 503. A password attempt is therefore three steps:
1. a short transaction that takes the address's advisory lock, applies the delay and the
   budget, reads the account's hash, and records the attempt as 'pending';
2. argon2, in a thread, with no transaction open (and, given a pool, no connection held),
   at most ARGON2_SLOTS at once in the process;
3. a short transaction that turns the 'pending' row into the outcome.
A 'pending' row counts as a failure (FAILURES) until step 3 rewrites it. That keeps what the
lock held through the whole check used to guarantee: two attempts at once from one address
take the lock in turn, and the second already sees the first as a failure, so they cannot both
slip through a delay or overrun the budget. A process that dies between the steps leaves its
row 'pending', which keeps counting as the failure it most likely was.

**Timing.** An unknown account, one with no password and a disabled one each cost one
argon2 check like a wrong password, so the time taken does not tell which accounts exist.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from server_sync_api import passwords
from server_sync_api.domain import ROLES, Officer, Role

log = logging.getLogger("server_sync_api.officers")

# The growing delay (module docstring).
FREE_FAILURES = 3
MAX_DELAY_S = 15 * 60
FAILURE_WINDOW = timedelta(hours=24)
# The address's budget across all accounts (module docstring).
ADDRESS_BUDGET = 20
ADDRESS_WINDOW = timedelta(minutes=15)
# argon2 checks running at once in this process (each about 0.25 s of a core and 64 MiB).
ARGON2_SLOTS = 4
# How long a sign-in waits for a pooled connection, as the API's routes do.
CONNECTION_WAIT_S = 5.0
# A password attempt being checked (phases, module docstring).
PENDING = "pending"
# Outcomes of a checked password that count as failures, and an attempt still being checked.
# 'throttled' does not: nothing was checked.
FAILURES = ("wrong_password", "unknown_account", "disabled", "no_password", PENDING)

# officer_sign_ins.ip_hash of the rows that come from no address: IT's command line.
CLI_ADDRESS = "cli"

# A pool (the desk: each phase takes a connection and gives it back) or one connection with no
# transaction open (the CLI, the tests: each phase is a transaction of its own on it).
Database = AsyncConnection[Any] | AsyncConnectionPool[AsyncConnection[Any]]

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


async def change_own_password(
    conn: AsyncConnection[Any], officer_id: int, current: str, new: str, *, ip_hash: str
) -> None:
    """A signed-in officer changes their password, giving the current one, from the address
    whose HMAC is `ip_hash`.

    WrongPassword if `current` is not right; TooManyAttempts (a WrongPassword) once it has
    been wrong more than three times, with the same growing delay as sign-in on the same key
    (the account and the address: a thief holding the session elsewhere cannot hold the officer
    back); WeakPassword if `new` breaks a rule. Both outcomes are recorded ('password_changed',
    'wrong_password', 'throttled'), in the phases of sign-in (module docstring), so `conn` must
    have no transaction open: each phase commits, and the row of a refusal stays whatever the
    caller does next."""
    _need_idle(conn)
    async with conn.transaction():
        officer, password_hash = await _with_hash(conn, officer_id)
    if officer is None or not officer.active:
        raise UnknownOfficer("This account is disabled or no longer exists.")
    if password_hash is None:
        raise OfficerError("This account signs in through the identity provider: change the password there.")
    check_password_rules(new, officer.email)
    if new == current:
        raise WeakPassword("The new password must differ from the current one.")
    # Phase 1: the delay, and the attempt recorded as pending.
    async with conn.transaction():
        at = await _lock_and_clock(conn, ip_hash, None)
        wait = await _retry_after_s(conn, officer.email, ip_hash, at)
        outcome = "throttled" if wait else PENDING
        attempt_id = await _record(conn, at, officer.email, officer_id, ip_hash, "password", outcome)
    if wait:
        raise TooManyAttempts(wait)
    # Phase 2: argon2, no transaction open.
    new_hash = None
    if await _matches(officer, password_hash, current):
        new_hash = await _argon2(passwords.hash_password, new)
    # Phase 3: the outcome. The hash is replaced only if it is still the one just checked.
    async with conn.transaction():
        changed = False
        if new_hash is not None:
            cursor = await conn.execute(
                "UPDATE officers SET password_hash = %s, password_changed_at = now() "
                "WHERE officer_id = %s AND password_hash = %s",
                (new_hash, officer_id, password_hash),
            )
            changed = cursor.rowcount == 1
        await _settle(conn, attempt_id, "password_changed" if changed else "wrong_password")
    if not changed:
        raise WrongPassword("The current password is not right.")


# --- sign-in -------------------------------------------------------------------------------------


async def sign_in_with_password(
    db: Database, *, email: str, password: str, ip_hash: str, now: datetime | None = None
) -> SignIn:
    """Check a password sign-in from the address whose HMAC is `ip_hash`, under the growing
    delay and the address's budget, and record it, in three phases (module docstring). `db` is
    the pool (the desk) or a connection with no transaction open; each phase commits. `now`
    (the database's clock when None) lets tests move time."""
    account = _account(email)
    # Longer than any account or password can be: refused without argon2 (and such an email
    # without a look-up: cut to the column's length it might be somebody's), but counted like
    # any failure.
    email_too_long = len(_normalise_email(email)) > EMAIL_MAX_LENGTH
    too_long = email_too_long or len(password) > passwords.MAX_LENGTH

    # Phase 1: the address's lock, the delay and the budget, the account's hash; 'pending'.
    async with _connection(db) as conn, conn.transaction():
        at = await _lock_and_clock(conn, ip_hash, now)
        officer, password_hash = (None, None) if email_too_long else await _by_account(conn, account)
        officer_id = None if officer is None else officer.officer_id
        wait = max(await _retry_after_s(conn, account, ip_hash, at), await _address_wait_s(conn, ip_hash, at))
        if wait:
            await _record(conn, at, account, officer_id, ip_hash, "password", "throttled")
            return SignIn(None, "throttled", wait)
        attempt_id = await _record(conn, at, account, officer_id, ip_hash, "password", PENDING)

    # Phase 2: argon2 with no connection held.
    new_hash: str | None = None
    if too_long:
        result = SignIn(None, "unknown_account" if officer is None else "wrong_password")
    elif officer is None:
        await _argon2(passwords.verify_nothing, password)
        result = SignIn(None, "unknown_account")
    elif password_hash is None:
        await _argon2(passwords.verify_nothing, password)
        result = SignIn(None, "disabled" if not officer.active else "no_password")
    elif not await _matches(officer, password_hash, password):
        result = SignIn(None, "disabled" if not officer.active else "wrong_password")
    elif not officer.active:
        result = SignIn(None, "disabled")
    else:
        result = SignIn(officer, "ok")
        if passwords.needs_rehash(password_hash):
            new_hash = await _argon2(passwords.hash_password, password)

    # Phase 3: the outcome, against the account as it is now (disabled, or its password
    # changed, while the password was being checked: refused).
    async with _connection(db) as conn, conn.transaction():
        if result.ok:
            cursor = await conn.execute(
                "SELECT active, password_hash FROM officers WHERE officer_id = %s FOR UPDATE", (officer_id,)
            )
            row = await cursor.fetchone()
            if row is None or row[1] != password_hash:
                result = SignIn(None, "wrong_password")
            elif not row[0]:
                result = SignIn(None, "disabled")
            elif new_hash is not None:
                await conn.execute(
                    "UPDATE officers SET password_hash = %s WHERE officer_id = %s", (new_hash, officer_id)
                )
        await _settle(conn, attempt_id, result.outcome)
    if result.outcome != "ok":
        log.info("Password sign-in refused (%s) for officer %s", result.outcome, officer_id or "unknown")
    return result


async def record_oidc_refusal(conn: AsyncConnection[Any], *, ip_hash: str, outcome: str) -> None:
    """Record a sign-in through the identity provider that failed before anyone was known (a
    wrong or replayed state, a refused code, the person cancelling at the provider, the
    provider unreachable): account '', method 'oidc'."""
    await _record(conn, None, "", None, ip_hash, "oidc", outcome)


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


async def _by_account(conn: AsyncConnection[Any], account: str) -> tuple[Officer | None, str | None]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS}, password_hash FROM officers WHERE lower(email) = %s", (account,)
    )
    row = await cursor.fetchone()
    return (None, None) if row is None else (_officer(row[:7]), row[7])


@asynccontextmanager
async def _connection(db: Database) -> AsyncIterator[AsyncConnection[Any]]:
    """A connection for one phase: the pool's, given back at the end of the block, or the
    caller's own (which must be idle, so the phase's transaction commits)."""
    if isinstance(db, AsyncConnectionPool):
        async with db.connection(timeout=CONNECTION_WAIT_S) as conn:
            yield conn
    else:
        _need_idle(db)
        yield db


def _need_idle(conn: AsyncConnection[Any]) -> None:
    # Inside the caller's transaction a phase would be a savepoint: its lock and its 'pending'
    # row would last, unseen by others, until the caller commits.
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError("a password check needs a connection with no transaction open")


_T = TypeVar("_T")
# One semaphore per event loop (asyncio's are bound to the loop that first waits on them);
# a server process runs one loop.
_argon2_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def _argon2(function: Callable[..., _T], *args: Any) -> _T:
    """Run an argon2 hash or check in a thread, at most ARGON2_SLOTS at once; the wait for a slot
    holds no connection (callers are between phases)."""
    loop = asyncio.get_running_loop()
    slots = _argon2_slots.get(loop)
    if slots is None:
        slots = _argon2_slots[loop] = asyncio.Semaphore(ARGON2_SLOTS)
    async with slots:
        return await asyncio.to_thread(function, *args)


async def _matches(officer: Officer, password_hash: str, password: str) -> bool:
    try:
        return await _argon2(passwords.verify, password_hash, password)
    except passwords.UnreadableHash:
        log.error(
            "Officer %s has a password hash that cannot be checked; nobody can sign in with a "
            "password until IT runs: gea-server officers reset-password EMAIL",
            officer.officer_id,
        )
        return False


async def _lock_and_clock(conn: AsyncConnection[Any], ip_hash: str, now: datetime | None) -> datetime:
    """Take the address's lock until the transaction ends; return the time of the attempt.

    One lock per address, not per (account, address): the budget counts the address's failures
    on every account, so attempts on different accounts from one address must take turns too.
    It is held only for phase 1's few statements."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"officer sign-in\n{ip_hash}",)
    )
    if now is not None:
        return now
    # The database's clock, read after the wait for the lock: the same for every host.
    cursor = await conn.execute("SELECT clock_timestamp()")
    row = await cursor.fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


async def _address_wait_s(conn: AsyncConnection[Any], ip_hash: str, now: datetime) -> int:
    """Seconds before the address's budget lets a password attempt be checked again; 0: now.

    Over budget once ADDRESS_BUDGET failures (any account) fall within ADDRESS_WINDOW; the
    wait is until the latest ADDRESS_BUDGET-th of them leaves the window. `outcome <>
    'throttled'` is implied by the failures but written out so the partial index
    ix_officer_sign_ins_address serves the query however many refusals a flood left."""
    cursor = await conn.execute(
        """
        SELECT at FROM officer_sign_ins
        WHERE ip_hash = %(ip_hash)s AND outcome <> 'throttled'
          AND at > %(now)s - %(window)s AND at <= %(now)s
          AND method = 'password' AND outcome = ANY(%(failures)s)
        ORDER BY at DESC
        OFFSET %(skip)s LIMIT 1
        """,
        {
            "ip_hash": ip_hash,
            "now": now,
            "window": ADDRESS_WINDOW,
            "failures": list(FAILURES),
            "skip": ADDRESS_BUDGET - 1,
        },
    )
    row = await cursor.fetchone()
    if row is None:
        return 0
    oldest_counted: datetime = row[0]
    return max(1, math.ceil((oldest_counted + ADDRESS_WINDOW - now).total_seconds()))


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
) -> int:
    """Record an attempt; its sign_in_id."""
    cursor = await conn.execute(
        "INSERT INTO officer_sign_ins (at, account, officer_id, ip_hash, method, outcome) "
        "VALUES (coalesce(%s, clock_timestamp()), %s, %s, %s, %s, %s) RETURNING sign_in_id",
        (at, account, officer_id, ip_hash, method, outcome),
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _settle(conn: AsyncConnection[Any], sign_in_id: int, outcome: str) -> None:
    """Phase 3: the 'pending' attempt gets its outcome (it keeps the time it was made)."""
    await conn.execute(
        "UPDATE officer_sign_ins SET outcome = %s WHERE sign_in_id = %s AND outcome = %s",
        (outcome, sign_in_id, PENDING),
    )


def _wait_words(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
