"""Receipts printed on a real CUPS server (tests/helpers/cups.py: a private cupsd with real
queues), through `ReceiptPrinter` and through a real kiosk window: a working printer, a stopped
one, one whose backend fails, one that rejects jobs, one that is not there and then is, and a
slow one. Qt reports every print as done; these tests check what the kiosk makes of what CUPS
really did, what it tells the citizen, staff and the heartbeat, and that the citizen flow goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import zxingcpp
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from kiosk import cups_jobs, faults
from kiosk.cups_jobs import Job, JobState
from kiosk.local_db import outbox
from kiosk.local_db.models import OutboxState
from kiosk.receipt import Receipt, status_url
from kiosk.ui import printing, resources
from kiosk.ui.printing import ReceiptPrinter
from kiosk.ui.window import KioskWindow
from tests.gui.conftest import WindowFactory
from tests.gui.test_kiosk_window import only_row, open_health, print_receipt, rate_and_wait, tap
from tests.helpers.cups import CupsServer, private_cups

QUEUE = "counter-1"
MM_PER_PT = 25.4 / 72
CODE = "K0007-000123-7QX4"
# A deadline for a print's outcome: CUPS is asked for up to PRINT_CONFIRM_S, the rest is slack
# for a loaded machine. Nothing waits this long unless something is broken.
PRINT_WAIT_MS = round((printing.PRINT_CONFIRM_S + 25) * 1000)
STOPPED = "has stopped"  # the staff message for a stopped printer
REFUSED = "did not take the receipt"  # the staff message for a job CUPS refused or gave up
CITIZEN_FAILED = "The printer is not working"  # what the citizen reads


@pytest.fixture
def cups(qapp: QApplication) -> Iterator[CupsServer]:
    """A private cupsd that this process (Qt and kiosk.cups_jobs in it) uses until the test ends.
    With the application first: a QPrinter without one aborts the process."""
    del qapp
    assert cups_jobs.available(), "libcups was not found: apt-get install -y libcups2"
    with private_cups() as server, server.as_default():
        yield server


@pytest.fixture
def kiosk_font(qapp: QApplication) -> Iterator[None]:
    """The kiosk's shipped font, as the window uses it (without a font the PDF holds no text)."""
    before = qapp.font()
    resources.load_fonts(qapp)
    yield
    qapp.setFont(before)


@pytest.fixture
def kiosk(cups: CupsServer, make_window: WindowFactory) -> WindowFactory:
    """Kiosk windows printing on the private CUPS (set up first, so Qt asks it from the start)."""
    del cups

    def make(**settings: object) -> KioskWindow:
        return make_window(printer=QUEUE, print_to_pdf=None, **settings)

    return make


def _receipt(code: str = CODE) -> Receipt:
    return Receipt(
        reference_code=code,
        status_url=status_url("http://127.0.0.1:8123", code),
        service_name="Passport renewal",
        entity_name="Immigration Department",
        recorded_at=datetime(2026, 11, 22, 14, 5, tzinfo=UTC),
        complaint=True,
        rating=1,
        device_code="K0007",
    )


@dataclass(frozen=True)
class Printed:
    """The document a printer got for a job, read back: a raw queue gets Qt's own PDF."""

    width_mm: float
    text: str  # whitespace collapsed
    qr_codes: list[str]


def _printed(folder: Path, job: Job) -> Printed:
    document = pdfium.PdfDocument(str(folder / f"job-{job.id}.pdf"))
    try:
        page = document[0]
        width_pt, _ = page.get_size()
        text = " ".join(page.get_textpage().get_text_range().split())
        image = page.render(scale=4).to_pil().convert("L")
        codes = [barcode.text for barcode in zxingcpp.read_barcodes(image)]
        return Printed(width_pt * MM_PER_PT, text, codes)
    finally:
        document.close()


def _printer_fault(board: faults.FaultBoard) -> str | None:
    found = board.last_error()
    return None if found is None else found["code"]


def _stale_fault(board: faults.FaultBoard) -> None:
    """A printer fault from before, so a test sees the print clear it."""
    board.report(faults.PrinterFailed("an earlier receipt did not print"))
    assert _printer_fault(board) == "printer_failed"


# --- ReceiptPrinter on its own ----------------------------------------------------------------


@pytest.mark.usefixtures("kiosk_font")
def test_a_working_queue_prints_the_receipt_and_clears_the_fault(cups: CupsServer) -> None:
    folder = cups.add_saving_queue(QUEUE)
    board = faults.FaultBoard()
    printer = ReceiptPrinter(QUEUE, None, "80mm", board=board)
    _stale_fault(board)

    outcome = printer.print_receipt(_receipt())

    assert outcome.ok, outcome.message
    assert outcome.message == "The receipt is printing."
    job = cups.wait_for_job(QUEUE, JobState.COMPLETED)
    assert [j.id for j in cups.jobs()] == [job.id]
    assert job.title == f"Receipt {CODE}"
    printed = _printed(folder, job)
    assert printed.width_mm == pytest.approx(80, abs=0.5), "the roll's paper size reached the printer"
    assert CODE in printed.text
    assert printed.qr_codes == [_receipt().status_url]
    assert printer.state() == "ok"
    assert printer.heartbeat_state() == "ok"
    assert printer.last_problem is None
    assert board.last_error() is None


def test_a_stopped_queue_gets_no_job_until_it_is_restarted(cups: CupsServer) -> None:
    cups.add_saving_queue(QUEUE)
    cups.disable(QUEUE)
    board = faults.FaultBoard()
    printer = ReceiptPrinter(QUEUE, None, "80mm", board=board)

    outcome = printer.print_receipt(_receipt())

    assert not outcome.ok
    assert STOPPED in outcome.message
    assert QUEUE in outcome.message
    assert cups.jobs() == [], "a stopped queue would print the receipt later, for someone else"
    assert printer.state() == "error"
    assert printer.heartbeat_state() == "error"
    assert printer.last_problem == outcome.message
    assert board.last_error() == {"code": "printer_failed", "message": outcome.message}

    # IT restarts the queue: the next receipt prints, and only that one.
    cups.enable(QUEUE)
    again = printer.print_receipt(_receipt())
    assert again.ok, again.message
    job = cups.wait_for_job(QUEUE, JobState.COMPLETED)
    assert [j.id for j in cups.jobs()] == [job.id]
    assert printer.heartbeat_state() == "ok"
    assert board.last_error() is None


def test_a_failing_backend_that_stops_the_printer_gets_its_job_cancelled(cups: CupsServer) -> None:
    cups.add_failing_queue(QUEUE, "stop-printer")
    board = faults.FaultBoard()
    printer = ReceiptPrinter(QUEUE, None, "80mm", board=board)

    outcome = printer.print_receipt(_receipt())

    assert not outcome.ok
    assert STOPPED in outcome.message
    # Cancelled, not left pending: it never prints once the printer is back, for someone else.
    [job] = cups.jobs()
    assert job.title == f"Receipt {CODE}"
    assert job.state is JobState.CANCELED
    assert "disabled" in cups.printer_status(QUEUE)
    assert printer.heartbeat_state() == "error"
    assert board.last_error() == {"code": "printer_failed", "message": outcome.message}

    # The printer is stopped now: the next receipt is not even sent.
    second = printer.print_receipt(_receipt("K0007-000124-8RY5"))
    assert not second.ok
    assert STOPPED in second.message
    assert [j.id for j in cups.jobs()] == [job.id]


def test_a_failing_backend_that_aborts_the_job_is_a_failure(cups: CupsServer) -> None:
    cups.add_failing_queue(QUEUE, "abort-job")
    board = faults.FaultBoard()
    printer = ReceiptPrinter(QUEUE, None, "80mm", board=board)

    outcome = printer.print_receipt(_receipt())

    assert not outcome.ok
    assert REFUSED in outcome.message
    [job] = cups.jobs()
    assert job.state is JobState.ABORTED
    assert "enabled" in cups.wait_for_printer(QUEUE, "idle"), "abort-job keeps the printer up"
    assert board.last_error() == {"code": "printer_failed", "message": outcome.message}


def test_a_queue_that_rejects_jobs_is_a_failure(cups: CupsServer) -> None:
    cups.add_saving_queue(QUEUE)
    cups.reject(QUEUE)
    board = faults.FaultBoard()
    printer = ReceiptPrinter(QUEUE, None, "80mm", board=board)
    assert printer.state() == "ok", "a rejecting queue looks idle until a receipt is sent"

    outcome = printer.print_receipt(_receipt())

    assert not outcome.ok
    assert REFUSED in outcome.message
    assert cups.jobs() == []
    assert printer.heartbeat_state() == "error"
    assert board.last_error() == {"code": "printer_failed", "message": outcome.message}


@pytest.mark.usefixtures("kiosk_font")
def test_cups_says_whether_a_queue_takes_jobs_and_jobs_belong_to_the_queue(cups: CupsServer) -> None:
    """What the kiosk asks libcups itself: a queue taking jobs or not (a job that vanished at
    once printed, or was refused), and an instance ("queue/options") shares its queue's jobs."""
    cups.add_saving_queue(QUEUE)
    assert cups_jobs.accepting(QUEUE) is True
    assert cups_jobs.accepting(f"{QUEUE}/80mm") is True
    cups.reject(QUEUE)
    assert cups_jobs.accepting(QUEUE) is False
    assert cups_jobs.accepting("no-such-printer") is None
    assert cups_jobs.queue(f"{QUEUE}/80mm") == QUEUE
    assert cups_jobs.jobs(f"{QUEUE}/80mm") == cups_jobs.jobs(QUEUE)


def test_a_printer_cups_does_not_know_is_missing_until_it_is_added(cups: CupsServer) -> None:
    cups.add_saving_queue("another-counter")
    board = faults.FaultBoard()
    printer = ReceiptPrinter(QUEUE, None, "80mm", board=board)

    assert printer.state() == "missing"
    assert printer.heartbeat_state() == "error"
    reported = board.last_error()
    assert reported is not None
    assert reported["code"] == "printer_missing"
    assert QUEUE in reported["message"]
    outcome = printer.print_receipt(_receipt())
    assert not outcome.ok
    assert "not connected" in outcome.message
    assert _printer_fault(board) == "printer_missing"
    assert cups.jobs() == [], "not sent to another printer instead"

    # Plugged in: the next look finds it, the fault clears, and receipts print.
    folder = cups.add_saving_queue(QUEUE)
    assert printer.refresh() == "ok"
    assert printer.heartbeat_state() == "ok"
    assert board.last_error() is None
    printed = printer.print_receipt(_receipt())
    assert printed.ok, printed.message
    job = cups.wait_for_job(QUEUE, JobState.COMPLETED)
    assert _printed(folder, job).qr_codes == [_receipt().status_url]


@pytest.mark.usefixtures("kiosk_font")
def test_a_slow_printer_is_trusted_after_the_window_and_its_job_kept(
    cups: CupsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still printing when the kiosk stops asking: ok, and the job is left to finish."""
    monkeypatch.setattr(printing, "PRINT_CONFIRM_S", 0.5)
    folder = cups.add_holding_queue(QUEUE)
    board = faults.FaultBoard()
    printer = ReceiptPrinter(QUEUE, None, "80mm", board=board)

    outcome = printer.print_receipt(_receipt())

    assert outcome.ok, outcome.message
    [job] = cups.jobs()
    assert job.state in (JobState.PENDING, JobState.PROCESSING), "a working printer's job is not cancelled"
    assert board.last_error() is None
    cups.release(QUEUE)
    assert cups.wait_for_job(QUEUE, JobState.COMPLETED).id == job.id
    assert _printed(folder, job).qr_codes == [_receipt().status_url]


# --- through the kiosk window -----------------------------------------------------------------


def _to_receipt_screen(qtbot: QtBot, window: KioskWindow) -> outbox.OutboxRow:
    """A citizen rates 1 (a ticket) and reaches the receipt offer; returns their outbox row."""
    rate_and_wait(qtbot, window, 1)
    tap(window.thanks.done_button)
    assert window.current is window.receipt
    return only_row(window)


def tap_print(qtbot: QtBot, window: KioskWindow, *, timeout_ms: int = PRINT_WAIT_MS) -> None:
    """Print is offered, tapped, and its outcome arrives (tests/gui/test_escpos_receipts.py too)."""
    assert window.receipt.print_button.isVisible()
    print_receipt(qtbot, window, timeout_ms=timeout_ms)


def finish_receipt(window: KioskWindow, row: outbox.OutboxRow) -> None:
    """The citizen taps Finish: back to the start, their submission on its way unchanged."""
    tap(window.receipt.finish_button)
    assert window.current is window.attract
    after = outbox.find(window.parts.services.engine, row.reference_code)
    assert after is not None
    assert after.state is OutboxState.PENDING
    assert after.payload == row.payload


def test_a_citizen_prints_a_receipt_on_a_working_printer(
    qtbot: QtBot, cups: CupsServer, kiosk: WindowFactory
) -> None:
    folder = cups.add_saving_queue(QUEUE)
    window = kiosk()
    board = window.parts.board
    row = _to_receipt_screen(qtbot, window)
    _stale_fault(board)

    tap_print(qtbot, window)

    assert window.receipt.print_status.property("role") == "ok"
    assert window.receipt.print_status.text() == "Your receipt is printing."
    assert not window.receipt.print_button.isEnabled(), "printed: no second copy by accident"
    job = cups.wait_for_job(QUEUE, JobState.COMPLETED)
    assert job.title == f"Receipt {row.reference_code}"
    printed = _printed(folder, job)
    assert row.reference_code in printed.text
    assert printed.qr_codes == [window.receipt.url.text()]
    assert board.last_error() is None
    assert window.parts.printer.heartbeat_state() == "ok"
    finish_receipt(window, row)


def test_the_receipt_screen_says_printing_while_the_printer_works(
    qtbot: QtBot, cups: CupsServer, kiosk: WindowFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough that the outcome waits for the job, whatever the machine's load.
    monkeypatch.setattr(printing, "PRINT_CONFIRM_S", 60.0)
    cups.add_holding_queue(QUEUE)
    window = kiosk()
    row = _to_receipt_screen(qtbot, window)

    tap(window.receipt.print_button)
    qtbot.waitUntil(lambda: window.receipt.print_status.text() == "Printing…", timeout=PRINT_WAIT_MS)
    assert not window.receipt.print_button.isEnabled(), "one print at a time"
    cups.wait_for_job(QUEUE, JobState.PROCESSING)  # held by the printer, not lost

    with qtbot.waitSignal(window.print_answered, timeout=PRINT_WAIT_MS):
        cups.release(QUEUE)

    assert window.receipt.print_status.text() == "Your receipt is printing."
    assert cups.jobs()[-1].state is JobState.COMPLETED, "the outcome waited for the job"
    finish_receipt(window, row)


@pytest.mark.parametrize("case", ["stopped", "backend fails", "rejecting"])
def test_a_failing_printer_is_reported_and_the_citizen_goes_on(
    qtbot: QtBot, cups: CupsServer, kiosk: WindowFactory, case: str
) -> None:
    if case == "backend fails":
        cups.add_failing_queue(QUEUE, "stop-printer")
    else:
        cups.add_saving_queue(QUEUE)
    window = kiosk()
    if case == "stopped":
        cups.disable(QUEUE)
    elif case == "rejecting":
        cups.reject(QUEUE)
    row = _to_receipt_screen(qtbot, window)

    tap_print(qtbot, window)

    assert window.receipt.print_status.property("role") == "error"
    assert CITIZEN_FAILED in window.receipt.print_status.text()
    assert window.receipt.print_button.isEnabled(), "staff can try again once the printer is fixed"
    expected_jobs = {
        "stopped": [],  # never sent
        "backend fails": [JobState.CANCELED],  # sent, failed, and cancelled while it waited
        "rejecting": [],  # refused by CUPS
    }[case]
    assert [job.state for job in cups.jobs()] == expected_jobs
    reported = window.parts.board.last_error()
    assert reported is not None
    assert reported["code"] == "printer_failed"
    assert (STOPPED if case != "rejecting" else REFUSED) in reported["message"]
    assert window.parts.printer.heartbeat_state() == "error"
    finish_receipt(window, row)


def test_staff_see_a_stopped_printer_in_sync_health(
    qtbot: QtBot, cups: CupsServer, kiosk: WindowFactory
) -> None:
    cups.add_saving_queue(QUEUE)
    window = kiosk()
    cups.disable(QUEUE)
    row = _to_receipt_screen(qtbot, window)
    tap_print(qtbot, window)
    finish_receipt(window, row)

    open_health(qtbot, window)

    assert window.current is window.sync_health
    printer_text = window.sync_health.values["printer"].text()
    assert printer_text.startswith("failing")
    assert STOPPED in printer_text
    assert QUEUE in printer_text
    assert STOPPED in window.sync_health.values["problem"].text()


def test_a_printer_plugged_in_after_start_is_found_and_prints(
    qtbot: QtBot, cups: CupsServer, kiosk: WindowFactory
) -> None:
    window = kiosk()
    board = window.parts.board
    assert _printer_fault(board) == "printer_missing"
    first = _to_receipt_screen(qtbot, window)
    assert not window.receipt.print_button.isVisible(), "no printer: no button that cannot work"
    assert CITIZEN_FAILED in window.receipt.print_status.text()
    finish_receipt(window, first)
    open_health(qtbot, window)
    assert window.sync_health.values["printer"].text() == "not connected"
    assert QUEUE in window.sync_health.values["problem"].text()
    window.show_screen("attract")

    # IT plugs it in (CUPS gets the queue); the next citizen's receipt prints.
    folder = cups.add_saving_queue(QUEUE)
    rate_and_wait(qtbot, window, 1)
    # The receipt screen asks the print system again, off the GUI thread.
    with qtbot.waitSignal(window.printer_checked, timeout=PRINT_WAIT_MS):
        tap(window.thanks.done_button)
    assert window.current is window.receipt
    assert window.receipt.print_button.isVisible(), "the receipt screen looked again"
    assert board.last_error() is None
    tap_print(qtbot, window)
    assert window.receipt.print_status.property("role") == "ok"
    job = cups.wait_for_job(QUEUE, JobState.COMPLETED)
    assert _printed(folder, job).qr_codes == [window.receipt.url.text()]
    open_health(qtbot, window)
    assert window.sync_health.values["printer"].text() == "working"
    assert window.sync_health.values["problem"].text() == "none"


def test_staff_see_a_printer_stopped_since_the_last_receipt_and_restarted(
    qtbot: QtBot, cups: CupsServer, kiosk: WindowFactory
) -> None:
    """No receipt has failed yet: the staff screen asks CUPS itself, both ways."""
    cups.add_saving_queue(QUEUE)
    window = kiosk()
    board = window.parts.board
    cups.disable(QUEUE)

    open_health(qtbot, window)

    assert window.sync_health.values["printer"].text().startswith("failing")
    assert STOPPED in window.sync_health.values["problem"].text()
    assert _printer_fault(board) == "printer_failed"
    assert window.parts.printer.heartbeat_state() == "error"

    cups.enable(QUEUE)  # IT restarts it; staff open the screen again
    open_health(qtbot, window)
    assert window.sync_health.values["printer"].text() == "working"
    assert window.sync_health.values["problem"].text() == "none"
    assert board.last_error() is None
    assert window.parts.printer.heartbeat_state() == "ok"


def test_a_printer_unplugged_before_the_tap_is_missing_then_found_again(
    qtbot: QtBot, cups: CupsServer, kiosk: WindowFactory
) -> None:
    cups.add_saving_queue(QUEUE)
    window = kiosk()
    row = _to_receipt_screen(qtbot, window)
    cups.delete(QUEUE)  # unplugged while the citizen reads the screen

    tap_print(qtbot, window)

    assert CITIZEN_FAILED in window.receipt.print_status.text()
    assert _printer_fault(window.parts.board) == "printer_missing"
    assert cups.jobs() == []
    finish_receipt(window, row)
    open_health(qtbot, window)
    assert window.sync_health.values["printer"].text().startswith("not connected")

    cups.add_saving_queue(QUEUE)
    open_health(qtbot, window)
    assert window.sync_health.values["printer"].text() == "working", "no stale problem beside it"
    assert window.sync_health.values["problem"].text() == "none"
    assert window.parts.board.last_error() is None
