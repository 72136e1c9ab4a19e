"""CitizenFlow (kiosk/citizen_flow.py): the rules the citizen's screens follow, on a real SQLite
data directory with the built-in demo catalog. Only the clock is fake: it is a time source the
flow takes by injection, so the thank-you pause and the burst window are stepped, not slept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from kiosk import citizen_flow, demo
from kiosk.citizen_flow import BURST_MAX_RATINGS, BURST_WINDOW_S, THANK_YOU_MIN_S, CitizenFlow
from kiosk.local_db import catalog_cache, database, identity, outbox
from kiosk.local_db.models import DeviceIdentity, OutboxState
from kiosk.services import InvalidInput, KioskServices

DEVICE_CODE = "K0042"
# A trailing slash, as IT may well type it: the receipt's URL must not get a double slash.
PUBLIC_BASE_URL = "https://feedback.example.gd/"
PASSPORTS = "SVC-001"  # AGY-002 in the built-in catalog


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Counter:
    data_dir: Path
    engine: Engine
    clock: FakeClock
    flow: CitizenFlow
    woken: list[int]  # one entry per on_pending call


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[Counter]:
    data_dir = tmp_path / "kiosk"
    engine = database.open_database(data_dir)
    me = identity.Identity(DEVICE_CODE, "AGY-002", "http://127.0.0.1:9", PUBLIC_BASE_URL)
    identity.save(engine, data_dir, me, "test-token-" + "x" * 20)
    catalog_cache.store(engine, demo.builtin_catalog())
    woken: list[int] = []
    clock = FakeClock()
    flow = CitizenFlow(KioskServices(engine, on_pending=lambda: woken.append(1)), clock=clock)
    yield Counter(data_dir, engine, clock, flow, woken)
    engine.dispose()


def row(engine: Engine, reference_code: str) -> outbox.OutboxRow:
    found = outbox.find(engine, reference_code)
    assert found is not None, reference_code
    return found


def states(engine: Engine) -> dict[str, int]:
    return {state: n for state, n in outbox.counts(engine).items() if n}


def next_citizen(counter: Counter) -> None:
    """The thank-you pause is over."""
    counter.clock.advance(THANK_YOU_MIN_S)


# --- the one tap ------------------------------------------------------------------------------


def test_one_tap_is_a_durable_open_row(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 4)

    assert answer is not None
    assert counter.flow.current is answer
    # Read back through a second engine on the same file: the row is committed, not merely
    # held in the flow's session.
    other = database.make_engine(database.database_path(counter.data_dir))
    try:
        stored = row(other, answer.submission.reference_code)
    finally:
        other.dispose()
    assert stored.state is OutboxState.OPEN
    assert stored.client_uuid == answer.submission.client_uuid
    assert stored.payload == {
        "service_id": PASSPORTS,
        "entity_id": "AGY-002",
        "rating": 4,
        "channel": "kiosk",
        "misuse_suspected": False,
    }
    assert stored.reference_code.startswith(f"{DEVICE_CODE}-000001-")
    assert (answer.service_id, answer.rating, answer.details) == (PASSPORTS, 4, {})
    assert counter.woken == []  # an open row is not for the sync worker yet


def test_taps_during_the_thank_you_pause_are_ignored(counter: Counter) -> None:
    first = counter.flow.rate(PASSPORTS, 5)
    assert first is not None
    assert not counter.flow.accepts_taps()

    counter.clock.advance(THANK_YOU_MIN_S - 0.01)
    assert not counter.flow.accepts_taps()
    assert counter.flow.rate(PASSPORTS, 1) is None
    assert counter.flow.rate(PASSPORTS, 2) is None

    assert states(counter.engine) == {"open": 1}
    assert counter.flow.current is first
    assert row(counter.engine, first.submission.reference_code).payload["rating"] == 5
    assert counter.woken == []

    counter.clock.advance(0.01)
    assert counter.flow.accepts_taps()
    assert counter.flow.rate(PASSPORTS, 1) is not None
    assert states(counter.engine) == {"open": 1, "pending": 1}


def test_a_new_rating_finishes_the_previous_citizens_row(counter: Counter) -> None:
    first = counter.flow.rate(PASSPORTS, 2)
    assert first is not None
    counter.flow.add_details(feedback_text="The queue did not move", waiting_time=1)
    next_citizen(counter)

    second = counter.flow.rate("SVC-008", 5)

    assert second is not None
    assert second.submission.client_uuid != first.submission.client_uuid
    previous = row(counter.engine, first.submission.reference_code)
    assert previous.state is OutboxState.PENDING
    assert previous.payload["feedback_text"] == "The queue did not move"
    current = row(counter.engine, second.submission.reference_code)
    assert current.state is OutboxState.OPEN
    # The second citizen starts blank: nothing of the first one's answers carries over.
    assert second.details == {}
    assert current.payload == {
        "service_id": "SVC-008",
        "entity_id": "AGY-003",
        "rating": 5,
        "channel": "kiosk",
        "misuse_suspected": False,
    }
    assert counter.woken == [1]


def test_a_burst_of_ratings_is_kept_but_flagged(counter: Counter) -> None:
    answers = []
    for _ in range(BURST_MAX_RATINGS + 2):
        answer = counter.flow.rate(PASSPORTS, 1)
        assert answer is not None
        answers.append(answer)
        next_citizen(counter)
    flags = [row(counter.engine, a.submission.reference_code).payload["misuse_suspected"] for a in answers]
    assert flags == [False] * BURST_MAX_RATINGS + [True, True]
    assert sum(outbox.counts(counter.engine).values()) == BURST_MAX_RATINGS + 2

    # After a quiet spell longer than the window, the counter is trusted again.
    counter.clock.advance(BURST_WINDOW_S + 1)
    calm = counter.flow.rate(PASSPORTS, 4)
    assert calm is not None
    assert row(counter.engine, calm.submission.reference_code).payload["misuse_suspected"] is False


def test_ratings_spread_over_the_window_are_not_flagged(counter: Counter) -> None:
    # One citizen every 15 s is a busy counter, not a child drumming on the screen: the
    # window only ever holds five of them.
    for _ in range(3 * BURST_MAX_RATINGS):
        answer = counter.flow.rate(PASSPORTS, 3)
        assert answer is not None
        assert row(counter.engine, answer.submission.reference_code).payload["misuse_suspected"] is False
        counter.clock.advance(BURST_WINDOW_S / BURST_MAX_RATINGS + 0.5)


# --- details on the same row -------------------------------------------------------------------


def test_details_go_to_the_same_open_row_at_once(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 3)
    assert answer is not None
    reference = answer.submission.reference_code

    counter.flow.add_details(service_quality=2, staff_behavior=5, cleanliness=None)
    after_sub_ratings = row(counter.engine, reference)
    counter.flow.add_details(feedback_text="Nobody at the desk", grievance_flag=True)
    after_comment = row(counter.engine, reference)

    assert after_sub_ratings.state is OutboxState.OPEN
    assert after_sub_ratings.payload["service_quality"] == 2
    assert after_sub_ratings.payload["staff_behavior"] == 5
    assert "cleanliness" not in after_sub_ratings.payload  # not answered is not "None"
    assert after_comment.state is OutboxState.OPEN
    assert after_comment.payload["feedback_text"] == "Nobody at the desk"
    assert after_comment.payload["grievance_flag"] is True
    assert after_comment.payload["service_quality"] == 2  # earlier answers kept
    assert states(counter.engine) == {"open": 1}
    assert answer.details == {
        "service_quality": 2,
        "staff_behavior": 5,
        "feedback_text": "Nobody at the desk",
        "grievance_flag": True,
    }
    assert answer.complaint


def test_a_refused_detail_changes_nothing(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 3)
    assert answer is not None
    counter.flow.add_details(waiting_time=2)

    with pytest.raises(InvalidInput, match="1 to 5"):
        counter.flow.add_details(service_quality=7, feedback_text="fine")
    with pytest.raises(InvalidInput, match="at most 2,000"):
        counter.flow.add_details(feedback_text="x" * 2_001)

    stored = row(counter.engine, answer.submission.reference_code)
    assert stored.payload.get("service_quality") is None
    assert stored.payload.get("feedback_text") is None
    assert answer.details == {"waiting_time": 2}


def test_details_need_an_open_submission(counter: Counter) -> None:
    with pytest.raises(RuntimeError, match="no citizen"):
        counter.flow.add_details(service_quality=3)
    assert counter.flow.rate(PASSPORTS, 4) is not None
    counter.flow.finish()
    with pytest.raises(RuntimeError, match="no citizen"):
        counter.flow.add_details(service_quality=3)
    assert states(counter.engine) == {"pending": 1}


# --- finishing ---------------------------------------------------------------------------------


def test_finish_queues_the_row_and_wakes_the_worker_once(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 5)
    assert answer is not None

    finished = counter.flow.finish()

    assert finished is answer
    assert counter.flow.current is None
    assert row(counter.engine, answer.submission.reference_code).state is OutboxState.PENDING
    assert counter.woken == [1]
    # Finishing again (idle timeout right after "Done") is harmless.
    assert counter.flow.finish() is None
    assert counter.woken == [1]
    assert states(counter.engine) == {"pending": 1}


def test_refused_taps_do_not_count_towards_a_burst(counter: Counter) -> None:
    for _ in range(BURST_MAX_RATINGS + 2):
        with pytest.raises(InvalidInput):
            counter.flow.rate("SVC-999", 4)
    answer = counter.flow.rate(PASSPORTS, 4)
    assert answer is not None
    assert row(counter.engine, answer.submission.reference_code).payload["misuse_suspected"] is False


def test_a_comment_and_a_complaint_go_to_the_same_row(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 4)
    assert answer is not None
    counter.flow.comment("  Quick today  ", complaint=False)
    payload = row(counter.engine, answer.submission.reference_code).payload
    assert payload["feedback_text"] == "Quick today"
    assert "grievance_flag" not in payload
    with pytest.raises(InvalidInput, match="complaint"):
        counter.flow.comment("   ", complaint=True)
    assert not answer.complaint, "an empty complaint changes nothing"
    counter.flow.comment("Charged twice", complaint=True)
    payload = row(counter.engine, answer.submission.reference_code).payload
    assert (payload["feedback_text"], payload["grievance_flag"]) == ("Charged twice", True)
    assert answer.gets_ticket


def test_an_unknown_service_writes_nothing(counter: Counter) -> None:
    with pytest.raises(InvalidInput, match="SVC-999"):
        counter.flow.rate("SVC-999", 4)
    assert states(counter.engine) == {}
    assert counter.flow.current is None


# --- tickets and receipts ----------------------------------------------------------------------


@pytest.mark.parametrize(("rating", "ticket"), [(1, True), (2, True), (3, False), (4, False), (5, False)])
def test_low_ratings_get_a_ticket(counter: Counter, rating: int, ticket: bool) -> None:
    answer = counter.flow.rate(PASSPORTS, rating)
    assert answer is not None
    assert answer.gets_ticket is ticket
    assert not answer.complaint


def test_a_complaint_gets_a_ticket_whatever_the_rating(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 5)
    assert answer is not None
    counter.flow.add_details(grievance_flag=False)
    assert not answer.gets_ticket
    counter.flow.add_details(grievance_flag=True)
    assert answer.complaint
    assert answer.gets_ticket


def test_the_receipt_points_at_the_status_page(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 1)
    assert answer is not None
    counter.flow.add_details(grievance_flag=True)
    reference = answer.submission.reference_code

    receipt = counter.flow.receipt_for(answer)

    assert receipt is not None
    assert receipt.reference_code == reference
    assert receipt.status_url == f"https://feedback.example.gd/s/{reference}"
    assert receipt.service_name == "Passport Application and Renewal"
    assert receipt.entity_name == "Immigration and Passport Office"
    assert receipt.complaint is True
    assert receipt.rating == 1
    assert receipt.device_code == DEVICE_CODE
    assert receipt.ticket_number is None
    assert receipt.recorded_at == row(counter.engine, reference).recorded_at
    assert receipt.recorded_at.utcoffset() is not None


def test_staff_can_reprint_after_the_citizen_left(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 2)
    assert answer is not None
    counter.flow.finish()

    receipt = citizen_flow.receipt_for(counter.flow.services, answer.submission.reference_code)

    assert receipt is not None
    assert receipt.rating == 2
    assert receipt.complaint is False
    assert citizen_flow.receipt_for(counter.flow.services, f"{DEVICE_CODE}-999999-ZZZZ") is None


def test_no_receipt_without_an_identity(counter: Counter) -> None:
    answer = counter.flow.rate(PASSPORTS, 1)
    assert answer is not None
    # A kiosk whose identity is gone cannot say where to follow a ticket up.
    with Session(counter.engine) as session, session.begin():
        session.execute(delete(DeviceIdentity))
    assert counter.flow.receipt_for(answer) is None
