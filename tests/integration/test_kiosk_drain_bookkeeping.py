"""What a drain keeps besides the rows (issue 16): the sync health it stores, held back
mid-drain but right whenever the worker is not syncing, and the counts it tells observers,
kept in memory between reads of the outbox yet exact after every drain.

The SQLite-only tests drive HealthRecorder and QueueTally with a hand-moved clock; the
drains run against the real server and PostgreSQL (enrolled as AGY-002)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from kiosk.local_db import identity, outbox, sync_health
from kiosk.local_db.database import open_database
from kiosk.local_db.models import OutboxState
from kiosk.sync.client import SyncClient, open_client
from kiosk.sync.keeper import HealthRecorder, build_worker
from kiosk.sync.tally import QueueTally
from kiosk.sync.worker import Phase, SyncSettings, SyncState, SyncWorker
from tests.helpers.enrolled_kiosk import PUBLIC_BASE_URL, Kiosk, make_kiosk
from tests.helpers.server import EnrolledDevice, LiveServer

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def payload(rating: int = 4) -> dict[str, Any]:
    return {"service_id": "SVC-001", "entity_id": "AGY-002", "rating": rating, "channel": "kiosk"}


def state(phase: Phase, success: datetime | None, offline_since: datetime | None = None) -> SyncState:
    counts = {s.value: 0 for s in OutboxState}
    error = None if phase in (Phase.IDLE, Phase.SYNCING) else "connection refused"
    return SyncState(phase, offline_since, success, counts, error)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An enrolled kiosk's SQLite file; nothing here talks to its server."""
    data_dir = tmp_path / "kiosk"
    engine = open_database(data_dir)
    me = identity.Identity("K0001", "AGY-002", "http://127.0.0.1:9", PUBLIC_BASE_URL)
    identity.save(engine, data_dir, me, "a-token")
    yield engine
    engine.dispose()


# --- the stored health -------------------------------------------------------------------


def test_successes_mid_drain_are_written_at_most_once_a_throttle_and_the_drain_end_writes_the_last(
    engine: Engine,
) -> None:
    clock = Clock()
    recorder = HealthRecorder(engine, throttle_s=1.0, clock=clock)

    recorder(state(Phase.SYNCING, T0))  # the first is written at once
    assert sync_health.load(engine).last_success_at == T0
    for batch in range(1, 4):
        clock.now += 0.2
        recorder(state(Phase.SYNCING, T0 + timedelta(seconds=batch)))
    assert sync_health.load(engine).last_success_at == T0, "held back within the throttle"

    clock.now += 0.5  # a second after the last write
    recorder(state(Phase.SYNCING, T0 + timedelta(seconds=4)))
    assert sync_health.load(engine).last_success_at == T0 + timedelta(seconds=4)

    clock.now += 0.1
    recorder(state(Phase.SYNCING, T0 + timedelta(seconds=5)))
    assert sync_health.load(engine).last_success_at == T0 + timedelta(seconds=4)
    # The queue is empty (or the worker stops): the worker leaves SYNCING, which is written
    # at once, whatever the throttle, with the last success it knows.
    recorder(state(Phase.IDLE, T0 + timedelta(seconds=5)))
    assert sync_health.load(engine).last_success_at == T0 + timedelta(seconds=5)


def test_an_outage_or_a_refusal_mid_drain_is_written_at_once(engine: Engine) -> None:
    clock = Clock()
    recorder = HealthRecorder(engine, throttle_s=1.0, clock=clock)
    recorder(state(Phase.SYNCING, T0))

    recorder(state(Phase.OFFLINE, T0, offline_since=T0 + timedelta(seconds=1)))
    stored = sync_health.load(engine)
    assert (stored.offline_since, stored.last_error) == (T0 + timedelta(seconds=1), "connection refused")

    recorder(state(Phase.NOT_AUTHORIZED, T0))
    assert not sync_health.load(engine).authorized


# --- what each commit syncs -------------------------------------------------------------


def test_the_workers_bookkeeping_skips_the_fsync_and_every_submission_write_keeps_it(engine: Engine) -> None:
    """synchronous=NORMAL (1) for claiming, settling and putting back, which a power cut may
    undo at the cost of a resend; FULL (2) for whatever records a submission, even on a
    pooled connection that last served the worker."""
    seen: list[int] = []  # each commit's synchronous setting

    @event.listens_for(engine, "commit")
    def _note(connection: Connection) -> None:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        seen.append(int(raw.execute("PRAGMA synchronous").fetchone()[0]))

    def commits(step: Callable[[], object]) -> list[int]:
        seen.clear()
        step()
        return list(seen)

    first = outbox.begin(engine, payload())
    assert commits(lambda: outbox.finish(engine, first.client_uuid)) == [2]
    assert commits(lambda: outbox.begin(engine, payload())) == [2]  # a citizen's first tap
    assert commits(lambda: outbox.claim(engine, limit=5)) == [1]
    assert commits(lambda: outbox.enqueue(engine, payload())) == [2]
    assert commits(lambda: outbox.unclaim(engine, [first.client_uuid])) == [1]
    claimed = outbox.claim(engine, limit=5)
    assert commits(lambda: outbox.release(engine, [r.client_uuid for r in claimed], "timeout", None)) == [1]
    assert commits(lambda: outbox.enqueue(engine, payload())) == [2]
    outbox.claim(engine, limit=5)
    assert commits(lambda: outbox.settle(engine, synced=[(first.client_uuid, 1, None)])) == [1]
    second = outbox.begin(engine, payload())
    assert commits(lambda: outbox.add_details(engine, second.client_uuid, {"cleanliness": 3})) == [2]


# --- the counts observers see ------------------------------------------------------------


def test_the_tally_follows_the_workers_own_moves_and_reads_the_outbox_once_they_are_old(
    engine: Engine,
) -> None:
    for rating in (1, 2, 3, 4, 5):
        outbox.enqueue(engine, payload(rating))
    clock = Clock()
    tally = QueueTally(engine, max_age_s=1.0, clock=clock)
    assert tally.counts() == outbox.counts(engine)

    claimed = outbox.claim(engine, limit=2)
    tally.moved(OutboxState.PENDING, OutboxState.SENDING, len(claimed))
    assert tally.counts() == outbox.counts(engine)
    in_flight = [row.client_uuid for row in claimed]
    assert tally.queue(in_flight)[0] == 3  # waiting but the batch whose answer settles it

    settled = outbox.settle(engine, synced=[(uuid, 7, None) for uuid in in_flight])
    tally.moved(OutboxState.SENDING, OutboxState.SYNCED, settled.synced)
    assert tally.counts() == outbox.counts(engine)

    # Another process queues a submission: seen once the figures are max_age_s old.
    outbox.enqueue(engine, payload())
    assert tally.counts()["pending"] == 3
    clock.now += 1.0
    assert tally.counts() == outbox.counts(engine)
    assert tally.counts()["pending"] == 4

    # A drain begins: read again, however recent the figures.
    outbox.enqueue(engine, payload())
    tally.forget()
    assert tally.counts()["pending"] == 5


def test_rows_added_since_the_last_read_and_claimed_at_once_send_the_tally_back_to_the_outbox(
    engine: Engine,
) -> None:
    """A citizen's submission queued just before a claim, within the same second: the claim
    moves more rows than the tally knew were pending, which must not leave it below zero."""
    outbox.enqueue(engine, payload())
    clock = Clock()
    tally = QueueTally(engine, max_age_s=1.0, clock=clock)
    assert tally.counts()["pending"] == 1
    outbox.enqueue(engine, payload())
    claimed = outbox.claim(engine, limit=5)
    tally.moved(OutboxState.PENDING, OutboxState.SENDING, len(claimed))
    assert tally.counts() == outbox.counts(engine)
    assert tally.counts()["sending"] == 2


def test_a_success_held_back_mid_drain_is_written_with_the_outage_that_ends_it(engine: Engine) -> None:
    clock = Clock()
    recorder = HealthRecorder(engine, throttle_s=1.0, clock=clock)
    recorder(state(Phase.SYNCING, T0))
    clock.now += 0.3
    recorder(state(Phase.SYNCING, T0 + timedelta(seconds=0.3)))  # held back
    assert sync_health.load(engine).last_success_at == T0
    recorder(state(Phase.OFFLINE, T0 + timedelta(seconds=0.3), offline_since=T0 + timedelta(seconds=1)))
    stored = sync_health.load(engine)
    assert stored.last_success_at == T0 + timedelta(seconds=0.3)
    assert stored.offline_since == T0 + timedelta(seconds=1)

    clock.now += 5
    recorder(state(Phase.SYNCING, T0 + timedelta(seconds=6)))
    clock.now += 0.2
    recorder(state(Phase.SYNCING, T0 + timedelta(seconds=6.2)))  # held back
    recorder(state(Phase.NOT_AUTHORIZED, T0 + timedelta(seconds=6.2)))
    stored = sync_health.load(engine)
    assert stored.last_success_at == T0 + timedelta(seconds=6.2)
    assert not stored.authorized


# --- drains against the server ------------------------------------------------------------


@pytest.fixture
def kiosk(tmp_path: Path, live_server: LiveServer, device: EnrolledDevice) -> Iterator[Kiosk]:
    made = make_kiosk(tmp_path / "kiosk", live_server, device)
    yield made
    made.engine.dispose()


@pytest.fixture
def client(kiosk: Kiosk) -> Iterator[SyncClient]:
    with open_client(kiosk.engine, kiosk.data_dir) as opened:
        yield opened


@dataclass
class CountsCheck:
    """Observer: the counts each state carries against the outbox's at that moment (it runs
    on the draining thread, between batches)."""

    engine: Engine
    seen: list[tuple[dict[str, int], dict[str, int]]]

    def __call__(self, state: SyncState) -> None:
        self.seen.append((state.counts, outbox.counts(self.engine)))


def test_counts_told_mid_drain_and_after_it_are_the_outboxs(kiosk: Kiosk, client: SyncClient) -> None:
    for n in range(23):
        outbox.enqueue(kiosk.engine, payload(1 + n % 5))
    worker = build_worker(kiosk.engine, client, SyncSettings(batch_size=5))
    check = CountsCheck(kiosk.engine, [])
    worker.add_observer(check)

    report = worker.drain_once()

    assert (report.batches, report.synced) == (5, 23)
    assert len(check.seen) >= 6  # syncing, each batch, idle
    for told, stored in check.seen:
        assert told == stored
    assert check.seen[-1][0] == {"open": 0, "pending": 0, "sending": 0, "synced": 23, "rejected": 0}
    assert worker.state.counts == outbox.counts(kiosk.engine)


def test_a_drain_leaves_the_stored_health_at_its_last_success_when_the_queue_empties(
    kiosk: Kiosk, client: SyncClient
) -> None:
    for n in range(12):
        outbox.enqueue(kiosk.engine, payload(1 + n % 5))
    worker = build_worker(kiosk.engine, client, SyncSettings(batch_size=3))

    worker.drain_once()

    assert worker.state.phase is Phase.IDLE
    assert worker.state.last_success_at is not None
    assert sync_health.load(kiosk.engine).last_success_at == worker.state.last_success_at


@dataclass
class StopAfterFirstBatch:
    worker: SyncWorker

    def __call__(self, state: SyncState) -> None:
        if state.counts["synced"] > 0:
            self.worker.stop()


def test_a_worker_stopped_mid_drain_lands_its_pushes_stores_its_last_success_and_claims_no_more(
    kiosk: Kiosk, client: SyncClient
) -> None:
    for n in range(12):
        outbox.enqueue(kiosk.engine, payload(1 + n % 5))
    worker = build_worker(kiosk.engine, client, SyncSettings(batch_size=3))
    worker.add_observer(StopAfterFirstBatch(worker))

    report = worker.drain_once()

    # The second batch was on its way when the first was settled: a stop lets it land.
    assert report.synced == 6
    assert outbox.counts(kiosk.engine) == {"open": 0, "pending": 6, "sending": 0, "synced": 6, "rejected": 0}
    assert worker.state.counts == outbox.counts(kiosk.engine)
    assert sync_health.load(kiosk.engine).last_success_at == worker.state.last_success_at
