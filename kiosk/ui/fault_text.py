"""What staff read about a local fault, in the kiosk's language (kiosk.faults keeps the
English for logs and the fleet view)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication

from kiosk import faults


def staff_text(fault: faults.LocalFault) -> str:
    if isinstance(fault, faults.DiskFull):
        return QCoreApplication.translate(
            "Faults",
            "The kiosk's disk is full, so nothing new can be saved. Everything saved before is safe. "
            "Ask IT to free space on this kiosk.",
        )
    if isinstance(fault, faults.DatabaseBusy):
        return QCoreApplication.translate(
            "Faults",
            "The kiosk's database is busy. Try again in a moment; if this keeps happening, ask IT to "
            "look for a stuck gea-kiosk command.",
        )
    if isinstance(fault, faults.DataDirNotWritable):
        return QCoreApplication.translate(
            "Faults",
            "The kiosk cannot write to its data folder. Ask IT to make it writable again "
            "(or to repair the disk).",
        )
    # Printer faults carry a message already written for staff in their language.
    return fault.staff_message


_BY_CODE: dict[str, Callable[[], faults.StorageFault]] = {
    faults.DiskFull.code: faults.DiskFull,
    faults.DatabaseBusy.code: faults.DatabaseBusy,
    faults.DataDirNotWritable.code: faults.DataDirNotWritable,
}


def staff_text_for(code: str, message: str) -> str:
    """A fault the board remembers by its code and English message: staff's words for the
    storage faults, the message itself for the others (printers speak the kiosk's language
    already; a crash's line is for IT)."""
    kind = _BY_CODE.get(code)
    return staff_text(kind()) if kind is not None else message
