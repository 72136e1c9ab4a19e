"""Builds the syncing side of a kiosk in order: the data directory's lock, the start-up
recovery, the client, the worker, and the observer that keeps sync health in the database
for other processes. `gea-kiosk sync` starts here; the app follows enrollment live through a
`kiosk.sync.keeper.SyncKeeper` built from the same settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from kiosk import faults
from kiosk.config import KioskSettings
from kiosk.local_db import database, lock, outbox
from kiosk.sync import client as sync_client
from kiosk.sync.keeper import SyncKeeper, build_worker
from kiosk.sync.worker import SyncSettings, SyncWorker


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


def sync_settings(settings: KioskSettings) -> SyncSettings:
    return SyncSettings(batch_size=settings.batch_size)


@contextmanager
def sync_session(engine: Engine, data_dir: Path, settings: KioskSettings) -> Iterator[SyncSession]:
    """Hold the lock, reset what a crash left, and build the worker (not started).

    Raises lock.SyncLockHeld when another process syncs this data directory,
    outbox.NotEnrolled when the kiosk has no identity or token yet, and ValueError when
    kiosk.toml's CA bundle cannot be used.
    """
    held = lock.acquire(data_dir)
    try:
        # A command never knows whether the app is answering a citizen right now: only open
        # rows long abandoned are finished (the app finishes its own at its start).
        recovered = outbox.recover(engine, open_older_than=outbox.ABANDONED_OPEN_AFTER)
        client = sync_client.open_client(
            engine, data_dir, timeouts=timeouts(settings), verify=tls_verify(settings)
        )
        try:
            # The command's own faults (its disk, its database) travel with its heartbeats.
            board = faults.FaultBoard()
            database.report_faults(engine, board)
            worker = build_worker(engine, client, sync_settings(settings), board=board)
            yield SyncSession(engine, worker, recovered)
        finally:
            if worker.is_alive():
                worker.stop()
            client.close()
    finally:
        held.release()


def keeper(
    engine: Engine,
    data_dir: Path,
    settings: KioskSettings,
    *,
    board: faults.FaultBoard | None = None,
) -> SyncKeeper:
    """The app's sync: a keeper that starts, re-authorizes and replaces the worker as the
    enrollment changes (not started)."""
    return SyncKeeper(
        engine,
        data_dir,
        timeouts=timeouts(settings),
        verify=tls_verify(settings),
        sync_settings=sync_settings(settings),
        board=board,
    )
