"""One syncing process per data directory (ARCHITECTURE 6).

The running kiosk app, or a CLI command when the app is not running, holds this lock; only
its holder runs the sync worker and the start-up resets. The operating system releases it
when the process ends, however it ends (kill -9 included).
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

LOCK_FILENAME = "sync.lock"


class SyncLockHeld(Exception):
    """Another process (usually the running kiosk app) syncs this data directory."""


def acquire(data_dir: Path) -> FileLock:
    """Take the lock now or raise SyncLockHeld; release it with `.release()`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(data_dir / LOCK_FILENAME, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SyncLockHeld(
            f"Another process is syncing {data_dir} (the kiosk app, or gea-kiosk sync --watch). "
            "It sends the queue itself; nothing needs to be done."
        ) from None
    return lock
