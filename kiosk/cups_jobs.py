"""What became of a receipt handed to CUPS, asked of libcups itself.

Qt reports a print as done once CUPS has the document, whatever CUPS does next: a stopped
queue keeps the job pending (it would print later, for the wrong citizen), a queue that
rejects jobs takes none, a failing backend aborts it. The kiosk asks CUPS for the job instead,
through the same libcups Qt uses (so it is there wherever Qt prints through CUPS), with the
few calls it needs bound by ctypes: pycups, the binding on PyPI, needs a C compiler and the
CUPS headers on every machine that installs the kiosk.

Nothing here raises for a missing libcups (Windows, macOS without CUPS): `available()` says
False and the caller trusts Qt's answer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import functools
from dataclasses import dataclass
from typing import Final

# cupsGetJobs2's `whichjobs`: every job the server remembers (finished ones too).
CUPS_WHICHJOBS_ALL: Final = -1


class JobState(enum.IntEnum):
    """IPP job-state values (RFC 8011 5.3.7)."""

    PENDING = 3
    HELD = 4
    PROCESSING = 5
    STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9


@dataclass(frozen=True)
class Job:
    id: int
    printer: str  # the queue it was sent to
    title: str
    state: JobState


class _CupsJob(ctypes.Structure):
    """cups_job_t (cups/cups.h), the layout every libcups 2.x has."""

    _fields_ = [
        ("id", ctypes.c_int),
        ("dest", ctypes.c_char_p),
        ("title", ctypes.c_char_p),
        ("user", ctypes.c_char_p),
        ("format", ctypes.c_char_p),
        ("state", ctypes.c_int),
        ("size", ctypes.c_int),
        ("priority", ctypes.c_int),
        ("completed_time", ctypes.c_long),
        ("creation_time", ctypes.c_long),
        ("processing_time", ctypes.c_long),
    ]


class _CupsOption(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]


class _CupsDest(ctypes.Structure):
    """cups_dest_t (cups/cups.h)."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("instance", ctypes.c_char_p),
        ("is_default", ctypes.c_int),
        ("num_options", ctypes.c_int),
        ("options", ctypes.POINTER(_CupsOption)),
    ]


@functools.cache
def libcups() -> ctypes.CDLL | None:
    """libcups with the calls used here bound, or None where there is none (Windows)."""
    name = ctypes.util.find_library("cups")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.cupsGetJobs2.restype = ctypes.c_int
    lib.cupsGetJobs2.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.POINTER(_CupsJob)),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.cupsFreeJobs.argtypes = [ctypes.c_int, ctypes.POINTER(_CupsJob)]
    lib.cupsCancelJob2.restype = ctypes.c_int
    lib.cupsCancelJob2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    lib.cupsGetNamedDest.restype = ctypes.POINTER(_CupsDest)
    lib.cupsGetNamedDest.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.cupsGetOption.restype = ctypes.c_char_p
    lib.cupsGetOption.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_CupsOption)]
    lib.cupsFreeDests.argtypes = [ctypes.c_int, ctypes.POINTER(_CupsDest)]
    return lib


def available() -> bool:
    return libcups() is not None


def queue(printer: str) -> str:
    """The CUPS queue of a printer as Qt names it: "receipt/80mm" is the instance "80mm" (saved
    options) of the queue "receipt", and jobs belong to the queue."""
    return printer.split("/", 1)[0]


def accepting(printer: str) -> bool | None:
    """Whether the printer's queue takes new jobs (False after `cupsreject`); None when CUPS
    cannot say."""
    lib = libcups()
    if lib is None:
        return None
    name, _, instance = printer.partition("/")
    dest = lib.cupsGetNamedDest(None, name.encode(), instance.encode() if instance else None)
    if not dest:
        return None
    try:
        value = lib.cupsGetOption(b"printer-is-accepting-jobs", dest[0].num_options, dest[0].options)
    finally:
        lib.cupsFreeDests(1, dest)
    return None if value is None else value.decode() == "true"


def jobs(printer: str | None, *, connection: int | None = None) -> list[Job]:
    """Every job CUPS remembers for `printer`'s queue (None: every queue), oldest first, from
    `connection` (an http_t*) or libcups' default server for this thread (CUPS_SERVER or the
    system's, as Qt uses it). Empty when CUPS cannot be asked."""
    lib = libcups()
    if lib is None:
        return []
    array = ctypes.POINTER(_CupsJob)()
    name = queue(printer).encode() if printer is not None else None
    # A NULL connection is libcups' default one for this thread.
    count = lib.cupsGetJobs2(connection, ctypes.byref(array), name, 0, CUPS_WHICHJOBS_ALL)
    try:
        found = []
        for i in range(max(count, 0)):
            try:
                state = JobState(array[i].state)
            except ValueError:
                continue
            found.append(
                Job(
                    array[i].id,
                    (array[i].dest or b"").decode(errors="replace"),
                    (array[i].title or b"").decode(errors="replace"),
                    state,
                )
            )
    finally:
        if array:
            lib.cupsFreeJobs(max(count, 0), array)
    return sorted(found, key=lambda job: job.id)


def newest_id(printer: str) -> int:
    """The highest job id `printer` has had (0: none), taken before a print to tell its job
    from earlier ones with the same title (a reprint)."""
    found = jobs(printer)
    return found[-1].id if found else 0


def find(printer: str, title: str, after_id: int) -> Job | None:
    """The newest job titled `title` on `printer` with an id above `after_id`."""
    matching = [job for job in jobs(printer) if job.id > after_id and job.title == title]
    return matching[-1] if matching else None


def cancel(printer: str, job_id: int) -> bool:
    """Cancel a job that could only print later, for someone else. True if CUPS agreed."""
    lib = libcups()
    if lib is None:
        return False
    # IPP status "successful-ok" and its siblings are below 0x0100.
    return bool(lib.cupsCancelJob2(None, queue(printer).encode(), job_id, 0) < 0x0100)
