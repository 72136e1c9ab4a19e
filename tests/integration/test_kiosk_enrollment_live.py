"""Enrollment followed live (issue 10): a running kiosk's SyncKeeper, with no Qt, against the
real server over HTTP and real PostgreSQL, while IT runs `gea-kiosk enroll` and
`gea-server devices revoke/reenroll` as real processes beside it.

- Started not enrolled, the keeper runs no worker; `gea-kiosk enroll` returns with the catalog
  cached, a submission is queued at once, and within seconds the keeper runs a worker that
  delivers it.
- Revoked: the next push is refused, the queue is kept; re-enrolled: the same worker thread
  resumes with the new token and delivers every queued row exactly once.
- The server goes away (a `gea-server serve` process stopped) and comes back on the same port.
- `gea-kiosk sync --watch` holds the data directory's lock: the keeper leaves the queue to it,
  and takes over within seconds of its SIGTERM.
- The app itself as a process (`gea-kiosk --windowed`, offscreen), enrolled while it runs.

What staff would read is checked through `kiosk.health.phase`, the function the sync health
screen is built from (tests/gui/test_kiosk_enrollment_screen.py checks the sentences).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

import kiosk as kiosk_package
from kiosk import bootstrap, catalog, health
from kiosk.config import KioskSettings
from kiosk.local_db import catalog_cache, database, lock, outbox
from kiosk.local_db.models import OutboxState
from kiosk.services import KioskServices
from kiosk.sync.keeper import KeeperState, SyncKeeper, Where
from kiosk.sync.worker import Phase, SyncState, SyncWorker
from tests.helpers import processes
from tests.helpers.processes import wait_until
from tests.helpers.server import LiveServer, free_port

# The passport office's kiosk sells one service (demo catalog).
ENTITY = "AGY-002"
SERVICE = "SVC-001"
# Clock slack between this process, the kiosk's records and PostgreSQL (same machine).
SLACK = timedelta(seconds=2)


@dataclass
class Counter:
    """A kiosk data directory with the app's sync keeper over it (as kiosk.ui.app builds it)."""

    data_dir: Path
    engine: Engine
    keeper: SyncKeeper
    services: KioskServices
    states: list[KeeperState] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    _seen: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """As running_kiosk does: one look now, then the keeper's own polling."""
        self.keeper.check()
        self.keeper.start()

    def on_state(self, state: KeeperState) -> None:
        with self._seen:
            self.states.append(state)

    def on_sync(self, state: SyncState) -> None:
        with self._seen:
            if not self.phases or self.phases[-1] is not state.phase:
                self.phases.append(state.phase)

    def worker(self) -> SyncWorker | None:
        """The keeper's worker now (a call, so that no earlier check is taken to still hold)."""
        return self.keeper.worker

    def report(self) -> dict[str, Any]:
        return health.report(self.engine, self.data_dir)

    def phase(self) -> str:
        """What the staff screen leads with: kiosk.health.phase, fed as the window feeds it."""
        where = self.keeper.state
        worker = self.keeper.worker
        live = worker.state.phase.value if worker is not None and where.where is Where.RUNNING else None
        return health.phase(self.report(), live, where.problem)

    def wait_for_report(self, phase: str, key: str) -> dict[str, Any]:
        """The stored health once the phase is `phase` and `key` is stored (the worker's
        phase changes first; its HealthRecorder writes a moment later)."""
        found: dict[str, Any] = {}

        def ready() -> bool:
            if self.phase() != phase:
                return False
            found.clear()
            found.update(self.report())
            return found[key] is not None

        wait_until(ready, f"phase {phase} with {key} stored")
        return found

    def queue(self, rating: int, *, grievance: bool = False) -> str:
        """A paper card queued in-process, waking the worker as the app's services do."""
        return self.services.submit_card(SERVICE, rating, grievance=grievance).reference_code

    def state_of(self, reference_code: str) -> OutboxState:
        row = outbox.find(self.engine, reference_code)
        assert row is not None, f"{reference_code} is not in the outbox"
        return row.state


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[Counter]:
    data_dir = tmp_path / "counter"
    engine = database.open_database(data_dir)
    keeper = bootstrap.keeper(engine, data_dir, KioskSettings())
    made = Counter(data_dir, engine, keeper, KioskServices(engine, on_pending=keeper.wake))
    keeper.add_observer(made.on_state)
    keeper.add_worker_observer(made.on_sync)
    try:
        yield made
    finally:
        keeper.stop()
        engine.dispose()


def test_enrolled_while_running_the_catalog_is_there_at_once_and_the_keeper_delivers(
    counter: Counter, live_server: LiveServer, db_url: URL
) -> None:
    counter.start()
    assert counter.keeper.state == KeeperState(None, Where.NONE)
    assert counter.worker() is None
    assert counter.phase() == "not_enrolled"
    assert catalog.load(counter.engine) is None

    new = processes.devices_add(db_url, ENTITY)
    printed = processes.enroll_kiosk(counter.data_dir, live_server.base_url, new.enrollment_code)

    assert f"Enrolled as {new.device_code} for {ENTITY}." in printed
    assert "Catalog downloaded (1 services)." in printed
    cached = catalog.load(counter.engine)
    assert cached is not None
    assert list(cached.services) == [SERVICE]
    # Queued the moment enroll returns, whether or not the keeper has noticed yet.
    reference = counter.queue(2)
    assert reference.startswith(f"{new.device_code}-")

    wait_until(
        lambda: counter.keeper.state == KeeperState(new.device_code, Where.RUNNING),
        "the keeper to start a worker for the new enrollment",
    )
    worker = counter.worker()
    assert worker is not None
    assert worker.is_alive()
    with pytest.raises(lock.SyncLockHeld):
        lock.acquire(counter.data_dir)  # the keeper's worker is this kiosk's one syncing process

    wait_until(lambda: counter.state_of(reference) is OutboxState.SYNCED, f"the delivery of {reference}")
    assert processes.stored_count(db_url, reference) == 1
    wait_until(lambda: counter.phase() == "online", "the health to say online")
    report = counter.report()
    assert report["device_code"] == new.device_code
    assert report["authorized"] is True
    assert report["last_success_at"] is not None
    assert counter.worker() is worker
    assert counter.states == [KeeperState(None, Where.NONE), KeeperState(new.device_code, Where.RUNNING)]


def test_revoked_then_reenrolled_the_same_worker_resumes_and_delivers_each_row_once(
    counter: Counter, live_server: LiveServer, db_url: URL
) -> None:
    new = processes.devices_add(db_url, ENTITY)
    counter.start()
    processes.enroll_kiosk(counter.data_dir, live_server.base_url, new.enrollment_code)
    wait_until(lambda: counter.phase() == "online", "the first exchange after enrollment")
    worker = counter.worker()
    assert worker is not None

    processes.devices_revoke(db_url, new.device_code)
    revoked_at = datetime.now(UTC)
    refused = counter.queue(1, grievance=True)  # the next push meets the revocation

    report = counter.wait_for_report("not_authorized", "not_authorized_since")
    assert report["authorized"] is False
    since = datetime.fromisoformat(str(report["not_authorized_since"]))
    assert revoked_at - SLACK <= since <= datetime.now(UTC) + SLACK
    wait_until(lambda: counter.state_of(refused) is OutboxState.PENDING, f"{refused} to be kept, pending")
    meanwhile = counter.queue(4)  # queued while not authorized: kept, not sent
    assert counter.state_of(meanwhile) is OutboxState.PENDING
    assert outbox.counts(counter.engine)["pending"] == 2
    assert processes.stored_count(db_url, refused) == 0
    assert processes.stored_count(db_url, meanwhile) == 0
    assert counter.keeper.state == KeeperState(new.device_code, Where.RUNNING)
    assert counter.worker() is worker

    again = processes.devices_reenroll(db_url, new.device_code)
    cached_before = catalog_cache.load(counter.engine)
    assert cached_before is not None
    with pytest.raises(lock.SyncLockHeld):
        lock.acquire(counter.data_dir)  # enroll runs while the running keeper holds the lock
    printed = processes.enroll_kiosk(counter.data_dir, live_server.base_url, again.enrollment_code)

    assert f"Enrolled as {new.device_code}" in printed
    assert "Catalog downloaded" in printed
    cached_after = catalog_cache.load(counter.engine)
    assert cached_after is not None
    assert cached_after.fetched_at > cached_before.fetched_at  # fetched by enroll itself
    wait_until(
        lambda: {counter.state_of(refused), counter.state_of(meanwhile)} == {OutboxState.SYNCED},
        "the delivery of the rows queued while revoked",
    )
    assert counter.worker() is worker  # re-authorized, not replaced
    assert worker.is_alive()
    assert processes.stored_count(db_url, refused) == 1
    assert processes.stored_count(db_url, meanwhile) == 1
    wait_until(lambda: counter.phase() == "online", "the health to say online again")
    assert counter.report()["not_authorized_since"] is None
    assert counter.states == [KeeperState(None, Where.NONE), KeeperState(new.device_code, Where.RUNNING)]
    assert Phase.NOT_AUTHORIZED in counter.phases
    after_refusal = counter.phases[counter.phases.index(Phase.NOT_AUTHORIZED) + 1 :]
    assert after_refusal, "the worker never left not_authorized"
    assert Phase.NOT_AUTHORIZED not in after_refusal


def test_the_server_going_away_and_coming_back_on_its_port(counter: Counter, db_url: URL) -> None:
    port = free_port()
    servers = [processes.ServerProcess(db_url, port)]
    try:
        new = processes.devices_add(db_url, ENTITY)
        counter.start()
        processes.enroll_kiosk(counter.data_dir, servers[0].base_url, new.enrollment_code)
        wait_until(lambda: counter.phase() == "online", "the first exchange after enrollment")
        worker = counter.worker()

        servers[0].stop()
        went_away = datetime.now(UTC)
        reference = counter.queue(5)  # the push that finds nobody there

        report = counter.wait_for_report("offline", "offline_since")
        since = datetime.fromisoformat(str(report["offline_since"]))
        assert went_away - SLACK <= since <= datetime.now(UTC) + SLACK
        assert report["authorized"] is True
        wait_until(lambda: counter.state_of(reference) is OutboxState.PENDING, f"{reference} to be kept")
        assert processes.stored_count(db_url, reference) == 0

        servers.append(processes.ServerProcess(db_url, port))  # the same address as before

        wait_until(lambda: counter.state_of(reference) is OutboxState.SYNCED, f"the delivery of {reference}")
        assert processes.stored_count(db_url, reference) == 1
        wait_until(
            lambda: counter.phase() == "online" and counter.report()["offline_since"] is None,
            "the worker and the stored health to say online again",
        )
        assert counter.worker() is worker
        assert Phase.OFFLINE in counter.phases
    finally:
        for server in servers:
            server.kill()


def test_sync_watch_holds_the_lock_then_the_keeper_takes_over_after_its_sigterm(
    counter: Counter, live_server: LiveServer, db_url: URL
) -> None:
    new = processes.devices_add(db_url, ENTITY)
    processes.enroll_kiosk(counter.data_dir, live_server.base_url, new.enrollment_code)
    watch = processes.sync_watch(counter.data_dir)
    try:
        watch.wait_for_line("Syncing")
        counter.start()
        assert counter.keeper.state == KeeperState(new.device_code, Where.ELSEWHERE)
        assert counter.worker() is None

        by_watch = counter.queue(3)
        wait_until(lambda: counter.state_of(by_watch) is OutboxState.SYNCED, "sync --watch to deliver")
        assert processes.stored_count(db_url, by_watch) == 1
        assert counter.keeper.state == KeeperState(new.device_code, Where.ELSEWHERE)
        assert counter.worker() is None  # so the watcher, not this process, delivered it
        assert counter.report()["last_success_at"] is not None  # its health is everyone's

        assert watch.terminate() == 0
        assert watch.lines[-1] == "Stopped.", watch.lines

        wait_until(
            lambda: counter.keeper.state == KeeperState(new.device_code, Where.RUNNING),
            "the keeper to take the lock over",
        )
        worker = counter.worker()
        assert worker is not None
        assert worker.is_alive()
        by_keeper = counter.queue(1, grievance=True)
        wait_until(
            lambda: counter.state_of(by_keeper) is OutboxState.SYNCED, "the keeper's worker to deliver"
        )
        assert processes.stored_count(db_url, by_keeper) == 1
        assert counter.phase() == "online"
        assert counter.states == [
            KeeperState(new.device_code, Where.ELSEWHERE),
            KeeperState(new.device_code, Where.RUNNING),
        ]
        assert not any("Traceback" in line for line in watch.lines), watch.lines
    finally:
        watch.kill()


@pytest.mark.slow
def test_the_app_as_a_process_is_enrolled_while_it_runs_and_delivers_a_cli_submission(
    tmp_path: Path, live_server: LiveServer, db_url: URL
) -> None:
    data_dir = tmp_path / "counter"
    app = processes.KioskApp(data_dir)
    try:
        app.wait_ready()
        before = processes.status(data_dir)
        assert before["device_code"] is None
        assert before["token_present"] is False
        new = processes.devices_add(db_url, ENTITY)

        printed = processes.enroll_kiosk(data_dir, live_server.base_url, new.enrollment_code)
        assert "Catalog downloaded (1 services)." in printed
        reference = processes.submit(data_dir, SERVICE, 1, grievance=True)
        assert reference.startswith(f"{new.device_code}-")

        def synced() -> bool:
            counts = processes.status(data_dir)["counts"]
            assert isinstance(counts, dict)
            return bool(counts["synced"] == 1)

        wait_until(synced, f"the running app to deliver {reference}")
        assert processes.stored_count(db_url, reference) == 1
        device = processes.device_row(db_url, new.device_code)
        assert device["is_active"] is True
        assert isinstance(device["last_seen_at"], datetime)
        assert device["app_version"] == kiosk_package.__version__
        report = processes.status(data_dir)
        assert report["authorized"] is True
        assert report["last_success_at"] is not None
        assert report["counts"] == {"open": 0, "pending": 0, "sending": 0, "synced": 1, "rejected": 0}
        assert app.process.poll() is None, "the app ended on its own"

        assert app.terminate() == 0, app.lines
        assert not any("Traceback" in line for line in app.lines), app.lines
        # It let go of the lock on its way out: a command may sync this directory now.
        after = processes.run_kiosk(data_dir, "sync", "--once")
        assert after.returncode == 0, after.stderr
    finally:
        app.kill()
