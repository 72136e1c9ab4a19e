"""The database goes away under the running API, then comes back (ARCHITECTURE 5 and 8).

The test starts its own PostgreSQL cluster (initdb on a free port, as the postgres user when
run as root), migrates it, serves the API against it and stops and restarts that cluster: it
never touches the shared server on port 5432. While the database is down the API answers 503
with the error shape and a Retry-After (never a 500), /healthz stays up, and nothing is
stored; once it is back, /readyz says so and the batch the kiosk kept is accepted once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api.core.db import libpq_conninfo
from tests.helpers.private_pg import PrivateCluster, feedback_db, private_cluster
from tests.helpers.server import EnrolledDevice, enroll, serve, settings_for

SUBMISSIONS = "/api/v1/submissions"
READY_ATTEMPTS = 120
READY_PAUSE_S = 0.25


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster("gea-pg-outage-") as private:
        yield private


@pytest.fixture
def outage_db_url(cluster: PrivateCluster) -> URL:
    """A feedback_db at head with the demo catalog, on the private cluster."""
    return feedback_db(cluster)


def wait_for(condition: Callable[[], bool], attempts: int = READY_ATTEMPTS) -> bool:
    """True as soon as `condition` holds, False after `attempts` tries with a short pause."""
    pause = threading.Event()
    for _ in range(attempts):
        if condition():
            return True
        pause.wait(READY_PAUSE_S)
    return False


def item(device: EnrolledDevice, sequence: int, rating: int) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "reference_code": f"{device.device_code}-{sequence:06d}-7QX4",
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": rating,
        "recorded_at": "2026-11-22T10:00:00Z",
    }


def assert_unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text


def stored_count(url: URL, uuids: list[str]) -> int:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM service_feedback WHERE client_uuid = ANY(%s::uuid[])", (uuids,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_database_outage_answers_503_then_recovers_and_takes_the_kept_batch_exactly_once(
    cluster: PrivateCluster, outage_db_url: URL
) -> None:
    with serve(settings_for(outage_db_url)) as live:
        device = enroll(live, outage_db_url, "AGY-002")
        before = [item(device, 1, 1), item(device, 2, 5)]
        kept = [item(device, 3, 2), item(device, 4, 4)]  # what the kiosk holds through the outage
        with live.client(device.token) as client:
            assert client.get("/readyz").status_code == 200
            sent = client.post(SUBMISSIONS, json={"items": before})
            assert [r["status"] for r in sent.json()["results"]] == ["created", "created"]

            cluster.stop("fast")

            assert_unavailable(client.get("/readyz"), "not_ready")
            assert client.get("/healthz").status_code == 200
            submitted = client.post(SUBMISSIONS, json={"items": kept})
            assert_unavailable(submitted, "database_unavailable")
            assert int(submitted.headers["Retry-After"]) > 0
            looked_up = client.get(f"/api/v1/status/{before[0]['reference_code']}")
            assert_unavailable(looked_up, "database_unavailable")
            assert int(looked_up.headers["Retry-After"]) > 0
            assert client.get("/healthz").json()["status"] == "ok"

            cluster.start()

            assert wait_for(lambda: client.get("/readyz").status_code == 200), "/readyz never came back"
            ready = client.get("/readyz")
            assert ready.json()["status"] == "ready"
            assert stored_count(outage_db_url, [i["client_uuid"] for i in kept]) == 0

            resent = client.post(SUBMISSIONS, json={"items": kept})
            assert resent.status_code == 200, resent.text
            assert [r["status"] for r in resent.json()["results"]] == ["created", "created"]
            again = client.post(SUBMISSIONS, json={"items": [*before, *kept]})
            assert again.status_code == 200, again.text
            assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 4
            first_ids = [(r["feedback_id"], r["ticket_number"]) for r in resent.json()["results"]]
            assert [(r["feedback_id"], r["ticket_number"]) for r in again.json()["results"]][2:] == first_ids
            status = client.get(f"/api/v1/status/{kept[0]['reference_code']}")
            assert status.status_code == 200
            assert status.json()["ticket_number"] == first_ids[0][1]

    all_uuids = [i["client_uuid"] for i in [*before, *kept]]
    assert stored_count(outage_db_url, all_uuids) == 4


def test_after_a_restart_readyz_is_ready_at_once_and_no_request_draws_a_connection_that_died(
    cluster: PrivateCluster, outage_db_url: URL
) -> None:
    """A restart (a failover, an upgrade) kills every pooled connection while no request runs.

    Once PostgreSQL accepts connections again, the API must not hand those dead connections
    to requests: the first /readyz says ready (the database is reachable) and no submission
    after it is refused because of them.
    """
    pool_size = 4
    settings = settings_for(outage_db_url, db_pool_min_size=pool_size, db_pool_max_size=pool_size)
    with serve(settings) as live:
        device = enroll(live, outage_db_url, "AGY-002")
        with live.client(device.token) as client:
            # The pool holds its connections, all used and healthy, before the restart.
            assert wait_for(lambda: client.get("/readyz").status_code == 200)
            for n in range(1, pool_size + 1):
                assert client.post(SUBMISSIONS, json={"items": [item(device, n, 3)]}).status_code == 200

            cluster.stop("fast")
            cluster.start()  # returns once the server accepts connections

            first_ready = client.get("/readyz")
            answers = [
                client.post(SUBMISSIONS, json={"items": [item(device, pool_size + n, 3)]})
                for n in range(1, 2 * pool_size + 1)
            ]
    assert first_ready.status_code == 200, first_ready.text
    assert [a.status_code for a in answers] == [200] * (2 * pool_size), [a.text for a in answers]
