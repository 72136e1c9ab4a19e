"""The kiosk's sync engine in whole scenarios (issue 4): the real server over HTTP, real
PostgreSQL, a real kiosk data directory (ARCHITECTURE 5, 6 and 8).

- The database goes away in the middle of a drain and comes back: the kiosk is told 503
  `database_unavailable` (never a 500), keeps its rows pending with a backoff, and once the
  database is back every submission is stored exactly once with exactly the tickets due.
- The kiosk's clock is days fast or slow: the server measures the offset from `device_time`,
  starts each ticket's SLA clock at the corrected time, clamped as docs/schema.md says, and
  the redelivery of the same rows changes nothing.
- `gea-kiosk sync --watch` runs as a process while other `gea-kiosk` processes submit, read
  the status and try to sync the same data directory: one syncing process, everything
  delivered once, and a clean stop on SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, update
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from kiosk.local_db import outbox
from kiosk.local_db.models import OutboxItem, OutboxState
from kiosk.sync import worker as worker_module
from kiosk.sync.client import SyncClient, open_client
from kiosk.sync.worker import Phase, SyncSettings, SyncState, SyncWorker
from server_sync_api.core.db import libpq_conninfo
from server_sync_api.services import devices
from tests.helpers.enrolled_kiosk import Kiosk, make_kiosk
from tests.helpers.feedback import StoredFeedback, stored_feedback
from tests.helpers.private_pg import PrivateCluster, feedback_db, private_cluster
from tests.helpers.processes import OutputProcess
from tests.helpers.server import (
    EnrolledDevice,
    LiveServer,
    add_device,
    enroll,
    free_port,
    serve,
    settings_for,
)

Conn = psycopg.Connection[tuple[Any, ...]]
# Bounds every wait for the worker or a process; a healthy run takes a few seconds.
DEADLINE_S = 60.0
POLL_S = 0.2


def payload(rating: int, grievance: bool = False) -> dict[str, Any]:
    return {
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": rating,
        "channel": "kiosk",
        "grievance_flag": grievance,
        "feedback_text": "The queue did not move" if grievance else None,
    }


def makes_ticket(item: dict[str, Any]) -> bool:
    """The server's rule (docs/schema.md): a grievance or a rating of 2 or less."""
    return bool(item["grievance_flag"]) or int(item["rating"]) <= 2


def row_of(engine: Engine, submission: outbox.Submission) -> outbox.OutboxRow:
    found = outbox.find(engine, submission.reference_code)
    assert found is not None
    return found


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Check `condition` every POLL_S until it holds; fail with `what` after the deadline."""
    pause = threading.Event()
    for _ in range(int(deadline_s / POLL_S)):
        if condition():
            return
        pause.wait(POLL_S)
    assert condition(), f"{what} did not happen within {deadline_s:.0f} s"


class AnswerLog(httpx.HTTPTransport):
    """A real HTTP transport that notes (path, status, error code) of every answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, int, str | None]] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        code = None
        if response.status_code >= 400:
            response.read()  # kept by the response: the client reads the same body after us
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "<not the error shape>"
        with self._lock:
            self.answers.append((request.url.path, response.status_code, code))
        return response

    def pushes(self) -> list[tuple[int, str | None]]:
        with self._lock:
            return [(status, code) for path, status, code in self.answers if path.endswith("/submissions")]


# --- 1. the database goes away during a drain ------------------------------------------------

QUEUED = 300
BATCH = 25


@dataclass
class StopDatabaseAfterFirstBatch:
    """Observer: once the first batch is acknowledged, stop PostgreSQL under the server.

    It runs on the thread that drains, between two batches, so the next push is the first
    request the server gets without its database: the cut falls mid-drain on every run.
    """

    cluster: PrivateCluster
    stopped: bool = False
    error: BaseException | None = None

    def __call__(self, state: SyncState) -> None:
        if self.stopped or state.counts["synced"] < BATCH:
            return
        self.stopped = True
        try:
            self.cluster.stop("fast")
        except BaseException as exc:  # the worker would swallow it; the test reports it
            self.error = exc
            raise


@dataclass
class Delivered:
    """Observer: set once `expected` rows are synced."""

    expected: int
    event: threading.Event = field(default_factory=threading.Event)

    def __call__(self, state: SyncState) -> None:
        if state.counts["synced"] >= self.expected:
            self.event.set()


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster("gea-pg-kiosk-") as private:
        yield private


@pytest.mark.slow
def test_database_lost_mid_drain_then_back_every_submission_is_stored_once_with_its_ticket(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    url = feedback_db(cluster)
    with serve(settings_for(url)) as live:
        kiosk = make_kiosk(tmp_path / "kiosk", live, enroll(live, url, "AGY-002"))
        queued: dict[str, dict[str, Any]] = {}
        submissions = []
        for n in range(QUEUED):
            item = payload(rating=n % 5 + 1, grievance=n % 7 == 3)
            submission = outbox.enqueue(kiosk.engine, item)
            submissions.append(submission)
            queued[submission.client_uuid] = item
        answers = AnswerLog()
        client = open_client(kiosk.engine, kiosk.data_dir, transport=answers)
        # The server asks for Retry-After: 5; honouring at most 1 s keeps the test short and
        # makes every backoff exactly 1 s (the doubling is capped there too).
        # One push at a time: the database stops once the first batch is settled, and the
        # second must not have reached the server before that.
        settings = SyncSettings(
            batch_size=BATCH,
            backoff_initial_s=0.5,
            backoff_max_s=1.0,
            retry_after_max_s=1.0,
            idle_poll_s=0.5,
            pushes_in_flight=1,
        )
        worker = SyncWorker(kiosk.engine, client, settings)
        cut = StopDatabaseAfterFirstBatch(cluster)
        worker.add_observer(cut)
        try:
            report = worker.drain_once(ignore_backoff=False)

            assert cut.stopped, "the first batch was never acknowledged"
            assert cut.error is None, cut.error
            assert answers.pushes() == [(200, None), (503, "database_unavailable")]
            assert (report.batches, report.synced, report.released) == (2, BATCH, BATCH)
            assert report.last_error is not None
            assert "database_unavailable" in report.last_error
            assert outbox.counts(kiosk.engine) == {
                "open": 0,
                "pending": QUEUED - BATCH,
                "sending": 0,
                "synced": BATCH,
                "rejected": 0,
            }
            state = worker.state
            assert state.phase is Phase.OFFLINE
            assert state.offline_since is not None
            for submission in submissions[BATCH : 2 * BATCH]:  # the batch the server refused
                row = row_of(kiosk.engine, submission)
                assert row.state is OutboxState.PENDING
                assert row.attempts == 1
                assert row.next_attempt_at is not None
                assert row.next_attempt_at > row.state_changed_at  # a backoff, not at once
                assert row.last_error is not None
                assert "database_unavailable" in row.last_error
            untouched = row_of(kiosk.engine, submissions[2 * BATCH])
            assert (untouched.state, untouched.attempts, untouched.next_attempt_at) == (
                OutboxState.PENDING,
                0,
                None,
            )

            # The worker thread keeps retrying on its own while the database is down...
            delivered = Delivered(QUEUED)
            worker.add_observer(delivered)
            worker.start()
            # (While the database is down the server answers each push after its pool's
            # timeout, 5 s: one more refused push is proof enough.)
            wait_until(lambda: len(answers.pushes()) >= 3, "a push retried during the outage")
            assert "database_unavailable" in (worker.state.last_error or "")
            # ...and drains everything once it is back, without being told.
            cluster.start()
            assert delivered.event.wait(DEADLINE_S), f"not delivered: {outbox.counts(kiosk.engine)}"
        finally:
            assert worker.stop(DEADLINE_S), "the sync worker did not stop"
            client.close()

    pushes = answers.pushes()
    assert {status for status, _ in pushes} == {200, 503}, pushes
    assert all(code == "database_unavailable" for status, code in pushes if status == 503), pushes
    assert sum(1 for status, _ in pushes if status == 503) >= 2
    assert outbox.counts(kiosk.engine) == {
        "open": 0,
        "pending": 0,
        "sending": 0,
        "synced": QUEUED,
        "rejected": 0,
    }
    stored = stored_feedback(url, kiosk.device.device_code)
    assert set(stored) == set(queued)  # every submission, none twice (stored_feedback checks)
    expected_tickets = {uid for uid, item in queued.items() if makes_ticket(item)}
    assert 0 < len(expected_tickets) < QUEUED
    for uid, item in queued.items():
        found = stored[uid]
        assert (found.rating, found.grievance_flag) == (item["rating"], item["grievance_flag"])
        assert found.tickets == (1 if uid in expected_tickets else 0), (uid, item, found)
    for submission in submissions:
        kept = row_of(kiosk.engine, submission)
        assert (kept.feedback_id, kept.ticket_number) == (
            stored[submission.client_uuid].feedback_id,
            stored[submission.client_uuid].ticket_number,
        )
    kiosk.engine.dispose()


# --- 2. a kiosk whose clock is days off -------------------------------------------------------

# The server's rule (docs/schema.md): the SLA clock starts at recorded_at + clock_offset_s,
# clamped to [received - 7 days, received].
SLA_WINDOW = timedelta(days=7)
# How far the measured offset may stray from the clock's true error: the time between the
# kiosk reading its clock for device_time and the server reading its own, plus rounding.
# Generous for a loaded CI machine, and still thousands of times smaller than the errors here.
OFFSET_TOLERANCE_S = 60
# The citizens came this long (by the kiosk's clock) before the kiosk could send.
WAITED = timedelta(hours=2)


class KioskClock:
    """The kiosk's wall clock: true UTC plus `skew`. The outbox and the worker read the time
    through `outbox.utcnow` (the worker imports it by name), so patching both moves every
    recorded_at, device_time and backoff the kiosk writes, and nothing on the server."""

    def __init__(self) -> None:
        self.skew = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.skew


@pytest.fixture
def kiosk_clock(monkeypatch: pytest.MonkeyPatch) -> KioskClock:
    clock = KioskClock()
    monkeypatch.setattr(outbox, "utcnow", clock.now)
    monkeypatch.setattr(worker_module, "utcnow", clock.now)
    return clock


@pytest.fixture
def kiosk(tmp_path: Path, live_server: LiveServer, device: EnrolledDevice) -> Iterator[Kiosk]:
    made = make_kiosk(tmp_path / "kiosk", live_server, device)
    yield made
    made.engine.dispose()


@pytest.fixture
def sync_worker(kiosk: Kiosk) -> Iterator[SyncWorker]:
    client = open_client(kiosk.engine, kiosk.data_dir)
    worker = SyncWorker(kiosk.engine, client)
    yield worker
    assert worker.stop(DEADLINE_S)
    client.close()


def sla_start_by_rule(row: StoredFeedback) -> datetime:
    corrected = row.recorded_at + timedelta(seconds=row.clock_offset_s or 0)
    return max(row.created_at - SLA_WINDOW, min(row.created_at, corrected))


def device_drift(conn: Conn, device_code: str) -> int | None:
    found = conn.execute(
        "SELECT clock_drift_seconds FROM kiosk_devices WHERE device_code = %s", (device_code,)
    ).fetchone()
    assert found is not None
    return found[0]  # type: ignore[no-any-return]


SKEWS = [
    pytest.param(timedelta(days=3), id="three_days_fast"),
    pytest.param(timedelta(days=-3), id="three_days_slow"),
    pytest.param(timedelta(days=-10), id="ten_days_slow"),
]


@pytest.mark.parametrize("skew", SKEWS)
def test_a_skewed_kiosk_clock_is_measured_and_corrected_and_delivery_stays_exactly_once(
    skew: timedelta,
    kiosk_clock: KioskClock,
    kiosk: Kiosk,
    sync_worker: SyncWorker,
    conn: Conn,
    db_url: URL,
) -> None:
    code = kiosk.device.device_code
    items = [payload(1), payload(4, grievance=True), payload(5)]

    # The clock is wrong both when the citizens submit and when the kiosk sends: the offset
    # measured on delivery puts each SLA clock back where it truly started.
    kiosk_clock.skew = skew - WAITED
    before = datetime.now(UTC)
    steady = [outbox.enqueue(kiosk.engine, item) for item in items]
    kiosk_clock.skew = skew
    report = sync_worker.drain_once()
    assert (report.synced, report.rejected) == (3, 0), report

    stored = stored_feedback(db_url, code)
    drift = device_drift(conn, code)
    assert drift is not None
    assert abs(drift + skew.total_seconds()) <= OFFSET_TOLERANCE_S
    for submission, item in zip(steady, items, strict=True):
        row = stored[submission.client_uuid]
        local = row_of(kiosk.engine, submission)
        assert row.recorded_at == local.recorded_at  # stored as the kiosk's clock said it
        assert abs(local.recorded_at - (before + skew - WAITED)) < timedelta(seconds=OFFSET_TOLERANCE_S)
        assert row.clock_offset_s is not None
        assert abs(row.clock_offset_s + skew.total_seconds()) <= OFFSET_TOLERANCE_S
        assert row.tickets == (1 if makes_ticket(item) else 0)
        if row.tickets:
            assert row.sla_start == sla_start_by_rule(row)
            # The true submission time, two hours before delivery: not days off, not clamped.
            assert row.sla_start is not None
            assert abs(row.sla_start - (row.created_at - WAITED)) < timedelta(seconds=OFFSET_TOLERANCE_S)

    # The clock is put right (NTP, a reboot) between the submissions and their delivery: the
    # offset measured then is about zero, so the times as recorded are clamped to the window.
    kiosk_clock.skew = skew
    corrected_later = [outbox.enqueue(kiosk.engine, item) for item in items]
    kiosk_clock.skew = timedelta(0)
    assert sync_worker.drain_once().synced == 3
    drift = device_drift(conn, code)
    assert drift is not None
    assert abs(drift) <= OFFSET_TOLERANCE_S

    stored = stored_feedback(db_url, code)
    for submission in corrected_later:
        row = stored[submission.client_uuid]
        assert row.clock_offset_s is not None
        assert abs(row.clock_offset_s) <= OFFSET_TOLERANCE_S
        if row.tickets:
            assert row.sla_start == sla_start_by_rule(row)
            if skew > timedelta(0):  # recorded "in the future": the clock starts on receipt
                assert row.sla_start == row.created_at
            elif -skew > SLA_WINDOW:  # recorded over a week "ago": at most a week back
                assert row.sla_start == row.created_at - SLA_WINDOW
            else:
                assert row.sla_start == row.recorded_at + timedelta(seconds=row.clock_offset_s)

    # Every answer is lost (say) and everything is sent again under yet another clock: all
    # duplicates, nothing stored twice, and nothing stored changes.
    with Session(kiosk.engine) as session, session.begin():
        session.execute(update(OutboxItem).values(state=OutboxState.PENDING))
    kiosk_clock.skew = -skew
    again = sync_worker.drain_once()
    assert (again.synced, again.rejected) == (6, 0)
    assert stored_feedback(db_url, code) == stored
    assert len(stored) == 6
    assert outbox.counts(kiosk.engine)["synced"] == 6


@pytest.mark.parametrize("skew", SKEWS[:2])
def test_the_fleet_view_judges_a_skewed_kiosks_backlog_by_true_time(
    skew: timedelta, kiosk_clock: KioskClock, kiosk: Kiosk, sync_worker: SyncWorker, conn: Conn
) -> None:
    """A kiosk holding one item for two hours, with a clock three days off: IT's fleet view
    must flag the clock and a backlog two hours old: not hide the backlog (a fast clock makes
    it look recorded in the future) nor call it three days old (a slow one)."""
    kiosk_clock.skew = skew - WAITED
    outbox.enqueue(kiosk.engine, payload(4))
    kiosk_clock.skew = skew
    sync_worker.send_heartbeat()

    (row,) = [r for r in devices.fleet(conn, timedelta(days=1)) if r.device_code == kiosk.device.device_code]
    assert row.queue_depth == 1
    assert row.clock_drift_seconds is not None
    assert abs(row.clock_drift_seconds + skew.total_seconds()) <= OFFSET_TOLERANCE_S
    assert any(problem.startswith("clock off by") for problem in row.problems), row.problems
    assert any(problem.startswith("backlog 1 items") for problem in row.problems), row.problems
    assert row.oldest_pending_at is not None
    age = datetime.now(UTC) - row.oldest_pending_at
    assert abs(age - WAITED) <= timedelta(seconds=OFFSET_TOLERANCE_S), age


# Rows whose backoff is over go out on the worker's next cycle, well within this.
PROMPT_DELIVERY_S = 5.0


def test_rows_in_backoff_are_sent_soon_after_a_fast_clock_is_put_right(
    kiosk_clock: KioskClock, kiosk: Kiosk, db_url: URL
) -> None:
    """Three days fast, the kiosk fails to reach the server and backs off for well under a
    second; then the clock is put right and the kiosk restarts (when NTP usually corrects a
    clock). The backoff is long over, so the worker must send the rows at once."""
    kiosk_clock.skew = timedelta(days=3)
    submissions = [outbox.enqueue(kiosk.engine, payload(3)) for _ in range(3)]
    quick = SyncSettings(backoff_initial_s=0.1, backoff_max_s=0.2, idle_poll_s=POLL_S)
    with SyncClient(f"http://127.0.0.1:{free_port()}", kiosk.device.token) as nowhere:
        offline = SyncWorker(kiosk.engine, nowhere, quick).drain_once(ignore_backoff=False)
    assert offline.released == 3
    assert all(row_of(kiosk.engine, s).next_attempt_at is not None for s in submissions)

    kiosk_clock.skew = timedelta(0)
    outbox.recover(kiosk.engine)  # the restart, as bootstrap.sync_session does it
    client = open_client(kiosk.engine, kiosk.data_dir)
    worker = SyncWorker(kiosk.engine, client, quick)
    delivered = Delivered(3)
    worker.add_observer(delivered)
    worker.start()
    try:
        arrived = delivered.event.wait(PROMPT_DELIVERY_S)
    finally:
        assert worker.stop(DEADLINE_S)
        client.close()
    assert arrived, f"still waiting: {outbox.counts(kiosk.engine)}"
    assert len(stored_feedback(db_url, kiosk.device.device_code)) == 3


# --- 3. gea-kiosk sync --watch with other gea-kiosk processes on the same data directory -----

GEA_KIOSK = shutil.which("gea-kiosk", path=os.path.dirname(sys.executable))
LANES = 4  # gea-kiosk submit processes running at the same time
PER_LANE = 3  # processes each lane runs, one after the other
STAFF_PIN = "246810"


def kiosk_env(data_dir: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GEA_KIOSK_")}
    return {
        **base,
        "GEA_KIOSK_DATA_DIR": str(data_dir),
        "GEA_KIOSK_CONFIG": str(data_dir / "none.toml"),
        "GEA_KIOSK_BATCH_SIZE": "4",  # several pushes for a handful of rows
        "GEA_KIOSK_PIN": STAFF_PIN,
    }


def run_kiosk(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert GEA_KIOSK is not None
    return subprocess.run(
        [GEA_KIOSK, *args],
        env=kiosk_env(data_dir),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        stdin=subprocess.DEVNULL,
    )


def submit_lane(data_dir: Path, lane: int) -> list[dict[str, str]]:
    """PER_LANE `gea-kiosk submit --json` processes, one after the other."""
    made = []
    for n in range(PER_LANE):
        rating = (lane + n) % 5 + 1
        args = ["submit", "--service", "SVC-002", "--rating", str(rating), "--json"]
        if n % 3 == 0:
            args.append("--grievance")
        done = run_kiosk(data_dir, *args)
        assert done.returncode == 0, done.stderr
        made.append({**json.loads(done.stdout), "rating": str(rating), "grievance": str(n % 3 == 0)})
    return made


@pytest.fixture
def enrolled_dir(tmp_path: Path, live_server: LiveServer, db_url: URL) -> Path:
    """A data directory enrolled through `gea-kiosk enroll` as a kiosk of AGY-003 (SVC-002)."""
    new = add_device(db_url, "AGY-003")
    data_dir = tmp_path / "kiosk"
    enrolled = run_kiosk(data_dir, "enroll", "--server", live_server.base_url, "--code", new.enrollment_code)
    assert enrolled.returncode == 0, enrolled.stderr
    assert "Catalog downloaded" in enrolled.stdout
    return data_dir


@pytest.mark.slow
def test_sync_watch_delivers_what_concurrent_cli_processes_queue_and_stops_cleanly(
    enrolled_dir: Path, db_url: URL
) -> None:
    assert GEA_KIOSK is not None
    watch = OutputProcess([GEA_KIOSK, "sync", "--watch"], kiosk_env(enrolled_dir))
    try:
        watch.wait_for_line("Syncing")

        with ThreadPoolExecutor(LANES) as pool:
            lanes = [pool.submit(submit_lane, enrolled_dir, lane) for lane in range(LANES)]
            # While the submitters and the watcher all write to the same SQLite file:
            status = run_kiosk(enrolled_dir, "status", "--json")
            refused = run_kiosk(enrolled_dir, "sync", "--once")
            made = [submission for lane in lanes for submission in lane.result()]

        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["authorized"] is True
        assert report["device_code"]
        assert all(isinstance(n, int) for n in report["counts"].values())
        assert refused.returncode == 3, (refused.stdout, refused.stderr)
        assert "Another process is syncing" in refused.stderr
        assert "Traceback" not in refused.stderr

        codes = {m["reference_code"] for m in made}
        assert len(codes) == len(made) == LANES * PER_LANE
        assert len({m["client_uuid"] for m in made}) == len(made)
        assert len({code.split("-")[1] for code in codes}) == len(codes)  # one sequence each

        def all_arrived() -> bool:
            with psycopg.connect(libpq_conninfo(db_url)) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM service_feedback WHERE reference_code = ANY(%s)", (list(codes),)
                ).fetchone()
            return row is not None and row[0] == len(codes)

        wait_until(all_arrived, "the delivery of every submission by sync --watch")
        assert watch.process.poll() is None, "sync --watch ended on its own"
        exit_status = watch.terminate()
    finally:
        watch.kill()

    assert exit_status == 0, watch.lines
    assert watch.lines[-1] == "Stopped.", watch.lines
    assert not any("Traceback" in line for line in watch.lines), watch.lines

    with psycopg.connect(libpq_conninfo(db_url)) as conn:
        rows = conn.execute(
            "SELECT f.reference_code, f.client_uuid::text, f.rating, f.grievance_flag, count(t.ticket_id) "
            "FROM service_feedback f LEFT JOIN tickets t ON t.feedback_id = f.feedback_id "
            "GROUP BY f.feedback_id"
        ).fetchall()
    stored = {r[0]: r[1:] for r in rows}
    assert len(rows) == len(stored) == len(made)  # nothing else, nothing twice
    for m in made:
        grievance = m["grievance"] == "True"
        expected = 1 if grievance or int(m["rating"]) <= 2 else 0
        assert stored[m["reference_code"]] == (m["client_uuid"], int(m["rating"]), grievance, expected)

    final = run_kiosk(enrolled_dir, "status", "--json")
    assert final.returncode == 0, final.stderr
    assert json.loads(final.stdout)["counts"] == {
        "open": 0,
        "pending": 0,
        "sending": 0,
        "synced": len(made),
        "rejected": 0,
    }
    # The watcher let go of the lock when it stopped: a sync --once may run now.
    after = run_kiosk(enrolled_dir, "sync", "--once")
    assert after.returncode == 0, after.stderr
