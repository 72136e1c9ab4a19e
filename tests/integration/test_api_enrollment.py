"""Enrollment over real HTTP: one-time codes, tokens stored as hashes, throttling, revocation
and re-enrollment under the same device code (ARCHITECTURE section 5)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from server_sync_api import security
from server_sync_api.services import devices
from tests.helpers import pg, server
from tests.helpers.server import EnrolledDevice, LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]

ENROLL = "/api/v1/devices/enroll"
CATALOG = "/api/v1/catalog"
SUBMISSIONS = "/api/v1/submissions"


def enroll(live: LiveServer, code: str) -> httpx.Response:
    with live.client() as client:
        return client.post(ENROLL, json={"enrollment_code": code})


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    error: dict[str, str] = body["error"]
    return error


def item(device_code: str, seq: int, **overrides: object) -> dict[str, object]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "reference_code": f"{device_code}-{seq:06d}-7QX4",
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 4,
        "recorded_at": "2026-11-22T10:00:00Z",
        **overrides,
    }


def device_row(conn: Conn, device_code: str) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM kiosk_devices WHERE device_code = %s", (device_code,)).fetchone()
    assert row is not None
    return row


def rows_containing(conn: Conn, needle: str) -> list[str]:
    """Names of the tables with a row whose text form contains `needle`."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ).fetchall()
    ]
    assert "kiosk_devices" in tables
    found = []
    for table in tables:
        query = sql.SQL("SELECT count(*) FROM {} t WHERE strpos(t::text, %s) > 0").format(
            sql.Identifier(table)
        )
        count = conn.execute(query, (needle,)).fetchone()
        if count and count[0]:
            found.append(table)
    return found


def reenroll(db_url: URL, device_code: str) -> devices.NewCode:
    """What `gea-server devices reenroll CODE` does."""
    with psycopg.connect(pg.conninfo(db_url)) as connection:
        return devices.reenroll_device(connection, device_code, ttl_hours=72)


def revoke(db_url: URL, device_code: str) -> None:
    """What `gea-server devices revoke CODE` does."""
    with psycopg.connect(pg.conninfo(db_url)) as connection:
        devices.revoke_device(connection, device_code)


# --- the happy path --------------------------------------------------------------------------


def test_enrollment_returns_device_code_token_entity_and_public_base_url(
    live_server: LiveServer, db_url: URL, conn: Conn
) -> None:
    new = server.add_device(db_url, "AGY-002")

    response = enroll(live_server, new.enrollment_code)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"device_code", "device_token", "entity_id", "public_base_url"}
    assert body["device_code"] == new.device_code
    assert body["entity_id"] == "AGY-002"
    assert body["public_base_url"] == "https://feedback.example.gd"
    assert len(body["device_token"]) >= 32
    with live_server.client(body["device_token"]) as client:
        assert client.get(CATALOG).status_code == 200
    row = device_row(conn, new.device_code)
    assert row["is_active"] is True
    assert row["enrollment_code_hash"] is None


def test_token_and_enrollment_code_are_stored_only_as_hashes(
    live_server: LiveServer, db_url: URL, conn: Conn
) -> None:
    new = server.add_device(db_url, "AGY-002")
    canonical = new.enrollment_code.replace("-", "")
    assert device_row(conn, new.device_code)["enrollment_code_hash"] == (
        hashlib.sha256(canonical.encode()).hexdigest()
    )
    assert rows_containing(conn, new.enrollment_code) == []
    assert rows_containing(conn, canonical) == []

    token = enroll(live_server, new.enrollment_code).json()["device_token"]

    assert device_row(conn, new.device_code)["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert rows_containing(conn, token) == []


# --- refused codes ---------------------------------------------------------------------------


def test_an_enrollment_code_works_only_once(live_server: LiveServer, db_url: URL, conn: Conn) -> None:
    new = server.add_device(db_url, "AGY-002")
    first = enroll(live_server, new.enrollment_code)
    assert first.status_code == 200

    again = enroll(live_server, new.enrollment_code)

    assert again.status_code == 400
    assert error_of(again)["code"] == "invalid_enrollment_code"
    # The refused reuse did not replace the token the first enrollment issued.
    assert device_row(conn, new.device_code)["token_hash"] == security.digest(first.json()["device_token"])
    with live_server.client(first.json()["device_token"]) as client:
        assert client.get(CATALOG).status_code == 200


def test_an_expired_code_is_refused_and_the_message_names_the_reenroll_command(
    live_server: LiveServer, db_url: URL, conn: Conn
) -> None:
    new = server.add_device(db_url, "AGY-002")
    conn.execute(
        "UPDATE kiosk_devices SET enrollment_expires_at = now() - interval '1 minute' WHERE device_code = %s",
        (new.device_code,),
    )

    response = enroll(live_server, new.enrollment_code)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "enrollment_code_expired"
    assert f"gea-server devices reenroll {new.device_code}" in error["message"]
    assert device_row(conn, new.device_code)["token_hash"] is None


def test_a_wrong_code_is_refused_and_enrolls_nothing(
    live_server: LiveServer, db_url: URL, conn: Conn
) -> None:
    new = server.add_device(db_url, "AGY-002")
    wrong = "0000-0000-0000" if new.enrollment_code != "0000-0000-0000" else "1111-1111-1111"

    response = enroll(live_server, wrong)

    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_enrollment_code"
    assert "Traceback" not in response.text
    row = device_row(conn, new.device_code)
    assert row["token_hash"] is None
    assert row["enrollment_code_hash"] is not None


@pytest.mark.parametrize(
    "typed",
    ["7qx4-k2m0-a3d1", "7QX4K2M0A3D1", "7QX4-K2MO-A3DI", "7qx4 k2mo a3dl"],
    ids=["lowercase", "without-dashes", "O-for-0-and-I-for-1", "lowercase-spaces-o-and-l"],
)
def test_a_code_typed_loosely_is_accepted(
    live_server: LiveServer, db_url: URL, conn: Conn, typed: str
) -> None:
    new = server.add_device(db_url, "AGY-002")
    # Give the device a known code, so the look-alike letters have digits to stand for.
    conn.execute(
        "UPDATE kiosk_devices SET enrollment_code_hash = %s WHERE device_code = %s",
        (hashlib.sha256(b"7QX4K2M0A3D1").hexdigest(), new.device_code),
    )

    response = enroll(live_server, typed)

    assert response.status_code == 200, response.text
    assert response.json()["device_code"] == new.device_code


# --- throttling ------------------------------------------------------------------------------


def test_after_max_failures_even_a_right_code_gets_429_with_retry_after(db_url: URL, conn: Conn) -> None:
    settings = server.settings_for(db_url, enroll_max_failures=3, enroll_failure_window_minutes=15)
    new = server.add_device(db_url, "AGY-002")
    with server.serve(settings) as live:
        for wrong in ("AAAA-AAAA-AAAA", "BBBB-BBBB-BBBB", "CCCC-CCCC-CCCC"):
            refused = enroll(live, wrong)
            assert refused.status_code == 400
            assert error_of(refused)["code"] == "invalid_enrollment_code"

        throttled = enroll(live, new.enrollment_code)

        assert throttled.status_code == 429
        assert error_of(throttled)["code"] == "too_many_attempts"
        assert throttled.headers["Retry-After"] == str(15 * 60)
        # The right code was not consumed by the refused attempt.
        row = device_row(conn, new.device_code)
        assert row["token_hash"] is None
        assert row["enrollment_code_hash"] is not None
        attempts = conn.execute(
            "SELECT ip_address, success, error_message FROM submission_attempts "
            "WHERE attempt_type = 'enroll' ORDER BY attempt_id"
        ).fetchall()
        assert attempts == [("127.0.0.1", False, "invalid_enrollment_code")] * 3

        # Once the failures fall out of the window, the same address may try again.
        conn.execute("UPDATE submission_attempts SET created_at = now() - interval '16 minutes'")
        accepted = enroll(live, new.enrollment_code)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["device_code"] == new.device_code


# --- revocation and re-enrollment --------------------------------------------------------------


def test_a_revoked_device_is_refused_on_its_next_request(
    live_server: LiveServer, db_url: URL, device: EnrolledDevice
) -> None:
    with live_server.client(device.token) as client:
        assert client.get(CATALOG).status_code == 200

        revoke(db_url, device.device_code)

        catalog = client.get(CATALOG)
        assert catalog.status_code == 401
        assert error_of(catalog)["code"] == "device_not_authorized"
        submit = client.post(SUBMISSIONS, json={"items": [item(device.device_code, 1)]})
        assert submit.status_code == 401
        assert error_of(submit)["code"] == "device_not_authorized"


def test_reenroll_keeps_the_device_code_and_the_old_token_works_until_the_new_code_is_used(
    live_server: LiveServer, db_url: URL, device: EnrolledDevice
) -> None:
    new = reenroll(db_url, device.device_code)
    assert new.device_code == device.device_code
    with live_server.client(device.token) as old:
        assert old.get(CATALOG).status_code == 200

        response = enroll(live_server, new.enrollment_code)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["device_code"] == device.device_code
        assert body["entity_id"] == device.entity_id
        assert body["device_token"] != device.token
        stale = old.get(CATALOG)
        assert stale.status_code == 401
        assert error_of(stale)["code"] == "device_not_authorized"
    with live_server.client(body["device_token"]) as fresh:
        assert fresh.get(CATALOG).status_code == 200


def test_after_revoke_and_reenroll_the_device_sends_its_queue_under_its_own_code(
    live_server: LiveServer, db_url: URL, conn: Conn, device: EnrolledDevice
) -> None:
    sent, queued = item(device.device_code, 1), item(device.device_code, 2, rating=1)
    with live_server.client(device.token) as client:
        first = client.post(SUBMISSIONS, json={"items": [sent]}).json()["results"][0]
        assert first["status"] == "created"
        revoke(db_url, device.device_code)
        assert client.post(SUBMISSIONS, json={"items": [queued]}).status_code == 401

    new = reenroll(db_url, device.device_code)
    enrolled = enroll(live_server, new.enrollment_code)
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["device_code"] == device.device_code

    with live_server.client(enrolled.json()["device_token"]) as client:
        response = client.post(SUBMISSIONS, json={"items": [sent, queued]})
    assert response.status_code == 200, response.text
    replayed, created = response.json()["results"]
    assert replayed["status"] == "duplicate"
    assert replayed["feedback_id"] == first["feedback_id"]
    assert created["status"] == "created", created
    assert created["ticket_number"]
    device_id = device_row(conn, device.device_code)["device_id"]
    stored = conn.execute(
        "SELECT reference_code, device_id FROM service_feedback ORDER BY reference_code"
    ).fetchall()
    assert stored == [(sent["reference_code"], device_id), (queued["reference_code"], device_id)]
