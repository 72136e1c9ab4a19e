"""`gea-kiosk print-test` as IT runs it: a real process, enrolled with the real server, printing
on a real printer, Debian's virtual PDF printer (cups-pdf with its own driver) in a private CUPS
(tests/helpers/cups.py). The PDF cups-pdf wrote is read back and its QR code decoded.

The kiosk under test is the checkout's (.venv/bin/gea-kiosk). To test an installed one instead
(the package's /usr/bin/gea-kiosk, the bundle's dist/gea-kiosk/gea-kiosk), name it in
$GEA_TEST_KIOSK_COMMAND, or override the `kiosk_command` fixture. Its data directory and
kiosk.toml are the test's own (GEA_KIOSK_DATA_DIR, --config), and it finds the private CUPS
through CUPS_SERVER; no display variable reaches it (IT runs this over SSH too).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from kiosk.cups_jobs import JobState
from tests.helpers import server
from tests.helpers.cups import CupsServer, private_cups, read_pdf
from tests.helpers.escpos_listener import closed_port

KIOSK_COMMAND_ENV = "GEA_TEST_KIOSK_COMMAND"
QUEUE = "receipts-pdf"
# Behind a proxy, under a path: the receipt's QR must keep it.
PUBLIC_BASE_URL = "https://status.example.gd/feedback"
STAFF_PIN = "246810"
COMMAND_TIMEOUT_S = 120
# What the child must not inherit: the test's kiosk settings, CUPS and display.
NOT_INHERITED = ("CUPS_SERVER", "DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
QR_LINE = re.compile(r"^Its QR code opens (\S+)$", re.MULTILINE)


@pytest.fixture
def kiosk_command() -> list[str]:
    """The gea-kiosk under test: $GEA_TEST_KIOSK_COMMAND (split like a shell line), else the
    one installed beside this Python (the checkout's venv)."""
    configured = os.environ.get(KIOSK_COMMAND_ENV)
    if configured:
        return shlex.split(configured)
    command = Path(sys.executable).parent / "gea-kiosk"
    assert command.is_file(), f"no gea-kiosk beside {sys.executable}: install the checkout (make venv)"
    return [str(command)]


@dataclass
class Kiosk:
    """A kiosk on this machine: its data directory, its kiosk.toml, the CUPS it prints on."""

    command: list[str]
    data_dir: Path
    config: Path
    cups: CupsServer

    def configure(self, toml: str) -> None:
        self.config.write_text(toml)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith("GEA_KIOSK_") and k not in NOT_INHERITED
        }
        return subprocess.run(
            [*self.command, "--config", str(self.config), *args],
            env={**inherited, **self.cups.env, "GEA_KIOSK_DATA_DIR": str(self.data_dir), **env},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )


@pytest.fixture
def cups() -> Iterator[CupsServer]:
    with private_cups() as running:
        yield running


@pytest.fixture
def kiosk(kiosk_command: list[str], tmp_path: Path, cups: CupsServer) -> Kiosk:
    config = tmp_path / "kiosk.toml"
    config.write_text("")
    return Kiosk(kiosk_command, tmp_path / "kiosk", config, cups)


@pytest.fixture
def public_server(db_url: URL) -> Iterator[server.LiveServer]:
    """The real API, telling kiosks that enroll the public address PUBLIC_BASE_URL."""
    with server.serve(server.settings_for(db_url, public_base_url=PUBLIC_BASE_URL)) as live:
        yield live


def test_print_test_prints_the_sample_on_the_cups_pdf_printer_and_its_qr_opens_the_status_page(
    kiosk: Kiosk, cups: CupsServer, public_server: server.LiveServer, db_url: URL
) -> None:
    new = server.add_device(db_url, "AGY-002")
    enrolled = kiosk.run(
        "enroll", "--server", public_server.base_url, "--code", new.enrollment_code, GEA_KIOSK_PIN=STAFF_PIN
    )
    assert enrolled.returncode == 0, enrolled.stderr
    folder = cups.add_cups_pdf_queue(QUEUE)
    kiosk.configure(f'printer = "{QUEUE}"\n')

    result = kiosk.run("print-test")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", "nothing for IT to worry about"
    assert f'on the printer "{QUEUE}"' in result.stdout
    assert "Printed: The receipt is printing." in result.stdout
    # The queue's one job, as CUPS names it: the receipt of a reference that is clearly a test.
    job = cups.wait_for_job(QUEUE, JobState.COMPLETED, JobState.ABORTED, JobState.STOPPED)
    assert job.state is JobState.COMPLETED, cups.cups_pdf_log(QUEUE)
    assert [j.id for j in cups.jobs()] == [job.id]
    reference = job.title.removeprefix("Receipt ")
    assert reference.startswith("SELFTEST-"), job.title
    expected = f"{PUBLIC_BASE_URL}/s/{reference}"
    # The PDF that went through the real filter chain and cups-pdf's Ghostscript.
    pdf, printed = cups.only_roll_receipt(QUEUE)
    assert pdf.parent == folder
    assert printed.qr_codes == [expected]
    assert QR_LINE.findall(result.stdout) == [expected], "IT is told what the code opens"


@pytest.mark.parametrize("case", ["unknown printer", "CUPS stopped"])
def test_print_test_without_its_printer_fails_and_says_what_to_do(
    kiosk: Kiosk, cups: CupsServer, case: str
) -> None:
    cups.add_cups_pdf_queue(QUEUE)
    name = "counter-9" if case == "unknown printer" else QUEUE
    kiosk.configure(f'printer = "{name}"\n')
    if case == "CUPS stopped":
        cups.stop()

    result = kiosk.run("print-test")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Printed" not in result.stdout
    assert f"NOT printed: The printer {name} is not connected." in result.stderr
    assert f'This computer has no printer named "{name}"' in result.stderr
    assert "lpstat -p -d" in result.stderr
    assert str(kiosk.config) in result.stderr, "IT is told which kiosk.toml to change"
    assert cups.cups_pdf_files(QUEUE) == [], "nothing printed, on another printer either"
    if cups.is_running():
        assert cups.jobs() == []


def test_print_test_saves_the_sample_as_a_pdf_when_kiosk_toml_says_so(kiosk: Kiosk, tmp_path: Path) -> None:
    """The PDF folder is a back-end of its own; a kiosk not enrolled yet prints an example address."""
    folder = tmp_path / "receipts"
    kiosk.configure(f"print_to_pdf = '{folder}'\npaper = 'A4'\n")

    result = kiosk.run("print-test")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "A4 paper" in result.stdout
    assert "not enrolled yet" in result.stdout
    [pdf] = folder.glob("*.pdf")
    assert f"The PDF: {pdf}" in result.stdout
    [url] = QR_LINE.findall(result.stdout)
    assert re.fullmatch(r"https://[^/]+/s/SELFTEST-[0-9A-Z-]+", url), url
    printed = read_pdf(pdf)
    assert printed.width_mm == pytest.approx(210, abs=1)
    assert printed.qr_codes == [url]


def test_print_test_on_a_thermal_printer_that_does_not_answer_names_it_and_says_what_to_do(
    kiosk: Kiosk,
) -> None:
    port = closed_port()
    kiosk.configure(f"escpos = 'tcp://127.0.0.1:{port}'\n")

    result = kiosk.run("print-test")

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"on the ESC/POS printer 127.0.0.1:{port} (escpos)" in result.stdout
    assert f"`nc -vz 127.0.0.1 {port}` must connect" in result.stderr
    assert "lpstat" not in result.stdout + result.stderr
