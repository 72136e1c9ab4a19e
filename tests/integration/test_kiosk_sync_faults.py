"""The kiosk's sync engine against real network faults (ARCHITECTURE 5 and 8): the real server
and PostgreSQL behind tests/helpers/fault_proxy.py, and a real kiosk data directory enrolled
through that proxy. Each fault must leave every submission queued (none stuck in `sending`),
the worker offline with a reason and a backoff (the server's Retry-After when it gave one),
and, once the link is back, every submission in feedback_db exactly once with its ticket."""

from __future__ import annotations

import email.utils
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from kiosk.local_db import catalog_cache, identity, outbox
from kiosk.local_db.database import open_database
from kiosk.local_db.models import OutboxState
from kiosk.services import KioskServices
from kiosk.sync.client import SyncClient, Timeouts, enroll, open_client
from kiosk.sync.errors import RetryLater
from kiosk.sync.worker import Phase, SyncSettings, SyncState, SyncWorker
from tests.helpers import pg, server
from tests.helpers.fault_proxy import FaultProxy, Mode
from tests.helpers.server import LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]
# Bounds a wait for the worker thread; a healthy run takes a few seconds.
EVENT_TIMEOUT_S = 60.0
# After a network fault the rows wait this long less the jitter (up to half): long enough that
# nothing is due again during the test unless a drain ignores the backoff.
BACKOFF_S = 60.0
RETRY_AFTER_S = 120  # the proxy's canned 503/429 ask for this; it outranks BACKOFF_S
# A stalled server is given up on after this; the other faults fail at once.
SHORT_TIMEOUTS = Timeouts(connect=5.0, read_write=0.5)
# For the faults that end the exchange themselves: a lost answer waits for the server's own,
# which a busy machine can take longer than half a second to give, and a read timeout there
# would be a different fault from the one under test.
PATIENT_TIMEOUTS = Timeouts(connect=5.0, read_write=30.0)
SETUP_TRIES = 5
# (rating, complaint): a rating of 1 and a complaint each make a ticket, a 4 does not.
WAVE = ((4, False), (5, True), (1, False))
COMPLAINTS = [complaint for _, complaint in WAVE]


@dataclass
class Kiosk:
    data_dir: Path
    engine: Engine
    services: KioskServices


@pytest.fixture
def proxy(live_server: LiveServer) -> Iterator[FaultProxy]:
    port = httpx.URL(live_server.base_url).port
    assert port is not None
    with FaultProxy(port, retry_after=str(RETRY_AFTER_S)) as running:
        yield running


@pytest.fixture
def kiosk(tmp_path: Path, proxy: FaultProxy, db_url: URL) -> Iterator[Kiosk]:
    """Enrolled through the proxy as `gea-kiosk enroll --server <proxy>` does: every request
    the kiosk makes afterwards goes through the proxy too."""
    enrolled = enroll(proxy.url, server.add_device(db_url, "AGY-002").enrollment_code)
    data_dir = tmp_path / "kiosk"
    engine = open_database(data_dir)
    me = identity.Identity(enrolled.device_code, enrolled.entity_id, proxy.url, enrolled.public_base_url)
    identity.save(engine, data_dir, me, enrolled.device_token)
    yield Kiosk(data_dir, engine, KioskServices(engine))
    engine.dispose()


WorkerFactory = Callable[..., SyncWorker]


@pytest.fixture
def make_worker(kiosk: Kiosk, proxy: FaultProxy, live_server: LiveServer) -> Iterator[WorkerFactory]:
    """Workers with their catalog fetched through the proxy (submit_card checks input against
    it); stopped and closed after the test."""
    made: list[tuple[SyncWorker, SyncClient]] = []

    def make(settings: SyncSettings | None = None, timeouts: Timeouts = SHORT_TIMEOUTS) -> SyncWorker:
        proxy.set_mode(Mode.PASS)
        if catalog_cache.load(kiosk.engine) is None:
            # Set-up, not under test: the first fetch (the server's slowest answer) with the
            # default timeouts, since the short read timeout the faults need can expire on a
            # busy CI machine before a healthy answer comes.
            token = identity.read_token(kiosk.data_dir)
            assert token is not None
            # Straight to the server: the proxy counts only what the tests send through it.
            with SyncClient(live_server.base_url, token) as setup:
                fetched = setup.catalog()
            assert fetched is not None
            catalog_cache.store(kiosk.engine, fetched[1], fetched[0])
        client = open_client(kiosk.engine, kiosk.data_dir, timeouts=timeouts)
        worker = SyncWorker(kiosk.engine, client, settings or SyncSettings(backoff_initial_s=BACKOFF_S))
        made.append((worker, client))
        # The worker checks its catalog now (a quick 304), so its first cycle does not: each
        # test's faults meet the requests it means them for. Set-up again, so a timeout of
        # the healthy link is tried again rather than taken for a result.
        for _ in range(SETUP_TRIES):
            try:
                worker.refresh_catalog()
                break
            except RetryLater:
                continue
        else:
            raise AssertionError(f"the healthy link did not answer in {SETUP_TRIES} tries")
        return worker

    yield make
    for worker, client in made:
        assert worker.stop(EVENT_TIMEOUT_S), "the sync worker did not stop"
        client.close()


def queue_wave(kiosk: Kiosk) -> list[outbox.Submission]:
    return [
        kiosk.services.submit_card(
            "SVC-001", rating, grievance=complaint, text="Queue was long" if complaint else None
        )
        for rating, complaint in WAVE
    ]


def rows(engine: Engine, submissions: list[outbox.Submission]) -> list[outbox.OutboxRow]:
    found = [outbox.find(engine, s.reference_code) for s in submissions]
    assert all(found)
    return [row for row in found if row is not None]


def stored(conn: Conn, submissions: list[outbox.Submission]) -> dict[str, tuple[int, str | None, int]]:
    """client_uuid → (feedback_id, ticket_number, how many rows) in feedback_db."""
    found = conn.execute(
        "SELECT f.client_uuid::text, min(f.feedback_id), min(t.ticket_number), count(*) "
        "FROM service_feedback f LEFT JOIN tickets t ON t.feedback_id = f.feedback_id "
        "WHERE f.client_uuid::text = ANY(%s) GROUP BY f.client_uuid",
        ([s.client_uuid for s in submissions],),
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in found}


def results_of(proxy: FaultProxy, mode: Mode) -> list[list[dict[str, Any]]]:
    """The server's answers to the pushes (heartbeats left out) forwarded in `mode`, in order."""
    answers = [
        json.loads(e.body) for e in proxy.exchanges if e.mode is mode and e.request_line.startswith("POST")
    ]
    return [a["results"] for a in answers if isinstance(a, dict) and a.get("results")]


def assert_delivered_exactly_once(
    conn: Conn, kiosk: Kiosk, submissions: list[outbox.Submission], complaints: list[bool]
) -> dict[str, tuple[int, str | None, int]]:
    """Each submission is one row in feedback_db, with a ticket exactly when it is a complaint
    or rated 2 or less, and its outbox row is `synced` with the server's feedback_id and ticket."""
    in_db = stored(conn, submissions)
    assert set(in_db) == {s.client_uuid for s in submissions}
    for row, complaint in zip(rows(kiosk.engine, submissions), complaints, strict=True):
        feedback_id, ticket_number, copies = in_db[row.client_uuid]
        assert copies == 1, row
        assert row.state is OutboxState.SYNCED, row
        assert (row.feedback_id, row.ticket_number) == (feedback_id, ticket_number)
        assert (ticket_number is not None) == (complaint or row.payload["rating"] <= 2), row
    assert outbox.counts(kiosk.engine)["sending"] == 0
    return in_db


@dataclass(frozen=True)
class Fault:
    mode: Mode
    error: str  # in DrainReport.last_error and the worker's state
    counts: tuple[int, int, int]  # the proxy's (connections, requests, forwarded) in this mode
    committed: bool  # the server stored the batch though the kiosk never heard back

    @property
    def backoff_s(self) -> tuple[float, float]:
        """The bounds of the wait before the rows are due again."""
        if self.mode in (Mode.STATUS_503, Mode.STATUS_429):
            return RETRY_AFTER_S, RETRY_AFTER_S
        return BACKOFF_S / 2, BACKOFF_S


FAULTS = [
    Fault(Mode.REFUSE, "cannot be reached (ConnectError: [Errno 111] Connection refused)", (0, 0, 0), False),
    Fault(Mode.HANG_UP, "cannot be reached", (1, 0, 0), False),
    Fault(Mode.DROP_REQUEST, "cannot be reached", (1, 1, 0), False),
    Fault(Mode.DROP_RESPONSE, "cannot be reached", (1, 1, 1), True),
    Fault(Mode.STALL, "did not answer in time (ReadTimeout)", (1, 1, 0), False),
    Fault(Mode.RESET_MID_BODY, "cannot be reached", (1, 1, 1), True),
    Fault(Mode.STATUS_503, "the server answered 503 (service_unavailable)", (1, 1, 0), False),
    Fault(Mode.STATUS_429, "the server answered 429 (rate_limited)", (1, 1, 0), False),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.mode.value for f in FAULTS])
def test_fault_keeps_the_batch_and_the_retry_delivers_it_exactly_once(
    fault: Fault, kiosk: Kiosk, make_worker: WorkerFactory, proxy: FaultProxy, conn: Conn
) -> None:
    worker = make_worker(timeouts=SHORT_TIMEOUTS if fault.mode is Mode.STALL else PATIENT_TIMEOUTS)
    submissions = queue_wave(kiosk)
    proxy.set_mode(fault.mode)

    before = outbox.utcnow()
    report = worker.drain_once()
    after = outbox.utcnow()

    # The drain says what went wrong, and nothing is lost or left in flight.
    assert fault.error in (report.last_error or ""), report
    assert (report.batches, report.sent, report.synced, report.released) == (1, 0, 0, 3)
    c = proxy.counts(fault.mode)
    assert (c.connections, c.requests, c.forwarded) == fault.counts
    state = worker.state
    assert state.phase is Phase.OFFLINE
    assert state.offline_since is not None
    assert before <= state.offline_since <= after
    assert state.last_error == report.last_error
    assert state.counts["sending"] == 0
    assert state.counts["pending"] == 3
    low, high = fault.backoff_s
    for row in rows(kiosk.engine, submissions):
        assert row.state is OutboxState.PENDING
        assert row.attempts == 1
        assert row.last_error == report.last_error
        assert row.next_attempt_at is not None
        assert before + timedelta(seconds=low) <= row.next_attempt_at <= after + timedelta(seconds=high)

    # What the server holds while the kiosk still has the rows pending.
    lost_answers = results_of(proxy, fault.mode)
    held = stored(conn, submissions)
    if fault.committed:
        assert [[r["status"] for r in batch] for batch in lost_answers] == [["created"] * 3]
        assert {r["client_uuid"]: r["feedback_id"] for r in lost_answers[0]} == {
            uuid: feedback_id for uuid, (feedback_id, _, _) in held.items()
        }
    else:
        assert (lost_answers, held) == ([], {})

    # The link is back. The rows wait out their backoff: an ordinary drain only sends a
    # heartbeat (which brings the worker back online) ...
    proxy.set_mode(Mode.PASS)
    waiting = worker.drain_once(ignore_backoff=False)
    assert (waiting.batches, waiting.ok) == (0, True)
    assert worker.state.phase is Phase.IDLE
    assert worker.state.offline_since is None
    assert stored(conn, submissions) == held

    # ... and `sync --once` (ignoring the backoff) delivers them, each exactly once.
    delivered = worker.drain_once()
    assert (delivered.batches, delivered.synced, delivered.ok) == (1, 3, True)
    in_db = assert_delivered_exactly_once(conn, kiosk, submissions, COMPLAINTS)
    (replay,) = results_of(proxy, Mode.PASS)
    assert [r["status"] for r in replay] == ["duplicate" if fault.committed else "created"] * 3
    if fault.committed:
        assert in_db == held  # the same feedback_id and ticket as the lost answer, one row each
    assert worker.state.last_error is None


def test_retry_after_as_an_http_date_sets_the_next_attempt(
    kiosk: Kiosk, make_worker: WorkerFactory, proxy: FaultProxy, conn: Conn
) -> None:
    """RFC 9110 lets Retry-After be a date; the rows are due exactly then, though it is far
    past the worker's own backoff cap."""
    worker = make_worker(SyncSettings(backoff_initial_s=1.0, backoff_max_s=2.0))
    submissions = queue_wave(kiosk)
    until = (outbox.utcnow() + timedelta(minutes=10)).replace(microsecond=0)
    proxy.retry_after = email.utils.format_datetime(until, usegmt=True)
    proxy.set_mode(Mode.STATUS_429)

    before = outbox.utcnow()
    report = worker.drain_once()
    after = outbox.utcnow()

    assert "429" in (report.last_error or "")
    for row in rows(kiosk.engine, submissions):
        assert row.next_attempt_at is not None
        assert until <= row.next_attempt_at <= until + (after - before)
    proxy.set_mode(Mode.PASS)
    assert worker.drain_once(ignore_backoff=False).batches == 0
    assert stored(conn, submissions) == {}
    assert worker.drain_once().synced == 3
    assert_delivered_exactly_once(conn, kiosk, submissions, COMPLAINTS)


def test_a_failed_push_one_at_a_time_waits_out_its_backoff_and_the_rest_stay_as_they_were(
    kiosk: Kiosk, make_worker: WorkerFactory, proxy: FaultProxy, conn: Conn
) -> None:
    """One push at a time (the proxy's modes go by connection, so the pushes' order must be
    fixed; two on their way at once: test_sync_worker.py). When a push fails, its own batch
    waits out the backoff with the error, and the batches after it, never sent, stay as they
    were: no attempt counted, no error, no backoff."""
    worker = make_worker(SyncSettings(batch_size=3, backoff_initial_s=BACKOFF_S, pushes_in_flight=1))
    submissions = queue_wave(kiosk) + queue_wave(kiosk) + queue_wave(kiosk)
    proxy.set_mode(Mode.PASS, Mode.STATUS_503)  # the first push gets through, the second not

    report = worker.drain_once()

    assert (report.batches, report.synced, report.released) == (2, 3, 3), report
    assert "503" in (report.last_error or "")
    first, refused, ahead = submissions[:3], submissions[3:6], submissions[6:]
    assert_delivered_exactly_once(conn, kiosk, first, COMPLAINTS)
    for row in rows(kiosk.engine, refused):
        assert (row.state, row.attempts, row.last_error) == (OutboxState.PENDING, 1, report.last_error)
        assert row.next_attempt_at is not None
    for row in rows(kiosk.engine, ahead):
        assert (row.state, row.attempts, row.last_error, row.next_attempt_at) == (
            OutboxState.PENDING,
            0,
            None,
            None,
        )
    assert outbox.counts(kiosk.engine)["sending"] == 0
    assert set(stored(conn, submissions)) == {s.client_uuid for s in first}

    proxy.set_mode(Mode.PASS)
    delivered = worker.drain_once()
    assert (delivered.batches, delivered.synced, delivered.ok) == (2, 6, True)
    assert_delivered_exactly_once(conn, kiosk, submissions, COMPLAINTS * 3)
    assert [row.attempts for row in rows(kiosk.engine, submissions)] == [1] * 3 + [2] * 3 + [1] * 3


def test_a_lost_answer_then_a_lost_replay_still_stores_one_row(
    kiosk: Kiosk, make_worker: WorkerFactory, proxy: FaultProxy, conn: Conn
) -> None:
    """The answer is lost twice over (dropped, then cut by a reset); the third try hears
    `duplicate` with the first try's feedback_id and ticket."""
    worker = make_worker(timeouts=PATIENT_TIMEOUTS)
    submissions = queue_wave(kiosk)
    answers: list[dict[str, tuple[int, str | None, int]]] = []
    for mode in (Mode.DROP_RESPONSE, Mode.RESET_MID_BODY):
        proxy.set_mode(mode)
        assert worker.drain_once().released == 3
        assert outbox.counts(kiosk.engine)["pending"] == 3
        answers.append(stored(conn, submissions))
    assert len(answers[0]) == 3
    assert answers[0] == answers[1]
    assert [r["status"] for r in results_of(proxy, Mode.RESET_MID_BODY)[0]] == ["duplicate"] * 3

    proxy.set_mode(Mode.PASS)
    assert worker.drain_once().synced == 3
    assert assert_delivered_exactly_once(conn, kiosk, submissions, COMPLAINTS) == answers[0]
    assert [row.attempts for row in rows(kiosk.engine, submissions)] == [3, 3, 3]


def test_the_kiosk_gives_up_on_a_slow_server_that_then_commits_twice_over(
    kiosk: Kiosk, make_worker: WorkerFactory, proxy: FaultProxy, conn: Conn, db_url: URL
) -> None:
    """The server is slow, not gone: the kiosk's read timeout fires while its batch waits on a
    lock, and its replay (sync --once ignores the backoff) joins the first in the same wait.
    Both then run at once on the server: one creates, the other finds it, one row each."""
    worker = make_worker()
    submissions = queue_wave(kiosk)
    with psycopg.connect(pg.conninfo(db_url)) as blocker:
        blocker.execute("LOCK TABLE service_feedback IN SHARE MODE")  # inserts wait, reads do not
        for _ in range(2):
            report = worker.drain_once()
            assert "did not answer in time" in (report.last_error or ""), report
            assert outbox.counts(kiosk.engine)["pending"] == 3
        assert stored(conn, submissions) == {}
        assert proxy.counts(Mode.PASS).forwarded == 2  # enrollment, catalog: the pushes still wait
    assert proxy.wait_until(lambda: proxy.counts(Mode.PASS).forwarded == 4), proxy.summary()

    held = stored(conn, submissions)
    unheard = results_of(proxy, Mode.PASS)
    assert len(unheard) == 2
    for first, second in zip(*unheard, strict=True):
        assert first["client_uuid"] == second["client_uuid"]
        assert {first["status"], second["status"]} == {"created", "duplicate"}
        assert first["feedback_id"] == second["feedback_id"] == held[first["client_uuid"]][0]
    assert worker.drain_once().synced == 3
    assert assert_delivered_exactly_once(conn, kiosk, submissions, COMPLAINTS) == held


# --- the worker thread through a flapping link --------------------------------------------

# Each connection takes the next of these in turn: every fault, with a PASS now and then to let
# a batch through.
FLAPPING = (
    Mode.DROP_RESPONSE,
    Mode.PASS,
    Mode.HANG_UP,
    Mode.STATUS_503,
    Mode.PASS,
    Mode.STALL,
    Mode.RESET_MID_BODY,
    Mode.DROP_REQUEST,
    Mode.STATUS_429,
    Mode.PASS,
)


@pytest.mark.slow
def test_worker_thread_through_a_flapping_link_delivers_everything_exactly_once(
    kiosk: Kiosk, make_worker: WorkerFactory, proxy: FaultProxy, conn: Conn
) -> None:
    # Short backoffs (the retry timer fires a quarter second after each) and a Retry-After of
    # 0 keep the flapping quick; batches of 2 make several pushes per wave.
    worker = make_worker(SyncSettings(batch_size=2, backoff_initial_s=0.05, backoff_max_s=0.2))
    proxy.retry_after = "0"
    kiosk.services = KioskServices(kiosk.engine, on_pending=worker.wake)
    phases: list[Phase] = []
    refused = threading.Event()
    delivered = threading.Event()
    waves = 4

    def observe(state: SyncState) -> None:
        phases.append(state.phase)
        if state.phase is Phase.OFFLINE and "Connection refused" in (state.last_error or ""):
            refused.set()
        if state.counts["synced"] == waves * len(WAVE):
            delivered.set()

    # Two waves before start(): the first request is a push (and its answer is lost), and the
    # queue outlasts the two PASS turns, so the proxy's every mode meets a request.
    submissions = queue_wave(kiosk) + queue_wave(kiosk)
    proxy.set_mode(*FLAPPING)
    worker.add_observer(observe)
    worker.start()
    assert proxy.wait_until(lambda: proxy.counts(Mode.DROP_RESPONSE).forwarded >= 1)
    submissions += queue_wave(kiosk)  # while the link flaps
    assert proxy.wait_until(lambda: proxy.counts(Mode.STATUS_429).connections >= 1), proxy.summary()

    # The server's port goes dark: the next wave waits, and the worker says why.
    proxy.set_mode(Mode.REFUSE)
    submissions += queue_wave(kiosk)
    assert refused.wait(EVENT_TIMEOUT_S), f"never refused; phases {phases[-5:]}"
    assert outbox.counts(kiosk.engine)["sending"] == 0
    proxy.set_mode(*FLAPPING)

    assert delivered.wait(EVENT_TIMEOUT_S), f"not delivered: {worker.state}, {proxy.summary()}"
    assert worker.stop(EVENT_TIMEOUT_S)
    assert_delivered_exactly_once(conn, kiosk, submissions, COMPLAINTS * waves)
    for mode in FLAPPING:
        assert proxy.counts(mode).connections >= 1, (mode, proxy.summary())
    # Every answer lost after the server created rows was heard later as `duplicate`, with
    # the same feedback_id.
    created_unheard = {
        r["client_uuid"]: r["feedback_id"]
        for mode in (Mode.DROP_RESPONSE, Mode.RESET_MID_BODY)
        for batch in results_of(proxy, mode)
        for r in batch
        if r["status"] == "created"
    }
    assert created_unheard, proxy.summary()
    heard_duplicate = {
        r["client_uuid"]: r["feedback_id"]
        for batch in results_of(proxy, Mode.PASS)
        for r in batch
        if r["status"] == "duplicate"
    }
    assert heard_duplicate.items() >= created_unheard.items()
    assert Phase.OFFLINE in phases
    assert worker.state.phase is Phase.IDLE
