"""A private CUPS server for printing tests: `private_cups()` runs its own `cupsd -f` with every
file (configuration, spool, logs, state, backends) in a temporary directory, listening only on a
Unix socket there. It never touches the system's CUPS (port 631, /run/cups, /etc/cups).

Queues are real CUPS queues with backends of our own (raw queues: the backend gets the
document exactly as the client sent it, Qt's PDF):
- `add_saving_queue(name)`: every job completes and its document lands in a folder;
- `add_failing_queue(name)`: the backend fails, as an unplugged printer's does;
- `add_holding_queue(name)`: the backend holds each job (printing, as a slow or busy printer)
  until `release(name)`, then saves it like the saving queue.
`disable`, `reject` and `delete` make the other broken printers (`enable` restarts a stopped
one); `jobs()` reads the job states.

A client process finds the server through `server.env` (CUPS_SERVER). libcups reads
CUPS_SERVER once per thread and keeps it, so set it before the process's first CUPS call (for
Qt: before the first QPrinterInfo); `with server.as_default():` also works after that.

Packages: cups-daemon and cups-client (`apt-get install -y --no-install-recommends cups-daemon
cups-client`; no filters or drivers are needed); without them `private_cups()` fails and says
so, never skips. As root, cupsd runs filters as `lp` and the backends here (mode 0700) as root;
as another user, everything as that user.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class CupsServer:
    root: Path
    process: subprocess.Popen[bytes]

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
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
    finally:
        shutil.rmtree(root, ignore_errors=True)
