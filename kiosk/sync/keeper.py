"""Keeps a running kiosk's sync worker in step with its enrollment, live.

IT may enroll a kiosk after the app started, re-enroll it after a revocation, or stop a
`gea-kiosk sync --watch` that held the data directory's lock. The keeper, a plain thread,
looks every `poll_s` seconds at the identity row and the token file and:

- starts a worker when the kiosk becomes enrolled and this process can take the lock
  (after `outbox.recover`, as every lock holder does first);
- hands a replaced token to the running worker (`SyncWorker.reauthorize`), so a revoked
  kiosk re-enrolled with `gea-kiosk enroll` sends again without a restart;
- builds a new worker when the server changed, or when the worker's thread died of a bug;
- stops the worker and lets the lock go when the enrollment disappears.

Observers get a `KeeperState` after every change, on the keeper's thread (see SyncWorker's
rules for observers); worker observers added here follow each new worker.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import httpx
from filelock import FileLock
from sqlalchemy import Engine

from kiosk import faults
from kiosk.local_db import identity, lock, outbox, sync_health
from kiosk.sync import client as sync_client
from kiosk.sync.worker import Phase, SyncSettings, SyncState, SyncWorker

log = logging.getLogger("kiosk.sync")

# "Within a few seconds" of `gea-kiosk enroll` (issue 10): two reads of small things.
POLL_S: Final = 2.0
# How long stopping waits for the worker's request in flight (its own timeouts bound it).
STOP_TIMEOUT_S: Final = 60.0
# While syncing, the stored health's success time is written at most this often (see
# HealthRecorder): what a crash mid-drain can lose of it.
HEALTH_THROTTLE_S: Final = 1.0


class Where(enum.StrEnum):
    RUNNING = "running"  # this process syncs
    ELSEWHERE = "elsewhere"  # another process holds the lock (gea-kiosk sync --watch)
    NONE = "none"  # nobody: not enrolled, or this kiosk cannot sync (see `problem`)


@dataclass(frozen=True)
class KeeperState:
    device_code: str | None  # None: not enrolled (or its token file is missing)
    where: Where
    problem: str | None = None  # enrolled, yet no worker can run: what IT must fix


class HealthRecorder:
    """Worker observer: writes sync health to the database when it changes, so every
    process (the CLI's status, staff mode) sees what the syncing process sees.

    While the worker is syncing, every batch it pushes is a new success time: writing each
    one was a durable commit per batch, a third of a drain's fsyncs. So a success seen while
    syncing is written at most once every `throttle_s`; every other state (idle, offline, not
    authorized) is written at once, and with it whatever success was held back. A drain
    always ends in such a state (the worker stops syncing when the queue is empty, when a
    push fails and when it is stopped), so the stored health is right whenever the worker is
    not syncing, and a crash mid-drain loses at most `throttle_s` of success times: the
    health text, never a submission, whose state the outbox keeps in its own transactions.
    """

    def __init__(
        self,
        engine: Engine,
        throttle_s: float = HEALTH_THROTTLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._throttle_s = throttle_s
        self._clock = clock
        self._last: tuple[object, ...] | None = None
        self._written_at: float | None = None  # clock(): when the last write committed
        self._success_written: datetime | None = None

    def __call__(self, state: SyncState) -> None:
        key = (state.phase, state.last_success_at, state.offline_since)
        if key == self._last or self._held_back(state):
            return
        # A success held back mid-drain goes with the state that ends the drain.
        unwritten = state.last_success_at if state.last_success_at != self._success_written else None
        if state.phase is Phase.NOT_AUTHORIZED:
            sync_health.record_not_authorized(self._engine, state.last_error or "not authorized", unwritten)
        elif state.phase is Phase.OFFLINE and state.offline_since is not None:
            error = state.last_error or "offline"
            sync_health.record_offline(self._engine, state.offline_since, error, unwritten)
        elif state.last_success_at is not None:
            sync_health.record_success(self._engine, state.last_success_at)
        else:
            self._last = key  # nothing to store yet (no answer so far)
            return
        # Only once written: a write refused (a full disk) is tried again at the next state.
        self._last = key
        self._written_at = self._clock()
        self._success_written = state.last_success_at

    def _held_back(self, state: SyncState) -> bool:
        """A success mid-drain, too soon after the last write: the next write carries it."""
        if state.phase is not Phase.SYNCING or self._written_at is None:
            return False
        return self._clock() - self._written_at < self._throttle_s


def build_worker(
    engine: Engine,
    client: sync_client.SyncClient,
    settings: SyncSettings | None,
    *,
    printer_state: Callable[[], str] | None = None,
    board: faults.FaultBoard | None = None,
) -> SyncWorker:
    """A worker as every lock holder runs it (the app's keeper, `gea-kiosk sync`): its
    heartbeats carry the printer's state and the fault board's last error, and its health is
    stored for other processes. Not started."""
    worker = SyncWorker(engine, client, settings, printer_state=printer_state)
    if board is not None:
        worker.set_last_error(board.last_error)
    worker.add_observer(HealthRecorder(engine))
    return worker


@dataclass(frozen=True)
class _Enrollment:
    device_code: str
    server_url: str
    token: str

    def __repr__(self) -> str:  # the token never reaches a log through a repr
        return f"_Enrollment({self.device_code!r}, {self.server_url!r})"


class SyncKeeper(threading.Thread):
    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        *,
        timeouts: sync_client.Timeouts,
        verify: sync_client.Verify,
        sync_settings: SyncSettings | None = None,
        board: faults.FaultBoard | None = None,
        poll_s: float = POLL_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(name="gea-kiosk-keeper", daemon=True)
        self._engine = engine
        self._data_dir = data_dir
        self._timeouts = timeouts
        self._verify = verify
        self._sync_settings = sync_settings
        self._printer_state: Callable[[], str] | None = None  # set_printer_state
        self._board = board
        self._poll_s = poll_s
        self._transport = transport
        self._lock = threading.RLock()  # serialises check(), stop() and the observer lists
        self._observers: list[Callable[[KeeperState], None]] = []
        self._worker_observers: list[Callable[[SyncState], None]] = []
        self._worker: SyncWorker | None = None
        self._client: sync_client.SyncClient | None = None
        self._held: FileLock | None = None
        self._enrollment: _Enrollment | None = None
        self._state = KeeperState(None, Where.NONE)
        self._published: KeeperState | None = None
        self._stopping = threading.Event()
        self._woken = threading.Event()
        # The first check runs before the window exists (app.running_kiosk): no citizen can be
        # answering, so every unfinished row may be finished. Later ones leave recent rows be.
        self._first_check = True

    # --- the interface the app uses ----------------------------------------------------------

    def add_observer(self, callback: Callable[[KeeperState], None]) -> None:
        with self._lock:
            self._observers.append(callback)

    def add_worker_observer(self, callback: Callable[[SyncState], None]) -> None:
        """Observe the worker's states, this one's and every later one's."""
        with self._lock:
            self._worker_observers.append(callback)
            if self._worker is not None:
                self._worker.add_observer(callback)

    def set_printer_state(self, probe: Callable[[], str]) -> None:
        """How heartbeats learn the printer's state, for this worker and every later one."""
        with self._lock:
            self._printer_state = probe
            if self._worker is not None:
                self._worker.set_printer_state(probe)

    # Read without the lock: check() holds it while it stops a worker (up to its request's
    # timeout), and the GUI thread must never wait for that. A reference read is atomic.
    @property
    def state(self) -> KeeperState:
        return self._state

    @property
    def worker(self) -> SyncWorker | None:
        return self._worker

    def wake(self) -> None:
        """A row became pending: the worker sends it now. Safe from any thread."""
        worker = self.worker
        if worker is not None:
            worker.wake()

    def stop(self, timeout: float | None = STOP_TIMEOUT_S) -> None:
        """Stop polling, stop the worker after its request in flight, let the lock go."""
        self._stopping.set()
        self._woken.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        with self._lock:
            self._stop_worker()

    # --- the thread ----------------------------------------------------------------------------

    def run(self) -> None:
        said: str | None = None  # a fault that lasts is logged once, not every poll
        while not self._stopping.is_set():
            self._woken.clear()
            try:
                self.check()
                said = None
            except faults.StorageFault as exc:
                if exc.code != said:
                    log.warning("enrollment not checked: %s", exc.staff_message)
                said = exc.code
            except Exception:  # a bug here must not end the following of enrollment
                log.exception("enrollment check failed")
            self._woken.wait(self._poll_s)

    def check(self) -> KeeperState:
        """One look at the enrollment, and whatever it calls for. Returns the new state."""
        with self._lock:
            if self._stopping.is_set():
                return self._state
            current = self._read_enrollment()
            previous = self._enrollment
            self._enrollment = current
            if current is None:
                if previous is not None:
                    log.warning("the enrollment is gone (no identity or no token file); sync stopped")
                self._stop_worker()
                self._set(KeeperState(None, Where.NONE))
            elif self._worker is not None and self._worker.is_alive():
                if previous is not None and current != previous:
                    self._follow_change(previous, current)
            else:
                if self._worker is not None:
                    log.error("the sync worker had stopped; starting a new one")
                if self._stop_worker():
                    self._start_worker(current)
            self._first_check = False
            return self._state

    # --- internals -------------------------------------------------------------------------------

    def _read_enrollment(self) -> _Enrollment | None:
        who = identity.load(self._engine)
        try:
            token = identity.read_token(self._data_dir)
        except OSError as exc:
            faults.raise_as_storage_fault(exc, self._data_dir)
            raise
        if who is None or token is None:
            return None
        return _Enrollment(who.device_code, who.server_url, token)

    def _follow_change(self, previous: _Enrollment, current: _Enrollment) -> None:
        worker = self._worker
        assert worker is not None
        if (current.device_code, current.server_url) == (previous.device_code, previous.server_url):
            log.info("the device token of %s was replaced (re-enrolled); sync resumes", current.device_code)
            try:
                worker.reauthorize(current.token)
            except ValueError as exc:  # an empty or damaged token file
                self._set(KeeperState(current.device_code, Where.RUNNING, str(exc)))
                return
            self._set(KeeperState(current.device_code, Where.RUNNING))
            return
        log.info(
            "enrolled anew as %s with %s (was %s); restarting sync",
            current.device_code,
            current.server_url,
            previous.device_code,
        )
        if self._stop_worker():
            self._start_worker(current)

    def _start_worker(self, enrollment: _Enrollment) -> None:
        try:
            # First, before the lock or the outbox: a CA bundle that is not PEM or a damaged
            # token fails here, and the kiosk runs on, offline, saying what IT must fix.
            client = sync_client.SyncClient(
                enrollment.server_url,
                enrollment.token,
                timeouts=self._timeouts,
                verify=self._verify,
                transport=self._transport,
            )
        except ValueError as exc:
            problem = str(exc)
            if self._state.problem != problem:
                log.error("sync cannot start: %s", problem)
            self._set(KeeperState(enrollment.device_code, Where.NONE, problem))
            return
        if not self._take_lock(enrollment):
            client.close()
            return
        try:
            recovered = outbox.recover(
                self._engine, open_older_than=None if self._first_check else outbox.ABANDONED_OPEN_AFTER
            )
        except BaseException:
            client.close()
            self._release_lock()
            raise
        if recovered.reopened_open or recovered.returned_sending:
            log.info(
                "recovered after a stop: %d unfinished and %d in-flight submissions queued again",
                recovered.reopened_open,
                recovered.returned_sending,
            )
        worker = build_worker(
            self._engine, client, self._sync_settings, printer_state=self._printer_state, board=self._board
        )
        for callback in self._worker_observers:
            worker.add_observer(callback)
        self._worker, self._client = worker, client
        worker.start()
        log.info("sync worker started for %s", enrollment.device_code)
        self._set(KeeperState(enrollment.device_code, Where.RUNNING))

    def _take_lock(self, enrollment: _Enrollment) -> bool:
        if self._held is not None:
            return True
        try:
            self._held = lock.acquire(self._data_dir)
        except lock.SyncLockHeld:
            self._set(KeeperState(enrollment.device_code, Where.ELSEWHERE))
            return False
        except OSError as exc:
            faults.raise_as_storage_fault(exc, self._data_dir)
            raise
        return True

    def _stop_worker(self) -> bool:
        """Stop the worker and let the lock go; False if it would not stop."""
        worker, client = self._worker, self._client
        if worker is not None and not worker.stop(STOP_TIMEOUT_S):
            # Its request is still in flight: keep its client and the lock, so no second
            # worker (here or in another process) sends the same rows meanwhile. The next
            # check tries again.
            log.error("the sync worker did not stop in %.0f s; keeping the lock", STOP_TIMEOUT_S)
            return False
        self._worker = self._client = None
        if client is not None:
            client.close()
        self._release_lock()
        return True

    def _release_lock(self) -> None:
        if self._held is not None:
            self._held.release()
            self._held = None

    def _set(self, state: KeeperState) -> None:
        self._state = state
        if state == self._published:
            return
        self._published = state
        for callback in list(self._observers):
            try:
                callback(state)
            except Exception:  # one broken observer must not stop the keeper
                log.exception("a keeper observer failed")
