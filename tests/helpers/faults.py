"""Real storage faults for the kiosk's tests, no mocks: a tiny tmpfs that fills up or is
remounted read-only, and a second process that holds SQLite's write lock.

Mounting needs root. Without it these tests fail with a message saying so: they never skip,
since a fault test that silently does not run proves nothing.

Two things about SQLite decide how the faults are set up:

- A WAL file keeps the space its earlier frames took, and a write after a checkpoint reuses it
  from the start: on a full disk such a write still succeeds. `checkpoint_wal` truncates the
  WAL to zero bytes first, so the write under test must take new space.
- A file open for writing on a mount makes `mount -o remount,ro` fail ("mount point is
  busy"): every engine on the disk must be disposed first (its connections closed), as the
  kernel would find them when it turns a failing disk read-only. `read_only` says which files
  are still open when it is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import Engine

from tests.helpers.child import Child

# Room for the demo kiosk's database, its WAL and logs, and little else.
TINY_DISK_SIZE: Final = "2m"
_FILLER: Final = "filler"
_CHUNK: Final = 1 << 20

NEED_ROOT: Final = (
    "The local-fault tests need root to mount a tmpfs (a disk that really fills up, a data folder "
    "that really turns read-only). Run them as root (the dev container is), not as {user}."
)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def open_files_under(directory: Path) -> list[str]:
    """Files this process holds open under `directory` (what keeps a mount busy)."""
    found = []
    for entry in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the descriptor iterdir itself used is gone
            target = os.readlink(entry)
            if target.startswith(f"{directory}/"):
                found.append(target)
    return sorted(found)


class TinyDisk:
    """A tmpfs of TINY_DISK_SIZE mounted at `path`, for one test."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    @contextlib.contextmanager
    def mounted(cls, path: Path) -> Iterator[TinyDisk]:
        """Mount it; always unmounted afterwards (lazily if something still holds it)."""
        if os.geteuid() != 0:
            pytest.fail(NEED_ROOT.format(user=f"uid {os.geteuid()}"), pytrace=False)
        path.mkdir(parents=True, exist_ok=True)
        result = _run("mount", "-t", "tmpfs", "-o", f"size={TINY_DISK_SIZE},mode=0700", "tmpfs", str(path))
        if result.returncode != 0:
            pytest.fail(
                f"{NEED_ROOT.format(user='this account')}\nmount said: {result.stderr.strip()}", pytrace=False
            )
        disk = cls(path)
        try:
            yield disk
        finally:
            disk.unmount()

    def unmount(self) -> None:
        if _run("umount", str(self.path)).returncode == 0:
            return
        lazy = _run("umount", "-l", str(self.path))
        assert lazy.returncode == 0, f"the tiny disk at {self.path} could not be unmounted: {lazy.stderr}"

    @property
    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self) -> None:
        """Write a filler file until the disk refuses (ENOSPC): no byte is left."""
        descriptor = os.open(self.path / _FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = _CHUNK
            while chunk:
                try:
                    os.write(descriptor, bytes(chunk))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
        finally:
            os.close(descriptor)
        assert self.free_bytes == 0, f"{self.free_bytes} bytes still free on the tiny disk"

    def free(self) -> None:
        (self.path / _FILLER).unlink()
        assert self.free_bytes > 0

    def read_only(self) -> None:
        """`mount -o remount,ro`: root can no longer write there either (chmod would not stop
        root). Refused while a file is open for writing: dispose engines first."""
        result = _run("mount", "-o", "remount,ro", str(self.path))
        assert result.returncode == 0, (
            f"remounting {self.path} read-only was refused ({result.stderr.strip()}); "
            f"files this process holds open there: {open_files_under(self.path)}"
        )
        with pytest.raises(OSError, match="Read-only file system"):
            (self.path / "probe").write_text("root cannot write here now")

    def writable(self) -> None:
        result = _run("mount", "-o", "remount,rw", str(self.path))
        assert result.returncode == 0, result.stderr


def checkpoint_wal(engine: Engine) -> None:
    """Move every WAL frame into the database file and truncate the WAL to zero bytes, so the
    next write needs new space on the disk. Runs on one of the engine's own pooled
    connections (outside a transaction, as a checkpoint must), so the WAL and its -shm stay
    open as they are in a running kiosk."""
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    assert busy == 0, "the WAL could not be checkpointed: a reader or writer was in the way"


_HOLD_WRITE_LOCK: Final = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
connection.close()
print("let go", flush=True)
"""


class WriteLockHolder:
    """A second process that takes the SQLite file's write lock (BEGIN IMMEDIATE) and keeps
    it until told to let go: a stuck `gea-kiosk` command, as the kiosk would meet one."""

    def __init__(self, database_file: Path) -> None:
        self._child = Child(_HOLD_WRITE_LOCK, str(database_file))
        self._stopped = False
        try:
            line = self._child.read_line()
        except BaseException:
            self._child.stop()
            raise
        assert line == "holding", line

    def let_go(self) -> None:
        self._child.send("\n")
        assert self._child.read_line() == "let go"
        self.stop()

    def stop(self) -> None:
        """Kill it if it still runs (a test that failed before letting go)."""
        if self._stopped:
            return
        self._stopped = True
        errors = self._child.stop()
        assert "Traceback" not in errors, errors


@contextlib.contextmanager
def write_lock_held(database_file: Path) -> Iterator[WriteLockHolder]:
    holder = WriteLockHolder(database_file)
    try:
        yield holder
    finally:
        holder.stop()
