"""Receipts on a thermal ESC/POS printer driven directly (no CUPS driver), through
`ReceiptPrinter` and through a real kiosk window: the printer is a stand-in for a network
receipt printer's raw port on 127.0.0.1 (tests/helpers/escpos_listener.py) that records the
bytes. One that prints; one that refuses the connection (nothing listening), then comes back;
one that drops the connection in the middle of a receipt; and a USB printer that is not
plugged in. Each time: what the citizen reads, what staff and the heartbeat are told, and that
the citizen's flow goes on to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from kiosk import faults
from kiosk.config import KioskSettings
from kiosk.local_db import outbox
from kiosk.receipt import Receipt, status_url
from kiosk.ui import selftest
from kiosk.ui.app import build_parts
from kiosk.ui.i18n import LanguageSwitch
from kiosk.ui.printing import ReceiptPrinter
from kiosk.ui.window import KioskWindow
from tests.gui.conftest import WindowFactory
from tests.gui.test_cups_printing import finish_receipt, tap_print
from tests.gui.test_kiosk_window import WAIT_MS, open_health, rate_and_wait, tap
from tests.helpers.escpos_listener import closed_port, escpos_listener

CODE = "K0007-000123-7QX4"
BASE_URL = "http://127.0.0.1:8123"
NO_DEVICE = "usb://04b8:0e15"  # an Epson TM-T88; no such device on a test machine
QR_PRINT = b"\x1d(k\x03\x001Q0"  # GS ( k: print the stored QR symbol
NOT_CONNECTED = "is not connected"  # the staff message for a printer that does not answer
REFUSED = "did not take the receipt"  # the staff message for a receipt the printer dropped
CITIZEN_FAILED = "The printer is not working"  # what the citizen reads


def _receipt() -> Receipt:
    return Receipt(
        reference_code=CODE,
        status_url=status_url(BASE_URL, CODE),
        service_name="Passport renewal",
        entity_name="Immigration Department",
        recorded_at=datetime(2026, 11, 22, 14, 5, tzinfo=UTC),
        complaint=True,
        rating=1,
        device_code="K0007",
    )


def _qr_store(url: str) -> bytes:
    """GS ( k, function 180: store the QR symbol's data (pL pH cn fn m, then the data)."""
    data = url.encode("ascii")
    return b"\x1d(k" + (len(data) + 3).to_bytes(2, "little") + b"1P0" + data


def _fault(board: faults.FaultBoard) -> tuple[str, str] | None:
    found = board.last_error()
    return None if found is None else (found["code"], found["message"])


def _stale_fault(board: faults.FaultBoard) -> None:
    """A printer fault from before, so a test sees a print clear it."""
    board.report(faults.PrinterFailed("an earlier receipt did not print"))
    assert _fault(board) is not None


@pytest.fixture
def english(qapp: QApplication) -> Iterator[None]:
    del qapp
    yield
    LanguageSwitch().set_language("en")


# --- ReceiptPrinter on its own ----------------------------------------------------------------


@pytest.mark.usefixtures("qapp")
def test_a_network_printer_prints_the_receipt_and_clears_the_fault() -> None:
    board = faults.FaultBoard()
    with escpos_listener() as printer:
        receipt_printer = ReceiptPrinter(None, None, "80mm", escpos=printer.url, board=board)
        _stale_fault(board)
        assert receipt_printer.state() == "ok"

        outcome = receipt_printer.print_receipt(_receipt())

    assert outcome.ok, outcome.message
    assert outcome.pdf_path is None
    [job] = printer.wait_for_jobs(1)
    assert CODE.encode() in job
    assert b"Passport renewal" in job
    assert job.index(_qr_store(f"{BASE_URL}/s/{CODE}")) < job.index(QR_PRINT)
    assert board.last_error() is None
    assert receipt_printer.last_problem is None
    assert receipt_printer.heartbeat_state() == "ok"
    assert not receipt_printer.saves_pdf


@pytest.mark.usefixtures("english")
def test_the_escpos_receipt_speaks_the_kiosk_language() -> None:
    LanguageSwitch().set_language("es")
    with escpos_listener() as printer:
        outcome = ReceiptPrinter(None, None, "80mm", escpos=printer.url).print_receipt(_receipt())

    assert outcome.ok, outcome.message
    [job] = printer.wait_for_jobs(1)
    assert b"Comprobante de queja" in job
    assert b"Quiosco K0007" in job
    assert b"Complaint receipt" not in job


@pytest.mark.usefixtures("qapp")
def test_a_printer_that_refuses_the_connection_is_missing_until_it_answers() -> None:
    board = faults.FaultBoard()
    port = closed_port()

    receipt_printer = ReceiptPrinter(None, None, "80mm", escpos=f"tcp://127.0.0.1:{port}", board=board)

    assert receipt_printer.state() == "missing"
    assert receipt_printer.heartbeat_state() == "error"
    fault = _fault(board)
    assert fault is not None
    assert fault[0] == "printer_missing"
    assert NOT_CONNECTED in fault[1]
    assert f"127.0.0.1:{port}" in fault[1]
    outcome = receipt_printer.print_receipt(_receipt())
    assert not outcome.ok
    assert f"127.0.0.1:{port}" in outcome.message
    assert receipt_printer.state() == "missing"
    assert _fault(board) == ("printer_missing", outcome.message)

    # Switched on again, at the same address: the next look finds it and the receipt prints.
    with escpos_listener(port=port) as printer:
        assert receipt_printer.refresh() == "ok"
        assert board.last_error() is None
        assert receipt_printer.print_receipt(_receipt()).ok
    assert len(printer.wait_for_jobs(1)) == 1
    assert receipt_printer.heartbeat_state() == "ok"


@pytest.mark.usefixtures("qapp")
def test_a_printer_that_drops_the_receipt_midway_has_failed_it() -> None:
    board = faults.FaultBoard()
    with escpos_listener("break", break_after=16) as printer:
        receipt_printer = ReceiptPrinter(None, None, "80mm", escpos=printer.url, board=board)
        assert receipt_printer.state() == "ok", "it answers"

        outcome = receipt_printer.print_receipt(_receipt())
        printer.wait_for_connections(2)  # the look at start-up, then the receipt

    assert not outcome.ok
    assert REFUSED in outcome.message
    assert [len(job) for job in printer.wait_for_jobs(1)] == [16], "it took the start of the receipt"
    assert receipt_printer.state() == "error"
    assert receipt_printer.heartbeat_state() == "error"
    assert receipt_printer.last_problem == outcome.message
    assert _fault(board) == ("printer_failed", outcome.message)


@pytest.mark.usefixtures("qapp")
def test_a_usb_printer_that_is_not_plugged_in_is_missing() -> None:
    board = faults.FaultBoard()

    receipt_printer = ReceiptPrinter(None, None, "80mm", escpos=NO_DEVICE, board=board)

    assert receipt_printer.state() == "missing"
    assert receipt_printer.heartbeat_state() == "error"
    fault = _fault(board)
    assert fault is not None
    assert fault[0] == "printer_missing"
    assert "USB 04b8:0e15" in fault[1]
    outcome = receipt_printer.print_receipt(_receipt())
    assert not outcome.ok
    assert "USB 04b8:0e15" in outcome.message
    assert receipt_printer.state() == "missing"


@pytest.mark.usefixtures("qapp")
def test_the_printer_kiosk_toml_describes(tmp_path: Path) -> None:
    with escpos_listener() as printer:
        configured = ReceiptPrinter.configured(KioskSettings(escpos=printer.url))
        assert configured.print_receipt(_receipt()).ok
    assert len(printer.wait_for_jobs(1)) == 1
    assert ReceiptPrinter.configured(KioskSettings(print_to_pdf=tmp_path)).saves_pdf
    # The demo puts its PDF folder over kiosk.toml's settings without validating them again.
    demo = KioskSettings(escpos=NO_DEVICE).model_copy(update={"print_to_pdf": tmp_path})
    assert ReceiptPrinter.configured(demo).print_receipt(_receipt()).pdf_path is not None


@pytest.mark.usefixtures("qapp", "english")
def test_the_selftest_says_which_escpos_printer_and_whether_it_answers(tmp_path: Path) -> None:
    port = closed_port()
    with escpos_listener() as printer:
        answering = selftest.run_checks(tmp_path / "data", KioskSettings(escpos=printer.url))
    refusing = selftest._printer(KioskSettings(escpos=f"tcp://127.0.0.1:{port}"))
    unplugged = selftest._printer(KioskSettings(escpos=NO_DEVICE))

    [check] = [c for c in answering if c.name == "printer"]
    assert check.status == "ok"
    assert check.detail.startswith(f"ESC/POS network printer 127.0.0.1:{printer.port} answers")
    assert printer.jobs == [], "the self-test prints nothing"
    assert refusing[0] == "warn"
    assert f"nothing answers at 127.0.0.1:{port}" in refusing[1]
    assert unplugged[0] == "warn"
    assert "ESC/POS USB printer" in unplugged[1]
    assert "USB 04b8:0e15" in unplugged[1]


# --- through the kiosk window -----------------------------------------------------------------

EscposWindow = Callable[[str], KioskWindow]


@pytest.fixture
def escpos_window(make_window: WindowFactory, kiosk_dir: Path, tmp_path: Path) -> EscposWindow:
    """A kiosk window whose receipts go to the ESC/POS printer at `url`, built as the kiosk
    builds its printer from kiosk.toml (ReceiptPrinter.configured)."""

    def make(url: str) -> KioskWindow:
        parts = build_parts(kiosk_dir, KioskSettings(print_to_pdf=tmp_path / "unused", services=["SVC-001"]))
        settings = KioskSettings(escpos=url, services=["SVC-001"])
        parts.settings = settings
        parts.printer = ReceiptPrinter.configured(settings, board=parts.board)
        return make_window(parts)

    return make


def _to_receipt_screen(qtbot: QtBot, window: KioskWindow) -> outbox.OutboxRow:
    """A citizen rates 1 (a ticket) and reaches the receipt offer; returns their outbox row
    (the one the receipt shows).
    Waits for the look for a missing printer that the receipt screen starts."""
    rate_and_wait(qtbot, window, 1)
    if window.parts.printer.state() == "missing":
        with qtbot.waitSignal(window.printer_checked, timeout=WAIT_MS):
            tap(window.thanks.done_button)
    else:
        tap(window.thanks.done_button)
    assert window.current is window.receipt
    shown = window.receipt.receipt
    assert shown is not None
    row = outbox.find(window.parts.services.engine, shown.reference_code)
    assert row is not None
    return row


def test_a_citizen_prints_a_receipt_on_a_network_thermal_printer(
    qtbot: QtBot, escpos_window: EscposWindow
) -> None:
    with escpos_listener() as printer:
        window = escpos_window(printer.url)
        row = _to_receipt_screen(qtbot, window)
        _stale_fault(window.parts.board)

        tap_print(qtbot, window, timeout_ms=WAIT_MS)

    assert window.receipt.print_status.property("role") == "ok"
    assert window.receipt.print_status.text() == "Your receipt is printing."
    assert not window.receipt.print_button.isEnabled(), "printed: no second copy by accident"
    [job] = printer.wait_for_jobs(1)
    assert row.reference_code.encode() in job
    url = window.receipt.url.text()
    assert url.endswith(f"/s/{row.reference_code}")
    assert job.index(_qr_store(url)) < job.index(QR_PRINT)
    assert window.parts.board.last_error() is None
    assert window.parts.printer.heartbeat_state() == "ok"
    finish_receipt(window, row)


def test_a_printer_that_refuses_the_connection_is_reported_and_the_citizen_goes_on(
    qtbot: QtBot, escpos_window: EscposWindow
) -> None:
    port = closed_port()
    window = escpos_window(f"tcp://127.0.0.1:{port}")

    row = _to_receipt_screen(qtbot, window)

    assert not window.receipt.print_button.isVisible(), "no printer: no button that cannot work"
    assert CITIZEN_FAILED in window.receipt.print_status.text()
    fault = _fault(window.parts.board)
    assert fault is not None
    assert fault[0] == "printer_missing"
    assert f"127.0.0.1:{port}" in fault[1]
    assert window.parts.printer.heartbeat_state() == "error"
    finish_receipt(window, row)
    open_health(qtbot, window)
    assert window.sync_health.values["printer"].text() == "not connected"
    assert f"127.0.0.1:{port}" in window.sync_health.values["problem"].text()

    # The printer is switched on: staff's next look finds it, and the next citizen prints.
    window.show_screen("attract")
    with escpos_listener(port=port) as printer:
        open_health(qtbot, window)
        assert window.sync_health.values["printer"].text() == "working"
        assert window.sync_health.values["problem"].text() == "none"
        window.show_screen("attract")
        second = _to_receipt_screen(qtbot, window)
        tap_print(qtbot, window, timeout_ms=WAIT_MS)
    assert window.receipt.print_status.property("role") == "ok"
    assert [second.reference_code.encode() in job for job in printer.wait_for_jobs(1)] == [True]
    finish_receipt(window, second)


def test_a_printer_that_stops_mid_receipt_is_reported_and_the_citizen_goes_on(
    qtbot: QtBot, escpos_window: EscposWindow
) -> None:
    with escpos_listener("break", break_after=16) as printer:
        window = escpos_window(printer.url)
        row = _to_receipt_screen(qtbot, window)

        tap_print(qtbot, window, timeout_ms=WAIT_MS)

        assert window.receipt.print_status.property("role") == "error"
        assert CITIZEN_FAILED in window.receipt.print_status.text()
        assert window.receipt.print_button.isEnabled(), "staff can try again once the printer is fixed"
        assert [len(job) for job in printer.wait_for_jobs(1)] == [16]
        fault = _fault(window.parts.board)
        assert fault is not None
        assert fault[0] == "printer_failed"
        assert REFUSED in fault[1]
        assert window.parts.printer.heartbeat_state() == "error"
        finish_receipt(window, row)
        # It answers again, but the receipt it dropped is still the staff's to see to.
        open_health(qtbot, window)
        assert window.sync_health.values["printer"].text().startswith("failing")
        assert REFUSED in window.sync_health.values["printer"].text()
