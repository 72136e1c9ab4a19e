"""The facts about Qt against a real CUPS server (tests/helpers/cups.py) that the receipt
printing code builds on (kiosk/ui/printing.py, kiosk/cups_jobs.py), each pinned by one test so
that a Qt or CUPS upgrade that changes one fails here, by name, before the product tests that
depend on it (tests/gui/test_cups_printing.py) fail for reasons harder to read. Found with
Qt 6.11 (PySide6) and CUPS 2.4 on Debian 12.

The short of it: Qt hands the finished PDF to CUPS in `QPainter.end()` and ignores CUPS'
answer, so begin() and end() return True for a stopped queue, a queue that rejects jobs, a
printer whose backend fails and a queue deleted while painting. Only CUPS knows: the printer's
state (QPrinterInfo.state(), fresh at every call) and the job's state (IPP).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo
from PySide6.QtWidgets import QApplication

from kiosk.cups_jobs import JobState
from tests.helpers.cups import CupsServer, private_cups


@pytest.fixture
def cups(qapp: QApplication) -> Iterator[CupsServer]:
    """A private cupsd that this process (and Qt in it) uses until the test ends. With the
    application first: a QPrinter without one aborts the process."""
    del qapp
    with private_cups() as server, server.as_default():
        yield server


def _paint_page(printer: QPrinter) -> tuple[bool, bool]:
    """One page with a black box on it: what QPainter.begin() and end() returned."""
    painter = QPainter()
    began = painter.begin(printer)
    if not began:
        return False, False
    painter.fillRect(QRectF(100, 100, 400, 200), QColor("black"))
    return True, painter.end()


def _names(printers: list[QPrinterInfo]) -> list[str]:
    return sorted(info.printerName() for info in printers)


def test_qt_lists_the_private_queues_and_sees_changes(cups: CupsServer) -> None:
    cups.add_saving_queue("first")
    cups.add_saving_queue("second")
    cups.set_default("second")
    assert _names(QPrinterInfo.availablePrinters()) == ["first", "second"]
    assert QPrinterInfo.defaultPrinter().printerName() == "second"
    kept = QPrinterInfo.printerInfo("first")

    # No cache: every call asks CUPS again.
    cups.add_saving_queue("late")
    cups.delete("first")
    assert _names(QPrinterInfo.availablePrinters()) == ["late", "second"]
    assert QPrinterInfo.printerInfo("first").isNull()
    assert not QPrinterInfo.printerInfo("late").isNull()
    # A QPrinterInfo already in hand is a snapshot: it still looks fine.
    assert not kept.isNull()
    assert kept.state() == QPrinter.PrinterState.Idle


@pytest.mark.parametrize(
    ("case", "job_state", "qt_state"),
    [
        # cupsdisable: the job waits in the queue for as long as the printer is stopped.
        ("stopped", JobState.PENDING, QPrinter.PrinterState.Error),
        # cupsreject: CUPS refuses the job; Qt drops it without a word and no job exists.
        ("rejecting", None, QPrinter.PrinterState.Idle),
        # The backend fails; CUPS' default error policy (stop-printer) stops the printer and
        # keeps the job, to print once the printer is started again.
        ("backend fails", JobState.PENDING, QPrinter.PrinterState.Error),
        # The same with printer-error-policy=abort-job: the job is aborted, the printer stays idle.
        ("backend fails, abort-job", JobState.ABORTED, QPrinter.PrinterState.Idle),
    ],
)
def test_qt_reports_success_whatever_cups_does_with_the_job(
    cups: CupsServer,
    case: str,
    job_state: JobState | None,
    qt_state: QPrinter.PrinterState,
) -> None:
    if case.startswith("backend fails"):
        cups.add_failing_queue("kiosk", "abort-job" if case.endswith("abort-job") else "stop-printer")
    else:
        cups.add_saving_queue("kiosk")
        (cups.disable if case == "stopped" else cups.reject)("kiosk")
    printer = QPrinter(QPrinterInfo.printerInfo("kiosk"), QPrinter.PrinterMode.HighResolution)

    assert _paint_page(printer) == (True, True)
    # QPrinter's own state only follows the painting: Idle again after end().
    assert printer.printerState() == QPrinter.PrinterState.Idle

    if case == "backend fails":
        # The job goes back to pending once the backend has failed and the printer is stopped.
        status = cups.wait_for_printer("kiosk", "disabled")
        assert "does not answer" in status  # the backend's "ERROR:" line, as the printer's reason
    if job_state is None:
        assert cups.jobs() == []
        assert "not accepting" in cups.run("lpstat", "-a", "kiosk")
    else:
        cups.wait_for_job("kiosk", job_state)
    # A fresh QPrinterInfo reads CUPS' printer-state: 5 (stopped) is Error, 3 and 4 are not.
    assert QPrinterInfo.printerInfo("kiosk").state() == qt_state


def test_a_queue_deleted_while_painting_loses_the_page_silently(cups: CupsServer) -> None:
    """No job and no word: why the kiosk takes "no job in CUPS" for a refused receipt. (A
    queue deleted between QPrinterInfo.printerInfo() and QPrinter() ends the same way, with
    Qt's warning "Could not determine printer to print to" on the console.)"""
    cups.add_saving_queue("kiosk")
    printer = QPrinter(QPrinterInfo.printerInfo("kiosk"), QPrinter.PrinterMode.HighResolution)
    painter = QPainter()
    assert painter.begin(printer)
    cups.delete("kiosk")
    assert painter.end()
    assert cups.jobs() == []
