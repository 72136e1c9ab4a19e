"""Catalog, status, tickets, health and the error shape, over real HTTP against real PostgreSQL
(ARCHITECTURE section 5)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api import migrate
from tests.helpers import server
from tests.helpers.feedback import insert_feedback
from tests.helpers.server import EnrolledDevice, LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]

CATALOG = "/api/v1/catalog"
SUBMISSIONS = "/api/v1/submissions"
STATUS_KEYS = {
    "reference_code",
    "received_at",
    "ticket_number",
    "status",
    "last_updated",
    "history",
    "replies",
}


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    error: dict[str, str] = body["error"]
    return error


def submit(live: LiveServer, device: EnrolledDevice, seq: int, **overrides: object) -> dict[str, Any]:
    """Send one item of the passport office's service; returns its result."""
    item = {
        "client_uuid": str(uuid.uuid4()),
        "reference_code": f"{device.device_code}-{seq:06d}-7QX4",
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 4,
        "recorded_at": "2026-11-22T10:00:00Z",
        **overrides,
    }
    with live.client(device.token) as client:
        response = client.post(SUBMISSIONS, json={"items": [item]})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] == "created", result
    return {**result, "reference_code": item["reference_code"]}


def category_id(conn: Conn, entity_id: str, name: str) -> int:
    row = conn.execute(
        "SELECT category_id FROM ticket_categories WHERE entity_id = %s AND category_name = %s",
        (entity_id, name),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def agy003(live_server: LiveServer, db_url: URL) -> EnrolledDevice:
    """A kiosk of the Traffic and Licensing Department, parent of the Driver Licensing Unit."""
    return server.enroll(live_server, db_url, "AGY-003")


@pytest.fixture
def public(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client with no token: a citizen's phone."""
    with live_server.client() as client:
        yield client


# --- catalog -----------------------------------------------------------------------------------


def test_catalog_lists_exactly_the_services_of_the_entity_and_the_entities_under_it(
    live_server: LiveServer, agy003: EnrolledDevice
) -> None:
    with live_server.client(agy003.token) as client:
        response = client.get(CATALOG)

    assert response.status_code == 200, response.text
    catalog = response.json()
    assert catalog["device_code"] == agy003.device_code
    assert catalog["entity_id"] == "AGY-003"
    assert sorted(s["service_id"] for s in catalog["services"]) == ["SVC-002", "SVC-008"]
    assert sorted(e["entity_id"] for e in catalog["entities"]) == ["AGY-003", "UNIT-001"]
    owners = {s["service_id"]: s["entity_id"] for s in catalog["services"]}
    assert owners == {"SVC-002": "UNIT-001", "SVC-008": "AGY-003"}


def test_catalog_keeps_deactivated_services_marked_inactive(
    live_server: LiveServer, agy003: EnrolledDevice, conn: Conn
) -> None:
    conn.execute("UPDATE service_master SET is_active = FALSE WHERE service_id = 'SVC-002'")

    with live_server.client(agy003.token) as client:
        catalog = client.get(CATALOG).json()

    assert {s["service_id"]: s["active"] for s in catalog["services"]} == {
        "SVC-002": False,
        "SVC-008": True,
    }


def test_catalog_gives_each_service_its_categories_nearest_first_general_last(
    live_server: LiveServer, agy003: EnrolledDevice, conn: Conn
) -> None:
    unit = category_id(conn, "UNIT-001", "Driver's licence issues")
    agency = category_id(conn, "AGY-003", "Licensing and registration")
    ministry = category_id(conn, "MIN-004", "National security services")
    general = category_id(conn, "GOV-000", "General")

    with live_server.client(agy003.token) as client:
        catalog = client.get(CATALOG).json()

    chains = {s["service_id"]: s["category_ids"] for s in catalog["services"]}
    assert chains == {"SVC-002": [unit, agency, ministry, general], "SVC-008": [agency, ministry, general]}
    names = {c["category_id"]: c["name"] for c in catalog["categories"]}
    assert names == {
        unit: "Driver's licence issues",
        agency: "Licensing and registration",
        ministry: "National security services",
        general: "General",
    }


def test_catalog_publishes_priorities_and_input_limits(
    live_server: LiveServer, device: EnrolledDevice
) -> None:
    with live_server.client(device.token) as client:
        catalog = client.get(CATALOG).json()

    assert [(p["priority_id"], p["name"], p["sla_multiplier"]) for p in catalog["priorities"]] == [
        (1, "Critical", 0.5),
        (2, "High", 0.75),
        (3, "Medium", 1.0),
        (4, "Low", 1.5),
    ]
    assert catalog["limits"] == {
        "comment_max_chars": 2000,
        "comment_hard_cap": 10000,
        "batch_max_items": 500,
        "batch_max_bytes": 2097152,
    }


def test_catalog_needs_a_device_token(public: httpx.Client) -> None:
    response = public.get(CATALOG)

    assert response.status_code == 401
    assert error_of(response)["code"] == "device_not_authorized"


def test_unchanged_catalog_answers_304_and_a_changed_one_a_new_etag(
    live_server: LiveServer, agy003: EnrolledDevice, conn: Conn
) -> None:
    with live_server.client(agy003.token) as client:
        first = client.get(CATALOG)
        etag = first.headers.get("ETag")
        assert first.status_code == 200
        assert etag

        unchanged = client.get(CATALOG, headers={"If-None-Match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged.headers["ETag"] == etag

        conn.execute(
            "INSERT INTO service_master (service_id, service_name, entity_id) "
            "VALUES ('SVC-099', 'Learner permits', 'UNIT-001')"
        )
        changed = client.get(CATALOG, headers={"If-None-Match": etag})

    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert "SVC-099" in {s["service_id"] for s in changed.json()["services"]}


# --- public status ---------------------------------------------------------------------------


def test_status_is_public_and_says_only_when_which_ticket_and_where(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client
) -> None:
    secret_words = "the clerk at window 3 was rude to me"
    result = submit(live_server, device, 1, rating=1, feedback_text=secret_words, submitted_by="Jane Citizen")

    response = public.get(f"/api/v1/status/{result['reference_code']}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == STATUS_KEYS
    assert body["reference_code"] == result["reference_code"]
    assert body["ticket_number"] == result["ticket_number"]
    assert body["status"] == "open"
    assert body["received_at"]
    assert body["last_updated"]
    assert secret_words not in response.text
    assert "Jane Citizen" not in response.text
    assert "127.0.0.1" not in response.text


@pytest.mark.parametrize(
    "reference",
    ["K9999-000001-7QX4", "not-a-reference", "<script>alert(1)</script>", "k0001-000001-7qx4"],
    ids=["unknown", "malformed", "markup", "lowercase"],
)
def test_unknown_or_malformed_reference_is_404_with_the_error_shape(
    public: httpx.Client, reference: str
) -> None:
    response = public.get(f"/api/v1/status/{reference}")

    assert response.status_code == 404
    assert error_of(response)["code"] in {"unknown_reference_code", "not_found"}
    assert "Traceback" not in response.text


def test_status_follows_the_ticket_as_it_moves(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    result = submit(live_server, device, 1, rating=1)
    url = f"/api/v1/status/{result['reference_code']}"
    before = public.get(url).json()
    assert before["status"] == "open"

    conn.execute("UPDATE tickets SET status_id = 2 WHERE ticket_number = %s", (result["ticket_number"],))
    during = public.get(url).json()
    conn.execute("UPDATE tickets SET status_id = 4 WHERE ticket_number = %s", (result["ticket_number"],))
    after = public.get(url).json()

    assert during["status"] == "in_progress"
    assert after["status"] == "resolved"
    assert datetime.fromisoformat(during["last_updated"]) >= datetime.fromisoformat(before["last_updated"])
    assert after["ticket_number"] == result["ticket_number"]


def test_renaming_a_status_changes_no_code_the_api_returns(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    result = submit(live_server, device, 1, rating=1)
    conn.execute("UPDATE tickets SET status_id = 2 WHERE ticket_number = %s", (result["ticket_number"],))
    # What the people who read it call it may change (a clearer word, a translation).
    conn.execute("UPDATE ticket_status SET status_name = 'Being worked on' WHERE status_id = 2")

    by_reference = public.get(f"/api/v1/status/{result['reference_code']}").json()
    assert by_reference["status"] == "in_progress"


def test_feedback_without_a_ticket_is_received_with_no_ticket_number(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client
) -> None:
    result = submit(live_server, device, 1, rating=5)
    assert result["ticket_number"] is None

    body = public.get(f"/api/v1/status/{result['reference_code']}").json()

    assert body["status"] == "received"
    assert body["ticket_number"] is None
    assert set(body) == STATUS_KEYS


# --- the status page ---------------------------------------------------------------------------


def test_status_page_is_a_small_mobile_page_with_the_status_and_ticket(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client, conn: Conn
) -> None:
    result = submit(live_server, device, 1, rating=1, feedback_text="private words")

    page = public.get(f"/s/{result['reference_code']}")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert re.search(r'<html[^>]*\blang="[a-z]{2}', page.text)
    assert re.search(r'<meta[^>]*name="viewport"[^>]*width=device-width', page.text)
    assert result["ticket_number"] in page.text
    assert result["reference_code"] in page.text
    assert "Open" in page.text
    assert "waiting for an officer" in page.text
    assert "private words" not in page.text
    assert "<script" not in page.text.lower()

    conn.execute("UPDATE tickets SET status_id = 2 WHERE ticket_number = %s", (result["ticket_number"],))
    moved = public.get(f"/s/{result['reference_code']}")
    assert "In progress" in moved.text
    assert "An officer is working on your complaint" in moved.text


def test_status_page_of_an_unknown_reference_escapes_what_was_typed(public: httpx.Client) -> None:
    page = public.get("/s/<script>alert(1)")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text.lower()
    assert "&lt;script&gt;" in page.text
    assert re.search(r'<html[^>]*\blang="[a-z]{2}', page.text)


# --- tickets for staff ---------------------------------------------------------------------------


def test_ticket_lookup_needs_the_device_token(
    live_server: LiveServer, device: EnrolledDevice, public: httpx.Client
) -> None:
    result = submit(live_server, device, 1, rating=1)

    response = public.get(f"/api/v1/tickets/{result['ticket_number']}")

    assert response.status_code == 401
    assert error_of(response)["code"] == "device_not_authorized"
    assert result["reference_code"] not in response.text


def test_ticket_lookup_finds_a_ticket_of_the_devices_entity(
    live_server: LiveServer, device: EnrolledDevice
) -> None:
    result = submit(live_server, device, 1, rating=1)

    with live_server.client(device.token) as client:
        response = client.get(f"/api/v1/tickets/{result['ticket_number']}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == STATUS_KEYS
    assert body["ticket_number"] == result["ticket_number"]
    assert body["reference_code"] == result["reference_code"]
    assert body["status"] == "open"


def test_ticket_lookup_finds_tickets_of_entities_under_the_devices_entity(
    live_server: LiveServer, agy003: EnrolledDevice, conn: Conn
) -> None:
    feedback_id = insert_feedback(conn, service_id="SVC-002", rating=1)
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None

    with live_server.client(agy003.token) as client:
        response = client.get(f"/api/v1/tickets/{row[0]}")

    assert response.status_code == 200, response.text
    assert response.json()["ticket_number"] == row[0]


def test_ticket_lookup_does_not_find_another_entitys_ticket_or_a_malformed_number(
    live_server: LiveServer, device: EnrolledDevice, conn: Conn
) -> None:
    feedback_id = insert_feedback(conn, service_id="SVC-005", rating=1)  # DEPT-001's
    row = conn.execute("SELECT ticket_number FROM tickets WHERE feedback_id = %s", (feedback_id,)).fetchone()
    assert row is not None

    with live_server.client(device.token) as client:
        foreign = client.get(f"/api/v1/tickets/{row[0]}")
        malformed = client.get("/api/v1/tickets/not-a-ticket")

    assert foreign.status_code == 404
    assert error_of(foreign)["code"] == "unknown_ticket"
    assert malformed.status_code == 404
    assert error_of(malformed)["code"] == "unknown_ticket"


# --- health ------------------------------------------------------------------------------------


def test_healthz_and_readyz_answer_200_on_a_migrated_database(public: httpx.Client) -> None:
    health = public.get("/healthz")
    ready = public.get("/readyz")

    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "revision": migrate.head_revision()}


def test_readyz_is_503_on_a_database_that_is_not_migrated(empty_db_url: URL) -> None:
    with server.serve(server.settings_for(empty_db_url)) as live, live.client() as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")

    assert health.status_code == 200
    assert ready.status_code == 503
    error = error_of(ready)
    assert error["code"] == "not_ready"
    assert "gea-server migrate" in error["message"]


# --- error shapes ------------------------------------------------------------------------------


def test_unknown_path_is_404_with_the_error_shape_and_a_request_id(public: httpx.Client) -> None:
    response = public.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_wrong_method_is_405_with_the_error_shape_and_a_request_id(public: httpx.Client) -> None:
    response = public.get("/api/v1/devices/enroll")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "body",
    [{}, {"enrollment_code": ""}, {"enrollment_code": 1234}, {"code": "7QX4-K2M9-A3DE"}, []],
    ids=["empty", "blank-code", "number", "wrong-field", "array"],
)
def test_bad_enroll_body_is_422_with_the_error_shape(public: httpx.Client, body: object) -> None:
    response = public.post("/api/v1/devices/enroll", json=body, headers={"X-Request-ID": "req-enroll-1"})

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert "Traceback" not in error["message"]
    assert response.headers["X-Request-ID"] == "req-enroll-1"


def test_openapi_documents_the_submission_batch_for_post_submissions(public: httpx.Client) -> None:
    response = public.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    schemas = document["components"]["schemas"]
    batch = schemas["SubmissionBatch"]
    assert {"items", "device_status"} <= set(batch["properties"])
    body = document["paths"]["/api/v1/submissions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SubmissionBatch"}
    # Every reference in the document resolves, so a client generator can use it.
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', response.text))
    assert {"SubmissionBatch", "SubmissionItem", "DeviceStatus"} <= refs
    assert refs <= set(schemas)
