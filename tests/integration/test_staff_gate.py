"""StaffGate (kiosk/staff_gate.py): the staff PIN with a lockout that grows, kept in the kiosk's
real SQLite file so a restart does not hand out fresh tries. The wall clock is injected and
stepped by hand: a 15-minute lockout is checked without waiting 15 minutes."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from kiosk import pin, staff_gate
from kiosk.local_db import database, local_settings
from kiosk.staff_gate import (
    FIRST_LOCKOUT_S,
    FREE_ATTEMPTS,
    MAX_LOCKOUT_S,
    NoPinSet,
    StaffGate,
    UnreadablePinHash,
)

RIGHT_PIN = "135790"
WRONG_PIN = "000000"
OTHER_PIN = "864200"


class WallClock:
    """time.time as the test sets it."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# A real argon2id hash with the cheapest parameters: the checks below are about the lockout,
# and a verify costs about 0.5 s at the production parameters here (pin.hash_pin, tested once
# below). verify_pin reads the parameters from the hash itself.
_cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="module")
def right_hash() -> str:
    return _cheap.hash(RIGHT_PIN)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "kiosk"


@pytest.fixture
def engine(data_dir: Path) -> Iterator[Engine]:
    engine = database.open_database(data_dir)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def gate(engine: Engine, right_hash: str, clock: WallClock) -> StaffGate:
    """A kiosk whose PIN `gea-kiosk enroll` stored (no pin_hash in kiosk.toml)."""
    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, right_hash)
    return StaffGate(engine, None, clock=clock)


def fail_until_locked(gate: StaffGate) -> None:
    for _ in range(FREE_ATTEMPTS):
        assert not gate.try_pin(WRONG_PIN).ok


def test_no_pin_set_keeps_staff_mode_closed(engine: Engine, clock: WallClock) -> None:
    gate = StaffGate(engine, None, clock=clock)
    with pytest.raises(NoPinSet, match="gea-kiosk enroll"):
        gate.try_pin(RIGHT_PIN)
    # An empty pin_hash in kiosk.toml is no PIN either, not a PIN that nothing matches.
    with pytest.raises(NoPinSet):
        StaffGate(engine, "", clock=clock).try_pin("")
    assert gate.failures() == 0
    assert gate.locked_for() == 0


def test_a_pin_hashed_by_gea_kiosk_opens(engine: Engine, clock: WallClock) -> None:
    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, pin.hash_pin(RIGHT_PIN))
    gate = StaffGate(engine, None, clock=clock)
    assert not gate.try_pin(WRONG_PIN).ok
    assert gate.try_pin(RIGHT_PIN).ok


def test_the_right_pin_opens_and_forgets_earlier_mistakes(gate: StaffGate) -> None:
    assert gate.try_pin(WRONG_PIN).failures == 1
    assert gate.try_pin(OTHER_PIN).failures == 2

    attempt = gate.try_pin(RIGHT_PIN)

    assert attempt == staff_gate.Attempt(True, 0.0, 0)
    assert gate.failures() == 0
    assert gate.locked_for() == 0
    # Forgotten for good: the next mistake is the first again, not the third.
    assert gate.try_pin(WRONG_PIN) == staff_gate.Attempt(False, 0.0, 1)


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        (0, 0.0),
        (1, 0.0),
        (FREE_ATTEMPTS - 1, 0.0),
        (FREE_ATTEMPTS, 30.0),
        (FREE_ATTEMPTS + 1, 60.0),
        (FREE_ATTEMPTS + 2, 120.0),
        (FREE_ATTEMPTS + 3, 240.0),
        (FREE_ATTEMPTS + 4, 480.0),
        (FREE_ATTEMPTS + 5, 900.0),  # 960 capped
        (FREE_ATTEMPTS + 6, 900.0),
        (1_000, 900.0),
    ],
)
def test_lockout_after(failures: int, wait: float) -> None:
    assert staff_gate.lockout_after(failures) == wait


def test_a_long_siege_still_gets_an_answer(gate: StaffGate, engine: Engine) -> None:
    # One wrong PIN every 15 minutes for eleven days: the count is kept in the database, so
    # once lockout_after() fails it fails on every try, after every restart.
    local_settings.set_value(engine, "staff.pin_failures", "1100")
    attempt = gate.try_pin(WRONG_PIN)
    assert attempt == staff_gate.Attempt(False, MAX_LOCKOUT_S, 1101)


def test_the_lockout_grows_to_fifteen_minutes(gate: StaffGate, clock: WallClock) -> None:
    free = [gate.try_pin(WRONG_PIN) for _ in range(FREE_ATTEMPTS - 1)]
    assert [(a.ok, a.locked_for_s) for a in free] == [(False, 0.0)] * (FREE_ATTEMPTS - 1)

    waits = []
    for failures in range(FREE_ATTEMPTS, FREE_ATTEMPTS + 7):
        attempt = gate.try_pin(WRONG_PIN)
        assert (attempt.ok, attempt.failures) == (False, failures)
        assert gate.locked_for() == attempt.locked_for_s
        waits.append(attempt.locked_for_s)
        clock.advance(attempt.locked_for_s)
    assert waits == [FIRST_LOCKOUT_S, 60.0, 120.0, 240.0, 480.0, MAX_LOCKOUT_S, MAX_LOCKOUT_S]

    # Once the last lockout is over, the right PIN still works and clears everything.
    assert gate.try_pin(RIGHT_PIN).ok
    assert (gate.failures(), gate.locked_for()) == (0, 0)


def test_during_a_lockout_no_pin_is_checked(gate: StaffGate, clock: WallClock) -> None:
    fail_until_locked(gate)
    clock.advance(FIRST_LOCKOUT_S - 1)

    right = gate.try_pin(RIGHT_PIN)
    wrong = gate.try_pin(WRONG_PIN)

    # Refused even though it is right, and a wrong one is not counted: neither was looked at.
    assert right == staff_gate.Attempt(False, 1.0, FREE_ATTEMPTS)
    assert wrong == staff_gate.Attempt(False, 1.0, FREE_ATTEMPTS)
    assert gate.failures() == FREE_ATTEMPTS

    clock.advance(1)
    assert gate.locked_for() == 0
    assert gate.try_pin(RIGHT_PIN).ok


def test_the_lockout_survives_a_restart(
    data_dir: Path, engine: Engine, gate: StaffGate, clock: WallClock
) -> None:
    fail_until_locked(gate)
    clock.advance(10)
    engine.dispose()  # the app is closed (or the plug pulled) ...

    reopened = database.open_database(data_dir)  # ... and started again
    try:
        after = StaffGate(reopened, None, clock=clock)
        assert after.failures() == FREE_ATTEMPTS
        assert after.locked_for() == FIRST_LOCKOUT_S - 10
        assert not after.try_pin(RIGHT_PIN).ok
        clock.advance(FIRST_LOCKOUT_S - 10)
        # The count survived too: the next mistake doubles the wait rather than starting over.
        assert after.try_pin(WRONG_PIN).locked_for_s == 2 * FIRST_LOCKOUT_S
        clock.advance(2 * FIRST_LOCKOUT_S)
        assert after.try_pin(RIGHT_PIN).ok
    finally:
        reopened.dispose()


def test_kiosk_toml_pin_hash_wins_over_the_stored_one(
    engine: Engine, right_hash: str, clock: WallClock
) -> None:
    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, _cheap.hash(OTHER_PIN))
    configured = StaffGate(engine, right_hash, clock=clock)

    assert configured.pin_hash() == right_hash
    assert not configured.try_pin(OTHER_PIN).ok  # the enrolled PIN no longer opens
    assert configured.try_pin(RIGHT_PIN).ok

    stored_only = StaffGate(engine, None, clock=clock)
    assert stored_only.try_pin(OTHER_PIN).ok
    assert not stored_only.try_pin(RIGHT_PIN).ok


def test_a_clock_set_back_never_locks_longer_than_the_maximum(gate: StaffGate, clock: WallClock) -> None:
    # Staff are locked out while the kiosk's clock runs hours fast (a hardware clock kept in
    # the wrong time zone); then NTP sets it right. The lockout must not last those hours.
    fail_until_locked(gate)
    clock.advance(-4 * 3_600)
    assert gate.locked_for() <= MAX_LOCKOUT_S


def scrypt_hash(pin_text: str) -> str:
    """A scrypt PHC string, as IT may put in kiosk.toml (ARCHITECTURE 7), at cheap parameters."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin_text.encode(), salt=salt, n=16, r=8, p=1, dklen=32)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode().rstrip("=")

    return f"$scrypt$ln=4,r=8,p=1${b64(salt)}${b64(digest)}"


def test_a_scrypt_pin_hash_in_kiosk_toml_opens_with_its_pin(engine: Engine, clock: WallClock) -> None:
    gate = StaffGate(engine, scrypt_hash(RIGHT_PIN), clock=clock)

    assert gate.try_pin(WRONG_PIN) == staff_gate.Attempt(False, 0.0, 1)
    assert gate.try_pin(RIGHT_PIN).ok
    assert gate.failures() == 0
    fail_until_locked(gate)
    assert gate.locked_for() == FIRST_LOCKOUT_S


@pytest.mark.parametrize(
    "broken",
    [
        "$scrypt$ln=4,r=8$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",  # no p
        "$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$",  # cut short
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$",  # cut short
        "$argon2id$garbage",
    ],
)
def test_a_pin_hash_that_cannot_be_read_is_said_and_never_counted(
    engine: Engine, clock: WallClock, broken: str
) -> None:
    # No PIN can match a broken hash: counting the tries would lock staff out for good over a
    # mistake that is IT's. Staff are told instead, on the login screen (a NoPinSet, which the
    # screen already shows).
    configured = StaffGate(engine, broken, clock=clock)
    for entered in (RIGHT_PIN, WRONG_PIN, RIGHT_PIN, WRONG_PIN, RIGHT_PIN):
        with pytest.raises(UnreadablePinHash, match="pin_hash in kiosk.toml.*gea-kiosk pin-hash"):
            configured.try_pin(entered)
    assert issubclass(UnreadablePinHash, NoPinSet)
    assert (configured.failures(), configured.locked_for()) == (0, 0)

    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, broken)
    stored = StaffGate(engine, None, clock=clock)
    with pytest.raises(UnreadablePinHash, match="stored by gea-kiosk enroll"):
        stored.try_pin(RIGHT_PIN)
    assert stored.failures() == 0


def test_a_broken_pin_hash_is_said_even_during_a_lockout(gate: StaffGate, engine: Engine) -> None:
    fail_until_locked(gate)
    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, "$scrypt$broken")
    with pytest.raises(UnreadablePinHash):
        gate.try_pin(RIGHT_PIN)
    assert gate.failures() == FREE_ATTEMPTS  # nothing more counted
