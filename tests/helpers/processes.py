"""`gea-kiosk` and `gea-server` as IT runs them: real processes with their own environment
(GEA_KIOSK_DATA_DIR, GEA_KIOSK_PIN, FEEDBACK_DB_URL, GEA_SERVER_*), and waits that poll a
condition until a deadline instead of sleeping.

- `run_kiosk` / `run_server`: one command to its end (enroll, submit, status, devices ...).
- `OutputProcess`: a long-running command whose output lines arrive in a queue
  (`gea-kiosk sync --watch`).
- `ServerProcess`: `gea-server serve` on a port it keeps, so it can be stopped and started
  again where the kiosk expects it.
- `KioskApp`: the kiosk app (`gea-kiosk --windowed`, offscreen), which tells a test it is
  ready the way it tells systemd (READY=1 on NOTIFY_SOCKET).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import URL

from server_sync_api.core.db import libpq_conninfo
from tests.helpers.server import TEST_IP_HASH_SECRET

BIN = os.path.dirname(sys.executable)
GEA_KIOSK = shutil.which("gea-kiosk", path=BIN)
GEA_SERVER = shutil.which("gea-server", path=BIN)
PUBLIC_BASE_URL = "https://feedback.example.gd"
STAFF_PIN = "246810"
# Bounds every wait for a state the kiosk reaches by itself: the keeper looks every 2 s, the
# worker every 5 s and its backoff after a few failures stays under 20 s.
DEADLINE_S = 45.0
# Bounds one CLI command, or a process's start and stop.
PROCESS_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.1


def wait_until(condition: Callable[[], object], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll `condition` until it is true; fail saying `what` was awaited."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


# --- gea-kiosk --------------------------------------------------------------------------------


def kiosk_env(data_dir: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_KIOSK_", "NOTIFY_SOCKET"))}
    return {
        **base,
        "GEA_KIOSK_DATA_DIR": str(data_dir),
        "GEA_KIOSK_CONFIG": str(data_dir.parent / "no-kiosk.toml"),  # defaults, no IT file
        "GEA_KIOSK_PIN": STAFF_PIN,
        **extra,
    }


def run_kiosk(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert GEA_KIOSK is not None, "gea-kiosk is not installed next to this Python"
    return subprocess.run(
        [GEA_KIOSK, *args],
        env=kiosk_env(data_dir),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def enroll_kiosk(data_dir: Path, server_url: str, code: str) -> str:
    """`gea-kiosk enroll`; its stdout once it has returned successfully."""
    done = run_kiosk(data_dir, "enroll", "--server", server_url, "--code", code)
    assert done.returncode == 0, f"gea-kiosk enroll failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def submit(data_dir: Path, service_id: str, rating: int, *, grievance: bool = False) -> str:
    """`gea-kiosk submit --json`; the reference code it queued."""
    args = ["submit", "--service", service_id, "--rating", str(rating), "--json"]
    if grievance:
        args.append("--grievance")
    done = run_kiosk(data_dir, *args)
    assert done.returncode == 0, f"gea-kiosk submit failed:\n{done.stdout}\n{done.stderr}"
    return str(json.loads(done.stdout)["reference_code"])


def status(data_dir: Path) -> dict[str, object]:
    done = run_kiosk(data_dir, "status", "--json")
    assert done.returncode == 0, f"gea-kiosk status failed:\n{done.stderr}"
    report: dict[str, object] = json.loads(done.stdout)
    return report


# --- gea-server --------------------------------------------------------------------------------


def server_env(db_url: URL) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL"))}
    return {
        **base,
        "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False),
        "GEA_SERVER_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "GEA_SERVER_IP_HASH_SECRET": TEST_IP_HASH_SECRET,
    }


def run_server(db_url: URL, *args: str) -> subprocess.CompletedProcess[str]:
    assert GEA_SERVER is not None, "gea-server is not installed next to this Python"
    return subprocess.run(
        [GEA_SERVER, *args],
        env=server_env(db_url),
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class NewDevice:
    device_code: str
    enrollment_code: str


def devices_add(db_url: URL, entity_id: str, name: str = "Passport office, counter 1") -> NewDevice:
    done = run_server(db_url, "devices", "add", "--name", name, "--entity", entity_id, "--json")
    assert done.returncode == 0, f"gea-server devices add failed:\n{done.stderr}"
    body = json.loads(done.stdout)
    return NewDevice(body["device_code"], body["enrollment_code"])


def devices_revoke(db_url: URL, device_code: str) -> None:
    done = run_server(db_url, "devices", "revoke", device_code)
    assert done.returncode == 0, f"gea-server devices revoke failed:\n{done.stderr}"
    assert f"Device {device_code} revoked" in done.stdout, done.stdout


def devices_reenroll(db_url: URL, device_code: str) -> NewDevice:
    done = run_server(db_url, "devices", "reenroll", device_code, "--json")
    assert done.returncode == 0, f"gea-server devices reenroll failed:\n{done.stderr}"
    body = json.loads(done.stdout)
    assert body["device_code"] == device_code, body
    return NewDevice(body["device_code"], body["enrollment_code"])


def stored_count(db_url: URL, reference_code: str) -> int:
    """How many rows of service_feedback carry this reference code (0 or 1, never more)."""
    with psycopg.connect(libpq_conninfo(db_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM service_feedback WHERE reference_code = %s", (reference_code,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def device_row(db_url: URL, device_code: str) -> dict[str, object]:
    with psycopg.connect(libpq_conninfo(db_url)) as conn:
        cursor = conn.execute(
            "SELECT is_active, last_seen_at, last_sync_at, app_version, queue_depth "
            "FROM kiosk_devices WHERE device_code = %s",
            (device_code,),
        )
        names = [column.name for column in cursor.description or ()]
        row = cursor.fetchone()
    assert row is not None, f"no kiosk_devices row for {device_code}"
    return dict(zip(names, row, strict=True))


# --- long-running processes ----------------------------------------------------------------------


class OutputProcess:
    """A command that runs until stopped; its output lines (stdout and stderr) in a queue."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, start: str) -> None:
        end = time.monotonic() + PROCESS_TIMEOUT_S
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line starting {start!r} in {PROCESS_TIMEOUT_S:.0f} s") from None
            if line is None:
                raise AssertionError("the process ended early:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if line.startswith(start):
                return

    def _drain(self) -> None:
        while (line := self._queue.get(timeout=PROCESS_TIMEOUT_S)) is not None:
            self.lines.append(line)

    def terminate(self) -> int:
        """SIGTERM, then the exit status; every remaining line lands in `lines`."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=PROCESS_TIMEOUT_S)
        self._drain()
        return code

    def kill(self) -> None:
        """Make sure it is gone (a test's clean-up, whatever happened before)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=PROCESS_TIMEOUT_S)
        if self.process.stdout is not None:
            self.process.stdout.close()


def sync_watch(data_dir: Path) -> OutputProcess:
    assert GEA_KIOSK is not None
    return OutputProcess([GEA_KIOSK, "sync", "--watch"], kiosk_env(data_dir))


class ServerProcess(OutputProcess):
    """`gea-server serve` on 127.0.0.1:`port`, returned once /readyz answers 200."""

    def __init__(self, db_url: URL, port: int) -> None:
        assert GEA_SERVER is not None
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        super().__init__(
            [GEA_SERVER, "serve", "--host", "127.0.0.1", "--port", str(port)], server_env(db_url)
        )
        try:
            wait_until(self._ready, f"gea-server serve to answer on port {port}", PROCESS_TIMEOUT_S)
        except BaseException:
            self.kill()
            raise

    def stop(self) -> None:
        """SIGTERM, as systemd stops it: uvicorn finishes its requests, shuts the app down, and
        then ends by the signal it caught (its documented behaviour), hence -SIGTERM."""
        code = self.terminate()
        assert code in (0, -signal.SIGTERM), f"gea-server serve ended with {code}:\n" + "\n".join(self.lines)
        assert any("Application shutdown complete" in line for line in self.lines), self.lines

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            self._drain()
            raise AssertionError(
                f"gea-server serve ended with {self.process.returncode}:\n" + "\n".join(self.lines)
            )
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


class KioskApp(OutputProcess):
    """The kiosk app, `gea-kiosk --windowed` on Qt's offscreen platform, with NOTIFY_SOCKET set
    as systemd sets it: `wait_ready` returns once the app says READY=1 (its attract screen
    shows, its sync keeper is started)."""

    def __init__(self, data_dir: Path) -> None:
        assert GEA_KIOSK is not None
        # A short path: a unix socket's address is limited to about 100 bytes.
        self._socket_dir = tempfile.mkdtemp(prefix="gea-notify-")
        socket_path = os.path.join(self._socket_dir, "notify")
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(socket_path)
        env = kiosk_env(data_dir, QT_QPA_PLATFORM="offscreen", NOTIFY_SOCKET=socket_path)
        super().__init__([GEA_KIOSK, "--windowed"], env)

    def wait_ready(self) -> None:
        end = time.monotonic() + PROCESS_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                self._drain()
                raise AssertionError(
                    f"the kiosk app ended with {self.process.returncode}:\n" + "\n".join(self.lines)
                )
            self._notify.settimeout(max(0.01, min(1.0, end - time.monotonic())))
            try:
                message = self._notify.recv(4096).decode()
            except TimeoutError:
                if time.monotonic() > end:
                    raise AssertionError(
                        f"no READY=1 from the kiosk app in {PROCESS_TIMEOUT_S:.0f} s"
                    ) from None
                continue
            if "READY=1" in message.splitlines():
                return

    def kill(self) -> None:
        try:
            super().kill()
        finally:
            self._notify.close()
            shutil.rmtree(self._socket_dir, ignore_errors=True)
