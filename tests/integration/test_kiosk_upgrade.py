"""Upgrades never lose the queue (issue 11): a kiosk of the previous release queues
submissions while its server is out of reach, the next release opens the same data directory
(its migrations run), finds every submission as it was left, and delivers each exactly once
to the real server.

The previous release is the repository's own history: `kiosk/` as it was in the commit just
before migration 0002 was added (tests/helpers/old_kiosk.py finds it with git and unpacks
it), run as real `gea-kiosk` processes with the current virtualenv. The new release is this
working tree's `kiosk/`, run the same way. The server is the real API over real HTTP on a
test's own PostgreSQL database, behind tests/helpers/fault_proxy.py, which makes it
unreachable, loses its answers, or holds a request while the old kiosk is killed.

What the old release leaves behind, one row in each state it can reach:

- synced: delivered before the outage (it must not be sent again);
- rejected: a service handed to another agency after the kiosk cached its catalog;
- sending: killed by kill -9 in the middle of a push the server had already stored, after
  an earlier answer for it was lost (the next release must resend it and get `duplicate`);
- pending after a failed push (connection refused), with its attempts, error and backoff;
- pending, never tried;
- open: a citizen's tap and complaint, left unfinished two hours before the shutdown.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from kiosk import __version__
from kiosk.local_db import database
from server_sync_api.core.db import libpq_conninfo
from tests.helpers import old_kiosk
from tests.helpers.fault_proxy import FaultProxy, Mode
from tests.helpers.feedback import stored_feedback
from tests.helpers.old_kiosk import KioskTree
from tests.helpers.processes import wait_until
from tests.helpers.server import LiveServer, add_device

# The change the new release brings: the kiosk's migration 0002. The previous release is the
# tree of the commit before the one that added this file (d1f43af when it was written; found
# in the history each run, so a rebase does not break the test).
MIGRATION = "kiosk/local_db/migrations/versions/0002_outbox_claim_index_and_kiosk_version.py"
PREVIOUS_REVISION = "0001"  # the previous release's schema
ENTITY = "AGY-003"  # Traffic and Licensing Department: SVC-008 and, under it, SVC-002
SERVICE = "SVC-002"  # Driver's Licence Renewal (of UNIT-001, under AGY-003)
HANDED_OVER = "SVC-008"  # Vehicle Registration, handed to another agency mid-test
OTHER_AGENCY = "AGY-001"  # Central Statistical Office, outside AGY-003
OUTBOX_COLUMNS_0001 = (
    "id",
    "client_uuid",
    "reference_code",
    "sequence",
    "payload",
    "recorded_at",
    "state",
    "state_changed_at",
    "attempts",
    "next_attempt_at",
    "last_error",
    "error_code",
    "feedback_id",
    "ticket_number",
)
OPEN_A_TAP = """
import json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from kiosk.local_db import database, outbox

engine = database.open_database(Path(sys.argv[1]))
# The first tap as the app's services write it, two hours before the kiosk was shut down for
# the upgrade (so `sync --once`, which finishes only abandoned taps, finishes it), then the
# complaint the citizen added to the same open row.
payload = {"service_id": "SVC-002", "entity_id": "UNIT-001", "rating": 2, "channel": "kiosk",
           "misuse_suspected": False}
tap = outbox.begin(engine, payload, recorded_at=datetime.now(UTC) - timedelta(hours=2))
outbox.add_details(engine, tap.client_uuid, {"grievance_flag": True, "feedback_text": sys.argv[2]})
engine.dispose()
print(json.dumps({"client_uuid": tap.client_uuid, "reference_code": tap.reference_code}))
"""

Row = dict[str, Any]


@pytest.fixture
def old_release(tmp_path: Path) -> KioskTree:
    commit = old_kiosk.commit_before(MIGRATION)
    tree = KioskTree(old_kiosk.extract(commit, tmp_path / f"kiosk-{commit[:12]}"))
    versions = tree.root / "kiosk/local_db/migrations/versions"
    # The release before the migration: its schema ends at 0001.
    assert sorted(p.name for p in versions.glob("0*.py")) == ["0001_initial.py"], commit
    return tree


@pytest.fixture
def new_release() -> KioskTree:
    tree = KioskTree(old_kiosk.REPO)
    assert (tree.root / MIGRATION).is_file()
    return tree


@pytest.fixture
def proxy(live_server: LiveServer) -> Iterator[FaultProxy]:
    """What the kiosk calls its server: the live API, or the faults the test chooses."""
    with FaultProxy(int(live_server.base_url.rsplit(":", 1)[1])) as fault_proxy:
        yield fault_proxy


def ok(done: subprocess.CompletedProcess[str], what: str, code: int = 0) -> str:
    assert done.returncode == code, f"{what}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def submit(tree: KioskTree, data_dir: Path, service: str, rating: int, *extra: str) -> str:
    """`gea-kiosk submit --json` of `tree`; the client_uuid it queued."""
    args = ("submit", "--service", service, "--rating", str(rating), "--channel", "kiosk", "--json", *extra)
    out = ok(tree.run(data_dir, *args), f"submit {args}")
    return str(json.loads(out)["client_uuid"])


def outbox_rows(data_dir: Path) -> dict[str, Row]:
    """Every outbox row, every column, by client_uuid, read with plain SQL."""
    with sqlite3.connect(database.database_path(data_dir)) as connection:
        connection.row_factory = sqlite3.Row
        rows = {str(r["client_uuid"]): dict(r) for r in connection.execute("SELECT * FROM outbox")}
    connection.close()
    return rows


def schema_revision(data_dir: Path) -> str:
    with sqlite3.connect(database.database_path(data_dir)) as connection:
        [(revision,)] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    return str(revision)


def head_revision() -> str:
    """The newest schema of this working tree's kiosk (0002 when this test was written)."""
    head = ScriptDirectory.from_config(database.alembic_config()).get_current_head()
    assert head is not None
    return head


def states(rows: dict[str, Row]) -> dict[str, str]:
    return {uuid: str(row["state"]) for uuid, row in rows.items()}


def test_an_upgrade_keeps_every_queued_submission_and_delivers_each_exactly_once(
    old_release: KioskTree, new_release: KioskTree, proxy: FaultProxy, db_url: URL, tmp_path: Path
) -> None:
    data_dir = tmp_path / "kiosk-data"
    new = add_device(db_url, ENTITY, "Licensing office, counter 2")

    # --- the previous release, online: enrolled, one delivered, one rejected ----------------
    ok(old_release.run(data_dir, "enroll", "--server", proxy.url, "--code", new.enrollment_code), "enroll")
    assert schema_revision(data_dir) == PREVIOUS_REVISION  # the old code ran, and knows no 0002
    delivered = submit(old_release, data_dir, SERVICE, 5)
    rejected = submit(old_release, data_dir, HANDED_OVER, 2)
    with psycopg.connect(libpq_conninfo(db_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE service_master SET entity_id = %s WHERE service_id = %s", (OTHER_AGENCY, HANDED_OVER)
        )
    out = ok(old_release.run(data_dir, "sync", "--once"), "sync online")
    assert "Sent 2: 1 delivered, 1 rejected, 0 kept." in out

    # --- an answer lost after the server stored the submission ------------------------------
    proxy.set_mode(Mode.DROP_RESPONSE)
    text_lost = "Two hours for a number plate; the answer to this one was lost on the way."
    answer_lost = submit(old_release, data_dir, SERVICE, 1, "--grievance", "--text", text_lost)
    ok(old_release.run(data_dir, "sync", "--once"), "sync, answer lost", code=1)
    assert set(stored_feedback(db_url, new.device_code)) == {
        delivered,
        answer_lost,
    }  # stored; the kiosk doesn't know

    # --- the server out of reach: a failed push ---------------------------------------------
    proxy.set_mode(Mode.REFUSE)
    refused = submit(old_release, data_dir, SERVICE, 4)
    ok(old_release.run(data_dir, "sync", "--once"), "sync, refused", code=1)
    text_never_tried = "Queued while offline; the next release must send it."
    never_tried = submit(old_release, data_dir, SERVICE, 3, "--text", text_never_tried)

    # --- killed mid-push: the oldest pending row (the one whose answer was lost) in flight --
    proxy.set_mode(Mode.PASS, Mode.STALL)  # the catalog check passes, the push is held
    syncing = old_release.start(data_dir, "sync", "--once", GEA_KIOSK_BATCH_SIZE="1")
    try:
        assert proxy.wait_until(lambda: proxy.counts(Mode.STALL).requests == 1), "the push never came"
        wait_until(lambda: states(outbox_rows(data_dir))[answer_lost] == "sending", "the row in flight")
    finally:
        syncing.kill()
        syncing.communicate(timeout=old_kiosk.PROCESS_TIMEOUT_S)
    assert syncing.returncode == -signal.SIGKILL
    proxy.set_mode(Mode.REFUSE)

    # --- and a citizen's unfinished tap ----------------------------------------------------
    text_open = "Nobody at counter 3 all morning."
    tap = json.loads(ok(old_release.python(data_dir, OPEN_A_TAP, str(data_dir), text_open), "the open tap"))[
        "client_uuid"
    ]

    before = outbox_rows(data_dir)
    assert schema_revision(data_dir) == PREVIOUS_REVISION
    assert list(next(iter(before.values()))) == list(OUTBOX_COLUMNS_0001)
    assert states(before) == {
        delivered: "synced",
        rejected: "rejected",
        answer_lost: "sending",
        refused: "pending",
        never_tried: "pending",
        tap: "open",
    }
    assert before[rejected]["error_code"] == "service_not_allowed"
    assert {uuid: before[uuid]["attempts"] for uuid in (answer_lost, refused, never_tried)} == {
        answer_lost: 3,  # dropped answer, refused, killed in flight
        refused: 1,
        never_tried: 0,
    }
    assert before[refused]["last_error"]
    assert before[refused]["next_attempt_at"]
    old_status = json.loads(ok(old_release.run(data_dir, "status", "--json"), "old status"))
    expected_counts = {"open": 1, "pending": 2, "sending": 1, "synced": 1, "rejected": 1}
    assert old_status["counts"] == expected_counts

    # --- the next release opens the data directory: migrations run ------------------------
    new_status = json.loads(ok(new_release.run(data_dir, "status", "--json"), "new status"))
    assert schema_revision(data_dir) == head_revision() != PREVIOUS_REVISION
    assert new_status["counts"] == expected_counts
    after = outbox_rows(data_dir)
    assert set(after) == set(before)
    for client_uuid, row in before.items():
        # Row by row, column by column: state, payload, attempts, errors, times, all as left.
        assert {name: after[client_uuid][name] for name in OUTBOX_COLUMNS_0001} == row, client_uuid
        assert after[client_uuid]["kiosk_version"] is None, client_uuid  # queued before 0002: unknown

    # --- the server is back: everything due is delivered once ------------------------------
    proxy.set_mode(Mode.PASS)
    out = ok(new_release.run(data_dir, "sync", "--once"), "new sync")
    assert "Recovered after a stop: 1 unfinished and 1 in-flight submissions queued again." in out
    assert "Sent 4: 4 delivered, 0 rejected, 0 kept." in out
    push = [e for e in proxy.exchanges if e.request_line.startswith("POST /api/v1/submissions")][-1]
    assert push.mode is Mode.PASS
    answers = {r["client_uuid"]: r["status"] for r in json.loads(push.body)["results"]}
    assert answers == {answer_lost: "duplicate", refused: "created", never_tried: "created", tap: "created"}

    server = stored_feedback(db_url, new.device_code)
    assert set(server) == {delivered, answer_lost, refused, never_tried, tap}  # once each; none rejected
    final = outbox_rows(data_dir)
    assert states(final) == {uuid: "rejected" if uuid == rejected else "synced" for uuid in before}
    for client_uuid, on_server in server.items():
        kiosk_row = final[client_uuid]
        assert on_server.reference_code == kiosk_row["reference_code"]
        assert on_server.feedback_id == kiosk_row["feedback_id"]  # a duplicate answers the first one's
        assert on_server.ticket_number == kiosk_row["ticket_number"]
        assert on_server.recorded_at == datetime.fromisoformat(kiosk_row["recorded_at"])
        assert on_server.rating == json.loads(before[client_uuid]["payload"])["rating"]
    assert (server[answer_lost].feedback_text, server[answer_lost].grievance_flag) == (text_lost, True)
    assert (server[never_tried].feedback_text, server[never_tried].grievance_flag) == (
        text_never_tried,
        False,
    )
    assert (server[tap].feedback_text, server[tap].grievance_flag) == (text_open, True)
    # Tickets: one for each grievance, though the one whose answer was lost reached the server twice.
    assert {uuid: on_server.tickets for uuid, on_server in server.items()} == {
        delivered: 0,
        answer_lost: 1,
        refused: 0,
        never_tried: 0,
        tap: 1,
    }
    # The rows delivered or refused before the upgrade were left alone by it and by the sync.
    for settled in (delivered, rejected):
        assert final[settled] == {**before[settled], "kiosk_version": None}

    # --- and what the new release queues says which release queued it --------------------
    after_upgrade = submit(new_release, data_dir, SERVICE, 4)
    assert outbox_rows(data_dir)[after_upgrade]["kiosk_version"] == __version__
