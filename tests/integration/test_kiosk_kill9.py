"""kill -9 a kiosk process that submits in a loop, many times, at random moments (issue 4,
fault tests): whatever returned to its caller is in the SQLite file, no reference code or
sequence is ever issued twice, the file is sound, and start-up recovery leaves nothing in
`open` or `sending`.

The child prints a line only after the outbox call returned, so a printed line is a promise
the file must keep. The test drives the kills by reading those lines, never by sleeping.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kiosk.local_db import database, outbox
from tests.helpers.child import Child

RUNS = 24
MAX_LINES_BEFORE_KILL = 30

# argv: data dir, seed. Imports first, then waits for "go", so the next child can load while
# the current one runs. Prints "ready" once started, then one line per call that returned:
#   B|E <reference code> <client uuid>   begin / enqueue
#   D <client uuid> <service_quality>    add_details
#   F <client uuid> <finish() result>    finish
#   S <client uuid> <feedback id>        mark_synced
SUBMITTER = """
import random
import sys
from pathlib import Path

from kiosk.local_db import database, identity, lock, outbox

data_dir = Path(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
sys.stdin.readline()

engine = database.open_database(data_dir)
held = lock.acquire(data_dir)  # the previous child was killed holding it
if identity.load(engine) is None:
    kiosk = identity.Identity("K0007", "AGY-002", "https://feedback.gov.example", "https://status.gov.example")
    identity.save(engine, data_dir, kiosk, "gea_dev_token")
outbox.recover(engine)  # start-up, as the lock holder
print("ready", flush=True)

open_rows = []  # begun by this run, not finished
undetailed = []  # begun by this run, no details yet
step = 0
while True:
    step += 1
    roll = rng.random()
    payload = {"channel": "kiosk", "service_id": "SVC-001", "rating": rng.randint(1, 5)}
    if roll < 0.5:
        s = outbox.begin(engine, payload)
        print("B", s.reference_code, s.client_uuid, flush=True)
        open_rows.append(s.client_uuid)
        undetailed.append(s.client_uuid)
    elif roll < 0.65:
        s = outbox.enqueue(engine, {**payload, "channel": "walk_in", "grievance_flag": True})
        print("E", s.reference_code, s.client_uuid, flush=True)
    elif roll < 0.75 and undetailed:
        uuid = undetailed.pop(rng.randrange(len(undetailed)))
        quality = rng.randint(1, 5)
        outbox.add_details(engine, uuid, {"service_quality": quality, "feedback_text": f"step {step}"})
        print("D", uuid, quality, flush=True)
    elif roll < 0.88 and open_rows:
        uuid = open_rows.pop(rng.randrange(len(open_rows)))
        if uuid in undetailed:
            undetailed.remove(uuid)
        print("F", uuid, outbox.finish(engine, uuid), flush=True)
    else:
        claimed = outbox.claim(engine, limit=3, ignore_backoff=True)
        synced = [row for row in claimed if rng.random() < 0.5]
        settled = [(row.client_uuid, 1000 + int(row.reference_code.split("-")[1]), None) for row in synced]
        outbox.mark_synced(engine, settled)
        for uuid, feedback_id, _ in settled:
            print("S", uuid, feedback_id, flush=True)
        outbox.release(engine, [row.client_uuid for row in claimed if row not in synced], "timeout", None)
"""


@dataclass
class Promises:
    """What the killed children told their callers, in the order they said it."""

    issued: list[tuple[str, str, str]] = field(default_factory=list)  # (B|E, code, uuid)
    details: dict[str, int] = field(default_factory=dict)
    finished: list[tuple[str, str]] = field(default_factory=list)
    synced: dict[str, int] = field(default_factory=dict)

    def record(self, line: str) -> None:
        kind, *rest = line.split()
        if kind in ("B", "E"):
            self.issued.append((kind, rest[0], rest[1]))
        elif kind == "D":
            self.details[rest[0]] = int(rest[1])
        elif kind == "F":
            self.finished.append((rest[0], rest[1]))
        elif kind == "S":
            self.synced[rest[0]] = int(rest[1])
        else:
            raise AssertionError(f"unexpected line from the submitter: {line!r}")


@pytest.fixture
def started() -> Iterator[list[Child]]:
    children: list[Child] = []
    yield children
    for child in children:
        child.stop()


def test_kill_9_at_random_moments_loses_no_returned_submission_and_reuses_no_code(
    tmp_path: Path, started: list[Child]
) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    context = f"(seed {seed})"
    data_dir = tmp_path / "kiosk-data"
    promises = Promises()
    kills = 0

    upcoming = Child(SUBMITTER, str(data_dir), str(rng.randrange(2**32)))
    started.append(upcoming)
    for run in range(RUNS):
        child = upcoming
        if run + 1 < RUNS:
            upcoming = Child(SUBMITTER, str(data_dir), str(rng.randrange(2**32)))  # loads while this one runs
            started.append(upcoming)
        child.send("go\n")
        if run == 0 or rng.random() > 0.1:  # now and then, kill it while it is still starting
            assert child.read_line() == "ready", context
            for _ in range(rng.randint(0, MAX_LINES_BEFORE_KILL)):
                promises.record(child.read_line())
        lines = child.kill_and_drain()
        kills += 1
        for line in lines:
            if line != "ready":
                promises.record(line)

    assert kills >= 20
    assert len(promises.issued) >= RUNS, context

    # Every code a caller got back is new: sequences rise strictly across all runs.
    sequences = [int(code.split("-")[1]) for _, code, _ in promises.issued]
    assert sequences == sorted(set(sequences)), context

    path = database.database_path(data_dir)
    with sqlite3.connect(path) as plain:
        assert plain.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
        assert plain.execute("PRAGMA foreign_key_check").fetchall() == [], context
        stored = {
            code: (uuid, state, sequence, payload, feedback_id)
            for code, uuid, state, sequence, payload, feedback_id in plain.execute(
                "SELECT reference_code, client_uuid, state, sequence, "
                "json_extract(payload, '$.service_quality'), feedback_id FROM outbox"
            )
        }
        by_uuid = {
            uuid: (code, state, quality, fid) for code, (uuid, state, _, quality, fid) in stored.items()
        }
        (last_value,) = plain.execute("SELECT last_value FROM reference_sequence").fetchone()
    plain.close()

    missing = [code for _, code, _ in promises.issued if code not in stored]
    assert missing == [], context
    for kind, code, uuid in promises.issued:
        assert stored[code][0] == uuid, context
        if kind == "E":
            assert stored[code][1] != "open", context
    for uuid, quality in promises.details.items():
        assert by_uuid[uuid][2] == quality, f"details of {uuid} lost {context}"
    assert [result for _, result in promises.finished] == ["True"] * len(promises.finished), context
    for uuid, feedback_id in promises.synced.items():
        assert by_uuid[uuid][1] == "synced", context
        assert by_uuid[uuid][3] == feedback_id, context
    # The counter never falls behind the rows: the next code cannot collide with a stored one.
    assert last_value >= max(sequence for _, _, sequence, _, _ in stored.values()), context

    engine = database.open_database(data_dir)
    try:
        outbox.recover(engine)
        counts = outbox.counts(engine)
        assert counts["open"] == counts["sending"] == 0, context
        assert sum(counts.values()) == len(stored)
        after = outbox.enqueue(engine, {"channel": "kiosk", "service_id": "SVC-001", "rating": 3})
        assert int(after.reference_code.split("-")[1]) == last_value + 1
        assert after.reference_code not in stored
    finally:
        engine.dispose()
