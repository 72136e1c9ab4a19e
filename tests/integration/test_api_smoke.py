"""The served API end to end: a kiosk enrolls, submits, and reads the status back."""

from __future__ import annotations

import uuid

from tests.helpers.server import EnrolledDevice, LiveServer


def test_enrolled_kiosk_submits_and_the_status_page_shows_the_ticket(
    live_server: LiveServer, device: EnrolledDevice
) -> None:
    reference = f"{device.device_code}-000001-7QX4"
    item = {
        "client_uuid": str(uuid.uuid4()),
        "reference_code": reference,
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 1,
        "recorded_at": "2026-11-22T10:00:00Z",
    }
    with live_server.client(device.token) as client:
        response = client.post("/api/v1/submissions", json={"items": [item]})
        assert response.status_code == 200
        [result] = response.json()["results"]
        assert result["status"] == "created"
        assert result["ticket_number"]

        status = client.get(f"/api/v1/status/{reference}").json()
        assert status["ticket_number"] == result["ticket_number"]
        assert status["status"] == "open"
        page = client.get(f"/s/{reference}")
        assert page.status_code == 200
        assert result["ticket_number"] in page.text
