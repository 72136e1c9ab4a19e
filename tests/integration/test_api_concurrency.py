"""Exactly-once ingest under concurrency, over real HTTP against the real PostgreSQL.

Many kiosks' batches overlap and replay each other at the same moment on different
connections; afterwards feedback_db must hold each submission once, with at most one ticket,
and every answer for a submission must name the same feedback_id and ticket_number
(ARCHITECTURE section 5, issue 3).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from tests.helpers.server import EnrolledDevice, LiveServer, enroll

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SUBMISSIONS = "/api/v1/submissions"
BARRIER_TIMEOUT_S = 120.0

# Entity of the kiosk -> services it may submit for (its own, or of an entity under it).
SERVICES_BY_ENTITY: dict[str, list[tuple[str, str]]] = {
    "AGY-002": [("SVC-001", "AGY-002")],
    "AGY-003": [("SVC-008", "AGY-003"), ("SVC-002", "UNIT-001")],
    "DEPT-003": [("SVC-003", "DEPT-003"), ("SVC-004", "DEPT-003")],
    "MIN-003": [("SVC-011", "MIN-003"), ("SVC-003", "DEPT-003")],
}

CLIENTS = 20
DEVICES_PER_ENTITY = 2
DISTINCT_ITEMS = 3_840  # plus a third as many replays: 5,120 items sent, a quarter replays
REPLAYS = DISTINCT_ITEMS // 3
ROUNDS = 8
RACING_PAIRS = 50
CONFLICT_PAIRS = 20


@dataclass
class Kiosk:
    enrolled: EnrolledDevice
    services: list[tuple[str, str]]
    next_sequence: int = 0

    def reference_code(self, rng: random.Random) -> str:
        self.next_sequence += 1
        suffix = "".join(rng.choice(CROCKFORD) for _ in range(4))
        return f"{self.enrolled.device_code}-{self.next_sequence:06d}-{suffix}"


@dataclass
class Sent:
    """One answer the server gave for one item."""

    client: int
    item: dict[str, Any]
    result: dict[str, Any]


@dataclass
class Client:
    kiosk: Kiosk
    rounds: list[list[dict[str, Any]]] = field(default_factory=lambda: [[] for _ in range(ROUNDS)])


def makes_ticket(item: dict[str, Any]) -> bool:
    return bool(item["grievance_flag"]) or int(item["rating"]) <= 2


def new_item(kiosk: Kiosk, rng: random.Random, *, rating: int | None = None) -> dict[str, Any]:
    service_id, entity_id = rng.choice(kiosk.services)
    grievance = False
    if rating is None:
        draw = rng.random()
        if draw < 0.25:
            rating = rng.choice((1, 2))
        elif draw < 0.30:
            rating, grievance = 4, True  # a grievance makes a ticket whatever the rating
        else:
            rating = rng.choice((3, 4, 5))
    recorded = datetime.now(UTC) - timedelta(minutes=rng.randint(0, 600))
    return {
        "client_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "reference_code": kiosk.reference_code(rng),
        "channel": "kiosk",
        "service_id": service_id,
        "entity_id": entity_id,
        "rating": rating,
        "service_quality": rng.choice((None, 1, 3, 5)),
        "grievance_flag": grievance,
        "feedback_text": rng.choice((None, "Long queue.", "Très bien, merci — quick service.")),
        "recorded_at": recorded.isoformat(),
    }


def batch_body(items: list[dict[str, Any]], queue_depth: int) -> dict[str, Any]:
    return {
        "items": items,
        "device_status": {
            "queue_depth": queue_depth,
            "device_time": datetime.now(UTC).isoformat(),
            "app_version": "1.0.0-test",
            "printer": "ok",
        },
    }


def run_together(workers: list[Callable[[threading.Barrier], None]]) -> list[BaseException]:
    """Run each worker on its own thread, all released by one barrier; returns their errors.

    A worker that fails aborts the barrier, so the others stop waiting instead of hanging.
    """
    barrier = threading.Barrier(len(workers), timeout=BARRIER_TIMEOUT_S)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(worker: Callable[[threading.Barrier], None]) -> None:
        try:
            worker(barrier)
        except BaseException as exc:
            barrier.abort()
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,), name=f"client-{i}") for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A broken barrier is only the echo of another worker's failure: show the cause first.
    return sorted(errors, key=lambda e: isinstance(e, threading.BrokenBarrierError))


def enroll_fleet(live_server: LiveServer, db_url: URL) -> list[Kiosk]:
    return [
        Kiosk(enroll(live_server, db_url, entity, f"Counter {n} of {entity}"), services)
        for entity, services in SERVICES_BY_ENTITY.items()
        for n in range(DEVICES_PER_ENTITY)
    ]


def stored_rows(
    conn: psycopg.Connection[Any], uuids: list[str]
) -> dict[str, tuple[int, str, int, str | None]]:
    """client_uuid -> (feedback_id, reference_code, ticket count, ticket number) for those uuids."""
    rows = conn.execute(
        """
        SELECT f.client_uuid::text, f.feedback_id, f.reference_code,
               count(t.ticket_id), min(t.ticket_number)
        FROM service_feedback f LEFT JOIN tickets t ON t.feedback_id = f.feedback_id
        WHERE f.client_uuid = ANY(%s::uuid[])
        GROUP BY f.client_uuid, f.feedback_id, f.reference_code
        """,
        (uuids,),
    ).fetchall()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def assert_no_duplicate_tickets(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT count(*), count(DISTINCT ticket_number), count(DISTINCT feedback_id), count(feedback_id) "
        "FROM tickets"
    ).fetchone()
    assert row is not None
    tickets, numbers, feedbacks, with_feedback = row
    assert numbers == tickets, "two tickets share a ticket number"
    assert feedbacks == with_feedback, "a submission has more than one ticket"


def test_twenty_clients_replaying_overlapping_batches_store_each_item_once_with_one_ticket(
    live_server: LiveServer, db_url: URL, conn: psycopg.Connection[Any]
) -> None:
    rng = random.Random(20261122)
    kiosks = enroll_fleet(live_server, db_url)
    clients = [Client(kiosks[i % len(kiosks)]) for i in range(CLIENTS)]
    clients_of: dict[str, list[int]] = defaultdict(list)
    for index, client in enumerate(clients):
        clients_of[client.kiosk.enrolled.device_code].append(index)

    # Each distinct item goes to one client of its kiosk in one round...
    originals: list[tuple[int, int, dict[str, Any]]] = []
    for _ in range(DISTINCT_ITEMS):
        kiosk = rng.choice(kiosks)
        owner = rng.choice(clients_of[kiosk.enrolled.device_code])
        round_ = rng.randrange(ROUNDS)
        item = new_item(kiosk, rng)
        clients[owner].rounds[round_].append(item)
        originals.append((owner, round_, item))
    # ...and a third of them again to another client of the same kiosk (a quarter of all sends):
    # half in the very same round, racing the first copy, the others in any round.
    for n, (owner, round_, item) in enumerate(rng.sample(originals, REPLAYS)):
        other = rng.choice([c for c in clients_of[item["reference_code"].split("-")[0]] if c != owner])
        clients[other].rounds[round_ if n % 2 == 0 else rng.randrange(ROUNDS)].append(dict(item))
    for client in clients:
        for batch in client.rounds:
            rng.shuffle(batch)
    sent_total = sum(len(batch) for client in clients for batch in client.rounds)
    assert sent_total == DISTINCT_ITEMS + REPLAYS >= 5_000

    answers: list[Sent] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def worker_for(index: int) -> Callable[[threading.Barrier], None]:
        client = clients[index]

        def work(barrier: threading.Barrier) -> None:
            with live_server.client(client.kiosk.enrolled.token) as http:
                for round_, batch in enumerate(client.rounds):
                    barrier.wait()  # every client sends its batch of this round at once
                    response = http.post(SUBMISSIONS, json=batch_body(batch, len(batch)))
                    results = response.json().get("results", []) if response.status_code == 200 else []
                    with lock:
                        statuses.append(response.status_code)
                        answers.extend(Sent(index, item, r) for item, r in zip(batch, results, strict=False))
                    assert response.status_code == 200, (round_, response.status_code, response.text[:500])
                    assert len(results) == len(batch)

        return work

    errors = run_together([worker_for(i) for i in range(CLIENTS)])
    assert not errors, errors[:3]
    assert statuses == [200] * (CLIENTS * ROUNDS)
    assert len(answers) == sent_total

    by_uuid: dict[str, list[Sent]] = defaultdict(list)
    for answer in answers:
        assert answer.result["client_uuid"] == answer.item["client_uuid"], "results out of order"
        by_uuid[answer.item["client_uuid"]].append(answer)
    assert len(by_uuid) == DISTINCT_ITEMS

    stored = stored_rows(conn, list(by_uuid))
    for client_uuid, sent in by_uuid.items():
        outcomes = Counter(s.result["status"] for s in sent)
        assert outcomes["created"] == 1, (client_uuid, [s.result for s in sent])
        assert outcomes["duplicate"] == len(sent) - 1, (client_uuid, [s.result for s in sent])
        ids = {(s.result["feedback_id"], s.result["ticket_number"]) for s in sent}
        assert len(ids) == 1, (client_uuid, ids)
        [(feedback_id, ticket_number)] = ids
        assert all(s.result["error"] is None for s in sent)
        item = sent[0].item
        assert client_uuid in stored, f"{client_uuid} answered {outcomes} but not stored"
        stored_id, stored_code, tickets, stored_ticket = stored[client_uuid]
        assert (stored_id, stored_code) == (feedback_id, item["reference_code"])
        assert tickets == (1 if makes_ticket(item) else 0), (client_uuid, item["rating"], tickets)
        assert ticket_number == stored_ticket

    counts = conn.execute(
        "SELECT count(*), count(DISTINCT client_uuid), count(DISTINCT reference_code) FROM service_feedback"
    ).fetchone()
    assert counts == (DISTINCT_ITEMS, DISTINCT_ITEMS, DISTINCT_ITEMS)
    expected_tickets = sum(makes_ticket(s[0].item) for s in by_uuid.values())
    assert 0.25 * DISTINCT_ITEMS < expected_tickets < 0.35 * DISTINCT_ITEMS
    ticket_count = conn.execute("SELECT count(*) FROM tickets").fetchone()
    assert ticket_count == (expected_tickets,)
    assert_no_duplicate_tickets(conn)
    # Every racing kiosk still has its health recorded.
    seen = conn.execute(
        "SELECT count(*) FROM kiosk_devices WHERE last_sync_at IS NOT NULL AND app_version = '1.0.0-test'"
    ).fetchone()
    assert seen == (len(kiosks),)


def race_pairs(
    live_server: LiveServer, token: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Send each pair's two items at the same moment on two connections; returns the results."""
    answers: list[list[dict[str, Any]]] = [[{} for _ in pairs], [{} for _ in pairs]]

    def worker_for(side: int) -> Callable[[threading.Barrier], None]:
        def work(barrier: threading.Barrier) -> None:
            with live_server.client(token) as http:
                assert http.get("/healthz").status_code == 200  # the connection is open before the race
                for n, pair in enumerate(pairs):
                    barrier.wait()
                    response = http.post(SUBMISSIONS, json={"items": [pair[side]]})
                    assert response.status_code == 200, response.text[:500]
                    [answers[side][n]] = response.json()["results"]

        return work

    errors = run_together([worker_for(0), worker_for(1)])
    assert not errors, errors[:3]
    return list(zip(answers[0], answers[1], strict=True))


def test_two_copies_sent_at_the_same_moment_make_one_row_and_share_their_ids(
    live_server: LiveServer, device: EnrolledDevice, conn: psycopg.Connection[Any]
) -> None:
    rng = random.Random(50)
    kiosk = Kiosk(device, SERVICES_BY_ENTITY["AGY-002"])
    # Odd pairs make a ticket, so the racing copies also contend on the month's ticket counter.
    items = [new_item(kiosk, rng, rating=1 if n % 2 else 5) for n in range(RACING_PAIRS)]

    results = race_pairs(live_server, device.token, [(item, dict(item)) for item in items])

    stored = stored_rows(conn, [item["client_uuid"] for item in items])
    for item, (first, second) in zip(items, results, strict=True):
        assert sorted([first["status"], second["status"]]) == ["created", "duplicate"], (first, second)
        assert first["client_uuid"] == second["client_uuid"] == item["client_uuid"]
        assert (first["feedback_id"], first["ticket_number"]) == (
            second["feedback_id"],
            second["ticket_number"],
        )
        feedback_id, _, tickets, ticket_number = stored[item["client_uuid"]]
        assert first["feedback_id"] == feedback_id
        assert first["ticket_number"] == ticket_number
        assert tickets == (1 if makes_ticket(item) else 0)
    rows = conn.execute("SELECT count(*), count(DISTINCT client_uuid) FROM service_feedback").fetchone()
    assert rows == (RACING_PAIRS, RACING_PAIRS)
    assert_no_duplicate_tickets(conn)


def test_racing_items_sharing_a_reference_code_store_one_and_reject_the_other_as_conflict(
    live_server: LiveServer, device: EnrolledDevice, conn: psycopg.Connection[Any]
) -> None:
    rng = random.Random(20)
    kiosk = Kiosk(device, SERVICES_BY_ENTITY["AGY-002"])
    pairs = []
    for n in range(CONFLICT_PAIRS):
        item = new_item(kiosk, rng, rating=2 if n % 2 else 4)
        pairs.append((item, {**item, "client_uuid": str(uuid.uuid4()), "rating": 1}))

    results = race_pairs(live_server, device.token, pairs)

    for (left, right), answers in zip(pairs, results, strict=True):
        by_status = {answer["status"]: answer for answer in answers}
        assert sorted(by_status) == ["created", "rejected"], answers
        winner, loser = by_status["created"], by_status["rejected"]
        assert loser["error"]["code"] == "reference_code_conflict", loser
        assert loser["feedback_id"] is None
        assert loser["ticket_number"] is None
        assert {winner["client_uuid"], loser["client_uuid"]} == {left["client_uuid"], right["client_uuid"]}
        stored = conn.execute(
            "SELECT client_uuid::text, feedback_id FROM service_feedback WHERE reference_code = %s",
            (left["reference_code"],),
        ).fetchall()
        assert stored == [(winner["client_uuid"], winner["feedback_id"])]
    rows = conn.execute("SELECT count(*) FROM service_feedback").fetchone()
    assert rows == (CONFLICT_PAIRS,)
    assert_no_duplicate_tickets(conn)


def test_a_replay_of_a_raced_conflict_loser_is_still_rejected_not_taken_for_a_duplicate(
    live_server: LiveServer, device: EnrolledDevice
) -> None:
    rng = random.Random(7)
    kiosk = Kiosk(device, SERVICES_BY_ENTITY["AGY-002"])
    item = new_item(kiosk, rng, rating=1)
    rival = {**item, "client_uuid": str(uuid.uuid4())}
    [(first, second)] = race_pairs(live_server, device.token, [(item, rival)])
    loser = rival if first["status"] == "created" else item
    with live_server.client(device.token) as http:
        response = http.post(SUBMISSIONS, json={"items": [loser]})
    assert response.status_code == 200
    [again] = response.json()["results"]
    assert again["status"] == "rejected"
    assert again["error"]["code"] == "reference_code_conflict"
    assert {first["status"], second["status"]} == {"created", "rejected"}
