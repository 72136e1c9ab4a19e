"""What can go wrong on the kiosk's own machine, sorted by what staff and IT do about it.

::

    LocalFault                   the machine is in the way, not the citizen nor a bug; the
    │                            kiosk keeps running and says what to do (`staff_message`)
    ├── StorageFault             the data directory (SQLite file, token, logs) cannot be written
    │   ├── DiskFull             no space left (ENOSPC, SQLITE_FULL): IT frees space
    │   ├── DatabaseBusy         another process held the SQLite write lock past the busy
    │   │                        timeout: try again; IT looks for a stuck command
    │   ├── DataDirNotWritable   permissions, a read-only mount, a missing folder: IT fixes it
    │   └── DataFromNewerVersion a newer kiosk migrated the file (a downgrade): IT reinstalls it
    └── PrinterFault             a receipt could not be printed; the citizen flow goes on
        ├── PrinterMissing       no printer (or not the configured one) is connected
        └── PrinterFailed        the print system refused or dropped the receipt

The sync server's errors are a tree of their own (`kiosk.sync.errors`). Anything else is a
bug: logged with its traceback, and the kiosk recovers (`kiosk.ui.crash`).

Every fault has a snake_case `code` (what the heartbeat's `last_error` carries to the fleet
view) and keeps the original error as its `__cause__`. Messages hold paths and reasons,
never a citizen's words: SQLite's own message is not repeated, since a failed statement can
quote its parameters.
"""

from __future__ import annotations

import errno
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

# SQLite's primary result codes (the low byte of an extended code).
SQLITE_PERM: Final = 3
SQLITE_BUSY: Final = 5
SQLITE_LOCKED: Final = 6
SQLITE_READONLY: Final = 8
SQLITE_IOERR: Final = 10
SQLITE_FULL: Final = 13
SQLITE_CANTOPEN: Final = 14
# The -shm file could not be grown: SQLite writes a byte to each new page, and ENOSPC fails it.
SQLITE_IOERR_SHMSIZE: Final = SQLITE_IOERR | (19 << 8)
_DISK_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_WRITABLE_ERRNOS: Final = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR})


class LocalFault(Exception):
    """Base of the kiosk's own environment faults. `staff_message` says what to do."""

    code: ClassVar[str] = "local_fault"
    area: ClassVar[str] = "local"

    def __init__(self, staff_message: str) -> None:
        super().__init__(staff_message)
        self.staff_message = staff_message


class StorageFault(LocalFault):
    area = "storage"


class DiskFull(StorageFault):
    code = "disk_full"

    def __init__(self, where: Path | None = None) -> None:
        place = f" ({where})" if where else ""
        super().__init__(
            f"The kiosk's disk is full{place}, so nothing new can be saved. Everything saved before "
            "is safe. IT must free space on this disk."
        )


class DatabaseBusy(StorageFault):
    code = "database_busy"

    def __init__(self) -> None:
        super().__init__(
            "The kiosk's database is busy: another program held it too long. Try again in a moment; "
            "if it keeps happening, IT looks for a stuck gea-kiosk command on this machine."
        )


class DataDirNotWritable(StorageFault):
    code = "data_dir_not_writable"

    def __init__(self, where: Path | None = None) -> None:
        place = f" {where}" if where else ""
        super().__init__(
            f"The kiosk cannot write to its data folder{place}. IT must make it writable for the "
            "kiosk's user (or repair the disk if the system made it read-only)."
        )


class DataFromNewerVersion(StorageFault):
    """The database was migrated by a newer kiosk than this one (the package was downgraded):
    this version cannot know what the newer one changed, so it does not touch the queue."""

    code = "data_from_newer_version"

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"The kiosk's data was last opened by a newer version of the kiosk (its database is at "
            f"revision {revision}, which this version does not know). Nothing is lost: IT must "
            "install that version or a later one again."
        )


class PrinterFault(LocalFault):
    area = "printer"


class PrinterMissing(PrinterFault):
    code = "printer_missing"


class PrinterFailed(PrinterFault):
    code = "printer_failed"


def storage_fault(error: BaseException, where: Path | None = None) -> StorageFault | None:
    """The StorageFault an OS or SQLite error means (not yet chained), or None when it is not
    one: a constraint violation or a malformed statement is a bug, not the machine's fault."""
    if isinstance(error, StorageFault):
        return error
    if isinstance(error, OSError):
        if error.errno in _DISK_FULL_ERRNOS:
            return DiskFull(where)
        if error.errno in _NOT_WRITABLE_ERRNOS:
            return DataDirNotWritable(where)
        return None
    if isinstance(error, sqlite3.Error):
        primary = (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF
        if primary in (SQLITE_BUSY, SQLITE_LOCKED):
            return DatabaseBusy()
        if primary == SQLITE_FULL:
            return DiskFull(where)
        if primary in (SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM):
            return DataDirNotWritable(where)
        if getattr(error, "sqlite_errorcode", None) == SQLITE_IOERR_SHMSIZE:
            return DiskFull(where)
        if primary == SQLITE_IOERR:
            # An I/O error while writing is the disk refusing; which way SQLite does not say.
            return DataDirNotWritable(where)
    return None


def raise_as_storage_fault(error: BaseException, where: Path | None = None) -> None:
    """Raise the StorageFault `error` means, chained to it; return if it is none (the caller
    then re-raises `error` itself)."""
    fault = storage_fault(error, where)
    if fault is not None and fault is not error:
        raise fault from error


# --- the last fault, for the fleet view ----------------------------------------------------

# A crash is reported for this long after it happened (nothing "succeeds" to clear it).
CRASH_REPORTED_S: Final = 3600.0
INTERNAL_ERROR: Final = "internal_error"
MESSAGE_MAX_CHARS: Final = 300
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,49}")


@dataclass(frozen=True)
class Reported:
    code: str
    message: str
    at: float  # time.monotonic()
    area: str


class FaultBoard:
    """The kiosk's current local problems, one per area (storage, printer, crash), each
    cleared when that area works again. The heartbeat carries the latest as `last_error`
    (ARCHITECTURE 5), so IT sees a full disk or a failing printer without visiting.

    Safe from any thread: the GUI, the sync worker and the engine's events all write here.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, Reported] = {}

    def report(self, fault: LocalFault) -> None:
        self.note(fault.area, fault.code, fault.staff_message)

    def note(self, area: str, code: str, message: str) -> None:
        # The server refuses a whole heartbeat (and the batch it carries) whose last_error is
        # malformed: the code must be snake_case, the message short and plain text.
        if not _CODE.fullmatch(code):
            code = LocalFault.code
        text = message.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
        text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
        entry = Reported(code, text[:MESSAGE_MAX_CHARS], self._clock(), area)
        with self._lock:
            self._active[area] = entry

    def note_crash(self, where: str) -> None:
        """A bug the kiosk recovered from: its kind only (a traceback stays in the log)."""
        self.note("crash", INTERNAL_ERROR, f"The kiosk recovered from an internal error in {where}.")

    def clear(self, area: str) -> None:
        with self._lock:
            self._active.pop(area, None)

    def current(self) -> Reported | None:
        """The most recent problem still standing."""
        now = self._clock()
        with self._lock:
            crash = self._active.get("crash")
            if crash is not None and now - crash.at > CRASH_REPORTED_S:
                del self._active["crash"]
            standing = sorted(self._active.values(), key=lambda r: r.at)
        return standing[-1] if standing else None

    def last_error(self) -> dict[str, str] | None:
        """The heartbeat's `last_error` object, or None when all is well."""
        found = self.current()
        return None if found is None else {"code": found.code, "message": found.message}
