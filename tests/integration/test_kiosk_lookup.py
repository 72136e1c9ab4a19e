"""Staff's status look-up (KioskServices.lookup) against the real server and PostgreSQL: the
server's answer when it can be reached, the outbox's when it cannot or does not know the code.
The kiosk is a real SQLite data directory enrolled as a passport-office kiosk (AGY-002)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiosk.local_db import outbox
from kiosk.local_db.models import OutboxState
from kiosk.services import KioskServices
from kiosk.sync.client import SyncClient
from kiosk.sync.worker import SyncWorker
from tests.helpers import enrolled_kiosk
from tests.helpers.server import EnrolledDevice, LiveServer, free_port

PASSPORTS = "SVC-001"


@dataclass
class Kiosk(enrolled_kiosk.Kiosk):
    """The enrolled kiosk with the staff screen's services and the look-ups' client."""

    services: KioskServices
    server: SyncClient  # the look-ups' own client, as the staff screen makes one


@pytest.fixture
def kiosk(tmp_path: Path, live_server: LiveServer, device: EnrolledDevice) -> Iterator[Kiosk]:
    made = enrolled_kiosk.make_kiosk(tmp_path / "kiosk", live_server, device)
    with SyncClient(live_server.base_url, device.token) as client:
        assert SyncWorker(made.engine, client).refresh_catalog()  # the server's catalog, as a kiosk gets it
        yield Kiosk(made.data_dir, made.engine, made.device, KioskServices(made.engine), client)
    made.engine.dispose()


@pytest.fixture
def unreachable(kiosk: Kiosk) -> Iterator[SyncClient]:
    """The kiosk's server address with nothing listening: a network cut, as the kiosk sees it."""
    with SyncClient(f"http://127.0.0.1:{free_port()}", kiosk.device.token) as client:
        yield client


def drain(kiosk: Kiosk) -> None:
    with SyncClient(kiosk.server.base_url, kiosk.device.token) as client:
        report = SyncWorker(kiosk.engine, client).drain_once()
    assert report.ok, report
    assert report.rejected == 0, report


def synced(kiosk: Kiosk, submission: outbox.Submission) -> outbox.OutboxRow:
    row = outbox.find(kiosk.engine, submission.reference_code)
    assert row is not None, row
    assert row.state is OutboxState.SYNCED, row
    return row


def test_a_grievance_is_found_on_the_server_with_its_ticket(kiosk: Kiosk) -> None:
    complaint = kiosk.services.log_walk_in(PASSPORTS, 2, "Passport lost at the counter", category_id=2)
    drain(kiosk)
    row = synced(kiosk, complaint)
    assert row.ticket_number is not None

    found = kiosk.services.lookup(complaint.reference_code, kiosk.server)

    assert found is not None
    assert found.source == "server"
    assert found.reference_code == complaint.reference_code
    assert found.ticket_number == row.ticket_number
    assert found.status == "open"
    assert found.recorded_at is not None
    assert found.recorded_at.utcoffset() is not None


def test_staff_may_type_the_code_loosely(kiosk: Kiosk) -> None:
    card = kiosk.services.submit_card(PASSPORTS, 1)
    drain(kiosk)

    found = kiosk.services.lookup(f"  {card.reference_code.lower()} \n", kiosk.server)

    assert found is not None
    assert (found.source, found.reference_code) == ("server", card.reference_code)
    assert found.ticket_number == synced(kiosk, card).ticket_number is not None


def test_a_rating_without_a_ticket_is_received(kiosk: Kiosk) -> None:
    praise = kiosk.services.submit_card(PASSPORTS, 5, channel="kiosk")
    drain(kiosk)

    found = kiosk.services.lookup(praise.reference_code, kiosk.server)

    assert found is not None
    assert (found.source, found.status, found.ticket_number) == ("server", "received", None)


def test_a_ticket_number_is_found_on_the_server(kiosk: Kiosk) -> None:
    complaint = kiosk.services.log_walk_in(PASSPORTS, 1, "Rude answer at window 3")
    drain(kiosk)
    ticket_number = synced(kiosk, complaint).ticket_number
    assert ticket_number is not None

    found = kiosk.services.lookup(ticket_number, kiosk.server)

    assert found is not None
    assert found.source == "server"
    assert (found.reference_code, found.ticket_number) == (complaint.reference_code, ticket_number)
    assert found.status == "open"


def test_a_phone_complaint_is_found_by_its_web_reference(kiosk: Kiosk, live_server: LiveServer) -> None:
    """A citizen who complained from their phone brings the WEB- reference to the counter."""
    with live_server.client() as phone:
        answer = phone.post(
            "/api/v1/public/feedback", json={"service_id": PASSPORTS, "rating": 1, "grievance_flag": True}
        )
    assert answer.status_code == 201, answer.text
    reference = answer.json()["reference_code"]

    found = kiosk.services.lookup(f" {reference.lower()} ", kiosk.server)

    assert found is not None
    assert (found.source, found.reference_code, found.status) == ("server", reference, "open")
    assert found.ticket_number is not None


def test_a_code_the_server_has_not_received_comes_from_the_outbox(kiosk: Kiosk) -> None:
    # Recorded after the last drain: still queued on the kiosk.
    queued = kiosk.services.submit_card(PASSPORTS, 1)

    found = kiosk.services.lookup(queued.reference_code, kiosk.server)

    assert found is not None
    assert found.source == "kiosk"
    assert (found.reference_code, found.ticket_number, found.status) == (
        queued.reference_code,
        None,
        "pending",
    )
    row = outbox.find(kiosk.engine, queued.reference_code)
    assert row is not None
    assert found.recorded_at == row.recorded_at


def test_without_the_server_the_outbox_answers(kiosk: Kiosk, unreachable: SyncClient) -> None:
    complaint = kiosk.services.log_walk_in(PASSPORTS, 2, "Waited four hours")
    drain(kiosk)
    ticket_number = synced(kiosk, complaint).ticket_number
    assert ticket_number is not None
    queued = kiosk.services.submit_card(PASSPORTS, 3)

    by_reference = kiosk.services.lookup(complaint.reference_code, unreachable)
    by_ticket = kiosk.services.lookup(ticket_number, unreachable)
    still_queued = kiosk.services.lookup(queued.reference_code, unreachable)

    # The kiosk kept the ticket number the server gave it when the row was synced.
    expected = (complaint.reference_code, ticket_number, "synced", "kiosk")
    assert by_reference is not None
    assert by_ticket is not None
    assert still_queued is not None
    for found in (by_reference, by_ticket):
        assert (found.reference_code, found.ticket_number, found.status, found.source) == expected
    assert (still_queued.status, still_queued.source) == ("pending", "kiosk")


def test_without_a_client_the_outbox_answers(kiosk: Kiosk) -> None:
    queued = kiosk.services.submit_card(PASSPORTS, 4)
    found = kiosk.services.lookup(queued.reference_code, None)
    assert found is not None
    assert (found.reference_code, found.source, found.status) == (queued.reference_code, "kiosk", "pending")


@pytest.mark.parametrize(
    "code",
    [
        "K9999-000001-ABCD",  # shaped like a reference code
        "202501-0000001",  # shaped like a ticket number
        "NOT A CODE",
    ],
)
def test_an_unknown_code_is_not_found_anywhere(kiosk: Kiosk, unreachable: SyncClient, code: str) -> None:
    kiosk.services.submit_card(PASSPORTS, 1)
    drain(kiosk)

    assert kiosk.services.lookup(code, kiosk.server) is None
    assert kiosk.services.lookup(code, unreachable) is None
    assert kiosk.services.lookup(code, None) is None
