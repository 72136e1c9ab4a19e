"""ESC/POS receipts (kiosk.escpos_printer) sent over real TCP connections to a stand-in for a
network receipt printer's raw port (tests/helpers/escpos_listener.py), which records the bytes:
the receipt's text, the printer's own QR command with the status page's address, and a cut;
and what happens when the printer refuses the connection, drops it midway, or is a USB
printer that is not plugged in. The ESC/POS commands expected are written out here from
Epson's ESC/POS reference, not taken from the library that makes them.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kiosk import escpos_printer
from kiosk.escpos_printer import JobBroken, NotReachable, TcpTarget, UsbTarget
from kiosk.receipt import Receipt, status_url
from tests.helpers.escpos_listener import closed_port, escpos_listener, silent_port

BASE_URL = "http://127.0.0.1:8123"
CODE = "K0007-000123-7QX4"
ESC_INIT = b"\x1b@"  # ESC @
QR_PRINT = b"\x1d(k\x03\x001Q0"  # GS ( k, function 181: print the stored symbol
CUTS = (b"\x1dV\x00", b"\x1dV\x01", b"\x1dV\x30", b"\x1dV\x31")  # GS V m: full or partial
NO_DEVICE = "usb://04b8:0e15"  # an Epson TM-T88; no such device on a test machine


def _receipt(service: str = "Passport renewal") -> Receipt:
    return Receipt(
        reference_code=CODE,
        status_url=status_url(BASE_URL, CODE),
        service_name=service,
        entity_name="Immigration Department",
        recorded_at=datetime(2026, 11, 22, 14, 5, tzinfo=UTC),
        complaint=True,
        rating=1,
        device_code="K0007",
        ticket_number="202611-000042",
    )


WORDING = escpos_printer.Wording(
    title="Complaint receipt",
    reference_label="Reference code",
    ticket="Ticket number: 202611-000042",
    rating="Your rating: 1 of 5",
    closing="Keep this receipt to follow it up.",
    kiosk="Kiosk K0007",
)


def _qr_store(url: str) -> bytes:
    """GS ( k, function 180: store the QR symbol's data; pL pH count cn fn m and the data."""
    data = url.encode("ascii")
    return b"\x1d(k" + (len(data) + 3).to_bytes(2, "little") + b"1P0" + data


def test_the_printer_gets_the_receipt_text_its_qr_code_and_a_cut() -> None:
    data = escpos_printer.compose(_receipt(), WORDING)
    with escpos_listener() as printer:
        escpos_printer.send(escpos_printer.parse_target(printer.url), data)
        job = printer.wait_for_jobs(1)[0]

    assert printer.jobs == [data], "one connection, the whole job, nothing else"
    assert job.startswith(ESC_INIT)
    for text in (CODE, "Passport renewal", "Immigration Department", "Ticket number: 202611-000042"):
        assert text.encode("ascii") in job
    url = f"{BASE_URL}/s/{CODE}"
    assert url == _receipt().status_url
    store = job.index(_qr_store(url))
    printed = job.index(QR_PRINT)
    assert store < printed
    cut = max(job.rfind(c) for c in CUTS)
    assert cut > printed, "cut after the QR code"
    assert job.index(CODE.encode()) < store
    assert len(job) - cut <= 3, "the cut is the job's last command"


def test_catalog_text_is_printed_never_obeyed() -> None:
    # ESC i is a partial cut on Epson printers; GS V a cut anywhere.
    job = escpos_printer.compose(_receipt("Passport\x1bi renewal\x1dV"), WORDING)

    assert b"Passport i renewal V" in job
    assert b"\x1bi" not in job
    assert sum(job.count(c) for c in CUTS) == 1


def test_a_long_service_name_is_wrapped_within_the_roll() -> None:
    name = "Registration of births, deaths and marriages for the parish of Saint Andrew"
    job = escpos_printer.compose(_receipt(name), WORDING)

    lines = textwrap.wrap(name, escpos_printer.COLUMNS)
    assert len(lines) > 1
    for line in lines:
        assert f"{line}\n".encode() in job


def test_a_printer_that_refuses_the_connection_is_not_reachable() -> None:
    port = closed_port()
    target = escpos_printer.parse_target(f"tcp://127.0.0.1:{port}")

    with pytest.raises(NotReachable) as probed:
        escpos_printer.probe(target)
    with pytest.raises(NotReachable) as sent:
        escpos_printer.send(target, escpos_printer.compose(_receipt(), WORDING))

    for error in (probed.value, sent.value):
        assert f"127.0.0.1:{port}" in str(error)
        assert isinstance(error.__cause__, ConnectionRefusedError)


def test_a_printer_that_drops_the_connection_mid_job_broke_the_job() -> None:
    data = escpos_printer.compose(_receipt(), WORDING)
    with escpos_listener("break", break_after=16) as printer:
        target = escpos_printer.parse_target(printer.url)
        with pytest.raises(JobBroken) as broken:
            escpos_printer.send(target, data)
        printer.wait_for_connections(1)

    assert printer.jobs == [data[:16]], "the printer had the start of it"
    assert str(target) in str(broken.value)
    # The reset reaches the kiosk at sendall (ECONNRESET, EPIPE) or, when it lands between
    # sendall and the half-close, at shutdown, on a socket the reset has already closed
    # (ENOTCONN). Each is the printer dropping the job; a timeout or a refusal is not.
    cause = broken.value.__cause__
    assert isinstance(cause, OSError)
    assert cause.errno in {errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN}, cause


def test_a_probe_connects_and_sends_nothing() -> None:
    with escpos_listener() as printer:
        escpos_printer.probe(escpos_printer.parse_target(printer.url))
        printer.wait_for_connections(1)

        assert printer.connections == 1
        assert printer.jobs == [], "a probe prints nothing"


def test_an_address_where_nothing_answers_is_not_reachable_after_the_timeout() -> None:
    with silent_port() as port:
        target = escpos_printer.parse_target(f"tcp://127.0.0.1:{port}")
        with pytest.raises(NotReachable) as probed:
            escpos_printer.probe(target, timeout_s=0.2)
        with pytest.raises(NotReachable) as sent:
            escpos_printer.send(target, b"x", connect_timeout_s=0.2)

    for error in (probed.value, sent.value):
        assert f"nothing answers at 127.0.0.1:{port} (no answer in time)" == str(error)
        assert isinstance(error.__cause__, TimeoutError)


def test_usb_settings_are_read() -> None:
    assert escpos_printer.parse_target(NO_DEVICE) == UsbTarget(0x04B8, 0x0E15, 0x01)
    assert escpos_printer.parse_target("usb://0416:5011?out_ep=0x03") == UsbTarget(0x0416, 0x5011, 0x03)
    assert escpos_printer.parse_target("tcp://printer-2.counter.local") == TcpTarget(
        "printer-2.counter.local", 9100
    )
    assert str(escpos_printer.parse_target("tcp://[fd00::10]:9101")) == "[fd00::10]:9101"


def test_a_usb_printer_that_is_not_plugged_in_is_not_reachable() -> None:
    target = escpos_printer.parse_target(NO_DEVICE)

    with pytest.raises(NotReachable) as probed:
        escpos_printer.probe(target)
    with pytest.raises(NotReachable) as sent:
        escpos_printer.send(target, escpos_printer.compose(_receipt(), WORDING))

    for error in (probed.value, sent.value):
        assert "USB 04b8:0e15" in str(error)


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter, its temporary files in a folder of its own."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary)}
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        check=False,
    )


def test_the_kiosk_starts_without_importing_python_escpos(tmp_path: Path) -> None:
    done = _python(
        """
        import sys
        from kiosk import config, escpos_printer
        from kiosk.ui import app, printing, selftest, window
        print(sorted(m for m in sys.modules if m == "escpos" or m.startswith(("escpos.", "usb."))))
        """,
        tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_python_escpos_leaves_no_trace_on_stderr_the_root_logger_or_tmp(tmp_path: Path) -> None:
    """A process whose logging is not set up (the self-test): python-escpos's import calls
    logging.basicConfig() and pickles its printer database into a new temporary folder."""
    done = _python(
        f"""
        import logging
        from datetime import UTC, datetime
        from kiosk import escpos_printer
        from kiosk.receipt import Receipt
        receipt = Receipt("{CODE}", "{BASE_URL}/s/{CODE}", "S", "E", datetime.now(UTC), True, 1, "K1")
        wording = escpos_printer.Wording("T", "R", None, None, "C", "K")
        escpos_printer.compose(receipt, wording)
        for address in ("tcp://127.0.0.1:{closed_port()}", "{NO_DEVICE}"):
            try:
                escpos_printer.send(escpos_printer.parse_target(address), b"x")
            except escpos_printer.NotReachable:
                pass
        print(logging.getLogger().handlers)
        """,
        tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", "the root logger is left as it was"
    assert done.stderr == ""
    assert list((tmp_path / "tmp").iterdir()) == [], "python-escpos's temporary folder is removed"
