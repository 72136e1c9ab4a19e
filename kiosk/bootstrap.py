"""Builds the syncing side of a kiosk in order: database, the data directory's lock, the
start-up recovery, the client, the worker, and the observer that keeps sync health in the
database for other processes. The app and `gea-kiosk sync` both start here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from kiosk.config import KioskSettings
from kiosk.local_db import database, lock, outbox, sync_health
from kiosk.sync import client as sync_client
from kiosk.sync.worker import Phase, SyncSettings, SyncState, SyncWorker


@dataclass
class SyncSession:
    engine: Engine
    worker: SyncWorker
    recovered: outbox.Recovery


def timeouts(settings: KioskSettings) -> sync_client.Timeouts:
    return sync_client.Timeouts(connect=settings.connect_timeout_s, read_write=settings.read_timeout_s)


def tls_verify(settings: KioskSettings) -> str | bool:
    """TLS verification is always on; IT may add a CA bundle for a government PKI."""
    return str(settings.ca_bundle) if settings.ca_bundle else True


class HealthRecorder:
    """Observer: writes sync health when it changes (not on every state the worker publishes)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._last: tuple[object, ...] | None = None

    def __call__(self, state: SyncState) -> None:
        key = (state.phase, state.last_success_at, state.offline_since)
        if key == self._last:
            return
        self._last = key
        if state.phase is Phase.NOT_AUTHORIZED:
            sync_health.record_not_authorized(self._engine, state.last_error or "not authorized")
        elif state.phase is Phase.OFFLINE and state.offline_since is not None:
            sync_health.record_offline(self._engine, state.offline_since, state.last_error or "offline")
        elif state.last_success_at is not None:
            sync_health.record_success(self._engine, state.last_success_at)


@contextmanager
def sync_session(data_dir: Path, settings: KioskSettings) -> Iterator[SyncSession]:
    """Hold the lock, reset what a crash left, and build the worker (not started).

    Raises lock.SyncLockHeld when another process syncs this data directory, and
    outbox.NotEnrolled when the kiosk has no identity or token yet.
    """
    engine = database.open_database(data_dir)
    held = lock.acquire(data_dir)
    try:
        recovered = outbox.recover(engine)
        client = sync_client.open_client(
            engine, data_dir, timeouts=timeouts(settings), verify=tls_verify(settings)
        )
        try:
            worker = SyncWorker(engine, client, SyncSettings(batch_size=settings.batch_size))
            worker.add_observer(HealthRecorder(engine))
            yield SyncSession(engine, worker, recovered)
        finally:
            if worker.is_alive():
                worker.stop()
            client.close()
    finally:
        held.release()
