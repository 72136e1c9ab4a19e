"""The kiosk's sync client and worker against the real server and real PostgreSQL
(ARCHITECTURE 5 and 6): a kiosk data directory on a real SQLite file, enrolled as AGY-002."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, update
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from kiosk import faults
from kiosk.local_db import catalog_cache, database, identity, outbox
from kiosk.local_db.database import open_database
from kiosk.local_db.models import OutboxItem, OutboxState
from kiosk.sync.client import SyncClient, enroll, open_client
from kiosk.sync.errors import EnrollmentRefused, NotAuthorized
from kiosk.sync.worker import Phase, SyncSettings, SyncState, SyncWorker
from server_sync_api.services import devices
from tests.helpers import server
from tests.helpers.enrolled_kiosk import PUBLIC_BASE_URL, Kiosk, make_kiosk
from tests.helpers.server import EnrolledDevice, LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]
# Bounds a wait for the worker thread; a healthy run takes well under a second.
EVENT_TIMEOUT_S = 30.0
GEA_SERVER = shutil.which("gea-server", path=os.path.dirname(sys.executable)) or "gea-server"


@pytest.fixture
def kiosk(tmp_path: Path, live_server: LiveServer, device: EnrolledDevice) -> Iterator[Kiosk]:
    made = make_kiosk(tmp_path / "kiosk", live_server, device)
    yield made
    made.engine.dispose()


WorkerFactory = Callable[..., SyncWorker]


@pytest.fixture
def make_worker(kiosk: Kiosk) -> Iterator[WorkerFactory]:
    """Workers on the kiosk's data directory; stopped and closed after the test."""
    made: list[tuple[SyncWorker, SyncClient]] = []

    def make(
        settings: SyncSettings | None = None,
        transport: httpx.BaseTransport | None = None,
        server_url: str | None = None,
        **kwargs: Any,
    ) -> SyncWorker:
        if server_url is None:
            client = open_client(kiosk.engine, kiosk.data_dir, transport=transport)
        else:
            client = SyncClient(server_url, kiosk.device.token, transport=transport)
        worker = SyncWorker(kiosk.engine, client, settings, **kwargs)
        made.append((worker, client))
        return worker

    yield make
    for worker, client in made:
        assert worker.stop(EVENT_TIMEOUT_S), "the sync worker did not stop"
        client.close()


def payload(rating: int = 4, **extra: Any) -> dict[str, Any]:
    return {"service_id": "SVC-001", "entity_id": "AGY-002", "rating": rating, "channel": "kiosk", **extra}


def row_of(engine: Engine, submission: outbox.Submission) -> outbox.OutboxRow:
    found = outbox.find(engine, submission.reference_code)
    assert found is not None
    return found


def stored(conn: Conn, submissions: list[outbox.Submission]) -> dict[str, tuple[int, str | None, int]]:
    """client_uuid → (feedback_id, ticket_number, how many rows) in feedback_db."""
    rows = conn.execute(
        "SELECT f.client_uuid::text, min(f.feedback_id), min(t.ticket_number), count(*) "
        "FROM service_feedback f LEFT JOIN tickets t ON t.feedback_id = f.feedback_id "
        "WHERE f.client_uuid::text = ANY(%s) GROUP BY f.client_uuid",
        ([s.client_uuid for s in submissions],),
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that notes each response's status."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


# --- drain_once ----------------------------------------------------------------------------


def test_drain_once_delivers_each_submission_exactly_once(
    kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn
) -> None:
    ratings = [1, 2, 3, 4, 5, 1, 4]
    submissions = [outbox.enqueue(kiosk.engine, payload(r)) for r in ratings]
    worker = make_worker(SyncSettings(batch_size=3))

    report = worker.drain_once()

    assert (report.batches, report.sent, report.synced, report.rejected) == (3, 7, 7, 0)
    assert report.ok
    in_db = stored(conn, submissions)
    for submission, rating in zip(submissions, ratings, strict=True):
        row = row_of(kiosk.engine, submission)
        assert row.state is OutboxState.SYNCED
        assert row.feedback_id is not None
        assert (row.ticket_number is not None) == (rating <= 2), row
        assert in_db[submission.client_uuid] == (row.feedback_id, row.ticket_number, 1)
    assert worker.state.phase is Phase.IDLE
    assert worker.state.last_success_at is not None

    # The responses were lost (say): the same rows are sent again and answered `duplicate`.
    with Session(kiosk.engine) as session, session.begin():
        session.execute(update(OutboxItem).values(state=OutboxState.PENDING))
    again = worker.drain_once()
    assert again.synced == 7
    assert stored(conn, submissions) == in_db
    assert [row_of(kiosk.engine, s).feedback_id for s in submissions] == [
        in_db[s.client_uuid][0] for s in submissions
    ]

    # Nothing left: only a heartbeat goes out.
    assert worker.drain_once().batches == 0


class HoldFirstPush(httpx.HTTPTransport):
    """A real HTTP transport that holds the first push until a second has left (or a few
    seconds have passed), and notes each push as it leaves: its size, the queue depth it
    reports, how many rows the outbox holds synced at that moment, and how many pushes were
    on their way then, this one included."""

    def __init__(self, engine: Engine, events: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.engine = engine
        self.events = events
        self.second_left = threading.Event()
        self.lock = threading.Lock()
        self.pushes = 0
        self.in_flight = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/submissions"):
            return super().handle_request(request)
        body = json.loads(request.content)
        with self.lock:
            self.pushes += 1
            self.in_flight += 1
            first = self.pushes == 1
            synced = outbox.counts(self.engine)["synced"]
            self.events.append(
                ("push", len(body["items"]), body["device_status"]["queue_depth"], synced, self.in_flight)
            )
        if first:
            self.second_left.wait(5)
        else:
            self.second_left.set()
        try:
            return super().handle_request(request)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_two_pushes_are_on_their_way_at_once_and_answers_are_settled_in_order(
    kiosk: Kiosk, make_worker: WorkerFactory
) -> None:
    """The second batch leaves before the first is answered (the transport holds the first
    until it has), never a third while two are on their way; each push reports the queue the
    kiosk holds as it leaves, and the observers see each answer settled in turn."""
    for rating in (1, 2, 3, 4, 5, 1, 4):
        outbox.enqueue(kiosk.engine, payload(rating))
    events: list[tuple[Any, ...]] = []
    transport = HoldFirstPush(kiosk.engine, events)
    worker = make_worker(SyncSettings(batch_size=3), transport=transport)
    worker.add_observer(lambda state: events.append(("observed", state.counts["synced"])))

    report = worker.drain_once()

    assert (report.batches, report.synced) == (3, 7)
    pushes = [e for e in events if e[0] == "push"]
    # (items, queue depth reported, synced when it reached the transport, pushes on their way
    # with it): the second left while the first was held; the third once the first was
    # settled (it reports 4 waiting), while the second may still be on its way.
    assert [p[1:] for p in pushes[:2]] == [(3, 7, 0, 1), (3, 7, 0, 2)]
    assert pushes[2][1:3] == (1, 4)
    assert (pushes[2][3], pushes[2][4]) in ((3, 2), (3, 1), (6, 1))
    observed = [e[1] for n, e in enumerate(events) if e[0] == "observed" and e != events[n - 1]]
    assert observed == [0, 3, 6, 7]  # syncing, then each answer settled in turn
    assert events.index(pushes[2]) > events.index(("observed", 3))
    assert outbox.counts(kiosk.engine) == {"open": 0, "pending": 0, "sending": 0, "synced": 7, "rejected": 0}


class RefuseFirstPush(httpx.HTTPTransport):
    """A real HTTP transport that answers 503 to the first push once the second has left (or
    a few seconds have passed), so that both are on their way when the first fails."""

    def __init__(self) -> None:
        super().__init__()
        self.second_left = threading.Event()
        self.lock = threading.Lock()
        self.pushes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/submissions"):
            return super().handle_request(request)
        with self.lock:
            self.pushes += 1
            first = self.pushes == 1
        if not first:
            self.second_left.set()
            return super().handle_request(request)
        self.second_left.wait(5)
        return httpx.Response(503, json={"error": {"code": "overloaded", "message": "Try later."}})


def test_when_a_push_fails_the_other_on_its_way_is_settled_by_its_own_answer(
    kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn
) -> None:
    """The first push is refused once the second is on its way: the second is settled by its
    answer (its items are stored), the first waits out its backoff with the error, no third
    batch goes to the failing server, and nothing is left sending or stored twice."""
    submissions = [outbox.enqueue(kiosk.engine, payload(4)) for _ in range(9)]
    transport = RefuseFirstPush()
    worker = make_worker(SyncSettings(batch_size=3), transport=transport)

    report = worker.drain_once()

    assert transport.second_left.is_set()
    assert (report.batches, report.synced, report.released) == (2, 3, 3), report
    assert "503" in (report.last_error or "")
    # Which batch reached the transport first is the threads' choice: the refused one is
    # whichever did, and it is the one waiting.
    refused = [s for s in submissions[:6] if row_of(kiosk.engine, s).state is OutboxState.PENDING]
    answered = [s for s in submissions[:6] if s not in refused]
    assert len(refused) == len(answered) == 3
    for submission in answered:
        assert row_of(kiosk.engine, submission).state is OutboxState.SYNCED
    for submission in refused:
        row = row_of(kiosk.engine, submission)
        assert (row.attempts, row.last_error) == (1, report.last_error)
        assert row.next_attempt_at is not None
    for submission in submissions[6:]:
        row = row_of(kiosk.engine, submission)
        assert (row.state, row.attempts, row.next_attempt_at) == (OutboxState.PENDING, 0, None)
    assert worker.state.phase is Phase.OFFLINE  # the answer settled after it did not clear it
    assert outbox.counts(kiosk.engine)["sending"] == 0
    assert set(stored(conn, submissions)) == {s.client_uuid for s in answered}

    assert worker.drain_once().synced == 6
    assert {uid: n for uid, (_, _, n) in stored(conn, submissions).items()} == {
        s.client_uuid: 1 for s in submissions
    }


def test_one_push_in_flight_sends_each_batch_after_the_last_is_settled(
    kiosk: Kiosk, make_worker: WorkerFactory
) -> None:
    """pushes_in_flight=1: one batch after the other, each settled and told before the next."""
    for rating in (1, 2, 3, 4, 5, 1, 4):
        outbox.enqueue(kiosk.engine, payload(rating))
    events: list[tuple[Any, ...]] = []
    transport = HoldFirstPush(kiosk.engine, events)
    transport.second_left.set()  # nothing to wait for
    worker = make_worker(SyncSettings(batch_size=3, pushes_in_flight=1), transport=transport)
    worker.add_observer(lambda state: events.append(("observed", state.counts["synced"])))

    assert worker.drain_once().synced == 7
    seen = [e for n, e in enumerate(events) if n == 0 or e != events[n - 1]]
    assert seen == [
        ("observed", 0),
        ("push", 3, 7, 0, 1),
        ("observed", 3),
        ("push", 3, 4, 3, 1),
        ("observed", 6),
        ("push", 1, 1, 6, 1),
        ("observed", 7),
    ]


class DiskBusyThenPushDropped(httpx.HTTPTransport):
    """A push the network drops while another program holds the kiosk's write lock (a slow
    disk). The lock is let go once the worker says it is offline, or after EVENT_TIMEOUT_S;
    `offline_while_locked` says which."""

    def __init__(self, worker: Callable[[], SyncWorker], path: Path) -> None:
        super().__init__()
        self.worker = worker
        self.path = path
        self.offline_while_locked = False
        self.let_go: threading.Thread | None = None  # lets the lock go

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/submissions"):
            return super().handle_request(request)
        disk = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        disk.execute("BEGIN IMMEDIATE")
        self.let_go = threading.Thread(target=self._hold, args=(disk,))
        self.let_go.start()
        raise httpx.ConnectError("connection reset by peer", request=request)

    def _hold(self, disk: sqlite3.Connection) -> None:
        try:
            deadline = time.monotonic() + EVENT_TIMEOUT_S
            while time.monotonic() < deadline and not self.offline_while_locked:
                self.offline_while_locked = self.worker().state.phase is Phase.OFFLINE  # a read: WAL
                time.sleep(0.02)
        finally:
            disk.execute("ROLLBACK")
            disk.close()


def test_a_short_queue_leaves_the_disk_alone_while_its_push_is_on_its_way(
    kiosk: Kiosk, make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With everything due in one batch, nothing more is claimed until its answer: a drop of
    the push while the disk is slow (another program holds the write lock, and each claim
    takes a moment) makes the worker offline at once. A claim waiting on the disk instead
    ended the drain as a storage fault, never offline, while the network was gone."""
    real_claim = outbox.claim_wire

    def slow_claim(*args: Any, **kwargs: Any) -> list[outbox.WireItem]:
        time.sleep(0.3)  # the injected fault: a slow disk
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(outbox, "claim_wire", slow_claim)
    submission = outbox.enqueue(kiosk.engine, payload())
    transport = DiskBusyThenPushDropped(lambda: worker, database.database_path(kiosk.data_dir))
    worker = make_worker(SyncSettings(batch_size=3), transport=transport)

    try:
        report = worker.drain_once()
    finally:
        if transport.let_go is not None:
            transport.let_go.join()
    assert transport.let_go is not None, "the push never left"

    assert transport.offline_while_locked
    assert "cannot be reached" in (report.last_error or "")
    assert (report.batches, report.released) == (1, 1), report
    assert row_of(kiosk.engine, submission).state is OutboxState.PENDING
    assert worker.state.phase is Phase.OFFLINE


def test_a_push_dropped_while_the_disk_fails_a_claim_still_makes_the_worker_offline(
    kiosk: Kiosk, make_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second claim meets a busy disk while the first batch's push is dropped: the drain
    ends with the local fault (what the cycle reports), and the worker still says it is
    offline, and since when, rather than nothing of the network."""
    submissions = [outbox.enqueue(kiosk.engine, payload()) for _ in range(3)]
    claim_failed = threading.Event()
    real_claim = outbox.claim_wire
    claims = 0

    def claim(*args: Any, **kwargs: Any) -> list[outbox.WireItem]:
        nonlocal claims
        claims += 1
        if claims == 2:  # the injected fault: the disk held past the busy timeout
            claim_failed.set()
            raise faults.DatabaseBusy()
        return real_claim(*args, **kwargs)

    class DroppedOnceTheClaimFailed(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if not request.url.path.endswith("/submissions"):
                return super().handle_request(request)
            claim_failed.wait(EVENT_TIMEOUT_S)
            raise httpx.ConnectError("connection reset by peer", request=request)

    monkeypatch.setattr(outbox, "claim_wire", claim)
    worker = make_worker(SyncSettings(batch_size=1), transport=DroppedOnceTheClaimFailed())
    before = outbox.utcnow()

    with pytest.raises(faults.DatabaseBusy):
        worker.drain_once()

    assert claim_failed.is_set()
    state = worker.state
    assert state.phase is Phase.OFFLINE
    assert state.offline_since is not None
    assert state.offline_since >= before
    assert [row_of(kiosk.engine, s).state for s in submissions] == [OutboxState.PENDING] * 3
    assert outbox.counts(kiosk.engine)["sending"] == 0


def test_a_payload_that_is_not_json_fails_its_batch_alone_and_the_queue_moves_on(
    kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn
) -> None:
    """A NaN in a stored payload (Python's json writes it; it is not JSON) cannot be sent: its
    batch is put back with the error and the longest backoff, as when httpx refused to encode
    it, and the batches after it still go."""
    good = outbox.enqueue(kiosk.engine, payload(4))
    bad = outbox.enqueue(kiosk.engine, payload(2))
    later = outbox.enqueue(kiosk.engine, payload(5))
    with kiosk.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE outbox SET payload = ? WHERE client_uuid = ?",
            (json.dumps({**payload(2), "waiting_minutes": float("nan")}), bad.client_uuid),
        )
    worker = make_worker(SyncSettings(batch_size=1))

    with pytest.raises(ValueError, match="not valid JSON"):
        worker.drain_once(ignore_backoff=False)
    assert row_of(kiosk.engine, good).state is OutboxState.SYNCED
    held = row_of(kiosk.engine, bad)
    assert held.state is OutboxState.PENDING
    assert held.last_error == "internal error: ValueError"
    assert held.next_attempt_at is not None
    # No batch leaves after a failed one (this one failed before the first was answered).
    untouched = row_of(kiosk.engine, later)
    assert (untouched.state, untouched.attempts) == (OutboxState.PENDING, 0)

    report = worker.drain_once(ignore_backoff=False)
    assert (report.synced, report.rejected) == (1, 0)
    assert row_of(kiosk.engine, later).state is OutboxState.SYNCED
    assert row_of(kiosk.engine, bad).state is OutboxState.PENDING  # waiting out its backoff
    assert outbox.counts(kiosk.engine)["sending"] == 0
    assert set(stored(conn, [good, bad, later])) == {good.client_uuid, later.client_uuid}


def test_rejected_item_is_kept_with_its_code_and_not_retried(
    kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn
) -> None:
    good = outbox.enqueue(kiosk.engine, payload(4))
    bad = outbox.enqueue(kiosk.engine, payload(9))
    worker = make_worker()

    report = worker.drain_once()
    assert (report.synced, report.rejected) == (1, 1)
    assert row_of(kiosk.engine, good).state is OutboxState.SYNCED
    rejected = row_of(kiosk.engine, bad)
    assert rejected.state is OutboxState.REJECTED
    assert rejected.error_code == "rating_out_of_range"
    assert rejected.last_error

    assert worker.drain_once().sent == 0
    assert row_of(kiosk.engine, bad).attempts == 1
    assert [r.client_uuid for r in outbox.rejected(kiosk.engine)] == [bad.client_uuid]
    assert set(stored(conn, [good, bad])) == {good.client_uuid}


def test_split_on_413_from_the_real_server(kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn) -> None:
    """240 items of 9,500-character comments are over 2 MiB; their halves are not."""
    submissions = [outbox.enqueue(kiosk.engine, payload(4, feedback_text="x" * 9_500)) for _ in range(240)]
    worker = make_worker(SyncSettings(batch_size=240))

    report = worker.drain_once()

    assert (report.batches, report.synced, report.released) == (3, 240, 0)
    assert outbox.counts(kiosk.engine)["synced"] == 240
    in_db = stored(conn, submissions)
    assert len(in_db) == 240
    assert all(n == 1 for _, _, n in in_db.values())
    assert row_of(kiosk.engine, submissions[0]).payload["feedback_text"] is None  # cleared after sync


# --- authorization -------------------------------------------------------------------------


def test_revoked_device_stops_and_its_rows_arrive_after_reenrollment(
    kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn, live_server: LiveServer
) -> None:
    submissions = [outbox.enqueue(kiosk.engine, payload()) for _ in range(3)]
    devices.revoke_device(conn, kiosk.device.device_code)
    worker = make_worker()

    with pytest.raises(NotAuthorized, match="not authorized"):
        worker.drain_once()

    state = worker.state
    assert state.phase is Phase.NOT_AUTHORIZED
    assert not state.authorized
    assert state.counts["pending"] == 3
    assert state.counts["sending"] == 0
    assert all(row_of(kiosk.engine, s).next_attempt_at is None for s in submissions)
    assert stored(conn, submissions) == {}

    # IT re-enrolls the kiosk under its own code; the queue then arrives.
    code = devices.reenroll_device(conn, kiosk.device.device_code, ttl_hours=1).enrollment_code
    enrolled = enroll(live_server.base_url, code)
    assert enrolled.device_code == kiosk.device.device_code
    identity.write_token(kiosk.data_dir, enrolled.device_token)
    worker.reauthorize(enrolled.device_token)
    assert worker.state.phase is Phase.IDLE

    assert worker.drain_once().synced == 3
    assert len(stored(conn, submissions)) == 3


def test_enroll_refuses_a_used_code(live_server: LiveServer, db_url: URL) -> None:
    code = server.add_device(db_url, "AGY-002").enrollment_code
    first = enroll(live_server.base_url, code)
    assert first.entity_id == "AGY-002"
    assert first.public_base_url == PUBLIC_BASE_URL
    with pytest.raises(EnrollmentRefused) as refused:
        enroll(live_server.base_url, code)
    assert refused.value.code == "invalid_enrollment_code"


# --- the thread ----------------------------------------------------------------------------


def test_worker_thread_sends_at_once_on_wake(kiosk: Kiosk, make_worker: WorkerFactory) -> None:
    worker = make_worker()
    states: list[SyncState] = []
    threads: set[str] = set()
    delivered = threading.Event()

    def observe(state: SyncState) -> None:
        states.append(state)
        threads.add(threading.current_thread().name)
        if state.counts["synced"] == 3:
            delivered.set()

    worker.add_observer(observe)
    worker.start()
    for _ in range(3):
        outbox.enqueue(kiosk.engine, payload())
    worker.wake()

    assert delivered.wait(EVENT_TIMEOUT_S), f"not delivered; last state {states[-1:]}"
    assert worker.stop(EVENT_TIMEOUT_S)
    assert threads == {worker.name}
    assert Phase.SYNCING in {s.phase for s in states}
    assert states[-1].last_success_at is not None
    assert outbox.counts(kiosk.engine)["pending"] == 0


def test_worker_thread_picks_up_rows_added_by_another_process(
    kiosk: Kiosk, make_worker: WorkerFactory
) -> None:
    """No wake(): the CLI in another process cannot call it; the idle poll finds the row."""
    worker = make_worker(SyncSettings(idle_poll_s=0.05))
    first_cycle_done = threading.Event()  # the first state is published at the end of a cycle
    delivered = threading.Event()

    def observe(state: SyncState) -> None:
        first_cycle_done.set()
        if state.counts["synced"] == 1:
            delivered.set()

    worker.add_observer(observe)
    worker.start()
    assert first_cycle_done.wait(EVENT_TIMEOUT_S)
    outbox.enqueue(kiosk.engine, payload())
    assert delivered.wait(EVENT_TIMEOUT_S)
    assert worker.stop(EVENT_TIMEOUT_S)
    assert outbox.counts(kiosk.engine)["synced"] == 1


def test_server_going_away_makes_the_worker_offline_and_keeps_the_rows(
    kiosk: Kiosk, make_worker: WorkerFactory, db_url: URL
) -> None:
    settings = SyncSettings(backoff_initial_s=60, backoff_jitter=0.5)
    phases: list[Phase] = []
    delivered = threading.Event()
    offline = threading.Event()

    def observe(state: SyncState) -> None:
        phases.append(state.phase)
        if state.counts["synced"] == 1:
            delivered.set()
        if state.phase is Phase.OFFLINE:
            offline.set()

    with server.serve(server.settings_for(db_url)) as second:
        worker = make_worker(settings, server_url=second.base_url)
        # Done here, so that the thread has no catalog or heartbeat to send while this
        # server shuts down: its only request is the push below.
        worker.refresh_catalog()
        worker.send_heartbeat()
        worker.add_observer(observe)
        worker.start()
        outbox.enqueue(kiosk.engine, payload())
        worker.wake()
        assert delivered.wait(EVENT_TIMEOUT_S), "the first row was not delivered"
    # The second server has exited: nothing listens on its port any more.
    assert not offline.is_set()
    before = outbox.utcnow()
    queued = [outbox.enqueue(kiosk.engine, payload()) for _ in range(2)]
    worker.wake()
    assert offline.wait(EVENT_TIMEOUT_S), f"never offline; phases {phases}"
    assert worker.stop(EVENT_TIMEOUT_S)

    state = worker.state
    assert state.phase is Phase.OFFLINE
    assert state.offline_since is not None
    assert state.offline_since >= before
    assert state.last_error
    assert state.counts["pending"] == 2
    for submission in queued:
        row = row_of(kiosk.engine, submission)
        assert row.state is OutboxState.PENDING
        assert row.attempts == 1
        assert row.next_attempt_at is not None
        assert row.next_attempt_at >= before + timedelta(seconds=30)  # 60 s less the jitter


def test_drain_once_with_the_server_down_reports_and_keeps_the_rows(
    kiosk: Kiosk, make_worker: WorkerFactory
) -> None:
    nowhere = f"http://127.0.0.1:{server.free_port()}"
    submission = outbox.enqueue(kiosk.engine, payload())
    worker = make_worker(server_url=nowhere)

    report = worker.drain_once()

    assert report.last_error is not None
    assert "cannot be reached" in report.last_error
    assert (report.synced, report.released) == (0, 1)
    assert row_of(kiosk.engine, submission).state is OutboxState.PENDING
    assert worker.state.phase is Phase.OFFLINE


# --- catalog, heartbeat, look-ups ----------------------------------------------------------


def test_catalog_is_cached_and_refetched_with_its_etag(kiosk: Kiosk, make_worker: WorkerFactory) -> None:
    transport = RecordingTransport()
    worker = make_worker(transport=transport)

    assert worker.refresh_catalog() is True
    first = catalog_cache.load(kiosk.engine)
    assert first is not None
    assert first.etag
    assert "SVC-001" in {s["service_id"] for s in first.body["services"]}
    assert first.body["limits"]["comment_max_chars"] == 2000

    assert worker.refresh_catalog() is False
    second = catalog_cache.load(kiosk.engine)
    assert second is not None
    assert (second.etag, second.body) == (first.etag, first.body)
    assert second.fetched_at >= first.fetched_at
    assert transport.statuses == [200, 304]


def test_heartbeat_updates_the_devices_health(kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn) -> None:
    for _ in range(2):
        outbox.enqueue(kiosk.engine, payload())
    # Both rows wait out a backoff, so the drain below sends no batch: only a heartbeat.
    claimed = outbox.claim(kiosk.engine, 10)
    later = outbox.utcnow() + timedelta(hours=1)
    outbox.release(kiosk.engine, [r.client_uuid for r in claimed], "test backoff", later)
    before = conn.execute(
        "SELECT last_seen_at FROM kiosk_devices WHERE device_code = %s", (kiosk.device.device_code,)
    ).fetchone()
    assert before is not None
    worker = make_worker(printer_state=lambda: "ok", version="9.8.7")

    report = worker.drain_once(ignore_backoff=False)

    assert report.batches == 0
    assert report.ok
    health = conn.execute(
        "SELECT last_seen_at, queue_depth, printer_state, app_version, oldest_pending_at "
        "FROM kiosk_devices WHERE device_code = %s",
        (kiosk.device.device_code,),
    ).fetchone()
    assert health is not None
    last_seen_at, queue_depth, printer_state, app_version, oldest_pending_at = health
    assert last_seen_at is not None
    assert last_seen_at != before[0]
    assert (queue_depth, printer_state, app_version) == (2, "ok", "9.8.7")
    assert oldest_pending_at == outbox.oldest_pending_at(kiosk.engine)
    assert outbox.counts(kiosk.engine)["pending"] == 2


def test_the_kiosks_last_error_reaches_the_fleet_view_and_clears(
    kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn, db_url: URL
) -> None:
    """A full disk noted on the kiosk's fault board travels with the next heartbeat, IT reads
    it in `gea-server devices list`, and the heartbeat after the disk has room clears it."""
    board = faults.FaultBoard()
    worker = make_worker(last_error=board.last_error)
    board.report(faults.DiskFull(kiosk.data_dir))
    worker.send_heartbeat()
    row = conn.execute(
        "SELECT last_error_code, last_error_message FROM kiosk_devices WHERE device_code = %s",
        (kiosk.device.device_code,),
    ).fetchone()
    assert row is not None
    assert row[0] == "disk_full"
    assert row[1].startswith("The kiosk's disk is full")
    fleet = subprocess.run(
        [GEA_SERVER, "devices", "list"],
        env={**os.environ, "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    line = next(line for line in fleet.splitlines() if kiosk.device.device_code in line)
    assert "disk_full" in line
    board.clear("storage")
    worker.send_heartbeat()
    cleared = conn.execute(
        "SELECT last_error_code FROM kiosk_devices WHERE device_code = %s", (kiosk.device.device_code,)
    ).fetchone()
    assert cleared == (None,)


def test_a_real_local_fault_travels_with_the_heartbeat_until_a_write_succeeds(
    kiosk: Kiosk, make_worker: WorkerFactory, conn: Conn
) -> None:
    """Not a board filled by hand: a second process's connection holds the SQLite write lock,
    a write of this kiosk fails after its busy timeout, and the next heartbeat tells the
    server; once a write commits again, the heartbeat after clears it."""
    board = faults.FaultBoard()
    engine = open_database(kiosk.data_dir, busy_timeout_s=0.2)
    database.report_faults(engine, board)
    worker = make_worker(last_error=board.last_error)
    holder = sqlite3.connect(database.database_path(kiosk.data_dir), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(faults.DatabaseBusy):
            outbox.enqueue(engine, payload())
        worker.send_heartbeat()  # it only reads: WAL readers are not held up by the lock
        holder.execute("ROLLBACK")

        def reported() -> tuple[object, ...] | None:
            return conn.execute(
                "SELECT last_error_code, last_error_at IS NOT NULL FROM kiosk_devices WHERE device_code = %s",
                (kiosk.device.device_code,),
            ).fetchone()

        assert reported() == ("database_busy", True)
        outbox.enqueue(engine, payload())  # the lock is free: a write commits
        worker.send_heartbeat()
        assert reported() == (None, False)
    finally:
        holder.close()
        engine.dispose()


def test_status_and_ticket_look_ups(kiosk: Kiosk, make_worker: WorkerFactory) -> None:
    submission = outbox.enqueue(kiosk.engine, payload(1))
    make_worker().drain_once()
    ticket_number = row_of(kiosk.engine, submission).ticket_number
    assert ticket_number is not None

    with open_client(kiosk.engine, kiosk.data_dir) as client:
        by_reference = client.status(submission.reference_code)
        by_ticket = client.ticket(ticket_number)
        assert client.status(f"{kiosk.device.device_code}-999999-ZZZZ") is None
        assert client.ticket("209901-999999") is None
    assert by_reference is not None
    assert by_reference["ticket_number"] == ticket_number
    assert by_reference["reference_code"] == submission.reference_code
    assert by_ticket is not None
    assert by_ticket["reference_code"] == submission.reference_code
