"""A fleet of simulated kiosks for the soak and chaos runs (issue 16), and the exact accounting
that ends both.

Each simulated kiosk is the app minus its windows: its own data directory (SQLite outbox,
identity, token, catalog cache), enrolled through the real API, a `SyncKeeper` as the app runs
it (start-up recovery, the lock, the real `SyncWorker` thread, its backoff and heartbeats) and
`KioskServices` as the screens call it (first tap `begin_feedback`, then `add_details`, then
`finish_feedback`, which wakes the worker). A few kiosks share a host process
(`python -m bench.fleet host CONFIG`), so fifty of them fit on a small machine; a host can be
killed with SIGKILL and started again on the same data directories.

The only thing added to the kiosk's own code is its HTTP transport (`LinkTransport`, injected
the way the keeper takes one): it times each POST /api/v1/submissions, and it can cut the
kiosk's link (every request fails to connect, as when an office's line is down) for the soak's
kiosks that go offline. The chaos run's faults come from the real fault proxy instead.

A host writes one JSON object per line on stdout: `ready`, each push (`s` when it starts, `p`
with the HTTP status or `f` with the error when it ends), and every `report_interval_s` a
report per kiosk (its outbox by state and the earliest `recorded_at` not yet synced). After
each submission's `finish_feedback` returns, its client_uuid goes into the kiosk's journal: a
promise the outbox must keep, whatever kill follows.

`account()` compares, exactly: every client_uuid in every kiosk's outbox (and journal) with
service_feedback (one row each, the feedback_id the kiosk recorded), every row rated 2 or less
or marked a grievance with tickets (one each, the number the kiosk recorded, none for the
others), each month's ticket numbers (1..N, no gaps, no repeats, N the month's counter), and
the outboxes (nothing open, pending, sending or rejected).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from bench.sync_server import DEVICE_ENTITY, cpu_seconds, descendants, gea_server_command
from kiosk.local_db import catalog_cache, database, identity, outbox
from kiosk.local_db.models import OutboxState
from kiosk.services import KioskServices
from kiosk.sync import client as sync_client
from kiosk.sync.keeper import SyncKeeper
from kiosk.sync.worker import SyncSettings
from server_sync_api.services import devices
from tests.helpers.server import free_port

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS_PATH = "/api/v1/submissions"
# Ratings as bench/sync_server.py draws them: ~25% rated 1-2, ~7% of the rest complaints, so
# about 30% of submissions make a ticket.
RATING_WEIGHTS = (12, 13, 15, 30, 30)
GRIEVANCE_SHARE = 0.07
SUB_RATING_NAMES = ("service_quality", "staff_behavior", "waiting_time", "cleanliness")
DETAILS_SHARE = 0.5  # citizens who go on to the sub-ratings after the first tap
REPORT_INTERVAL_S = 0.5
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 90.0  # a host's quit: each keeper waits for its request in flight
SERVER_READY_TIMEOUT_S = 90.0
SERVER_STOP_TIMEOUT_S = 30.0
POLL_S = 0.2
UNSENT_STATES = ("open", "pending", "sending")

log = logging.getLogger("bench.fleet")


def needs_ticket(rating: int, grievance: bool) -> bool:
    """The database's rule (seed 5.1, 7.1): a grievance, or a rating of 1 or 2."""
    return grievance or rating <= 2


# --- the host process: kiosks in threads ------------------------------------------------------


class Emitter:
    """JSON lines on stdout, one writer at a time."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, **event: Any) -> None:
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # the parent went away; the host ends when its stdin closes


class LinkTransport(httpx.BaseTransport):
    """The kiosk's HTTP transport: the real one, timed, with a switch that cuts the link."""

    def __init__(self, kiosk: str, emit: Emitter) -> None:
        self._inner = httpx.HTTPTransport()
        self._kiosk = kiosk
        self._emit = emit
        self.link_down = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        is_push = request.method == "POST" and request.url.path.endswith(SUBMISSIONS_PATH)
        items = request.content.count(b'"client_uuid"') if is_push else 0
        started = time.time()
        if is_push and items:
            self._emit(e="s", k=self._kiosk, t=started, n=items)
        try:
            if self.link_down.is_set():
                raise httpx.ConnectError("the office's link is down (bench.fleet)", request=request)
            response = self._inner.handle_request(request)
            response.read()  # the whole answer is part of the batch's latency
        except Exception as exc:
            if is_push:
                self._emit(e="f", k=self._kiosk, t0=started, t1=time.time(), n=items, err=type(exc).__name__)
            raise
        if is_push:
            self._emit(e="p", k=self._kiosk, t0=started, t1=time.time(), n=items, st=response.status_code)
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class Citizen:
    service_id: str
    rating: int
    details: dict[str, Any]

    @property
    def grievance(self) -> bool:
        return bool(self.details.get("grievance_flag"))


def draw_citizen(rng: random.Random, service_ids: Sequence[str]) -> Citizen:
    rating = rng.choices((1, 2, 3, 4, 5), weights=RATING_WEIGHTS)[0]
    grievance = rating >= 3 and rng.random() < GRIEVANCE_SHARE
    details: dict[str, Any] = {}
    if rng.random() < DETAILS_SHARE:
        details.update((name, rng.randint(1, 5)) for name in SUB_RATING_NAMES if rng.random() < 0.7)
    if rating <= 2 or grievance:
        details["feedback_text"] = "The queue did not move for an hour. " * rng.randint(1, 4)
    if grievance:
        details["grievance_flag"] = True
    return Citizen(rng.choice(list(service_ids)), rating, details)


class SimKiosk:
    """One kiosk: its database, the app's sync keeper, its services and a stream of citizens."""

    def __init__(self, spec: dict[str, Any], config: dict[str, Any], emit: Emitter, seed: int) -> None:
        self.name: str = spec["name"]
        self.data_dir = Path(spec["data_dir"])
        self._emit = emit
        self._rng = random.Random(seed)
        self._rate_per_s = float(config["rate_per_min"]) / 60.0
        self._submitting = threading.Event()
        self._stopping = threading.Event()
        self.engine = database.open_database(self.data_dir)
        self.transport = LinkTransport(self.name, emit)
        timeouts = sync_client.Timeouts(
            connect=float(config["connect_timeout_s"]), read_write=float(config["read_timeout_s"])
        )
        self.keeper = SyncKeeper(
            self.engine,
            self.data_dir,
            timeouts=timeouts,
            verify=True,
            sync_settings=SyncSettings(batch_size=int(config["batch_size"])),
            transport=self.transport,
        )
        self.services = KioskServices(self.engine, on_pending=self.keeper.wake)
        self.service_ids = [s.service_id for s in self.services.catalog().services.values() if s.active]
        self._journal = open(spec["journal"], "a", encoding="ascii")  # closed by stop()
        self.queued = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._citizens, name=f"citizens-{self.name}", daemon=True)

    def start(self, submitting: bool) -> None:
        self.keeper.check()  # as the app: the worker starts before the first citizen
        self.keeper.start()
        if submitting:
            self._submitting.set()
        self._thread.start()

    def stop_submitting(self) -> None:
        self._submitting.clear()

    def stop(self) -> None:
        self._stopping.set()
        self._submitting.set()  # let the citizens' thread see the stop
        self._thread.join(STOP_TIMEOUT_S)
        self.keeper.stop()
        self._journal.close()
        self.engine.dispose()

    def _citizens(self) -> None:
        while not self._stopping.is_set():
            self._submitting.wait()
            wait = self._rng.expovariate(self._rate_per_s) if self._rate_per_s > 0 else 1.0
            if self._stopping.wait(wait):
                return
            if not self._submitting.is_set():
                continue
            citizen = draw_citizen(self._rng, self.service_ids)
            try:
                submission = self.services.begin_feedback(citizen.service_id, citizen.rating)
                if citizen.details:
                    self.services.add_details(submission.client_uuid, **citizen.details)
                self.services.finish_feedback(submission.client_uuid)
            except Exception as exc:  # a kiosk fault to count, not a reason to stop the citizens
                self.errors += 1
                log.warning("%s: a submission failed: %s", self.name, exc)
                self._emit(e="err", k=self.name, what=type(exc).__name__)
                continue
            self._journal.write(submission.client_uuid + "\n")
            self._journal.flush()
            self.queued += 1

    def report(self) -> dict[str, Any]:
        table = outbox.OUTBOX
        with database.reader(self.engine).connect() as connection:
            rows = connection.execute(
                select(table.c.state, func.count(), func.min(table.c.recorded_at)).group_by(table.c.state)
            ).all()
        counts = {state.value: 0 for state in OutboxState}
        oldest: float | None = None
        for state, count, earliest in rows:
            key = state.value if isinstance(state, OutboxState) else str(state)
            counts[key] = int(count)
            if key in UNSENT_STATES and earliest is not None:
                stamp = earliest.timestamp()
                oldest = stamp if oldest is None else min(oldest, stamp)
        return {"e": "r", "k": self.name, "t": time.time(), "c": counts, "old": oldest, "q": self.queued}


def host_main(config_path: Path) -> None:
    """`python -m bench.fleet host CONFIG`: run the kiosks of CONFIG until `quit` (or EOF) on
    stdin. Other commands: `offline NAME`, `online NAME`, `stop-submitting`."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    config = json.loads(config_path.read_text())
    emit = Emitter(sys.stdout)
    seeds = random.Random(int(config["seed"]))
    kiosks = {spec["name"]: SimKiosk(spec, config, emit, seeds.randrange(2**32)) for spec in config["kiosks"]}
    stopping = threading.Event()

    def reports() -> None:
        while not stopping.wait(float(config["report_interval_s"])):
            for kiosk in kiosks.values():
                try:
                    emit(**kiosk.report())
                except Exception as exc:  # a busy file now and then: the next report comes
                    log.warning("%s: no report: %s", kiosk.name, exc)

    for kiosk in kiosks.values():
        kiosk.start(bool(config["submitting"]))
    reporter = threading.Thread(target=reports, name="reports", daemon=True)
    reporter.start()
    emit(e="ready", pid=os.getpid(), t=time.time())
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command == "quit":
            break
        if command == "offline":
            kiosks[name].transport.link_down.set()
        elif command == "online":
            kiosks[name].transport.link_down.clear()
            kiosks[name].keeper.wake()
        elif command == "stop-submitting":
            for kiosk in kiosks.values():
                kiosk.stop_submitting()
        emit(e="ack", cmd=command, k=name, t=time.time())
    for kiosk in kiosks.values():
        kiosk.stop_submitting()
    stopping.set()
    reporter.join()
    for kiosk in kiosks.values():
        emit(**kiosk.report())
        kiosk.stop()
    emit(e="bye", t=time.time(), errors=sum(k.errors for k in kiosks.values()))


# --- the parent: enrollment ----------------------------------------------------------------------


@dataclass(frozen=True)
class KioskDir:
    name: str
    data_dir: Path
    journal: Path
    device_code: str


def enroll_fleet(
    conninfo: str, api_url: str, kiosk_url: str, root: Path, count: int, entity_id: str = DEVICE_ENTITY
) -> list[KioskDir]:
    """`count` kiosks as IT sets them up: `gea-server devices add`, then `gea-kiosk enroll`'s
    steps (enroll with the one-time code, save the identity and token, fetch the catalog).
    They talk to `kiosk_url` afterwards (the fault proxy, or the server itself)."""
    kiosks = []
    with psycopg.connect(conninfo) as conn:
        codes = [
            devices.add_device(conn, f"Fleet counter {i + 1}", entity_id, ttl_hours=1) for i in range(count)
        ]
    for i, new in enumerate(codes):
        name = f"k{i + 1:02d}"
        data_dir = root / name / "data"
        enrolled = sync_client.enroll(api_url, new.enrollment_code)
        engine = database.open_database(data_dir)
        try:
            me = identity.Identity(
                enrolled.device_code, enrolled.entity_id, kiosk_url, enrolled.public_base_url
            )
            identity.save(engine, data_dir, me, enrolled.device_token)
            with sync_client.SyncClient(api_url, enrolled.device_token) as client:
                fetched = client.catalog()
            if fetched is None:
                raise RuntimeError("the server answered 304 to a first catalog request")
            catalog_cache.store(engine, fetched[1], fetched[0])
        finally:
            engine.dispose()
        kiosks.append(KioskDir(name, data_dir, root / name / "journal.txt", enrolled.device_code))
    return kiosks


# --- the parent: the API server ------------------------------------------------------------------


class ApiServer:
    """`gea-server serve --workers N` on a port it keeps across restarts, its output in a file."""

    def __init__(self, db_url: URL, workers: int, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self._log_path = log_path
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL"))}
        self._env = {
            **base,
            "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False),
            "GEA_SERVER_IP_HASH_SECRET": secrets.token_urlsafe(32),
            "GEA_SERVER_PUBLIC_BASE_URL": "https://feedback.example.gd",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.cpu = CpuMeter()

    def start(self) -> None:
        command = [gea_server_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with open(self._log_path, "ab") as log_file:
            # Its own session: a stop that has to kill takes its workers with it.
            self.process = subprocess.Popen(
                command, env=self._env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    if client.get("/readyz").status_code == 200:
                        self.cpu.track(descendants(self.process.pid))
                        return
                except httpx.TransportError:
                    pass
                time.sleep(POLL_S)
        self.stop()
        tail = self._log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"gea-server serve did not become ready on {self.base_url}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM as systemd stops it (uvicorn finishes its requests), SIGKILL if it hangs."""
        process, self.process = self.process, None
        if process is None:
            return
        self.cpu.track(descendants(process.pid))
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Workers left behind by a crash: the session is ours alone.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def pids(self) -> list[int]:
        return [] if self.process is None else descendants(self.process.pid)


class CpuMeter:
    """CPU seconds of a changing set of processes: each process's CPU between the first and the
    last time it was seen (from zero for those that appeared after `start`)."""

    def __init__(self) -> None:
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._started = False
        self._lock = threading.Lock()

    def start(self, pids: Sequence[int]) -> None:
        with self._lock:
            self._first, self._last, self._started = {}, {}, True
        self.track(pids, baseline=True)

    def track(self, pids: Sequence[int], baseline: bool = False) -> None:
        with self._lock:
            for pid in pids:
                cpu = cpu_seconds(pid)
                if cpu is None:
                    continue
                if pid not in self._first:
                    self._first[pid] = cpu if baseline or not self._started else 0.0
                self._last[pid] = cpu

    @property
    def seconds(self) -> float:
        with self._lock:
            return sum(self._last[pid] - self._first[pid] for pid in self._last)


def backend_pids(conninfo: str, database_name: str) -> list[int]:
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database_name,),
        ).fetchall()
    return [int(r[0]) for r in rows]


# --- the parent: the hosts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    kiosk: str
    started: float
    ended: float
    items: int
    status: int | None  # None: no HTTP answer (the error says why)
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Report:
    at: float
    counts: dict[str, int]
    oldest_unsent: float | None  # earliest recorded_at (epoch seconds) not yet synced
    queued: int

    @property
    def unsent(self) -> int:
        return sum(self.counts.get(state, 0) for state in UNSENT_STATES)


@dataclass
class HostConfig:
    rate_per_min: float
    batch_size: int = SyncSettings().batch_size
    connect_timeout_s: float = sync_client.CONNECT_TIMEOUT_S
    read_timeout_s: float = sync_client.READ_WRITE_TIMEOUT_S
    report_interval_s: float = REPORT_INTERVAL_S


class Host:
    """One host process and what it says."""

    def __init__(self, index: int, kiosks: list[KioskDir], fleet: Fleet) -> None:
        self.index = index
        self.kiosks = kiosks
        self._fleet = fleet
        self.process: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.inflight = 0
        self.starts = 0

    def start(self, config: HostConfig, seed: int, submitting: bool) -> None:
        self.starts += 1
        root = self._fleet.root
        path = root / f"host{self.index}.json"
        path.write_text(
            json.dumps(
                {
                    "kiosks": [
                        {"name": k.name, "data_dir": str(k.data_dir), "journal": str(k.journal)}
                        for k in self.kiosks
                    ],
                    "seed": seed,
                    "submitting": submitting,
                    "rate_per_min": config.rate_per_min,
                    "batch_size": config.batch_size,
                    "connect_timeout_s": config.connect_timeout_s,
                    "read_timeout_s": config.read_timeout_s,
                    "report_interval_s": config.report_interval_s,
                }
            )
        )
        self.ready.clear()
        self.inflight = 0
        with open(root / f"host{self.index}.log", "a") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.fleet", "host", str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                cwd=REPO,
                start_new_session=True,
            )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self._fleet.on_event(self, event)

    def send(self, command: str) -> None:
        process = self.process
        if process is None or process.stdin is None or process.poll() is not None:
            return
        try:
            process.stdin.write(command + "\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def kill(self) -> None:
        """kill -9, as a power cut or the OOM killer ends a kiosk."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        self._close(process)
        self.ready.clear()
        self.inflight = 0

    def quit(self) -> bool:
        """Ask it to stop (each keeper after its request in flight); SIGKILL if it hangs. True
        if it ended by itself."""
        process, self.process = self.process, None
        if process is None:
            return True
        clean = True
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.write("quit\n")
                process.stdin.flush()
                process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                clean = False
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        self._close(process)
        return clean and process.returncode == 0

    @staticmethod
    def _close(process: subprocess.Popen[str]) -> None:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class Fleet:
    """The kiosks of a run in `hosts` processes, and everything they reported."""

    def __init__(self, kiosks: list[KioskDir], hosts: int, root: Path, config: HostConfig, seed: int) -> None:
        self.kiosks = kiosks
        self.root = root
        self.config = config
        self._seeds = random.Random(seed)
        size = math.ceil(len(kiosks) / hosts)
        self.hosts = [Host(i, kiosks[i * size : (i + 1) * size], self) for i in range(hosts)]
        self.hosts = [h for h in self.hosts if h.kiosks]
        self.host_of = {k.name: h for h in self.hosts for k in h.kiosks}
        self._lock = threading.Condition()
        self.reports: dict[str, Report] = {}
        self.pushes: list[Push] = []
        self.kiosk_errors = 0
        self.cpu = CpuMeter()
        self._submitting = True

    # --- events (on the hosts' reader threads) ---

    def on_event(self, host: Host, event: dict[str, Any]) -> None:
        kind = event.get("e")
        with self._lock:
            if kind == "r":
                self.reports[event["k"]] = Report(event["t"], event["c"], event["old"], event["q"])
            elif kind == "s":
                host.inflight += 1
            elif kind in ("p", "f"):
                host.inflight = max(0, host.inflight - 1) if event["n"] else host.inflight
                self.pushes.append(
                    Push(event["k"], event["t0"], event["t1"], event["n"], event.get("st"), event.get("err"))
                )
            elif kind == "ready":
                host.ready.set()
            elif kind == "err":
                self.kiosk_errors += 1
            self._lock.notify_all()

    # --- control ---

    def start(self) -> None:
        for host in self.hosts:
            host.start(self.config, self._seeds.randrange(2**32), self._submitting)
        self.wait_ready(self.hosts)

    def wait_ready(self, hosts: Sequence[Host]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for host in hosts:
            if not host.ready.wait(max(0.0, deadline - time.monotonic())):
                tail = (self.root / f"host{host.index}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"fleet host {host.index} did not start:\n{tail}")
        self.track_cpu()

    def restart(self, host: Host) -> None:
        host.start(self.config, self._seeds.randrange(2**32), self._submitting)
        self.wait_ready([host])

    def stop_submitting(self) -> None:
        self._submitting = False
        for host in self.hosts:
            host.send("stop-submitting")

    def set_link(self, kiosk: str, up: bool) -> None:
        self.host_of[kiosk].send(f"{'online' if up else 'offline'} {kiosk}")

    def host_pids(self) -> list[int]:
        return [pid for h in self.hosts if h.process is not None for pid in descendants(h.process.pid)]

    def track_cpu(self) -> None:
        self.cpu.track(self.host_pids())

    def stop(self) -> bool:
        """Quit every host; True if all ended by themselves."""
        self.track_cpu()
        quits = [host.quit() for host in self.hosts]  # every one, not up to the first failure
        return all(quits)

    # --- what was seen ---

    def snapshot(self) -> tuple[dict[str, Report], list[Push]]:
        with self._lock:
            return dict(self.reports), list(self.pushes)

    def caught_up_since(self, moment: float) -> float | None:
        """When every kiosk had sent everything recorded up to `moment`, judged from reports
        made after it (None: not yet): the latest of those reports' times."""
        with self._lock:
            reports = [self.reports.get(k.name) for k in self.kiosks]
        if any(r is None or r.at <= moment for r in reports):
            return None
        done = [r for r in reports if r is not None and (r.oldest_unsent is None or r.oldest_unsent > moment)]
        if len(done) < len(reports):
            return None
        return max(r.at for r in done)

    def first_push_ok_after(self, moment: float) -> float | None:
        with self._lock:
            ends = [p.ended for p in self.pushes if p.ok and p.items and p.started >= moment]
        return min(ends) if ends else None

    def wait_until(self, condition: Callable[[], object], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, POLL_S))
        return True

    def unsent(self) -> int:
        reports, _ = self.snapshot()
        return sum(r.unsent for r in reports.values())

    def drained(self, after: float) -> bool:
        """Every kiosk reported, after `after`, nothing open, pending or sending."""
        reports = self.reports
        return all(
            (r := reports.get(k.name)) is not None and r.at > after and r.unsent == 0 for k in self.kiosks
        )


@contextmanager
def running_fleet(
    kiosks: list[KioskDir], hosts: int, root: Path, config: HostConfig, seed: int
) -> Iterator[Fleet]:
    """Started, and every host stopped when the block ends, whatever happened."""
    fleet = Fleet(kiosks, hosts, root, config, seed)
    try:
        fleet.start()
        yield fleet
    finally:
        for host in fleet.hosts:
            if host.process is not None:
                host.kill()


# --- the accounting ------------------------------------------------------------------------


@dataclass
class Accounting:
    queued: int = 0  # submissions in the kiosks' outboxes
    promised: int = 0  # of them, in the journals (finish_feedback had returned)
    stored: int = 0  # rows of the fleet's devices in service_feedback
    expected_tickets: int = 0
    tickets: int = 0  # tickets of the fleet's feedback
    months: dict[str, int] = field(default_factory=dict)  # year_month → tickets (all of them)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # in the database, in no outbox
    ticket_problems: list[str] = field(default_factory=list)
    number_problems: list[str] = field(default_factory=list)
    outbox_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.unexpected
            or self.ticket_problems
            or self.number_problems
            or self.outbox_problems
        )

    def problems(self) -> list[str]:
        found = []
        for label, items in (
            ("lost", self.lost),
            ("duplicated", self.duplicated),
            ("in the database but in no outbox", self.unexpected),
            ("tickets", self.ticket_problems),
            ("ticket numbers", self.number_problems),
            ("outboxes", self.outbox_problems),
        ):
            if items:
                shown = "; ".join(items[:5]) + (f" (and {len(items) - 5} more)" if len(items) > 5 else "")
                found.append(f"{label}: {len(items)}: {shown}")
        return found

    def lines(self) -> list[str]:
        months = ", ".join(f"{m}: 1..{n}" for m, n in sorted(self.months.items()))
        return [
            f"submissions queued by the kiosks: {self.queued:,} ({self.promised:,} promised in journals)",
            f"in service_feedback: {self.stored:,}; lost {len(self.lost)}, "
            f"duplicated {len(self.duplicated)}, "
            f"unexpected {len(self.unexpected)}",
            f"tickets expected {self.expected_tickets:,}, made {self.tickets:,}; "
            f"problems {len(self.ticket_problems)}",
            f"ticket numbers per month: {months or 'none'}; problems {len(self.number_problems)}",
            f"outboxes: problems {len(self.outbox_problems)}",
        ]


@dataclass(frozen=True)
class _Queued:
    kiosk: str
    state: str
    rating: int
    grievance: bool
    feedback_id: int | None
    ticket_number: str | None


def read_outbox(kiosk: KioskDir) -> dict[str, _Queued]:
    """Every row of the kiosk's outbox, read with sqlite3 alone (nothing of the kiosk runs)."""
    path = database.database_path(kiosk.data_dir)
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT client_uuid, state, json_extract(payload, '$.rating'), "
            "coalesce(json_extract(payload, '$.grievance_flag'), 0), feedback_id, ticket_number FROM outbox"
        ).fetchall()
    finally:
        connection.close()
    return {
        str(uuid): _Queued(kiosk.name, str(state), int(rating), bool(grievance), fid, ticket)
        for uuid, state, rating, grievance, fid, ticket in rows
    }


def account(conninfo: str, kiosks: Sequence[KioskDir]) -> Accounting:
    """The exact accounting of a finished run (every host stopped)."""
    result = Accounting()
    queued: dict[str, _Queued] = {}
    for kiosk in kiosks:
        rows = read_outbox(kiosk)
        queued.update(rows)
        promised = kiosk.journal.read_text().split() if kiosk.journal.exists() else []
        result.promised += len(promised)
        result.lost += [
            f"{uuid} ({kiosk.name}: promised, not in its outbox)" for uuid in promised if uuid not in rows
        ]
        for uuid, row in rows.items():
            if row.state != "synced":
                result.outbox_problems.append(f"{kiosk.name} {uuid} is {row.state}")
    result.queued = len(queued)
    codes = [k.device_code for k in kiosks]
    with psycopg.connect(conninfo) as conn:
        feedback = conn.execute(
            "SELECT f.client_uuid::text, f.feedback_id FROM service_feedback f "
            "JOIN kiosk_devices d ON d.device_id = f.device_id WHERE d.device_code = ANY(%s)",
            (codes,),
        ).fetchall()
        tickets = conn.execute(
            "SELECT f.client_uuid::text, t.ticket_number FROM tickets t "
            "JOIN service_feedback f ON f.feedback_id = t.feedback_id "
            "JOIN kiosk_devices d ON d.device_id = f.device_id WHERE d.device_code = ANY(%s)",
            (codes,),
        ).fetchall()
        numbers = [str(r[0]) for r in conn.execute("SELECT ticket_number FROM tickets")]
        counters = {
            str(r[0]): int(r[1])
            for r in conn.execute("SELECT year_month, last_value FROM ticket_number_counters")
        }
    result.stored = len(feedback)
    rows_of: dict[str, list[int]] = defaultdict(list)
    for uuid, feedback_id in feedback:
        rows_of[uuid].append(int(feedback_id))
    for uuid, row in queued.items():
        found = rows_of.get(uuid, [])
        if not found:
            result.lost.append(f"{uuid} ({row.kiosk}, {row.state})")
        elif len(found) > 1:
            result.duplicated.append(f"{uuid} ({row.kiosk}) stored {len(found)} times")
        elif row.state == "synced" and row.feedback_id != found[0]:
            result.outbox_problems.append(
                f"{uuid}: the kiosk recorded feedback {row.feedback_id}, stored {found[0]}"
            )
    result.unexpected += [uuid for uuid in rows_of if uuid not in queued]
    tickets_of: dict[str, list[str]] = defaultdict(list)
    for uuid, number in tickets:
        tickets_of[uuid].append(str(number))
    result.tickets = len(tickets)
    for uuid, row in queued.items():
        made = tickets_of.get(uuid, [])
        if needs_ticket(row.rating, row.grievance):
            result.expected_tickets += 1
            if len(made) != 1:
                result.ticket_problems.append(f"{uuid} (rating {row.rating}) has {len(made)} tickets")
            elif row.state == "synced" and row.ticket_number != made[0]:
                result.ticket_problems.append(
                    f"{uuid}: the kiosk recorded {row.ticket_number}, stored {made[0]}"
                )
        elif made:
            result.ticket_problems.append(f"{uuid} (rating {row.rating}, no complaint) has a ticket {made}")
    by_month: dict[str, list[int]] = defaultdict(list)
    for number in numbers:
        month, _, sequence = number.partition("-")
        by_month[month].append(int(sequence))
    for month, sequences in sorted(by_month.items()):
        result.months[month] = len(sequences)
        if len(set(sequences)) != len(sequences):
            result.number_problems.append(f"{month}: {len(sequences) - len(set(sequences))} numbers repeated")
        if sorted(sequences) != list(range(1, len(sequences) + 1)):
            missing = sorted(set(range(1, max(sequences) + 1)) - set(sequences))
            result.number_problems.append(f"{month}: not 1..{len(sequences)} (missing {missing[:10]})")
        if counters.get(month) != len(sequences):
            result.number_problems.append(
                f"{month}: counter {counters.get(month)} for {len(sequences)} tickets"
            )
    for month in set(counters) - set(by_month):
        result.number_problems.append(f"{month}: counter {counters[month]} with no ticket")
    return result


# --- small helpers the runs share -----------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction 0.95 for p95); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="A host process of simulated kiosks (used by bench.soak and bench.chaos)."
    )
    parser.add_argument("role", choices=["host"])
    parser.add_argument("config", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops hosts; Ctrl-C is its to handle
    host_main(args.config)


if __name__ == "__main__":
    main()
