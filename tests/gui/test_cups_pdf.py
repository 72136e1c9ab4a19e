"""A citizen's receipt through the real kiosk window, the real CUPS and Debian's virtual PDF
printer (cups-pdf with its own driver, tests/helpers/cups.py): the PDF cups-pdf wrote holds a QR
code that opens the kiosk's status page for the citizen's reference. Then CUPS stops: staff see
the printer missing, and the next citizen goes through without being held up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from kiosk import cups_jobs, demo
from kiosk.cups_jobs import JobState
from kiosk.local_db import database, identity, outbox
from tests.gui.conftest import WindowFactory
from tests.gui.test_cups_printing import PRINT_WAIT_MS, finish_receipt
from tests.gui.test_kiosk_window import only_row, open_health, rate_and_wait, tap
from tests.helpers.cups import CupsServer, private_cups

QUEUE = "counter-pdf"
# Not the demo's address: the receipt must carry the one this kiosk was enrolled with, path kept.
PUBLIC_BASE_URL = "https://status.example.gd/feedback"


@pytest.fixture
def kiosk_dir(tmp_path: Path) -> Path:
    """The offline demo kiosk (DEMO1, the built-in catalog), enrolled as if with a server whose
    public address is PUBLIC_BASE_URL."""
    directory = tmp_path / "kiosk"
    demo.prepare_offline(directory)
    engine = database.open_database(directory)
    try:
        who = identity.load(engine)
        token = identity.read_token(directory)
        assert who is not None
        assert token is not None
        identity.save(engine, directory, replace(who, public_base_url=PUBLIC_BASE_URL), token)
    finally:
        engine.dispose()
    return directory


@pytest.fixture
def cups(qapp: QApplication) -> Iterator[CupsServer]:
    """A private cupsd that this process (Qt and kiosk.cups_jobs in it) uses until the test ends.
    With the application first: a QPrinter without one aborts the process."""
    del qapp
    assert cups_jobs.available(), "libcups was not found: apt-get install -y libcups2"
    with private_cups() as server, server.as_default():
        yield server


def test_a_receipt_printed_on_the_pdf_printer_opens_the_status_page_and_a_stopped_cups_blocks_no_one(
    qtbot: QtBot, cups: CupsServer, make_window: WindowFactory
) -> None:
    folder = cups.add_cups_pdf_queue(QUEUE)
    window = make_window(printer=QUEUE, print_to_pdf=None)
    board = window.parts.board
    rate_and_wait(qtbot, window, 1)
    assert window.current is window.thanks
    tap(window.thanks.done_button)
    assert window.current is window.receipt, "a rating of 1 becomes a ticket: receipt offered"
    first = only_row(window)
    expected = f"{PUBLIC_BASE_URL}/s/{first.reference_code}"
    assert window.receipt.url.text() == expected

    with qtbot.waitSignal(window.print_answered, timeout=PRINT_WAIT_MS):
        tap(window.receipt.print_button)

    assert window.receipt.print_status.property("role") == "ok"
    assert window.receipt.print_status.text() == "Your receipt is printing."
    job = cups.wait_for_job(QUEUE, JobState.COMPLETED, JobState.ABORTED, JobState.STOPPED)
    assert job.state is JobState.COMPLETED, cups.cups_pdf_log(QUEUE)
    assert job.title == f"Receipt {first.reference_code}"
    pdf, printed = cups.only_roll_receipt(QUEUE)
    assert pdf.parent == folder
    assert printed.qr_codes == [expected]
    assert board.last_error() is None
    finish_receipt(window, first)

    # CUPS stops (the service died, or IT stopped it). Staff open Sync health: it asks again.
    cups.stop()
    open_health(qtbot, window)

    assert window.sync_health.values["printer"].text() == "not connected"
    problem = window.sync_health.values["problem"].text()
    assert QUEUE in problem
    assert "not connected" in problem
    reported = board.last_error()
    assert reported is not None
    assert reported["code"] == "printer_missing"
    assert window.parts.printer.heartbeat_state() == "error", "the ministry's fleet view hears of it"

    # The next citizen: rating, thank-you, their receipt on screen to scan, and done. The
    # receipt screen looks for the missing printer again, off the GUI thread, and finds none.
    window.show_screen("attract")
    rate_and_wait(qtbot, window, 1)
    assert window.current is window.thanks
    with qtbot.waitSignal(window.printer_checked, timeout=PRINT_WAIT_MS):
        tap(window.thanks.done_button)
    assert window.current is window.receipt
    second = outbox.find(window.parts.services.engine, window.receipt.code.text())
    assert second is not None
    assert second.reference_code != first.reference_code
    assert window.receipt.url.text() == f"{PUBLIC_BASE_URL}/s/{second.reference_code}"
    assert not window.receipt.print_button.isVisible(), "no printer: no button that cannot work"
    assert window.receipt.print_status.property("role") == "error"
    assert "scan the code" in window.receipt.print_status.text()
    finish_receipt(window, second)
    assert cups.cups_pdf_files(QUEUE) == [pdf], "nothing more printed"
