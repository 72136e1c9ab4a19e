"""A private CUPS server for printing tests: `private_cups()` runs its own `cupsd -f` with every
file (configuration, spool, logs, state, backends) in a temporary directory, listening only on a
Unix socket there. It never touches the system's CUPS service (port 631, /run/cups) nor its
configuration; the one file it writes outside its directory is a cups-pdf queue's settings
(below), removed with the server.

Queues are real CUPS queues with backends of our own (raw queues: the backend gets the
document exactly as the client sent it, Qt's PDF):
- `add_saving_queue(name)`: every job completes and its document lands in a folder;
- `add_failing_queue(name)`: the backend fails, as an unplugged printer's does;
- `add_holding_queue(name)`: the backend holds each job (printing, as a slow or busy printer)
  until `release(name)`, then saves it like the saving queue.
`disable`, `reject` and `delete` make the other broken printers (`enable` restarts a stopped
one); `stop()` stops the whole server, as when the print service dies; `jobs()` reads the job
states.

`add_cups_pdf_queue(name)` is a printer as IT would set one up: Debian's virtual PDF printer
(printer-driver-cups-pdf), its real backend and the PPD its package installs, so the whole
filter chain runs (Qt's PDF, pdftopdf, pdftops, the cups-pdf backend, Ghostscript) and the
test reads the PDF cups-pdf wrote (`read_pdf`). cups-pdf takes its settings from a file whose
folder is compiled in (/etc/cups): /etc/cups/cups-pdf.conf, or /etc/cups/cups-pdf-NAME.conf
for a queue whose device URI is `cups-pdf:/NAME` (its own way to run several PDF printers).
Its output folder (`Out`) cannot come from anywhere else: the PPD may set it, but CUPS' PPD
reader cuts a default value at its first "/", so no path survives, and job options may not set
it at all. So each queue gets a file of its own, /etc/cups/cups-pdf-<server dir>-<queue>.conf:
the system's cups-pdf.conf is never edited, nothing else reads the new file (only a queue whose
URI names it), and it is removed with the server; one left by a killed test names a server
directory that is gone and is removed by the next `add_cups_pdf_queue`. The backend must run as
root (mode 0700, it changes to the job's user to write), so these queues need tests run as root,
as CI runs them. On a host where AppArmor confines cupsd and cups-pdf (Ubuntu), its profile
keeps cups-pdf's output in ~/PDF and /var/spool/cups-pdf: there put that profile in complain
mode to run these tests.

A client process finds the server through `server.env` (CUPS_SERVER). libcups reads
CUPS_SERVER once per thread and keeps it, so set it before the process's first CUPS call (for
Qt: before the first QPrinterInfo); `with server.as_default():` also works after that.

Packages: cups-daemon and cups-client (`apt-get install -y --no-install-recommends cups-daemon
cups-client`; the raw queues need no filters or drivers), and for `add_cups_pdf_queue`
printer-driver-cups-pdf (it depends on Debian's `cups`, which brings the filters, the driver
lister behind `lpinfo -m` and Ghostscript); without them the fixture fails and says so, never
skips. As root, cupsd runs filters as `lp` and the backends here (mode
0700) as root; as another user, everything as that user.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import grp
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import zxingcpp

from kiosk import cups_jobs
from kiosk.cups_jobs import Job, JobState

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 30.0
CUPSD = "/usr/sbin/cupsd"
SYSTEM_SERVER_BIN = Path("/usr/lib/cups")
# The client tools the fixture runs (cups-client), with cupsd itself (cups-daemon).
CLIENT_TOOLS = ("lpadmin", "lpstat", "cupsenable", "cupsdisable", "cupsreject")
INSTALL_HINT = "apt-get install -y --no-install-recommends cups-daemon cups-client"
# How long a holding backend waits for `release` before it fails the job (a test that never
# releases it must not leave a backend running).
HOLD_LIMIT_S = 120
# Debian's virtual PDF printer: its backend, the PPD its package gives its own "PDF" queue (as
# `lpinfo -m` names it, under lsb/usr/), and where it reads its settings (compiled in).
CUPS_PDF_BACKEND = SYSTEM_SERVER_BIN / "backend" / "cups-pdf"
CUPS_PDF_MODEL = "cups-pdf/CUPS-PDF_opt.ppd"
CUPS_PDF_CONFIG_DIR = Path("/etc/cups")
CUPS_PDF_INSTALL_HINT = "apt-get install -y --no-install-recommends printer-driver-cups-pdf"
# The first line of a queue's cups-pdf settings, followed by the private server's directory.
CUPS_PDF_MARK = "# gea-kiosk tests: a queue of the private CUPS server in "
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]+")
# pypdfium2 renders at 72 dpi times this: 288 dpi, about 11 px per QR module on an 80 mm roll.
RENDER_SCALE = 4
MM_PER_PT = 25.4 / 72

# The backends get the job as: job-id user title copies options [file]; no arguments at all
# means "list your devices", which ours answer with nothing.
SAVING_BACKEND = """#!/bin/sh
[ $# -eq 0 ] && exit 0
folder="${DEVICE_URI#*:}"
cat ${6:+"$6"} > "$folder/.job-$1.part" || exit 1
mv "$folder/.job-$1.part" "$folder/job-$1.pdf"
"""
HOLDING_BACKEND = """#!/bin/sh
[ $# -eq 0 ] && exit 0
folder="${DEVICE_URI#*:}"
waited=0
while [ ! -e "$folder/release" ]; do
    [ "$waited" -ge {limit} ] && exit 1
    sleep 0.05
    waited=$((waited + 1))
done
cat ${6:+"$6"} > "$folder/.job-$1.part" || exit 1
mv "$folder/.job-$1.part" "$folder/job-$1.pdf"
"""
FAILING_BACKEND = """#!/bin/sh
[ $# -eq 0 ] && exit 0
echo "ERROR: the printer does not answer (a test printer that always fails)" >&2
exit 1
"""


@functools.cache
def _libcups() -> ctypes.CDLL:
    """The kiosk's own libcups binding (kiosk.cups_jobs), with the calls only tests make."""
    lib = cups_jobs.libcups()
    if lib is None:
        raise RuntimeError(f"libcups is not installed: {INSTALL_HINT}")
    lib.httpConnect2.restype = ctypes.c_void_p
    lib.httpConnect2.argtypes = [
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    lib.httpClose.argtypes = [ctypes.c_void_p]
    lib.cupsSetServer.argtypes = [ctypes.c_char_p]
    return lib


@dataclass(frozen=True)
class PrintedPdf:
    """A PDF a printer wrote, read back with a real renderer and a real QR decoder."""

    pages: int
    width_mm: float
    height_mm: float
    qr_codes: list[str]  # on the first page


def read_pdf(path: Path) -> PrintedPdf:
    document = pdfium.PdfDocument(str(path))
    try:
        page = document[0]
        width_pt, height_pt = page.get_size()
        image = page.render(scale=RENDER_SCALE).to_pil().convert("L")
        codes = [barcode.text for barcode in zxingcpp.read_barcodes(image)]
        return PrintedPdf(len(document), width_pt * MM_PER_PT, height_pt * MM_PER_PT, codes)
    finally:
        document.close()


@dataclass
class CupsServer:
    root: Path
    process: subprocess.Popen[bytes]
    # Files written outside `root` (a cups-pdf queue's settings), removed with the server.
    system_files: list[Path] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.root / "cups.sock"

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs in its environment to use this server."""
        return {"CUPS_SERVER": str(self.socket)}

    @property
    def error_log(self) -> Path:
        return self.root / "log" / "error_log"

    @contextmanager
    def as_default(self) -> Iterator[None]:
        """Make this server the CUPS of this process (Qt's too) until the block ends: CUPS_SERVER
        for threads that have not used CUPS yet, cupsSetServer for the calling thread, which
        may have (libcups keeps the server it found per thread). Other threads that already
        used CUPS keep theirs."""
        before = os.environ.get("CUPS_SERVER")
        os.environ["CUPS_SERVER"] = str(self.socket)
        _libcups().cupsSetServer(str(self.socket).encode())
        try:
            yield
        finally:
            if before is None:
                del os.environ["CUPS_SERVER"]
            else:
                os.environ["CUPS_SERVER"] = before
            _libcups().cupsSetServer(None)  # read the environment again at the next call

    def run(self, *command: str) -> str:
        """A CUPS command-line tool (lpadmin, lpstat, lp, cupsdisable...) against this server."""
        done = subprocess.run(
            command,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")
        return done.stdout

    def add_queue(self, name: str, device_uri: str, *options: str) -> None:
        """An enabled queue that accepts jobs; `options` go to lpadmin as they are."""
        self.run("lpadmin", "-p", name, "-E", "-v", device_uri, *options)

    def add_saving_queue(self, name: str) -> Path:
        """A queue whose jobs complete: each document is saved as job-<id>.pdf in the folder
        returned."""
        folder = self.root / "out" / name
        folder.mkdir(parents=True, exist_ok=True)  # the same printer plugged in again
        self.add_queue(name, f"gea-save:{folder}")
        return folder

    def add_failing_queue(self, name: str, error_policy: str = "stop-printer") -> None:
        """A queue whose backend exits with an error. CUPS' default error policy stops the
        printer with the job pending; "abort-job" aborts the job and keeps the printer up."""
        self.add_queue(name, "gea-fail:/", "-o", f"printer-error-policy={error_policy}")

    def add_holding_queue(self, name: str) -> Path:
        """A queue whose backend keeps each job processing until `release(name)`; then the jobs
        complete and land in the folder returned, as on the saving queue."""
        folder = self.root / "out" / name
        folder.mkdir(parents=True, exist_ok=True)  # the same printer plugged in again
        self.add_queue(name, f"gea-hold:{folder}")
        return folder

    def add_cups_pdf_queue(self, name: str) -> Path:
        """A queue on Debian's virtual PDF printer (the real cups-pdf backend and driver, see
        the module's docstring); returns the folder where its PDFs land, one per job, named
        after the job's title and id (`cups_pdf_files`)."""
        _require_cups_pdf()
        if not QUEUE_NAME.fullmatch(name):
            raise ValueError(f"a queue name of letters, digits, - and _, not {name!r}")
        backend = self.root / "bin" / "backend" / "cups-pdf"
        if not backend.exists():
            # The system's backend itself (root's, mode 0700: cupsd runs it as root).
            backend.symlink_to(CUPS_PDF_BACKEND)
        folder = self.root / "out" / name
        folder.mkdir(parents=True, exist_ok=True)
        work = self.root / "cups-pdf" / name
        (work / "tmp").mkdir(parents=True, exist_ok=True)
        _reap_stale_cups_pdf_settings()
        setup = f"{self.root.name}-{name}"
        settings = CUPS_PDF_CONFIG_DIR / f"cups-pdf-{setup}.conf"
        # Everything cups-pdf writes stays in this server's directory: the PDFs, its spool,
        # Ghostscript's temporary files and its log (cups-pdf-<queue>_log, with debug lines).
        # Grp is the group it switches to; the test's own exists wherever the test runs.
        settings.write_text(
            f"{CUPS_PDF_MARK}{self.root}\n"
            f"Out {folder}\n"
            f"AnonDirName {folder}\n"
            f"Spool {work / 'spool'}\n"
            f"GSTmp {work / 'tmp'}\n"
            f"Log {self.root / 'log'}\n"
            "LogType 7\n"
            f"Grp {grp.getgrgid(os.getegid()).gr_name}\n"
        )
        self.system_files.append(settings)
        self.run("lpadmin", "-p", name, "-E", "-v", f"cups-pdf:/{setup}", "-m", self._cups_pdf_model())
        return folder

    def _cups_pdf_model(self) -> str:
        """The driver as this server's `lpinfo -m` lists it (what IT picks with lpadmin -m)."""
        for line in self.run("lpinfo", "-m").splitlines():
            model = line.split(" ", 1)[0]
            if model.endswith(CUPS_PDF_MODEL):
                return model
        raise RuntimeError(f"CUPS lists no {CUPS_PDF_MODEL} driver: {CUPS_PDF_INSTALL_HINT}")

    def cups_pdf_files(self, name: str) -> list[Path]:
        """The PDFs a cups-pdf queue has written, oldest job first. A file is complete once its
        job is (cups-pdf's Ghostscript writes it before the backend exits)."""
        return sorted((self.root / "out" / name).glob("*.pdf"), key=lambda path: path.stat().st_mtime_ns)

    def only_roll_receipt(self, name: str) -> tuple[Path, PrintedPdf]:
        """The one PDF a cups-pdf queue has written, read: a receipt on one page of the 80 mm
        roll (the paper size reached the PDF printer through the real filter chain)."""
        [pdf] = self.cups_pdf_files(name)
        printed = read_pdf(pdf)
        assert printed.pages == 1
        assert printed.width_mm == pytest.approx(80, abs=1), "the roll's paper size reached the PDF printer"
        return pdf, printed

    def cups_pdf_log(self, name: str) -> str:
        """What cups-pdf logged for a queue (its settings, every step of every job)."""
        path = self.root / "log" / f"cups-pdf-{name}_log"
        return path.read_text(errors="replace") if path.exists() else ""

    def release(self, name: str) -> None:
        """Let a holding queue's jobs through (all of them, from now on)."""
        (self.root / "out" / name / "release").touch()

    def enable(self, name: str) -> None:
        """Started again after `disable` or a backend that stopped it (cupsenable)."""
        self.run("cupsenable", name)

    def disable(self, name: str) -> None:
        """Stopped: jobs are accepted and wait (cupsdisable)."""
        self.run("cupsdisable", "-r", "stopped by the test", name)

    def reject(self, name: str) -> None:
        """New jobs are refused (cupsreject)."""
        self.run("cupsreject", "-r", "rejecting by the test", name)

    def delete(self, name: str) -> None:
        self.run("lpadmin", "-x", name)

    def set_default(self, name: str) -> None:
        self.run("lpadmin", "-d", name)

    def printer_status(self, name: str) -> str:
        """lpstat's line, e.g. "printer x is idle.  enabled since ..." or "... disabled since ..."."""
        return self.run("lpstat", "-p", name).strip()

    def jobs(self, printer: str | None = None) -> list[Job]:
        """Every job the server remembers (finished ones too), oldest first."""
        lib = _libcups()
        http = lib.httpConnect2(str(self.socket).encode(), 631, None, 0, 0, 1, 30_000, None)
        if not http:
            raise RuntimeError(f"cannot connect to {self.socket}")
        try:
            return cups_jobs.jobs(printer, connection=http)
        finally:
            lib.httpClose(http)

    def wait_for_job(self, printer: str, *states: JobState, timeout_s: float = 30.0) -> Job:
        """The printer's newest job once it is in one of `states`."""
        deadline = time.monotonic() + timeout_s
        while True:
            jobs = self.jobs(printer)
            if jobs and jobs[-1].state in states:
                return jobs[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no job on {printer} reached {states} in {timeout_s} s: {jobs}")
            time.sleep(0.05)

    def wait_for_printer(self, name: str, text: str, timeout_s: float = 30.0) -> str:
        """`printer_status(name)` once it contains `text` (e.g. "disabled", "idle")."""
        deadline = time.monotonic() + timeout_s
        while text not in (status := self.printer_status(name)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not become {text!r} in {timeout_s} s: {status}")
            time.sleep(0.05)
        return status

    def is_running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop cupsd, as when the print service dies or IT stops it: clients get no answer on
        its socket. (Stopping it again, when the block ends, does nothing.)"""
        _terminate(self.process)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


def _require_cups_pdf() -> None:
    if not CUPS_PDF_BACKEND.is_file():
        raise RuntimeError(
            f"the cups-pdf backend is not installed ({CUPS_PDF_BACKEND}): {CUPS_PDF_INSTALL_HINT}"
        )
    if os.geteuid() != 0:
        raise RuntimeError(
            "cups-pdf runs only as root (its backend is root's alone, mode 0700): run the tests of "
            "the virtual PDF printer as root, as CI does"
        )


def _reap_stale_cups_pdf_settings() -> None:
    """Remove the cups-pdf settings a killed test left behind: those whose private server's
    directory is gone. Files not marked as ours are never touched."""
    for path in CUPS_PDF_CONFIG_DIR.glob("cups-pdf-*.conf"):
        try:
            first = path.read_text(errors="replace").partition("\n")[0]
        except OSError:
            continue
        if first.startswith(CUPS_PDF_MARK) and not Path(first.removeprefix(CUPS_PDF_MARK)).exists():
            path.unlink(missing_ok=True)


def _write_config(root: Path) -> None:
    for name in ("conf", "spool", "spool/tmp", "cache", "state", "log", "out", "bin/backend"):
        (root / name).mkdir(parents=True)
    # Filters and helper programs are the system's; the backends are ours.
    for entry in SYSTEM_SERVER_BIN.iterdir():
        if entry.name != "backend":
            (root / "bin" / entry.name).symlink_to(entry)
    holding = HOLDING_BACKEND.replace("{limit}", str(round(HOLD_LIMIT_S / 0.05)))
    backends = {"gea-save": SAVING_BACKEND, "gea-hold": holding, "gea-fail": FAILING_BACKEND}
    for scheme, script in backends.items():
        backend = root / "bin" / "backend" / scheme
        backend.write_text(script)
        backend.chmod(0o700)  # owner-only: cupsd runs it as root, so it can write anywhere here
    user, group = ("lp", "lp") if os.geteuid() == 0 else (str(os.getuid()), str(os.getgid()))
    (root / "conf" / "cups-files.conf").write_text(
        f"ServerRoot {root}/conf\n"
        f"ServerBin {root}/bin\n"
        f"RequestRoot {root}/spool\n"
        f"TempDir {root}/spool/tmp\n"
        f"CacheDir {root}/cache\n"
        f"StateDir {root}/state\n"
        f"Printcap {root}/state/printcap\n"
        f"AccessLog {root}/log/access_log\n"
        f"ErrorLog {root}/log/error_log\n"
        f"PageLog {root}/log/page_log\n"
        f"User {user}\n"
        f"Group {group}\n"
        "SystemGroup root\n"
    )
    (root / "conf" / "cupsd.conf").write_text(
        f"Listen {root}/cups.sock\n"
        "LogLevel debug\n"
        "Browsing No\n"
        "WebInterface No\n"
        "DefaultAuthType None\n"
        "<Policy default>\n"
        "  JobPrivateAccess all\n"
        "  JobPrivateValues none\n"
        "  SubscriptionPrivateAccess all\n"
        "  SubscriptionPrivateValues none\n"
        "  <Limit All>\n"
        "    Order deny,allow\n"
        "  </Limit>\n"
        "</Policy>\n"
    )


def _wait_until_ready(server: CupsServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if not server.is_running():
            log = server.error_log.read_text() if server.error_log.exists() else ""
            raise RuntimeError(f"cupsd exited with {server.process.returncode}:\n{log[-3000:]}")
        if server.socket.exists():
            try:
                server.run("lpstat", "-r")
                return
            except RuntimeError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"cupsd did not answer on {server.socket} in {START_TIMEOUT_S} s")
        time.sleep(0.02)


def require_cups() -> None:
    """Fail, saying what to install, when this machine lacks CUPS: printing tests never skip."""
    missing = [CUPSD] if not os.access(CUPSD, os.X_OK) else []
    missing += [tool for tool in CLIENT_TOOLS if shutil.which(tool) is None]
    if not SYSTEM_SERVER_BIN.is_dir():
        missing.append(str(SYSTEM_SERVER_BIN))
    if missing:
        raise RuntimeError(
            f"the printing tests need a CUPS server and its tools, not found: {', '.join(missing)}. "
            f"Install them: {INSTALL_HINT}"
        )


@contextmanager
def private_cups(prefix: str = "gea-cups-") -> Iterator[CupsServer]:
    """A running cupsd with no queues, stopped and deleted when the block ends. Its directory is
    under the system's temp folder (not pytest's tmp_path) so the socket path stays short and
    `lp` can reach the spool."""
    require_cups()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root.chmod(0o755)
        _write_config(root)
        # cupsd gets SIGTERM if this process dies first (a crash in Qt, a killed pytest).
        orphan_guard = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []
        process = subprocess.Popen(
            [
                *orphan_guard,
                CUPSD,
                "-f",
                "-c",
                str(root / "conf" / "cupsd.conf"),
                "-s",
                str(root / "conf" / "cups-files.conf"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = CupsServer(root, process)
        try:
            _wait_until_ready(server)
            yield server
        finally:
            _terminate(process)
            # Before the directory they name goes, so no other test's reaper sees them stale.
            for path in server.system_files:
                path.unlink(missing_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
