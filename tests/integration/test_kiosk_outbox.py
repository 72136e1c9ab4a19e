"""The kiosk's outbox (ARCHITECTURE 6) on a real SQLite file: states, reference codes,
durability, the sync worker's claim/settle cycle, pragmas, several processes on one file,
the device token file and the data directory's sync lock."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import StatementError

from kiosk.local_db import database, identity, lock, outbox
from kiosk.local_db.models import OutboxState
from tests.helpers.child import CHILD_TIMEOUT_S, Child

DEVICE_CODE = "K0007"
IDENTITY = identity.Identity(
    device_code=DEVICE_CODE,
    entity_id="AGY-002",
    server_url="https://feedback.gov.example",
    public_base_url="https://status.gov.example",
)
TOKEN = "gea_dev_4fT9qLm2Zx7RkP0wYc3NbV8sJd1HgE6u"
REFERENCE_CODE = re.compile(rf"^{DEVICE_CODE}-(\d{{6}})-([0-9A-HJKMNP-TV-Z]{{4}})$")


def kiosk_payload(**overrides: Any) -> dict[str, Any]:
    """A first tap at the passport office's kiosk, as the services build it."""
    return {
        "channel": "kiosk",
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 4,
        "grievance_flag": False,
        "misuse_suspected": False,
        **overrides,
    }


def sequence_of(code: str) -> int:
    match = REFERENCE_CODE.match(code)
    assert match, f"{code!r} is not a reference code of {DEVICE_CODE}"
    return int(match.group(1))


def row(engine: Engine, submission: outbox.Submission) -> outbox.OutboxRow:
    found = outbox.find(engine, submission.reference_code)
    assert found is not None, f"{submission.reference_code} is not in the outbox"
    assert found.client_uuid == submission.client_uuid
    return found


def state_of(engine: Engine, submission: outbox.Submission) -> OutboxState:
    return row(engine, submission).state


def last_sequence(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        (value,) = connection.execute("SELECT last_value FROM reference_sequence WHERE id = 1").fetchone()
    connection.close()
    return int(value)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "kiosk-data"


@pytest.fixture
def unenrolled(data_dir: Path) -> Iterator[Engine]:
    engine = database.open_database(data_dir)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(unenrolled: Engine, data_dir: Path) -> Engine:
    identity.save(unenrolled, data_dir, IDENTITY, TOKEN)
    return unenrolled


# --- open rows: the first tap, details, finishing -----------------------------------------


def test_begin_commits_an_open_row_that_a_second_engine_and_a_plain_connection_see(
    engine: Engine, data_dir: Path
) -> None:
    recorded_at = datetime(2026, 11, 23, 14, 5, 9, 123456, tzinfo=UTC)
    submission = outbox.begin(engine, kiosk_payload(rating=2), recorded_at=recorded_at)

    other = database.make_engine(database.database_path(data_dir))
    try:
        seen = row(other, submission)
    finally:
        other.dispose()
    assert seen.state is OutboxState.OPEN
    assert seen.payload == kiosk_payload(rating=2)
    assert seen.recorded_at == recorded_at
    assert seen.attempts == 0
    with sqlite3.connect(database.database_path(data_dir)) as plain:
        rows = plain.execute("SELECT client_uuid, reference_code, state FROM outbox").fetchall()
    plain.close()
    assert rows == [(submission.client_uuid, submission.reference_code, "open")]


def test_begin_and_enqueue_raise_not_enrolled_before_identity_is_saved_and_write_nothing(
    unenrolled: Engine, data_dir: Path
) -> None:
    with pytest.raises(outbox.NotEnrolled):
        outbox.begin(unenrolled, kiosk_payload())
    with pytest.raises(outbox.NotEnrolled):
        outbox.enqueue(unenrolled, kiosk_payload())
    assert sum(outbox.counts(unenrolled).values()) == 0
    assert last_sequence(database.database_path(data_dir)) == 0

    identity.save(unenrolled, data_dir, IDENTITY, TOKEN)
    assert sequence_of(outbox.begin(unenrolled, kiosk_payload()).reference_code) == 1


def test_add_details_updates_the_same_open_row_durably(engine: Engine, data_dir: Path) -> None:
    submission = outbox.begin(engine, kiosk_payload(rating=1))
    outbox.add_details(engine, submission.client_uuid, {"service_quality": 2, "waiting_time": 1})
    outbox.add_details(
        engine, submission.client_uuid, {"feedback_text": "Waited 3 h — nobody came", "grievance_flag": True}
    )

    other = database.make_engine(database.database_path(data_dir))
    try:
        seen = row(other, submission)
        assert outbox.counts(other)["open"] == 1
    finally:
        other.dispose()
    assert seen.state is OutboxState.OPEN
    assert seen.payload == kiosk_payload(
        rating=1,
        service_quality=2,
        waiting_time=1,
        feedback_text="Waited 3 h — nobody came",
        grievance_flag=True,
    )


def test_add_details_refuses_unknown_fields_and_leaves_the_row_unchanged(engine: Engine) -> None:
    submission = outbox.begin(engine, kiosk_payload())
    before = row(engine, submission)

    with pytest.raises(ValueError, match="rating"):
        outbox.add_details(engine, submission.client_uuid, {"rating": 5})
    with pytest.raises(ValueError, match="client_uuid"):
        outbox.add_details(engine, submission.client_uuid, {"comment": "x", "client_uuid": "y"})
    with pytest.raises(ValueError, match="state"):
        outbox.add_details(engine, submission.client_uuid, {"feedback_text": "ok", "state": "synced"})

    assert row(engine, submission) == before


def test_add_details_raises_not_open_once_finished_or_for_an_unknown_submission(engine: Engine) -> None:
    submission = outbox.begin(engine, kiosk_payload())
    assert outbox.finish(engine, submission.client_uuid)
    finished = row(engine, submission)

    with pytest.raises(outbox.NotOpen):
        outbox.add_details(engine, submission.client_uuid, {"feedback_text": "too late"})
    with pytest.raises(outbox.NotOpen):
        outbox.add_details(engine, "00000000-0000-4000-8000-000000000000", {"feedback_text": "who?"})
    walk_in = outbox.enqueue(engine, kiosk_payload(channel="walk_in"))
    with pytest.raises(outbox.NotOpen):
        outbox.add_details(engine, walk_in.client_uuid, {"feedback_text": "after the fact"})

    assert row(engine, submission) == finished
    assert "feedback_text" not in row(engine, walk_in).payload


def test_finish_moves_open_to_pending_once_and_a_second_finish_changes_nothing(engine: Engine) -> None:
    submission = outbox.begin(engine, kiosk_payload())

    assert outbox.finish(engine, submission.client_uuid) is True
    finished = row(engine, submission)
    assert finished.state is OutboxState.PENDING

    assert outbox.finish(engine, submission.client_uuid) is False
    assert row(engine, submission) == finished
    assert outbox.finish(engine, "00000000-0000-4000-8000-000000000000") is False


def test_finish_leaves_rows_that_are_not_open_alone(engine: Engine) -> None:
    walk_in = outbox.enqueue(engine, kiosk_payload(channel="walk_in", grievance_flag=True))
    in_flight = outbox.enqueue(engine, kiosk_payload())
    outbox.claim(engine, limit=10)
    in_flight_before = row(engine, in_flight)
    assert state_of(engine, walk_in) is OutboxState.SENDING  # claimed with the other

    assert outbox.finish(engine, walk_in.client_uuid) is False
    assert outbox.finish(engine, in_flight.client_uuid) is False
    assert row(engine, in_flight) == in_flight_before
    assert state_of(engine, walk_in) is OutboxState.SENDING


def test_enqueue_writes_a_pending_row_straight_away(engine: Engine, data_dir: Path) -> None:
    recorded_at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    submission = outbox.enqueue(
        engine, kiosk_payload(channel="paper", feedback_text="Card #12"), recorded_at=recorded_at
    )

    other = database.make_engine(database.database_path(data_dir))
    try:
        seen = row(other, submission)
    finally:
        other.dispose()
    assert seen.state is OutboxState.PENDING
    assert seen.recorded_at == recorded_at
    assert seen.payload["feedback_text"] == "Card #12"
    assert outbox.counts(engine) == {"open": 0, "pending": 1, "sending": 0, "synced": 0, "rejected": 0}


# --- reference codes ----------------------------------------------------------------------


def test_reference_codes_are_device_six_digit_sequence_and_four_crockford_characters_all_unique(
    engine: Engine, data_dir: Path
) -> None:
    submissions = [(outbox.begin if i % 3 else outbox.enqueue)(engine, kiosk_payload()) for i in range(150)]
    codes = [s.reference_code for s in submissions]

    for code in codes:
        assert REFERENCE_CODE.match(code), code
    assert [sequence_of(code) for code in codes] == list(range(1, 151))
    assert len(set(codes)) == len(codes)
    assert len({s.client_uuid for s in submissions}) == len(submissions)
    # Not guessable: the suffix is random, not a function of the sequence.
    assert len({code.rsplit("-", 1)[1] for code in codes}) > 100
    assert last_sequence(database.database_path(data_dir)) == 150


def test_sequence_is_never_reused_after_every_row_is_purged(engine: Engine) -> None:
    first = [outbox.enqueue(engine, kiosk_payload()) for _ in range(3)]
    claimed = outbox.claim(engine, limit=10)
    outbox.mark_synced(engine, [(item.client_uuid, 100 + i, None) for i, item in enumerate(claimed)])
    assert outbox.purge_synced(engine, now=outbox.utcnow() + timedelta(days=31)) == 3
    assert sum(outbox.counts(engine).values()) == 0

    after = outbox.begin(engine, kiosk_payload())

    assert sequence_of(after.reference_code) == 4
    assert after.reference_code not in {s.reference_code for s in first}


def test_a_rolled_back_begin_leaves_no_row_and_the_next_code_is_new(engine: Engine, data_dir: Path) -> None:
    issued = [outbox.begin(engine, kiosk_payload()) for _ in range(2)]

    with pytest.raises(StatementError, match="not JSON serializable"):
        outbox.begin(engine, kiosk_payload(rating=object()))  # not JSON: fails inside the transaction

    assert sum(outbox.counts(engine).values()) == 2
    assert last_sequence(database.database_path(data_dir)) == 2  # allocated with the row, rolled back with it
    after = outbox.begin(engine, kiosk_payload())
    assert sequence_of(after.reference_code) == 3
    assert after.reference_code not in {s.reference_code for s in issued}
    assert state_of(engine, after) is OutboxState.OPEN


# --- recovery, claiming and settling ------------------------------------------------------


def one_row_in_each_state(engine: Engine) -> dict[OutboxState, outbox.Submission]:
    synced = outbox.enqueue(engine, kiosk_payload(feedback_text="Fast and kind"))
    rejected = outbox.enqueue(engine, kiosk_payload(service_id="SVC-999"))
    sending = outbox.enqueue(engine, kiosk_payload())
    claimed = outbox.claim(engine, limit=3)
    assert [c.client_uuid for c in claimed] == [synced.client_uuid, rejected.client_uuid, sending.client_uuid]
    outbox.mark_synced(engine, [(synced.client_uuid, 501, "GRV-2026-000042")])
    outbox.mark_rejected(engine, [(rejected.client_uuid, "unknown_service", "No service SVC-999")])
    pending = outbox.enqueue(engine, kiosk_payload(rating=5))
    still_open = outbox.begin(engine, kiosk_payload(rating=3))
    return {
        OutboxState.OPEN: still_open,
        OutboxState.PENDING: pending,
        OutboxState.SENDING: sending,
        OutboxState.SYNCED: synced,
        OutboxState.REJECTED: rejected,
    }


def test_recover_returns_open_and_sending_rows_to_pending_and_leaves_settled_rows_untouched(
    engine: Engine,
) -> None:
    rows = one_row_in_each_state(engine)
    for state, submission in rows.items():
        assert state_of(engine, submission) is state
    before = {state: row(engine, submission) for state, submission in rows.items()}

    recovery = outbox.recover(engine)

    assert recovery == outbox.Recovery(reopened_open=1, returned_sending=1)
    assert state_of(engine, rows[OutboxState.OPEN]) is OutboxState.PENDING
    assert state_of(engine, rows[OutboxState.SENDING]) is OutboxState.PENDING
    for state in (OutboxState.PENDING, OutboxState.SYNCED, OutboxState.REJECTED):
        assert row(engine, rows[state]) == before[state]
    assert outbox.counts(engine) == {"open": 0, "pending": 3, "sending": 0, "synced": 1, "rejected": 1}
    assert outbox.recover(engine) == outbox.Recovery(reopened_open=0, returned_sending=0)


def test_recover_at_start_up_finishes_open_rows_whenever_they_were_recorded(engine: Engine) -> None:
    """At start-up no citizen is answering: every open row is finished, a row recorded ahead
    of a clock set back since included. Later (a lock taken over while the app runs) only
    rows abandoned for ABANDONED_OPEN_AFTER."""
    now = outbox.utcnow()
    ahead = outbox.begin(engine, kiosk_payload(), recorded_at=now + timedelta(hours=3))
    recent = outbox.begin(engine, kiosk_payload(), recorded_at=now - timedelta(minutes=5))
    old = outbox.begin(
        engine, kiosk_payload(), recorded_at=now - outbox.ABANDONED_OPEN_AFTER - timedelta(minutes=1)
    )

    later = outbox.recover(engine, open_older_than=outbox.ABANDONED_OPEN_AFTER)
    assert later == outbox.Recovery(reopened_open=1, returned_sending=0)
    assert state_of(engine, old) is OutboxState.PENDING
    assert state_of(engine, recent) is OutboxState.OPEN
    assert state_of(engine, ahead) is OutboxState.OPEN

    assert outbox.recover(engine) == outbox.Recovery(reopened_open=2, returned_sending=0)
    assert state_of(engine, ahead) is OutboxState.PENDING


def test_claim_takes_the_oldest_pending_rows_first_marks_them_sending_and_counts_attempts(
    engine: Engine,
) -> None:
    still_open = outbox.begin(engine, kiosk_payload())
    queued = [outbox.enqueue(engine, kiosk_payload(rating=r)) for r in (1, 2, 3, 4, 5)]
    now = outbox.utcnow()

    first = outbox.claim(engine, limit=2, now=now)
    second = outbox.claim(engine, limit=10, now=now)

    assert [r.reference_code for r in first] == [s.reference_code for s in queued[:2]]
    assert [r.reference_code for r in second] == [s.reference_code for s in queued[2:]]
    for claimed in first + second:
        assert claimed.state is OutboxState.SENDING
        assert claimed.attempts == 1
        stored = outbox.find(engine, claimed.reference_code)
        assert stored is not None
        assert stored.state is OutboxState.SENDING
        assert stored.attempts == 1
        assert stored.state_changed_at == now
    assert state_of(engine, still_open) is OutboxState.OPEN  # open rows are never sent
    assert outbox.claim(engine, limit=10, now=now) == []

    outbox.release(engine, [s.client_uuid for s in queued], "timeout", next_attempt_at=None)
    again = outbox.claim(engine, limit=10)
    assert [r.attempts for r in again] == [2] * 5
    assert [r.wire_item()["client_uuid"] for r in again] == [s.client_uuid for s in queued]


def test_claim_wire_claims_as_claim_does_and_gives_each_item_as_wire_item_would(engine: Engine) -> None:
    on_the_second = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)
    payloads_and_times = [
        (kiosk_payload(rating=1), on_the_second),  # isoformat() leaves out a .000000 fraction
        (kiosk_payload(rating=2), on_the_second.replace(microsecond=1)),
        (
            kiosk_payload(rating=3),
            datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=timezone(timedelta(hours=3))),
        ),
        (kiosk_payload(feedback_text='Ç\'est "lent" \\ 窓口 😀\n', service_quality=None), on_the_second),
        # A key the protocol sets itself: the row's value wins, where the payload had it.
        (kiosk_payload(client_uuid="not-mine", recorded_at="never"), on_the_second),
    ]
    queued = [outbox.enqueue(engine, payload, recorded_at=at) for payload, at in payloads_and_times]
    still_open = outbox.begin(engine, kiosk_payload())
    expected = [row(engine, s).wire_item() for s in queued]
    now = outbox.utcnow()

    first = outbox.claim_wire(engine, limit=2, now=now)
    rest = outbox.claim_wire(engine, limit=10, now=now)

    claimed = first + rest
    assert [c.client_uuid for c in first] == [s.client_uuid for s in queued[:2]]
    assert [c.client_uuid for c in claimed] == [s.client_uuid for s in queued]
    decoded = []
    for item, wire in zip(claimed, expected, strict=True):
        assert item.json is not None
        decoded.append(json.loads(item.json))
        # Encoded again the same way, so 4 against 4.0 or true against 1 would show, and the
        # keys in the same order too.
        assert json.dumps(decoded[-1]) == json.dumps(wire)
        stored = row(engine, outbox.Submission(item.client_uuid, wire["reference_code"]))
        assert (stored.state, stored.attempts, stored.state_changed_at) == (OutboxState.SENDING, 1, now)
    assert decoded[0]["recorded_at"] == "2026-03-01T09:30:00+00:00"
    assert decoded[2]["recorded_at"] == "2026-03-01T09:00:00.500000+00:00"
    assert state_of(engine, still_open) is OutboxState.OPEN
    assert outbox.claim_wire(engine, limit=10, now=now) == []


def test_claim_wire_gives_no_text_for_a_payload_sqlite_cannot_read_and_claims_the_rest(
    engine: Engine,
) -> None:
    """Python's json writes NaN, which is not JSON: that row comes without its text (its batch
    then fails when sent, as httpx refused to encode it), and the claim itself still works."""
    queued = [outbox.enqueue(engine, kiosk_payload(rating=r)) for r in (1, 2, 3)]
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE outbox SET payload = ? WHERE client_uuid = ?",
            (json.dumps({**kiosk_payload(rating=2), "waiting_minutes": float("nan")}), queued[1].client_uuid),
        )

    claimed = outbox.claim_wire(engine, limit=10)

    assert [c.client_uuid for c in claimed] == [s.client_uuid for s in queued]
    assert [c.json is None for c in claimed] == [False, True, False]
    assert {state_of(engine, s) for s in queued} == {OutboxState.SENDING}


def test_claim_skips_rows_whose_next_attempt_is_later_unless_told_to_ignore_backoff(engine: Engine) -> None:
    backing_off = outbox.enqueue(engine, kiosk_payload(rating=1))
    outbox.claim(engine, limit=1)
    now = outbox.utcnow()
    outbox.release(engine, [backing_off.client_uuid], "503 Service Unavailable", now + timedelta(minutes=2))
    due = outbox.enqueue(engine, kiosk_payload(rating=2))

    assert [r.client_uuid for r in outbox.claim(engine, limit=10, now=now)] == [due.client_uuid]
    assert outbox.claim(engine, limit=10, now=now + timedelta(minutes=1)) == []
    assert state_of(engine, backing_off) is OutboxState.PENDING

    outbox.release(engine, [due.client_uuid], "timeout", now + timedelta(minutes=2))
    at_backoff_end = outbox.claim(engine, limit=1, now=now + timedelta(minutes=2))
    assert [r.client_uuid for r in at_backoff_end] == [backing_off.client_uuid]

    outbox.release(engine, [backing_off.client_uuid], "timeout", now + timedelta(hours=1))
    forced = outbox.claim(engine, limit=10, now=now, ignore_backoff=True)
    assert [r.client_uuid for r in forced] == [backing_off.client_uuid, due.client_uuid]


def test_mark_synced_stores_the_server_ids_clears_free_text_and_errors(engine: Engine) -> None:
    complaint = outbox.begin(engine, kiosk_payload(rating=1))
    outbox.add_details(
        engine, complaint.client_uuid, {"feedback_text": "Rude clerk at desk 3", "grievance_flag": True}
    )
    outbox.finish(engine, complaint.client_uuid)
    praise = outbox.enqueue(engine, kiosk_payload(rating=5))
    outbox.claim(engine, limit=10)
    outbox.release(engine, [complaint.client_uuid, praise.client_uuid], "timeout", outbox.utcnow())
    outbox.claim(engine, limit=10, ignore_backoff=True)

    outbox.mark_synced(
        engine, [(complaint.client_uuid, 9001, "GRV-2026-000123"), (praise.client_uuid, 9002, None)]
    )

    synced = row(engine, complaint)
    assert synced.state is OutboxState.SYNCED
    assert (synced.feedback_id, synced.ticket_number) == (9001, "GRV-2026-000123")
    assert synced.payload["feedback_text"] is None
    assert synced.payload == kiosk_payload(rating=1, grievance_flag=True, feedback_text=None)
    assert (synced.last_error, synced.error_code, synced.next_attempt_at) == (None, None, None)
    assert synced.attempts == 2
    other = row(engine, praise)
    assert (other.state, other.feedback_id, other.ticket_number) == (OutboxState.SYNCED, 9002, None)
    assert other.payload == kiosk_payload(rating=5)
    found = outbox.find_by_ticket(engine, "GRV-2026-000123")
    assert found is not None
    assert found.reference_code == complaint.reference_code


def test_mark_rejected_keeps_the_code_and_message_and_the_row_is_never_claimed_again(engine: Engine) -> None:
    bad = outbox.enqueue(engine, kiosk_payload(service_id="SVC-999"))
    good = outbox.enqueue(engine, kiosk_payload())
    outbox.claim(engine, limit=10)

    outbox.mark_rejected(engine, [(bad.client_uuid, "unknown_service", "service SVC-999 does not exist")])
    outbox.release(engine, [good.client_uuid], "timeout", None)

    rejected = row(engine, bad)
    assert rejected.state is OutboxState.REJECTED
    assert (rejected.error_code, rejected.last_error) == ("unknown_service", "service SVC-999 does not exist")
    assert [r.client_uuid for r in outbox.rejected(engine)] == [bad.client_uuid]
    assert outbox.recover(engine) == outbox.Recovery(0, 0)
    assert [r.client_uuid for r in outbox.claim(engine, limit=10, ignore_backoff=True)] == [good.client_uuid]
    assert state_of(engine, bad) is OutboxState.REJECTED


def test_release_returns_sending_rows_to_pending_with_the_error_and_next_attempt(engine: Engine) -> None:
    batch = [outbox.enqueue(engine, kiosk_payload()) for _ in range(3)]
    outbox.claim(engine, limit=10)
    retry_at = datetime(2030, 1, 1, 12, 0, 30, 250000, tzinfo=UTC)

    outbox.release(engine, [s.client_uuid for s in batch[:2]], "ConnectError: connection refused", retry_at)

    for submission in batch[:2]:
        released = row(engine, submission)
        assert released.state is OutboxState.PENDING
        assert released.last_error == "ConnectError: connection refused"
        assert released.next_attempt_at == retry_at
        assert released.attempts == 1
    assert state_of(engine, batch[2]) is OutboxState.SENDING
    assert outbox.oldest_pending_at(engine) == row(engine, batch[0]).recorded_at


def test_a_late_release_does_not_undo_a_row_already_synced_or_rejected(engine: Engine) -> None:
    synced, rejected = outbox.enqueue(engine, kiosk_payload()), outbox.enqueue(engine, kiosk_payload())
    outbox.claim(engine, limit=10)
    outbox.mark_synced(engine, [(synced.client_uuid, 7, None)])
    outbox.mark_rejected(engine, [(rejected.client_uuid, "invalid", "rating out of range")])
    before = row(engine, synced), row(engine, rejected)

    outbox.release(engine, [synced.client_uuid, rejected.client_uuid], "timeout", None)

    assert (row(engine, synced), row(engine, rejected)) == before


def test_counts_report_all_five_states_as_integers(engine: Engine) -> None:
    assert outbox.counts(engine) == {"open": 0, "pending": 0, "sending": 0, "synced": 0, "rejected": 0}

    one_row_in_each_state(engine)
    outbox.begin(engine, kiosk_payload())

    counts = outbox.counts(engine)
    assert counts == {"open": 2, "pending": 1, "sending": 1, "synced": 1, "rejected": 1}
    assert all(type(n) is int for n in counts.values())


def test_oldest_pending_at_is_the_earliest_recorded_pending_or_sending_row(engine: Engine) -> None:
    assert outbox.oldest_pending_at(engine) is None
    base = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    outbox.begin(engine, kiosk_payload(), recorded_at=base - timedelta(days=9))  # open: not queued
    rejected = outbox.enqueue(engine, kiosk_payload(), recorded_at=base - timedelta(days=8))
    synced = outbox.enqueue(engine, kiosk_payload(), recorded_at=base - timedelta(days=7))
    outbox.claim(engine, limit=2)
    outbox.mark_rejected(engine, [(rejected.client_uuid, "invalid", "bad")])
    outbox.mark_synced(engine, [(synced.client_uuid, 1, None)])
    assert outbox.oldest_pending_at(engine) is None

    outbox.enqueue(engine, kiosk_payload(), recorded_at=base + timedelta(hours=5))
    in_flight = outbox.enqueue(engine, kiosk_payload(), recorded_at=base - timedelta(hours=3))  # a paper card
    outbox.enqueue(engine, kiosk_payload(), recorded_at=base)
    assert outbox.oldest_pending_at(engine) == base - timedelta(hours=3)

    outbox.claim(engine, limit=10)
    assert state_of(engine, in_flight) is OutboxState.SENDING
    assert outbox.oldest_pending_at(engine) == base - timedelta(hours=3)


def test_purge_synced_keeps_synced_rows_30_days_and_never_purges_unsent_or_rejected_rows(
    engine: Engine,
) -> None:
    rows = one_row_in_each_state(engine)
    synced_at = row(engine, rows[OutboxState.SYNCED]).state_changed_at
    retention = timedelta(days=30)

    assert outbox.purge_synced(engine, now=synced_at + retention) == 0
    assert state_of(engine, rows[OutboxState.SYNCED]) is OutboxState.SYNCED

    assert outbox.purge_synced(engine, now=synced_at + retention + timedelta(microseconds=1)) == 1
    assert outbox.find(engine, rows[OutboxState.SYNCED].reference_code) is None

    assert outbox.purge_synced(engine, now=synced_at + timedelta(days=3650)) == 0
    for state in (OutboxState.OPEN, OutboxState.PENDING, OutboxState.SENDING, OutboxState.REJECTED):
        assert state_of(engine, rows[state]) is state


def test_settle_stores_a_batchs_created_duplicate_and_rejected_answers_each_by_its_own(
    engine: Engine,
) -> None:
    complaint = outbox.enqueue(
        engine, kiosk_payload(rating=1, feedback_text="Rude clerk", grievance_flag=True)
    )
    repeat = outbox.enqueue(engine, kiosk_payload(rating=5, feedback_text="Again: thanks"))
    plain = outbox.enqueue(engine, kiosk_payload(rating=4))
    bad = outbox.enqueue(engine, kiosk_payload(service_id="SVC-999", feedback_text="Where is SVC-999?"))
    waiting = outbox.enqueue(engine, kiosk_payload(rating=3))
    outbox.claim(engine, limit=4)
    outbox.release(engine, [complaint.client_uuid], "timeout", outbox.utcnow())  # an earlier try
    outbox.claim(engine, limit=1, ignore_backoff=True)
    untouched = row(engine, waiting)
    assert untouched.state is OutboxState.PENDING  # not in the batch

    settlement = outbox.settle(
        engine,
        synced=[
            (complaint.client_uuid, 71, "GRV-2026-000071"),  # created, with a ticket
            (repeat.client_uuid, 72, None),  # duplicate: the server's first answer again
            (plain.client_uuid, 73, None),
        ],
        rejected=[(bad.client_uuid, "unknown_service", "No service SVC-999")],
    )

    assert settlement == outbox.Settlement(synced=3, rejected=1, ignored=0)
    first = row(engine, complaint)
    assert (first.state, first.feedback_id, first.ticket_number) == (
        OutboxState.SYNCED,
        71,
        "GRV-2026-000071",
    )
    assert first.payload == kiosk_payload(rating=1, feedback_text=None, grievance_flag=True)
    assert (first.error_code, first.last_error, first.next_attempt_at, first.attempts) == (
        None,
        None,
        None,
        2,
    )
    again = row(engine, repeat)
    assert (again.state, again.feedback_id, again.ticket_number) == (OutboxState.SYNCED, 72, None)
    assert again.payload == kiosk_payload(rating=5, feedback_text=None)
    assert row(engine, plain).payload == kiosk_payload(rating=4)  # no text: the payload stays as it was
    rejected = row(engine, bad)
    assert (rejected.state, rejected.error_code, rejected.last_error) == (
        OutboxState.REJECTED,
        "unknown_service",
        "No service SVC-999",
    )
    assert rejected.payload["feedback_text"] == "Where is SVC-999?"  # kept for staff, never sent again
    assert (rejected.feedback_id, rejected.ticket_number) == (None, None)
    assert row(engine, waiting) == untouched
    stamps = {row(engine, s).state_changed_at for s in (complaint, repeat, plain, bad)}
    assert len(stamps) == 1  # one transaction, one moment
    assert outbox.counts(engine) == {"open": 0, "pending": 1, "sending": 0, "synced": 3, "rejected": 1}


def test_a_settle_never_revives_or_redates_a_row_settled_or_purged_before(engine: Engine) -> None:
    synced, rejected, released, purged = (
        outbox.enqueue(engine, kiosk_payload(rating=r)) for r in (1, 2, 3, 4)
    )
    in_flight = outbox.enqueue(engine, kiosk_payload(rating=5, feedback_text="Quick"))
    outbox.claim(engine, limit=10)
    outbox.settle(engine, synced=[(purged.client_uuid, 4, None)])
    assert outbox.purge_synced(engine, now=row(engine, purged).state_changed_at + timedelta(days=31)) == 1
    outbox.settle(
        engine,
        synced=[(synced.client_uuid, 1, "GRV-2026-000001")],
        rejected=[(rejected.client_uuid, "invalid", "bad")],
    )
    outbox.release(engine, [released.client_uuid], "timeout", None)
    before = {s.client_uuid: row(engine, s) for s in (synced, rejected, released)}

    # A late or repeated answer for each of them, and a fresh one for the row in flight.
    settlement = outbox.settle(
        engine,
        synced=[
            (rejected.client_uuid, 2, None),
            (released.client_uuid, 3, None),
            (purged.client_uuid, 4, None),
            (in_flight.client_uuid, 5, None),
        ],
        rejected=[(synced.client_uuid, "invalid", "late")],
    )

    assert settlement == outbox.Settlement(synced=2, rejected=0, ignored=3)
    assert {s.client_uuid: row(engine, s) for s in (synced, rejected)} == {
        s.client_uuid: before[s.client_uuid] for s in (synced, rejected)
    }
    late = row(engine, released)  # released after its answer was lost: the server has it all the same
    assert (late.state, late.feedback_id, late.last_error) == (OutboxState.SYNCED, 3, None)
    assert outbox.find(engine, purged.reference_code) is None
    done = row(engine, in_flight)
    assert (done.state, done.feedback_id, done.payload["feedback_text"]) == (OutboxState.SYNCED, 5, None)
    assert outbox.settle(engine) == outbox.Settlement(0, 0, 0)


def test_settling_a_batch_takes_the_same_few_statements_whatever_its_size(engine: Engine) -> None:
    """Set-based, not a read or a write per row: each kind of answer is one statement,
    executed for all its rows at once (executemany), in one transaction."""
    said: list[tuple[str, bool]] = []

    def note(
        conn: object, cursor: object, statement: str, parameters: object, context: object, executemany: bool
    ) -> None:
        del conn, cursor, parameters, context
        said.append((statement.split()[0], executemany))

    for size in (3, 300):
        queued = [
            outbox.enqueue(
                engine, kiosk_payload(rating=n % 5 + 1, feedback_text=f"note {n}" if n % 2 else None)
            )
            for n in range(size)
        ]
        outbox.claim(engine, limit=size)
        said.clear()
        event.listen(engine, "before_cursor_execute", note)
        try:
            settlement = outbox.settle(
                engine,
                synced=[(s.client_uuid, n, None) for n, s in enumerate(queued) if n % 3],
                rejected=[(s.client_uuid, "invalid", "bad") for n, s in enumerate(queued) if not n % 3],
            )
        finally:
            event.remove(engine, "before_cursor_execute", note)

        assert settlement.synced + settlement.rejected == size
        assert [statement for statement, _ in said] == ["BEGIN", "UPDATE", "UPDATE"], size
        if size > 3:
            assert said[1:] == [("UPDATE", True), ("UPDATE", True)]  # each for all its rows at once
    assert outbox.counts(engine)["sending"] == 0


def test_unclaim_puts_rows_never_sent_back_as_they_were_without_the_attempt(engine: Engine) -> None:
    retried, fresh, settled = (outbox.enqueue(engine, kiosk_payload(rating=r)) for r in (1, 2, 3))
    outbox.claim(engine, limit=10)
    later = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    outbox.release(engine, [retried.client_uuid], "timeout", later)
    outbox.release(engine, [fresh.client_uuid], "timeout", None)
    outbox.settle(engine, synced=[(settled.client_uuid, 3, None)])
    outbox.claim(engine, limit=10, ignore_backoff=True)
    done = row(engine, settled)

    assert outbox.unclaim(engine, [retried.client_uuid, fresh.client_uuid, settled.client_uuid]) == 2

    back = row(engine, retried)
    assert (back.state, back.attempts, back.next_attempt_at, back.last_error) == (
        OutboxState.PENDING,
        1,
        later,
        "timeout",
    )
    assert (state_of(engine, fresh), row(engine, fresh).attempts) == (OutboxState.PENDING, 1)
    assert row(engine, settled) == done
    assert outbox.unclaim(engine, []) == 0


def test_queue_status_counts_pending_and_sending_rows_less_those_excluded(engine: Engine) -> None:
    base = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert outbox.queue_status(engine) == (0, None)
    first = outbox.enqueue(engine, kiosk_payload(), recorded_at=base)
    card = outbox.enqueue(engine, kiosk_payload(channel="paper"), recorded_at=base - timedelta(days=2))
    outbox.enqueue(engine, kiosk_payload(), recorded_at=base + timedelta(hours=1))
    outbox.begin(engine, kiosk_payload(), recorded_at=base - timedelta(days=9))  # open: not queued
    outbox.claim(engine, limit=2)

    assert outbox.queue_status(engine) == (3, base - timedelta(days=2))
    assert outbox.queue_status(engine, excluding=[first.client_uuid, card.client_uuid]) == (
        1,
        base + timedelta(hours=1),
    )


# --- the file: pragmas, several processes -------------------------------------------------


def test_the_screen_waits_less_for_a_lock_than_the_worker(data_dir: Path) -> None:
    """The app's engine: a transaction begun on the main (GUI) thread waits
    SCREEN_BUSY_TIMEOUT_S for another process's lock, one on any other thread BUSY_TIMEOUT_S,
    even on the same pooled connection."""
    app_engine = database.open_database(data_dir, screen_busy_timeout_s=database.SCREEN_BUSY_TIMEOUT_S)

    def busy_timeout_ms() -> int:
        with app_engine.begin() as connection:
            return int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one())

    try:
        seen: list[int] = []
        for _ in range(2):  # back and forth, so a connection changes hands both ways
            seen.append(busy_timeout_ms())
            worker = threading.Thread(target=lambda: seen.append(busy_timeout_ms()))
            worker.start()
            worker.join()
        screen, other = round(database.SCREEN_BUSY_TIMEOUT_S * 1000), round(database.BUSY_TIMEOUT_S * 1000)
        assert seen == [screen, other, screen, other]
        assert screen < other
    finally:
        app_engine.dispose()


def test_pragmas_are_in_force_on_every_connection(engine: Engine, data_dir: Path) -> None:
    other = database.make_engine(database.database_path(data_dir))
    try:
        connections = [engine.connect(), engine.connect(), engine.connect(), other.connect()]
        try:
            ids = set()
            for connection in connections:
                # Asked on the driver's connection, outside any transaction: every transaction
                # here is BEGIN IMMEDIATE, so four open ones in one thread would wait on each other.
                driver = connection.connection.driver_connection
                assert driver is not None
                ids.add(id(driver))
                pragmas = {
                    name: driver.execute(f"PRAGMA {name}").fetchone()[0]
                    for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
                }
                assert pragmas == {
                    "journal_mode": "wal",
                    "synchronous": 2,  # FULL
                    "foreign_keys": 1,
                    "busy_timeout": round(database.BUSY_TIMEOUT_S * 1000),
                }
            assert len(ids) == len(connections)  # really distinct connections
        finally:
            for connection in connections:
                connection.close()
    finally:
        other.dispose()


INSERTER = """
import sys
from pathlib import Path
from kiosk.local_db import database, outbox

engine = database.open_database(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()  # start together
for i in range(int(sys.argv[2])):
    add = outbox.begin if i % 2 else outbox.enqueue
    submission = add(engine, {"channel": "kiosk", "service_id": "SVC-001", "rating": 1 + i % 5})
    print(submission.reference_code, submission.client_uuid, flush=True)
"""


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop()


def test_two_processes_inserting_at_once_lose_nothing_reuse_no_code_and_never_see_a_lock_error(
    engine: Engine, data_dir: Path, children: list[Child]
) -> None:
    per_process = 200
    children.extend(Child(INSERTER, str(data_dir), str(per_process)) for _ in range(2))
    for child in children:
        assert child.read_line() == "ready"
    for child in children:
        child.send("go\n")

    printed: list[tuple[str, str]] = []
    for child in children:
        lines = child.rest()
        errors = child.stderr()
        assert child.process.returncode == 0, errors
        assert "database is locked" not in errors
        assert len(lines) == per_process
        printed.extend((code, uuid) for code, uuid in (line.split() for line in lines))

    codes = [code for code, _ in printed]
    assert len(set(codes)) == len(codes) == 2 * per_process
    assert sorted(sequence_of(code) for code in codes) == list(range(1, 2 * per_process + 1))
    with sqlite3.connect(database.database_path(data_dir)) as plain:
        stored = set(plain.execute("SELECT reference_code, client_uuid FROM outbox").fetchall())
    plain.close()
    assert stored == set(printed)
    assert outbox.counts(engine)["open"] == outbox.counts(engine)["pending"] == per_process


# --- the device token ---------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_token_file_is_owner_only_and_holds_exactly_the_token(engine: Engine, data_dir: Path) -> None:
    path = identity.token_path(data_dir)

    assert mode(path) == 0o600
    assert path.read_bytes() == TOKEN.encode("ascii")
    assert identity.read_token(data_dir) == TOKEN
    assert identity.load(engine) == IDENTITY

    replacement = "gea_dev_short"
    identity.save(engine, data_dir, IDENTITY, replacement)  # re-enrolled: a shorter token
    assert mode(path) == 0o600
    assert path.read_bytes() == replacement.encode("ascii")
    assert sorted(p.name for p in data_dir.iterdir() if "token" in p.name) == [identity.TOKEN_FILENAME]


def test_token_rewrite_makes_an_existing_readable_file_owner_only(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    path = identity.token_path(data_dir)
    path.write_text("an old token that was much longer than the new one\n", "ascii")
    path.chmod(0o644)
    stale = path.with_suffix(".tmp")
    stale.write_text("leftover from a crash, longer than the token", "ascii")
    stale.chmod(0o666)

    identity.write_token(data_dir, TOKEN)

    assert mode(path) == 0o600
    assert path.read_bytes() == TOKEN.encode("ascii")
    assert not stale.exists()


def test_token_is_not_stored_in_the_database_file(engine: Engine, data_dir: Path) -> None:
    outbox.begin(engine, kiosk_payload())
    engine.dispose()  # checkpoint the WAL into the file

    for path in data_dir.iterdir():
        if path != identity.token_path(data_dir):
            assert TOKEN.encode("ascii") not in path.read_bytes(), path.name


# --- the sync lock ------------------------------------------------------------------------

LOCK_HOLDER = """
import sys
from pathlib import Path
from kiosk.local_db import lock

held = lock.acquire(Path(sys.argv[1]))
print("held", flush=True)
sys.stdin.read()  # hold it until the test closes stdin (or kills this process)
"""

LOCK_TRIER = """
import sys
from pathlib import Path
from kiosk.local_db import lock

for _ in sys.stdin:  # one attempt per line the test sends
    try:
        held = lock.acquire(Path(sys.argv[1]))
    except lock.SyncLockHeld:
        print("refused", flush=True)
    else:
        print("acquired", flush=True)
        held.release()
"""


def test_sync_lock_is_refused_to_a_second_process_until_the_holder_exits(
    data_dir: Path, children: list[Child]
) -> None:
    holder = Child(LOCK_HOLDER, str(data_dir))
    children.append(holder)
    assert holder.read_line() == "held"

    with pytest.raises(lock.SyncLockHeld):
        lock.acquire(data_dir)

    holder.close_stdin()
    assert holder.rest() == []
    assert holder.process.returncode == 0, holder.stderr()
    mine = lock.acquire(data_dir)
    try:
        trier = Child(LOCK_TRIER, str(data_dir))
        children.append(trier)
        trier.send("try\n")
        assert trier.read_line() == "refused"  # now this process holds it
    finally:
        mine.release()
    trier.send("try\n")
    assert trier.read_line() == "acquired"


def test_sync_lock_is_released_when_the_holder_is_killed_with_sigkill(
    data_dir: Path, children: list[Child]
) -> None:
    holder = Child(LOCK_HOLDER, str(data_dir))
    children.append(holder)
    assert holder.read_line() == "held"
    with pytest.raises(lock.SyncLockHeld):
        lock.acquire(data_dir)

    holder.process.kill()  # SIGKILL: no cleanup code runs in the holder
    assert holder.process.wait(timeout=CHILD_TIMEOUT_S) == -9

    mine = lock.acquire(data_dir)
    mine.release()
