"""The staff PIN check with a lockout that grows after repeated failures (ARCHITECTURE 7).

Failures are kept in the kiosk's database, so restarting the app (or pulling the plug) does
not give someone guessing at the counter a fresh set of tries. They are also kept in memory:
while the disk refuses to write (full, or held by a stuck process) a mistake still counts
towards the lockout, so a fault never opens the door to unlimited guesses. Checks run one at
a time (the screen checks on a thread), so no mistake is lost to a race.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from kiosk import faults, pin
from kiosk.local_db import local_settings

log = logging.getLogger("kiosk.staff_gate")

FREE_ATTEMPTS = 3
FIRST_LOCKOUT_S = 30.0
MAX_LOCKOUT_S = 15 * 60.0

_FAILURES = "staff.pin_failures"
_LOCKED_UNTIL = "staff.pin_locked_until"


class NoPinSet(Exception):
    """Staff mode is closed until IT sets a PIN; it is never set from the touchscreen."""


class UnreadablePinHash(NoPinSet):
    """The PIN hash (kiosk.toml's pin_hash, or the one enroll stored) cannot be checked, so no
    PIN could open staff mode. Not a wrong PIN: nothing is counted. A NoPinSet, so the staff
    login screen shows its message as it does for a kiosk with no PIN."""


@dataclass(frozen=True)
class Attempt:
    ok: bool
    locked_for_s: float  # > 0: no PIN is checked until then
    failures: int


def lockout_after(failures: int) -> float:
    """No wait for the first few mistakes, then 30 s, 60 s, 120 s ... up to 15 minutes."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    # The exponent is capped: the ceiling is reached long before, and 2**1024 overflows a float.
    return float(min(FIRST_LOCKOUT_S * 2 ** min(failures - FREE_ATTEMPTS, 16), MAX_LOCKOUT_S))


class StaffGate:
    def __init__(
        self,
        engine: Engine,
        configured_hash: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._configured_hash = configured_hash
        self._clock = clock
        self._checking = threading.Lock()
        # (failures, locked until) as this process knows them, kept even when the disk is not.
        self._remembered: tuple[int, float] = (0, 0.0)

    def pin_hash(self) -> str | None:
        """kiosk.toml's pin_hash wins over the one `gea-kiosk enroll` stored."""
        if self._configured_hash:
            return self._configured_hash
        return local_settings.get_value(self._engine, local_settings.STAFF_PIN_HASH) or None

    def locked_for(self) -> float:
        failures, until = self._counts()
        # Never longer than the lockout itself, even if the wall clock was set back since.
        return min(max(0.0, until - self._clock()), lockout_after(failures))

    def failures(self) -> int:
        return self._counts()[0]

    def _counts(self) -> tuple[int, float]:
        """The stored count and lockout, or what this process remembers if more (or if the
        database cannot be read)."""
        try:
            stored = (
                int(local_settings.get_value(self._engine, _FAILURES) or 0),
                float(local_settings.get_value(self._engine, _LOCKED_UNTIL) or 0),
            )
        except faults.StorageFault:
            stored = (0, 0.0)
        return max(stored[0], self._remembered[0]), max(stored[1], self._remembered[1])

    def reset(self) -> None:
        """Forget past mistakes (a right PIN does this; so do the screenshots)."""
        self._remembered = (0, 0.0)
        local_settings.set_value(self._engine, _FAILURES, "0")
        local_settings.set_value(self._engine, _LOCKED_UNTIL, "0")

    def try_pin(self, entered: str) -> Attempt:
        """Check a PIN. Raises NoPinSet (or UnreadablePinHash) when none can open, and a
        StorageFault when a mistake cannot be written: it is still counted in memory."""
        with self._checking:
            return self._try(entered)

    def _try(self, entered: str) -> Attempt:
        stored = self.pin_hash()
        if stored is None:
            raise NoPinSet(
                "Staff mode is not set up on this kiosk. IT sets the PIN with gea-kiosk enroll "
                "or pin_hash in kiosk.toml."
            )
        try:
            pin.check_hash(stored)  # cheap: a broken hash is said at once, even during a lockout
            waiting = self.locked_for()
            if waiting > 0:
                return Attempt(False, waiting, self.failures())
            right = pin.verify_pin(stored, entered)
        except pin.UnreadableHash as exc:
            where = (
                "pin_hash in kiosk.toml"
                if stored == self._configured_hash
                else "the PIN hash stored by gea-kiosk enroll"
            )
            raise UnreadablePinHash(
                f"Staff mode cannot open: {where} cannot be read ({exc}). IT sets it again with "
                "the output of gea-kiosk pin-hash, or with gea-kiosk enroll."
            ) from None
        if right:
            # Written only when there is something to forget, and a disk that will not take it
            # does not keep staff out: the right PIN is what counts, and staff need in to see
            # what is wrong with the kiosk.
            if self.failures():
                try:
                    self.reset()
                except faults.StorageFault as exc:
                    log.warning("the PIN's failure count could not be reset: %s", exc.code)
            return Attempt(True, 0.0, 0)
        failures = self.failures() + 1
        wait = lockout_after(failures)
        self._remembered = (failures, self._clock() + wait)  # counts even if the disk refuses
        local_settings.set_value(self._engine, _FAILURES, str(failures))
        local_settings.set_value(self._engine, _LOCKED_UNTIL, str(self._remembered[1]))
        return Attempt(False, wait, failures)
