"""Officers' accounts against real PostgreSQL: adding, listing, disabling, passwords, the
growing sign-in delay, identity-provider linking, and the record of every attempt.

Time is moved with sign_in_with_password's `now`, never slept through, and nothing asserts how
long anything took."""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import URL

from server_sync_api import passwords
from server_sync_api.domain import Officer, Role
from server_sync_api.services import officers
from tests.helpers import pg

pytestmark = pytest.mark.anyio

Conn = psycopg.Connection[tuple[Any, ...]]
AConn = AsyncConnection[tuple[Any, ...]]

PASSWORD = "correct horse battery"
HERE = "a" * 64  # the HMAC of one address
ELSEWHERE = "b" * 64
ISSUER = "https://sso.gov.gd/realms/gov"


async def add(
    aconn: AConn,
    email: str = "ana@gov.gd",
    *,
    role: Role = "officer",
    entity_id: str = "DEPT-003",
    password: str | None = PASSWORD,
) -> Officer:
    return await officers.add(
        aconn, email=email, display_name="Ana Pérez", entity_id=entity_id, role=role, password=password
    )


async def attempt(
    aconn: AConn, at: datetime, password: str = PASSWORD, *, email: str = "ana@gov.gd", ip_hash: str = HERE
) -> officers.SignIn:
    return await officers.sign_in_with_password(
        aconn, email=email, password=password, ip_hash=ip_hash, now=at
    )


def sign_ins(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT account, officer_id, ip_hash, method, outcome FROM officer_sign_ins ORDER BY sign_in_id"
    ).fetchall()


def stored_hash(conn: Conn, email: str = "ana@gov.gd") -> str:
    row = conn.execute("SELECT password_hash FROM officers WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.fixture
async def pool(db_url: URL) -> AsyncIterator[AsyncConnectionPool[AsyncConnection[Any]]]:
    """A pool of two connections, as the desk's routes hand one to sign_in_with_password."""
    async with AsyncConnectionPool(pg.conninfo(db_url), min_size=1, max_size=2, open=False) as opened:
        yield opened


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The argon2 checks sign-in makes, in order: 'verify' (a real hash) or 'nothing'."""
    made: list[str] = []
    real_verify, real_nothing = passwords.verify, passwords.verify_nothing

    def verify(password_hash: str, password: str) -> bool:
        made.append("verify")
        return real_verify(password_hash, password)

    def verify_nothing(password: str) -> None:
        made.append("nothing")
        real_nothing(password)

    monkeypatch.setattr(passwords, "verify", verify)
    monkeypatch.setattr(passwords, "verify_nothing", verify_nothing)
    return made


@pytest.fixture
def held_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Makes the next password check wait: (checking, go_on). `checking` is set once a check
    has started (in its thread); it then waits for `go_on`."""
    checking, go_on = threading.Event(), threading.Event()
    real_verify = passwords.verify

    def verify(password_hash: str, password: str) -> bool:
        checking.set()
        assert go_on.wait(20), "the test never let the check go on"
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify", verify)
    yield checking, go_on
    go_on.set()


def add_session(conn: Conn, officer_id: int) -> None:
    conn.execute(
        "INSERT INTO officer_sessions (token_hash, officer_id, method, expires_at) "
        "VALUES (%s, %s, 'password', now() + interval '1 hour')",
        (secrets.token_bytes(32), officer_id),
    )


# --- adding --------------------------------------------------------------------------------------


async def test_add_normalises_the_email_and_stores_an_argon2id_hash_only(aconn: AConn, conn: Conn) -> None:
    officer = await officers.add(
        aconn,
        email="  Ana.Perez@Gov.GD ",
        display_name=" Ana Pérez ",
        entity_id="DEPT-003",
        role="supervisor",
        password=PASSWORD,
    )

    assert (officer.email, officer.display_name, officer.role, officer.active) == (
        "ana.perez@gov.gd",
        "Ana Pérez",
        "supervisor",
        True,
    )
    password_hash = stored_hash(conn, "ana.perez@gov.gd")
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert PasswordHasher().verify(password_hash, PASSWORD)
    assert password_hash not in repr(officer)
    assert PASSWORD not in repr(officer)
    changed = conn.execute("SELECT password_changed_at FROM officers").fetchone()
    assert changed is not None
    assert changed[0] is not None
    assert await officers.by_email(aconn, "ANA.PEREZ@gov.gd ") == officer
    assert await officers.by_id(aconn, officer.officer_id) == officer
    assert await officers.by_id(aconn, officer.officer_id + 1) is None
    assert await officers.has_password(aconn, officer.officer_id)


async def test_an_identity_provider_account_has_no_password(aconn: AConn, conn: Conn) -> None:
    officer = await add(aconn, password=None)
    assert conn.execute("SELECT password_hash, password_changed_at FROM officers").fetchone() == (None, None)
    assert not await officers.has_password(aconn, officer.officer_id)


@pytest.mark.parametrize("again", ["ana@gov.gd", "ANA@GOV.GD", " Ana@gov.gd"])
async def test_an_email_is_one_account_whatever_its_case(aconn: AConn, conn: Conn, again: str) -> None:
    await add(aconn)
    with pytest.raises(officers.OfficerExists, match="ana@gov.gd exists already"):
        await add(aconn, again, role="admin")
    assert conn.execute("SELECT count(*) FROM officers").fetchone() == (1,)


async def test_an_unknown_entity_is_refused_with_how_to_list_them(aconn: AConn, conn: Conn) -> None:
    with pytest.raises(officers.UnknownEntity, match="No entity 'DEPT-999'.*entity_master"):
        await add(aconn, entity_id="DEPT-999")
    assert conn.execute("SELECT count(*) FROM officers").fetchone() == (0,)


async def test_a_bad_role_is_refused_with_the_three_roles(aconn: AConn) -> None:
    with pytest.raises(officers.OfficerError, match="use one of officer, supervisor, admin"):
        await add(aconn, role="boss")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("email", "name", "expected"),
    [
        ("ana", "Ana", "not an email address"),
        ("ana@gov@gd", "Ana", "not an email address"),
        ("ana perez@gov.gd", "Ana", "not an email address"),
        ("a" * 250 + "@gov.gd", "Ana", "at most 254"),
        ("ana@gov.gd", "   ", "name must not be empty"),
        ("ana@gov.gd", "A" * 201, "at most 200"),
    ],
)
async def test_a_malformed_email_or_name_says_what_to_write(
    aconn: AConn, email: str, name: str, expected: str
) -> None:
    with pytest.raises(officers.OfficerError, match=expected):
        await officers.add(
            aconn, email=email, display_name=name, entity_id="DEPT-003", role="officer", password=PASSWORD
        )


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short-pw", "at least 12 characters"),
        ("x" * 1025 + "y", "at most 1024 characters"),
        ("ANA.PEREZ@gov.gd", "not be the email address"),
        ("ana.perez123", None),  # merely contains the local part: allowed
        ("ana.perez", "at least 12"),
        ("aaaaaaaaaaaaaaaa", "one character repeated"),
    ],
)
async def test_weak_passwords_are_refused_with_the_rule(
    aconn: AConn, conn: Conn, password: str, rule: str | None
) -> None:
    if rule is None:
        await add(aconn, "ana.perez@gov.gd", password=password)
        return
    with pytest.raises(officers.WeakPassword, match=rule) as refused:
        await add(aconn, "ana.perez@gov.gd", password=password)
    assert password not in str(refused.value)
    assert conn.execute("SELECT count(*) FROM officers").fetchone() == (0,)


# --- listing -------------------------------------------------------------------------------------


async def test_list_shows_how_each_officer_signs_in_and_when_they_last_did(aconn: AConn) -> None:
    now = datetime.now(UTC)
    ana = await add(aconn, "ana@gov.gd")
    ben = await add(aconn, "ben@gov.gd", password=None)
    cy = await add(aconn, "cy@gov.gd", password=None, role="admin", entity_id="GOV-000")
    dee = await add(aconn, "dee@gov.gd", password=None)
    assert (
        await officers.sign_in_with_oidc(
            aconn, issuer=ISSUER, subject="sub-ben", email="ben@gov.gd", email_verified=True, ip_hash=HERE
        )
    ).ok
    assert (
        await officers.sign_in_with_oidc(
            aconn, issuer=ISSUER, subject="sub-cy", email="cy@gov.gd", email_verified=True, ip_hash=HERE
        )
    ).ok
    await officers.reset_password(aconn, "cy@gov.gd", PASSWORD)
    assert (await attempt(aconn, now, email="ana@gov.gd")).ok
    await officers.disable(aconn, "dee@gov.gd")

    listing = {item.officer.email: item for item in await officers.list_officers(aconn)}

    assert list(listing) == ["ana@gov.gd", "ben@gov.gd", "cy@gov.gd", "dee@gov.gd"]
    assert {email: item.sign_in for email, item in listing.items()} == {
        "ana@gov.gd": "password",
        "ben@gov.gd": "identity provider",
        "cy@gov.gd": "both",
        "dee@gov.gd": "none yet",
    }
    assert listing["ana@gov.gd"].last_sign_in_at == now
    assert listing["ben@gov.gd"].last_sign_in_at is not None
    assert listing["dee@gov.gd"].last_sign_in_at is None
    assert listing["dee@gov.gd"].disabled_at is not None
    assert not listing["dee@gov.gd"].officer.active
    assert listing["ana@gov.gd"].disabled_at is None
    assert {item.officer for item in listing.values()} >= {ana}
    assert listing["ben@gov.gd"].officer == ben
    assert listing["cy@gov.gd"].officer.role == cy.role
    assert listing["dee@gov.gd"].officer.officer_id == dee.officer_id


# --- disabling -----------------------------------------------------------------------------------


async def test_disabling_ends_sessions_and_refuses_sign_in_until_enabled(aconn: AConn, conn: Conn) -> None:
    now = datetime.now(UTC)
    ana = await add(aconn)
    other = await add(aconn, "ben@gov.gd")
    add_session(conn, ana.officer_id)
    add_session(conn, ana.officer_id)
    add_session(conn, other.officer_id)

    disabled = await officers.disable(aconn, "ANA@gov.gd")

    assert not disabled.active
    assert conn.execute("SELECT officer_id FROM officer_sessions").fetchall() == [(other.officer_id,)]
    first_disabled_at = conn.execute("SELECT disabled_at FROM officers WHERE email = 'ana@gov.gd'").fetchone()
    assert first_disabled_at is not None
    assert first_disabled_at[0] is not None
    assert await attempt(aconn, now) == officers.SignIn(None, "disabled")
    # Again: nothing changes, and the first time stays.
    await officers.disable(aconn, "ana@gov.gd")
    assert (
        conn.execute("SELECT disabled_at FROM officers WHERE email = 'ana@gov.gd'").fetchone()
        == first_disabled_at
    )

    enabled = await officers.enable(aconn, "ana@gov.gd")
    assert enabled.active
    assert conn.execute("SELECT disabled_at FROM officers WHERE email = 'ana@gov.gd'").fetchone() == (None,)
    assert (await attempt(aconn, now + timedelta(seconds=1))).officer == enabled


@pytest.mark.parametrize("action", [officers.disable, officers.enable])
async def test_disable_or_enable_an_unknown_officer_says_where_to_look(aconn: AConn, action: Any) -> None:
    with pytest.raises(
        officers.UnknownOfficer, match="No officer with the email nobody@gov.gd.*officers list"
    ):
        await action(aconn, "Nobody@gov.gd")


# --- password sign-in and the growing delay -------------------------------------------------------


async def test_every_outcome_is_distinguishable_and_recorded(aconn: AConn, conn: Conn) -> None:
    now = datetime.now(UTC)
    ana = await add(aconn)
    ben = await add(aconn, "ben@gov.gd", password=None)

    ok = await attempt(aconn, now, email=" ANA@gov.gd")
    wrong = await attempt(aconn, now, "not the password", ip_hash=ELSEWHERE)
    unknown = await attempt(aconn, now, email="nobody@gov.gd")
    no_password = await attempt(aconn, now, email="ben@gov.gd")

    assert ok == officers.SignIn(ana, "ok")
    assert ok.ok
    assert [r.outcome for r in (wrong, unknown, no_password)] == [
        "wrong_password",
        "unknown_account",
        "no_password",
    ]
    assert all(r.officer is None and r.retry_after_s == 0 for r in (wrong, unknown, no_password))
    assert sign_ins(conn) == [
        ("ana@gov.gd", ana.officer_id, HERE, "password", "ok"),
        ("ana@gov.gd", ana.officer_id, ELSEWHERE, "password", "wrong_password"),
        ("nobody@gov.gd", None, HERE, "password", "unknown_account"),
        ("ben@gov.gd", ben.officer_id, HERE, "password", "no_password"),
    ]


async def test_three_failures_are_free_then_each_waits_longer(aconn: AConn, conn: Conn) -> None:
    t0 = datetime.now(UTC)
    await add(aconn)
    for tenth in range(3):
        assert (await attempt(aconn, t0 + timedelta(seconds=tenth / 10), "wrong")).outcome == "wrong_password"

    fourth = await attempt(aconn, t0 + timedelta(seconds=0.5), "wrong")
    assert fourth.outcome == "throttled"
    assert fourth.officer is None
    assert fourth.retry_after_s >= 1
    # The right password inside the delay is refused too: it is not even checked.
    assert (await attempt(aconn, t0 + timedelta(seconds=0.6))).outcome == "throttled"

    # After the delay (1 s after the third failure) a fourth failure is checked; the next waits 2 s.
    assert (await attempt(aconn, t0 + timedelta(seconds=1.3), "wrong")).outcome == "wrong_password"
    waiting = await attempt(aconn, t0 + timedelta(seconds=1.4))
    assert (waiting.outcome, waiting.retry_after_s) == ("throttled", 2)
    assert [row[4] for row in sign_ins(conn)] == [
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "throttled",
        "throttled",
        "wrong_password",
        "throttled",
    ]


async def test_a_success_after_the_delay_starts_the_count_again(aconn: AConn) -> None:
    t0 = datetime.now(UTC)
    await add(aconn)
    for tenth in range(3):
        await attempt(aconn, t0 + timedelta(seconds=tenth / 10), "wrong")

    assert (await attempt(aconn, t0 + timedelta(seconds=1.3))).ok
    for tenth in range(14, 17):
        assert (await attempt(aconn, t0 + timedelta(seconds=tenth / 10), "wrong")).outcome == "wrong_password"
    assert (await attempt(aconn, t0 + timedelta(seconds=1.8))).outcome == "throttled"


async def test_the_delay_is_per_address_so_nobody_can_lock_an_officer_out(aconn: AConn) -> None:
    t0 = datetime.now(UTC)
    await add(aconn)
    for tenth in range(5):
        await attempt(aconn, t0 + timedelta(seconds=tenth / 10), "wrong", ip_hash=ELSEWHERE)
    assert (
        await attempt(aconn, t0 + timedelta(seconds=0.6), "wrong", ip_hash=ELSEWHERE)
    ).outcome == "throttled"

    assert (await attempt(aconn, t0 + timedelta(seconds=0.6))).ok


async def test_unknown_accounts_are_slowed_like_real_ones(aconn: AConn) -> None:
    t0 = datetime.now(UTC)
    for tenth in range(3):
        assert (await attempt(aconn, t0 + timedelta(seconds=tenth / 10), email="nobody@gov.gd")).outcome == (
            "unknown_account"
        )
    assert (await attempt(aconn, t0 + timedelta(seconds=0.5), email="NOBODY@gov.gd")).outcome == "throttled"


async def test_the_delay_stops_growing_at_fifteen_minutes(aconn: AConn, conn: Conn) -> None:
    t0 = datetime.now(UTC)
    ana = await add(aconn)
    conn.execute(
        "INSERT INTO officer_sign_ins (at, account, officer_id, ip_hash, method, outcome) "
        "SELECT %s - make_interval(secs => n), 'ana@gov.gd', %s, %s, 'password', 'wrong_password' "
        "FROM generate_series(1, 40) AS n",
        (t0, ana.officer_id, HERE),
    )
    assert officers.delay_after(40) == officers.MAX_DELAY_S == 900
    waiting = await attempt(aconn, t0)
    assert waiting.outcome == "throttled"
    assert 890 <= waiting.retry_after_s <= 900


async def test_failures_older_than_a_day_are_forgotten(aconn: AConn, conn: Conn) -> None:
    t0 = datetime.now(UTC)
    ana = await add(aconn)
    conn.execute(
        "INSERT INTO officer_sign_ins (at, account, officer_id, ip_hash, method, outcome) "
        "SELECT %s - interval '25 hours' + make_interval(secs => n), 'ana@gov.gd', %s, %s, 'password', "
        "'wrong_password' FROM generate_series(1, 10) AS n",
        (t0, ana.officer_id, HERE),
    )
    assert (await attempt(aconn, t0)).ok


async def test_a_reset_ends_sessions_and_restarts_the_count_everywhere(aconn: AConn, conn: Conn) -> None:
    t0 = datetime.now(UTC)
    ana = await add(aconn)
    conn.execute(
        "INSERT INTO officer_sign_ins (at, account, officer_id, ip_hash, method, outcome) "
        "SELECT %s - make_interval(secs => n), 'ana@gov.gd', %s, %s, 'password', 'wrong_password' "
        "FROM generate_series(1, 6) AS n",
        (t0 - timedelta(seconds=5), ana.officer_id, HERE),
    )
    assert (await attempt(aconn, t0)).outcome == "throttled"

    add_session(conn, ana.officer_id)
    new_password = "a brand new passphrase"
    await officers.reset_password(aconn, "ana@gov.gd", new_password)
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)  # a reset ends them

    assert conn.execute(
        "SELECT account, officer_id, ip_hash, method FROM officer_sign_ins WHERE outcome = 'password_reset'"
    ).fetchall() == [("ana@gov.gd", ana.officer_id, "cli", "password")]
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert (await attempt(aconn, later, PASSWORD)).outcome == "wrong_password"
    assert (await attempt(aconn, later, new_password)).ok


async def test_two_attempts_at_once_cannot_both_slip_through_the_delay(db_url: URL, aconn: AConn) -> None:
    t0 = datetime.now(UTC)
    await add(aconn)
    for tenth in range(3):
        await attempt(aconn, t0 + timedelta(seconds=tenth / 10), "wrong")
    after_delay = t0 + timedelta(seconds=1.5)

    async def one() -> str:
        async with await AsyncConnection.connect(pg.conninfo(db_url), autocommit=True) as own:
            return (await attempt(own, after_delay, "wrong")).outcome

    # The second waits for the first's phase 1 (the address's lock) and then sees its attempt,
    # still 'pending' or already a failure: 2 s to wait.
    assert sorted(await asyncio.gather(one(), one())) == ["throttled", "wrong_password"]


async def test_an_attempt_being_checked_counts_as_a_failure(
    aconn: AConn, conn: Conn, pool: AsyncConnectionPool[AsyncConnection[Any]], held_check: Any
) -> None:
    """What the lock held through the whole check used to guarantee, with no lock held during
    it: while one attempt's password is being checked, the next from the same place already
    counts it."""
    checking, go_on = held_check
    t0 = datetime.now(UTC)
    ana = await add(aconn)
    conn.execute(
        "INSERT INTO officer_sign_ins (at, account, officer_id, ip_hash, method, outcome) "
        "SELECT %s, 'ana@gov.gd', %s, %s, 'password', 'wrong_password' FROM generate_series(1, 2)",
        (t0, ana.officer_id, HERE),
    )
    first = asyncio.create_task(
        officers.sign_in_with_password(
            pool, email="ana@gov.gd", password="wrong", ip_hash=HERE, now=t0 + timedelta(seconds=1)
        )
    )
    assert await asyncio.to_thread(checking.wait, 20)
    assert [row[4] for row in sign_ins(conn)][-1] == "pending"

    # The third failure is being checked: the fourth attempt, even with the right password, waits.
    second = await attempt(aconn, t0 + timedelta(seconds=1.1))
    assert (second.outcome, second.retry_after_s) == ("throttled", 1)
    go_on.set()
    assert (await first).outcome == "wrong_password"
    assert [row[4] for row in sign_ins(conn)][-2:] == ["wrong_password", "throttled"]

    # A 'pending' row left by a server that stopped mid-check keeps counting as a failure.
    conn.execute(
        "INSERT INTO officer_sign_ins (at, account, ip_hash, method, outcome) "
        "SELECT %s, 'ben@gov.gd', %s, 'password', 'pending' FROM generate_series(1, 3)",
        (t0, HERE),
    )
    assert (await attempt(aconn, t0 + timedelta(seconds=0.5), email="ben@gov.gd")).outcome == "throttled"


async def test_no_connection_or_lock_is_held_while_the_password_is_checked(
    aconn: AConn, db_url: URL, held_check: Any
) -> None:
    checking, go_on = held_check
    await add(aconn)
    async with AsyncConnectionPool(pg.conninfo(db_url), min_size=1, max_size=1, open=False) as one:
        signing_in = asyncio.create_task(
            officers.sign_in_with_password(one, email="ana@gov.gd", password=PASSWORD, ip_hash=HERE)
        )
        assert await asyncio.to_thread(checking.wait, 20)
        # The pool's only connection is free for a kiosk while argon2 runs ...
        async with one.connection(timeout=2) as kiosk:
            cursor = await kiosk.execute(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", (f"officer sign-in\n{HERE}",)
            )
            # ... and the address is not locked: another attempt from there would not wait.
            assert await cursor.fetchone() == (True,)
        go_on.set()
        assert (await signing_in).ok


async def test_at_most_a_few_passwords_are_checked_at_once(
    monkeypatch: pytest.MonkeyPatch, pool: AsyncConnectionPool[AsyncConnection[Any]]
) -> None:
    running = most = 0
    count = threading.Lock()

    def verify_nothing(_password: str) -> None:
        nonlocal running, most
        with count:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with count:
            running -= 1

    monkeypatch.setattr(passwords, "verify_nothing", verify_nothing)
    results = await asyncio.gather(
        *(
            officers.sign_in_with_password(
                pool, email=f"made.up.{n}@gov.gd", password="guess", ip_hash=f"{n:064d}"
            )
            for n in range(3 * officers.ARGON2_SLOTS)
        )
    )
    assert {r.outcome for r in results} == {"unknown_account"}
    assert 1 <= most <= officers.ARGON2_SLOTS == 4


async def test_an_officer_disabled_while_the_password_is_checked_is_not_signed_in(
    aconn: AConn, conn: Conn, held_check: Any
) -> None:
    checking, go_on = held_check
    ana = await add(aconn)
    signing_in = asyncio.create_task(attempt(aconn, datetime.now(UTC)))
    assert await asyncio.to_thread(checking.wait, 20)
    await asyncio.to_thread(conn.execute, "UPDATE officers SET active = FALSE, disabled_at = now()")
    go_on.set()

    assert await signing_in == officers.SignIn(None, "disabled")
    assert sign_ins(conn) == [("ana@gov.gd", ana.officer_id, HERE, "password", "disabled")]


async def test_an_address_failing_on_many_accounts_is_refused_without_hashing(
    aconn: AConn, conn: Conn, checks: list[str]
) -> None:
    """The growing delay never slows made-up accounts, each new one free: the address's budget
    does, across accounts, before any argon2 check."""
    t0 = datetime.now(UTC)
    await add(aconn)
    for n in range(officers.ADDRESS_BUDGET):
        if n == 10:
            # A success does not refill the budget: one real account buys no guesses on others.
            assert (await attempt(aconn, t0 + timedelta(seconds=9.5))).ok
        made_up = await attempt(aconn, t0 + timedelta(seconds=n), email=f"made.up.{n}@gov.gd")
        assert made_up.outcome == "unknown_account"
    assert len(checks) == officers.ADDRESS_BUDGET + 1 == 21

    over = await attempt(aconn, t0 + timedelta(seconds=30), email="made.up.new@gov.gd")
    # Until the oldest of the twenty leaves the 15 minutes.
    assert (over.outcome, over.officer, over.retry_after_s) == ("throttled", None, 15 * 60 - 30)
    # Ana's right password from there too, and nothing is hashed.
    assert (await attempt(aconn, t0 + timedelta(seconds=31))).outcome == "throttled"
    assert len(checks) == 21
    # Another address is not held back.
    assert (await attempt(aconn, t0 + timedelta(seconds=31), ip_hash=ELSEWHERE)).ok
    # Once the oldest failure is 15 minutes old, one more attempt is checked.
    later = await attempt(aconn, t0 + timedelta(minutes=15, seconds=0.5), email="made.up.late@gov.gd")
    assert later.outcome == "unknown_account"
    assert len(checks) == 23  # and Ana's success from elsewhere
    assert [row[4] for row in sign_ins(conn)].count("throttled") == 2


async def test_an_email_or_password_too_long_to_be_anyones_is_refused_unhashed_and_counted(
    aconn: AConn, conn: Conn, checks: list[str]
) -> None:
    now = datetime.now(UTC)
    longest = "a" * 247 + "@gov.gd"  # 254 characters, the most an account may have
    await add(aconn, longest)
    await add(aconn)

    # Cut to the column's length it would be the longest account: it is nobody's.
    assert (await attempt(aconn, now, email=longest + "x")).outcome == "unknown_account"
    assert (await attempt(aconn, now, "p" * (passwords.MAX_LENGTH + 1))).outcome == "wrong_password"
    assert checks == []
    assert [(row[0], row[4]) for row in sign_ins(conn)] == [
        (longest, "unknown_account"),
        ("ana@gov.gd", "wrong_password"),
    ]
    assert (await attempt(aconn, now, email=longest)).ok


async def test_an_outdated_hash_is_replaced_at_sign_in(aconn: AConn, conn: Conn) -> None:
    await add(aconn)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    conn.execute("UPDATE officers SET password_hash = %s", (weak,))

    assert (await attempt(aconn, datetime.now(UTC))).ok

    renewed = stored_hash(conn)
    assert renewed != weak
    assert renewed.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(renewed)
    assert PasswordHasher().verify(renewed, PASSWORD)


async def test_an_unreadable_hash_signs_nobody_in_and_is_logged_without_it(
    aconn: AConn, conn: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    await add(aconn)
    conn.execute("UPDATE officers SET password_hash = '$argon2id$v=19$m=65536,t=3,p=4$broken'")

    with caplog.at_level(logging.INFO, logger="server_sync_api.officers"):
        result = await attempt(aconn, datetime.now(UTC))

    assert result.outcome == "wrong_password"
    assert "reset-password" in caplog.text
    assert "broken" not in caplog.text
    assert PASSWORD not in caplog.text


async def test_no_password_or_hash_reaches_the_log(
    aconn: AConn, conn: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    with caplog.at_level(logging.DEBUG):
        await add(aconn)
        await attempt(aconn, now, "my secret guess")
        await attempt(aconn, now, PASSWORD, email="nobody@gov.gd")
        await attempt(aconn, now)
        with pytest.raises(officers.WrongPassword) as refused:
            await officers.change_own_password(
                aconn, 1, "my secret guess", "another fine passphrase", ip_hash=HERE
            )
    text = caplog.text + str(refused.value)
    for secret in ("my secret guess", PASSWORD, "another fine passphrase", stored_hash(conn), "$argon2"):
        assert secret not in text


# --- the identity provider -----------------------------------------------------------------------


async def oidc(
    aconn: AConn, subject: str = "sub-1", email: str | None = "ana@gov.gd", *, verified: bool = True
) -> officers.SignIn:
    return await officers.sign_in_with_oidc(
        aconn, issuer=ISSUER, subject=subject, email=email, email_verified=verified, ip_hash=HERE
    )


def link(conn: Conn, email: str = "ana@gov.gd") -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT oidc_issuer, oidc_subject FROM officers WHERE email = %s", (email,)
    ).fetchone()


async def test_a_verified_email_links_the_account_at_the_first_sign_in(aconn: AConn, conn: Conn) -> None:
    ana = await add(aconn, password=None)

    result = await oidc(aconn, email="Ana@Gov.gd")

    assert result == officers.SignIn(ana, "ok")
    assert link(conn) == (ISSUER, "sub-1")
    assert sign_ins(conn) == [("ana@gov.gd", ana.officer_id, HERE, "oidc", "ok")]


async def test_an_unverified_email_links_nothing(aconn: AConn, conn: Conn) -> None:
    ana = await add(aconn, password=None)

    assert await oidc(aconn, verified=False) == officers.SignIn(None, "email_not_verified")
    assert link(conn) == (None, None)
    assert sign_ins(conn) == [("ana@gov.gd", ana.officer_id, HERE, "oidc", "email_not_verified")]


async def test_once_linked_the_subject_signs_in_whatever_the_email_says(aconn: AConn, conn: Conn) -> None:
    ana = await add(aconn, password=None)
    assert (await oidc(aconn)).ok

    assert await oidc(aconn, email="ana.perez@new.gov.gd", verified=False) == officers.SignIn(ana, "ok")
    assert await oidc(aconn, email=None) == officers.SignIn(ana, "ok")
    assert [row[0] for row in sign_ins(conn)] == ["ana@gov.gd", "ana.perez@new.gov.gd", "ana@gov.gd"]


async def test_an_account_linked_to_another_subject_is_not_taken_over(aconn: AConn, conn: Conn) -> None:
    ana = await add(aconn, password=None)
    assert (await oidc(aconn, "sub-1")).ok

    assert await oidc(aconn, "sub-2") == officers.SignIn(None, "not_linked")
    assert link(conn) == (ISSUER, "sub-1")
    assert sign_ins(conn)[-1] == ("ana@gov.gd", ana.officer_id, HERE, "oidc", "not_linked")


async def test_nobody_with_that_email_is_an_unknown_account(aconn: AConn, conn: Conn) -> None:
    assert await oidc(aconn, email="nobody@gov.gd") == officers.SignIn(None, "unknown_account")
    assert await oidc(aconn, "sub-9", email=None) == officers.SignIn(None, "unknown_account")
    assert sign_ins(conn) == [
        ("nobody@gov.gd", None, HERE, "oidc", "unknown_account"),
        ("oidc:sub-9", None, HERE, "oidc", "unknown_account"),
    ]


async def test_a_disabled_officer_is_refused_linked_or_not(aconn: AConn, conn: Conn) -> None:
    await add(aconn, password=None)
    await add(aconn, "ben@gov.gd", password=None)
    assert (await oidc(aconn, "sub-1")).ok
    await officers.disable(aconn, "ana@gov.gd")
    await officers.disable(aconn, "ben@gov.gd")

    assert await oidc(aconn, "sub-1") == officers.SignIn(None, "disabled")
    assert await oidc(aconn, "sub-2", "ben@gov.gd") == officers.SignIn(None, "disabled")
    assert link(conn, "ben@gov.gd") == (None, None)


async def test_a_password_account_is_linked_too_and_then_signs_in_both_ways(aconn: AConn) -> None:
    ana = await add(aconn)
    assert (await oidc(aconn)).officer == ana
    assert (await attempt(aconn, datetime.now(UTC))).officer == ana


# --- the officer's own password ------------------------------------------------------------------


async def test_an_officer_changes_their_own_password(aconn: AConn, conn: Conn) -> None:
    ana = await add(aconn)
    new = "the new passphrase of ana"

    with pytest.raises(officers.WrongPassword, match="current password is not right"):
        await officers.change_own_password(aconn, ana.officer_id, "wrong", new, ip_hash=HERE)
    with pytest.raises(officers.WeakPassword, match="at least 12"):
        await officers.change_own_password(aconn, ana.officer_id, PASSWORD, "short", ip_hash=HERE)
    with pytest.raises(officers.WeakPassword, match="differ"):
        await officers.change_own_password(aconn, ana.officer_id, PASSWORD, PASSWORD, ip_hash=HERE)
    await officers.change_own_password(aconn, ana.officer_id, PASSWORD, new, ip_hash=HERE)

    later = datetime.now(UTC) + timedelta(seconds=1)
    assert (await attempt(aconn, later, PASSWORD)).outcome == "wrong_password"
    assert (await attempt(aconn, later, new)).ok
    assert [row[2:] for row in sign_ins(conn)][:2] == [
        (HERE, "password", "wrong_password"),
        (HERE, "password", "password_changed"),
    ]
    history = await officers.recent_sign_ins(aconn, ana.officer_id)
    assert [(r.method, r.outcome) for r in history] == [
        ("password", "ok"),
        ("password", "wrong_password"),
        ("password", "password_changed"),
        ("password", "wrong_password"),
    ]
    assert history[0].at >= history[-1].at
    assert len(await officers.recent_sign_ins(aconn, ana.officer_id, limit=2)) == 2


async def test_guessing_the_current_password_is_slowed_on_the_account_and_address(
    aconn: AConn, conn: Conn
) -> None:
    ana = await add(aconn)
    new = "the new passphrase of ana"
    conn.execute(
        "INSERT INTO officer_sign_ins (account, officer_id, ip_hash, method, outcome) "
        "SELECT 'ana@gov.gd', %s, %s, 'password', 'wrong_password' FROM generate_series(1, 3)",
        (ana.officer_id, ELSEWHERE),
    )

    # Somebody holding Ana's session elsewhere guessed three times: they wait ...
    with pytest.raises(officers.TooManyAttempts, match="try again in") as refused:
        await officers.change_own_password(aconn, ana.officer_id, PASSWORD, new, ip_hash=ELSEWHERE)
    assert refused.value.retry_after_s >= 1
    assert isinstance(refused.value, officers.WrongPassword)
    assert sign_ins(conn)[-1][2:] == (ELSEWHERE, "password", "throttled")
    # ... and signing in from there is slowed by the same count.
    assert (await attempt(aconn, datetime.now(UTC), ip_hash=ELSEWHERE)).outcome == "throttled"
    # Ana, at her own desk, is not held back: she changes it.
    await officers.change_own_password(aconn, ana.officer_id, PASSWORD, new, ip_hash=HERE)
    assert sign_ins(conn)[-1][2:] == (HERE, "password", "password_changed")
    assert (await attempt(aconn, datetime.now(UTC) + timedelta(seconds=1), new)).ok


async def test_an_identity_provider_account_has_no_password_to_change(aconn: AConn) -> None:
    ana = await add(aconn, password=None)
    with pytest.raises(officers.OfficerError, match="identity provider"):
        await officers.change_own_password(
            aconn, ana.officer_id, "", "the new passphrase of ana", ip_hash=HERE
        )


async def test_a_reset_of_an_unknown_officer_says_where_to_look(aconn: AConn) -> None:
    with pytest.raises(officers.UnknownOfficer, match="officers list"):
        await officers.reset_password(aconn, "nobody@gov.gd", PASSWORD)
