"""The sync client's own logic over httpx.MockTransport: status → exception mapping, Retry-After,
contract checks; the backoff formula's bounds; the 413 splitting decision (ARCHITECTURE 5).

Every behaviour here is also exercised against the real server in
tests/integration/test_sync_worker.py.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from kiosk.local_db import identity, outbox
from kiosk.local_db.database import open_database
from kiosk.local_db.models import OutboxState
from kiosk.sync.client import (
    SyncClient,
    enroll,
    normalize_server_url,
    parse_retry_after,
    tls_verify,
)
from kiosk.sync.errors import (
    BatchTooLarge,
    EnrollmentRefused,
    NeedsAttention,
    NotAuthorized,
    RequestRefused,
    RetryLater,
    SyncError,
)
from kiosk.sync.worker import (
    DrainReport,
    Phase,
    SyncSettings,
    SyncWorker,
    backoff_delay,
    split_batch,
)

SERVER = "https://sync.example.gd"
TOKEN = "tok-SECRET-do-not-log"
Handler = Callable[[httpx.Request], httpx.Response]


def error(status: int, code: str, message: str = "A sentence.", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


def client_for(handler: Handler) -> SyncClient:
    return SyncClient(SERVER, TOKEN, transport=httpx.MockTransport(handler))


def item(client_uuid: str | None = None) -> dict[str, Any]:
    return {"client_uuid": client_uuid or str(uuid.uuid4()), "rating": 4}


def result(client_uuid: str, status: str = "created", **overrides: Any) -> dict[str, Any]:
    return {
        "client_uuid": client_uuid,
        "status": status,
        "feedback_id": 1,
        "ticket_number": None,
        "error": None,
        **overrides,
    }


def answering(response: httpx.Response) -> SyncClient:
    return client_for(lambda _request: response)


# --- requests ------------------------------------------------------------------------------


def test_submit_sends_token_user_agent_and_batch() -> None:
    seen: list[httpx.Request] = []
    items = [item(), item()]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        return httpx.Response(200, json={"results": [result(i["client_uuid"]) for i in body["items"]]})

    with client_for(handler) as client:
        results = client.submit(items, {"queue_depth": 2})
    [request] = seen
    assert request.method == "POST"
    assert request.url == f"{SERVER}/api/v1/submissions"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("gea-kiosk/")
    assert json.loads(request.content) == {"items": items, "device_status": {"queue_depth": 2}}
    assert [r["client_uuid"] for r in results] == [i["client_uuid"] for i in items]


def test_submit_wire_sends_the_bytes_submit_sends_for_the_same_items() -> None:
    items = [item(), {**item(), "feedback_text": 'Ç\'est "lent" 窓口 😀', "grievance_flag": True}]
    status = {"queue_depth": 2, "oldest_pending_at": None, "last_error": {"code": "x", "message": "é"}}
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = json.loads(request.content)
        return httpx.Response(200, json={"results": [result(i["client_uuid"]) for i in body["items"]]})

    wire = [outbox.WireItem(i["client_uuid"], json.dumps(i)) for i in items]
    with client_for(handler) as client:
        assert client.submit(items, status) == client.submit_wire(wire, status)
        client.submit_wire([], status)
    by_submit, by_wire, empty = sent
    # The item texts are the outbox's (json.dumps'), joined as they are: the same JSON.
    assert json.loads(by_wire.content) == json.loads(by_submit.content)
    assert json.loads(empty.content) == {"items": [], "device_status": status}
    assert by_wire.headers["Content-Type"] == by_submit.headers["Content-Type"] == "application/json"
    assert by_wire.headers["Content-Length"] == str(len(by_wire.content))
    compact = [
        outbox.WireItem(i["client_uuid"], json.dumps(i, ensure_ascii=False, separators=(",", ":")))
        for i in items
    ]
    with client_for(handler) as client:
        client.submit_wire(compact, status)
    assert sent[-1].content == by_submit.content  # byte for byte, given compact item texts


def test_submit_wire_checks_the_results_against_its_items() -> None:
    sent = item()
    client = answering(httpx.Response(200, json={"results": [result(str(uuid.uuid4()))]}))
    with pytest.raises(RetryLater, match="order"):
        client.submit_wire([outbox.WireItem(sent["client_uuid"], json.dumps(sent))], {})
    with pytest.raises(RetryLater, match="1 results for 0 items"):
        client.submit_wire([], {})


def test_set_token_replaces_the_bearer() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"results": []})

    client = client_for(handler)
    client.set_token("new-token")
    client.submit([], {})
    assert seen == ["Bearer new-token"]
    with pytest.raises(ValueError, match="token"):
        client.set_token("two words")


# --- status → exception --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, NotAuthorized),
        (403, NotAuthorized),
        (413, BatchTooLarge),
        (429, RetryLater),
        (408, RetryLater),
        (500, RetryLater),
        (502, RetryLater),
        (503, RetryLater),
        (504, RetryLater),
        (400, RequestRefused),
        (404, RequestRefused),
        (415, RequestRefused),
        (422, RequestRefused),
    ],
)
def test_status_maps_to_exception(status: int, expected: type[SyncError]) -> None:
    client = answering(error(status, "some_code", "Server says why."))
    with pytest.raises(SyncError) as caught:
        client.submit([item()], {})
    exc = caught.value
    assert type(exc) is expected
    assert exc.status == status
    assert exc.code == "some_code"
    assert isinstance(exc.__cause__, httpx.HTTPStatusError)
    assert exc.__cause__.response.status_code == status
    assert TOKEN not in str(exc)


def test_tree_of_exceptions() -> None:
    assert issubclass(NotAuthorized, NeedsAttention)
    assert issubclass(RequestRefused, NeedsAttention)
    assert issubclass(EnrollmentRefused, NeedsAttention)
    assert not issubclass(RetryLater, NeedsAttention)
    assert not issubclass(BatchTooLarge, RetryLater | NeedsAttention)
    assert all(issubclass(e, SyncError) for e in (RetryLater, BatchTooLarge, NeedsAttention))


def test_not_authorized_keeps_the_servers_message() -> None:
    client = answering(error(401, "device_not_authorized", "This kiosk is not authorized: re-enroll it."))
    with pytest.raises(NotAuthorized, match="re-enroll it"):
        client.catalog()


def test_forbidden_from_a_proxy_says_what_it_was() -> None:
    client = answering(httpx.Response(403, text="<html>Forbidden</html>"))
    with pytest.raises(NotAuthorized, match="HTTP 403") as caught:
        client.submit([], {})
    assert caught.value.code is None


def test_redirect_is_refused_with_the_new_address() -> None:
    client = answering(httpx.Response(301, headers={"Location": "https://new.example.gd/api/v1/submissions"}))
    with pytest.raises(RequestRefused, match="new.example.gd"):
        client.submit([], {})


def test_status_and_ticket_404_is_none() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return error(404, "unknown_reference_code")

    client = client_for(handler)
    assert client.status("K0001-000001-7QX4") is None
    assert client.ticket("202611/000001") is None
    assert paths == ["/api/v1/status/K0001-000001-7QX4", "/api/v1/tickets/202611%2F000001"]


def test_status_body_is_returned() -> None:
    body = {
        "reference_code": "K0001-000001-7QX4",
        "received_at": "2026-11-22T10:00:00Z",
        "ticket_number": None,
        "status": "received",
        "last_updated": "2026-11-22T10:00:00Z",
    }
    assert answering(httpx.Response(200, json=body)).status("K0001-000001-7QX4") == body


# --- Retry-After ---------------------------------------------------------------------------


def test_retry_after_seconds_on_429() -> None:
    client = answering(error(429, "too_many_requests", **{"Retry-After": "120"}))
    with pytest.raises(RetryLater) as caught:
        client.submit([item()], {})
    assert caught.value.retry_after == 120.0


def test_retry_after_http_date_on_503() -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    client = answering(
        error(503, "database_unavailable", **{"Retry-After": format_datetime(later, usegmt=True)})
    )
    with pytest.raises(RetryLater) as caught:
        client.submit([item()], {})
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 600


def test_no_retry_after_on_500() -> None:
    with pytest.raises(RetryLater) as caught:
        answering(error(500, "internal_error")).submit([item()], {})
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("0", 0.0),
        (" 30 ", 30.0),
        ("soon", None),
        ("-5", None),
        ("Sun, 22 Nov 2026 10:01:00 GMT", 60.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),  # in the past
        ("Sunday, 22-Nov-26 10:02:00 GMT", 120.0),  # RFC 850 form
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == expected


# --- network failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError, httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError],
)
def test_network_failures_are_retry_later(failure: type[httpx.RequestError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure("it broke", request=request)

    with pytest.raises(RetryLater) as caught:
        client_for(handler).submit([item()], {})
    assert isinstance(caught.value.__cause__, failure)
    assert caught.value.status is None
    assert caught.value.retry_after is None


# --- a 200 that is not the contract --------------------------------------------------------


@pytest.mark.parametrize(
    ("make_body", "reason"),
    [
        (lambda _: [], "no results list"),
        (lambda _: {"results": "ok"}, "no results list"),
        (lambda _: {"results": []}, "0 results for 1 items"),
        (lambda uuids: {"results": [result(uuids[0], "stored")]}, "unknown status"),
        (lambda _: {"results": [result(str(uuid.uuid4()))]}, "order"),
        (lambda uuids: {"results": [result(uuids[0], feedback_id=None)]}, "no feedback_id"),
        (lambda uuids: {"results": [result(uuids[0], feedback_id="7")]}, "not an integer"),
        (lambda uuids: {"results": [result(uuids[0], "rejected", error=None)]}, "no error code"),
        (lambda _: {"results": [42]}, "not an object"),
    ],
)
def test_malformed_200_is_retry_later_and_logged(
    make_body: Callable[[list[str]], Any], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    sent = item()
    client = answering(httpx.Response(200, json=make_body([sent["client_uuid"]])))
    with caplog.at_level(logging.WARNING, logger="kiosk.sync"), pytest.raises(RetryLater, match=reason):
        client.submit([sent], {})
    assert any(reason in record.getMessage() for record in caplog.records)
    assert TOKEN not in caplog.text


def test_not_json_200_is_retry_later() -> None:
    client = answering(httpx.Response(200, text="<html>captive portal</html>"))
    with pytest.raises(RetryLater, match="not JSON") as caught:
        client.submit([item()], {})
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_rejected_result_with_no_client_uuid_is_accepted() -> None:
    """The server cannot echo the client_uuid of an item too malformed to have one."""
    sent = item()
    rejected = result(sent["client_uuid"], "rejected", feedback_id=None)
    rejected.update(client_uuid=None, error={"code": "invalid_item", "message": "m"})
    assert answering(httpx.Response(200, json={"results": [rejected]})).submit([sent], {}) == [rejected]


# --- catalog -------------------------------------------------------------------------------


CATALOG = {
    "entities": [],
    "services": [{"service_id": "SVC-001"}],
    "categories": [],
    "priorities": [],
    "limits": {"comment_max_chars": 2000},
}


def test_catalog_sends_etag_and_304_is_none() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(200, json=CATALOG, headers={"ETag": '"v1"'})

    client = client_for(handler)
    assert client.catalog(None) == ('"v1"', CATALOG)
    assert client.catalog('"v1"') is None
    assert seen == [None, '"v1"']


def test_catalog_without_its_lists_is_retry_later() -> None:
    with pytest.raises(RetryLater, match="services"):
        answering(httpx.Response(200, json={"services": []})).catalog()


# --- enrollment ----------------------------------------------------------------------------


def test_enroll_returns_identity_and_hides_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "Authorization" not in request.headers
        assert json.loads(request.content) == {"enrollment_code": "WAX3-7SC8-GHP7"}
        return httpx.Response(
            200,
            json={
                "device_code": "K0001",
                "device_token": TOKEN,
                "entity_id": "AGY-002",
                "public_base_url": "https://feedback.example.gd",
            },
        )

    enrolled = enroll(SERVER + "/", "WAX3-7SC8-GHP7", transport=httpx.MockTransport(handler))
    device_code, token, entity_id, public_base_url = enrolled
    assert (device_code, token, entity_id, public_base_url) == (
        "K0001",
        TOKEN,
        "AGY-002",
        "https://feedback.example.gd",
    )
    assert TOKEN not in repr(enrolled)


def test_enroll_wrong_code_is_refused_with_the_servers_reason() -> None:
    transport = httpx.MockTransport(lambda _r: error(400, "invalid_enrollment_code", "Check the code."))
    with pytest.raises(EnrollmentRefused, match="Check the code") as caught:
        enroll(SERVER, "nope", transport=transport)
    assert caught.value.code == "invalid_enrollment_code"


def test_enroll_too_many_attempts_is_retry_later() -> None:
    transport = httpx.MockTransport(lambda _r: error(429, "too_many_attempts", **{"Retry-After": "900"}))
    with pytest.raises(RetryLater) as caught:
        enroll(SERVER, "nope", transport=transport)
    assert caught.value.retry_after == 900.0


def test_enroll_incomplete_answer_is_retry_later() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, json={"device_code": "K0001"}))
    with pytest.raises(RetryLater, match="device_token"):
        enroll(SERVER, "code", transport=transport)


# --- configuration -------------------------------------------------------------------------


def test_bad_server_url_and_ca_bundle_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="https://"):
        normalize_server_url("ftp://sync.example.gd")
    with pytest.raises(ValueError, match="CA bundle"):
        tls_verify(tmp_path / "missing.pem")
    assert tls_verify(True) is True
    assert normalize_server_url(" https://sync.example.gd/ ") == SERVER


# --- backoff -------------------------------------------------------------------------------


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("failures", [1, 2, 3, 5, 8, 9, 20, 10_000])
def test_backoff_bounds(failures: int) -> None:
    settings = SyncSettings()
    ceiling = min(settings.backoff_max_s, settings.backoff_initial_s * 2 ** min(failures - 1, 100))
    floor = ceiling * (1 - settings.backoff_jitter)
    for rng in (FixedRandom(0.0), FixedRandom(0.999999), random.Random(failures)):
        delay = backoff_delay(failures, settings, rng=rng)
        assert floor <= delay <= ceiling <= settings.backoff_max_s
    assert backoff_delay(failures, settings, rng=FixedRandom(0.0)) == ceiling


def test_backoff_doubles_until_the_cap() -> None:
    settings = SyncSettings(backoff_initial_s=2, backoff_max_s=300, backoff_jitter=0)
    delays = [backoff_delay(n, settings) for n in range(1, 11)]
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_backoff_honours_retry_after_up_to_its_cap() -> None:
    settings = SyncSettings(retry_after_max_s=3600)
    rng = FixedRandom(0.0)
    assert backoff_delay(1, settings, retry_after=120, rng=rng) == 120
    assert backoff_delay(9, settings, retry_after=1, rng=rng) == settings.backoff_max_s
    assert backoff_delay(1, settings, retry_after=10**9, rng=rng) == 3600


@pytest.mark.parametrize(
    "bad",
    [
        {"batch_size": 0},
        {"batch_size": 501},
        {"backoff_jitter": 1.0},
        {"backoff_initial_s": 0},
        {"backoff_max_s": 1, "backoff_initial_s": 2},
        {"idle_poll_s": 0},
    ],
)
def test_settings_refuse_nonsense(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        SyncSettings(**bad)


# --- splitting on 413 ----------------------------------------------------------------------


def test_split_batch_decision() -> None:
    assert split_batch([]) is None
    assert split_batch(["a"]) is None
    assert split_batch(["a", "b"]) == (["a"], ["b"])
    assert split_batch([1, 2, 3]) == ([1, 2], [3])
    rows = list(range(100))
    halves = split_batch(rows)
    assert halves is not None
    assert [len(h) for h in halves] == [50, 50]
    assert halves[0] + halves[1] == rows


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(tmp_path)
    identity.save(engine, tmp_path, identity.Identity("K0001", "AGY-002", SERVER, SERVER), TOKEN)
    yield engine
    engine.dispose()


def payload(rating: int = 4) -> dict[str, Any]:
    return {"service_id": "SVC-001", "entity_id": "AGY-002", "rating": rating, "channel": "kiosk"}


def test_worker_splits_on_413_until_batches_fit(engine: Engine) -> None:
    """A fake server taking at most 2 items: 5 → 413, 3 → 413, 2, 1, then 2."""
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["items"]
        sizes.append(len(items))
        if len(items) > 2:
            return error(413, "too_many_items")
        return httpx.Response(200, json={"results": [result(i["client_uuid"]) for i in items]})

    for _ in range(5):
        outbox.enqueue(engine, payload())
    worker = SyncWorker(engine, client_for(handler), SyncSettings(batch_size=5))
    report = worker.drain_once()
    assert sizes == [5, 3, 2, 1, 2]
    assert report == DrainReport(batches=5, sent=5, synced=5, rejected=0, released=0, last_error=None)
    assert outbox.counts(engine)["synced"] == 5


def test_worker_sends_each_row_as_wire_item_gives_it_and_settles_by_its_result(engine: Engine) -> None:
    """The worker sends the outbox's own item texts (outbox.claim_wire): the server gets the
    items OutboxRow.wire_item() describes, in queue order, in one body with the device's status."""
    on_the_second = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    queued = [
        outbox.enqueue(
            engine, {**payload(1), "feedback_text": 'Ç\'est "lent" 窓口'}, recorded_at=on_the_second
        ),
        outbox.enqueue(engine, payload(2)),
        outbox.enqueue(engine, payload(3)),
    ]
    expected = []
    for submission in queued:
        found = outbox.find(engine, submission.reference_code)
        assert found is not None
        expected.append(found.wire_item())
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        uuids = [i["client_uuid"] for i in body["items"]]
        rejected = result(
            uuids[2], "rejected", feedback_id=None, error={"code": "invalid_item", "message": "m"}
        )
        answers = [result(uuids[0]), result(uuids[1], "duplicate", feedback_id=2), rejected]
        return httpx.Response(200, json={"results": answers[: len(uuids)]})

    report = SyncWorker(engine, client_for(handler)).drain_once()
    [body] = bodies
    assert body["items"] == expected
    assert [list(item) for item in body["items"]] == [list(item) for item in expected]
    assert body["items"][0]["recorded_at"] == "2026-03-01T09:30:00+00:00"
    assert body["device_status"]["queue_depth"] == 3
    assert report == DrainReport(batches=1, sent=3, synced=2, rejected=1, released=0, last_error=None)
    assert outbox.counts(engine) == {
        "open": 0,
        "pending": 0,
        "sending": 0,
        "synced": 2,
        "rejected": 1,
    }


def test_worker_rejects_a_single_item_that_is_too_large(engine: Engine) -> None:
    submission = outbox.enqueue(engine, payload())
    worker = SyncWorker(engine, answering(error(413, "payload_too_large")))
    report = worker.drain_once()
    row = outbox.find(engine, submission.reference_code)
    assert row is not None
    assert row.state is OutboxState.REJECTED
    assert row.error_code == "payload_too_large"
    assert report.rejected == 1


def test_worker_honours_retry_after(engine: Engine) -> None:
    submission = outbox.enqueue(engine, payload())
    worker = SyncWorker(engine, answering(error(429, "too_many_requests", **{"Retry-After": "600"})))
    before = outbox.utcnow()
    report = worker.drain_once()
    row = outbox.find(engine, submission.reference_code)
    assert row is not None
    assert row.state is OutboxState.PENDING
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= before + timedelta(seconds=600)
    assert report.released == 1
    assert report.last_error is not None
    assert worker.state.phase is Phase.OFFLINE


def test_submit_wire_refuses_an_item_without_text_before_sending_anything() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"results": []})

    good = item()
    wire = [outbox.WireItem(good["client_uuid"], json.dumps(good)), outbox.WireItem(str(uuid.uuid4()), None)]
    with client_for(handler) as client, pytest.raises(ValueError, match="not valid JSON"):
        client.submit_wire(wire, {"queue_depth": 2})
    assert sent == []


# --- two pushes on their way: what a failure does to the other ----------------------------


def _ok(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["items"]
    return httpx.Response(200, json={"results": [result(i["client_uuid"]) for i in items]})


def _carries(request: httpx.Request, submission: outbox.Submission) -> bool:
    return submission.client_uuid.encode() in request.content


def test_no_more_batches_go_to_a_server_that_has_failed_a_push(engine: Engine) -> None:
    """The second push fails while the first is still being answered: once the first is
    settled, no third batch leaves; the second waits out its backoff, the third is untouched."""
    subs = [outbox.enqueue(engine, payload()) for _ in range(9)]
    second_failed = threading.Event()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if _carries(request, subs[0]):
            seen.append("first")
            second_failed.wait(5)  # answered once the second push has come back failed
            return _ok(request)
        if _carries(request, subs[3]):
            seen.append("second")
            raise httpx.ConnectError("refused", request=request)
        seen.append("third")
        return _ok(request)

    client = client_for(handler)
    submit_wire = client.submit_wire

    def noting_the_second(
        items: Sequence[outbox.WireItem], device_status: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            return submit_wire(items, device_status)
        finally:
            if items[0].client_uuid == subs[3].client_uuid:
                second_failed.set()

    client.submit_wire = noting_the_second  # type: ignore[method-assign]
    worker = SyncWorker(engine, client, SyncSettings(batch_size=3))
    report = worker.drain_once()

    assert sorted(seen) == ["first", "second"]
    assert (report.batches, report.synced, report.released) == (2, 3, 3)
    assert worker.state.phase is Phase.OFFLINE
    third = outbox.find(engine, subs[6].reference_code)
    assert third is not None
    assert (third.state, third.attempts, third.next_attempt_at) == (OutboxState.PENDING, 0, None)
    assert outbox.counts(engine)["sending"] == 0


def test_a_refused_token_on_either_push_stops_the_worker_and_holds_both_batches(engine: Engine) -> None:
    """The first push times out, the second is refused 401: the kiosk is not merely offline."""
    subs = [outbox.enqueue(engine, payload()) for _ in range(6)]
    second_sent = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if _carries(request, subs[0]):
            second_sent.wait(5)  # both on their way when the first fails
            raise httpx.ReadTimeout("slow", request=request)
        second_sent.set()
        return error(401, "device_not_authorized", "This kiosk is not authorized.")

    worker = SyncWorker(engine, client_for(handler), SyncSettings(batch_size=3))
    with pytest.raises(NotAuthorized):
        worker.drain_once()

    assert worker.state.phase is Phase.NOT_AUTHORIZED
    for submission in subs:
        row = outbox.find(engine, submission.reference_code)
        assert row is not None
        assert (row.state, row.next_attempt_at) == (OutboxState.PENDING, None)  # until re-enrolled


def test_the_longest_retry_after_of_the_two_pushes_is_honoured(engine: Engine) -> None:
    subs = [outbox.enqueue(engine, payload()) for _ in range(6)]
    second_sent = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if _carries(request, subs[0]):
            second_sent.wait(5)  # both on their way when the first fails
            return error(503, "unavailable")  # no Retry-After
        second_sent.set()
        return error(429, "too_many_requests", **{"Retry-After": "600"})

    worker = SyncWorker(engine, client_for(handler), SyncSettings(batch_size=3))
    before = outbox.utcnow()
    report = worker.drain_once()

    assert report.released == 6
    assert "429" in (report.last_error or "")
    for submission in subs:
        row = outbox.find(engine, submission.reference_code)
        assert row is not None
        assert row.next_attempt_at is not None
        assert (row.next_attempt_at - before).total_seconds() >= 600


@pytest.mark.parametrize("answer", ["unavailable", "not_authorized"])
def test_a_release_that_fails_keeps_the_pushes_error_and_the_workers_state(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    """The disk fails as the batches are put back: the drain still ends with the server's
    error and the worker's phase says it; the rows stay `sending` for the next start-up's
    recovery, which sends them again (answered `duplicate` if they were stored)."""
    for _ in range(6):
        outbox.enqueue(engine, payload())

    def broken_release(*_: Any, **__: Any) -> int:
        raise OSError("disk I/O error")

    monkeypatch.setattr(outbox, "release", broken_release)
    status, code = (503, "unavailable") if answer == "unavailable" else (401, "device_not_authorized")
    worker = SyncWorker(engine, client_for(lambda _: error(status, code)), SyncSettings(batch_size=3))

    if answer == "unavailable":
        report = worker.drain_once()
        assert report.last_error is not None
        assert "503" in report.last_error
        assert worker.state.phase is Phase.OFFLINE
    else:
        with pytest.raises(NotAuthorized):
            worker.drain_once()
        assert worker.state.phase is Phase.NOT_AUTHORIZED
    # The first batch, and the second if it left before the first's error was in hand.
    assert outbox.counts(engine)["sending"] in (3, 6)
    outbox.recover(engine)
    assert outbox.counts(engine)["sending"] == 0


def test_a_stop_between_a_claim_and_its_push_puts_the_batch_back_untouched(engine: Engine) -> None:
    subs = [outbox.enqueue(engine, payload()) for _ in range(9)]
    worker = SyncWorker(engine, client_for(_ok), SyncSettings(batch_size=3))
    claims = outbox.claim_wire

    def claim_then_stop(*args: Any, **kwargs: Any) -> list[outbox.WireItem]:
        rows = claims(*args, **kwargs)
        if rows and rows[0].client_uuid == subs[3].client_uuid:
            worker._stopping.set()  # stop() from another thread, at this very moment
        return rows

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outbox, "claim_wire", claim_then_stop)
        report = worker.drain_once()

    assert (report.batches, report.synced) == (1, 3)
    assert outbox.counts(engine) == {"open": 0, "pending": 6, "sending": 0, "synced": 3, "rejected": 0}
    for submission in subs[3:]:
        row = outbox.find(engine, submission.reference_code)
        assert row is not None
        assert (row.attempts, row.last_error, row.next_attempt_at) == (0, None, None)


def test_an_interrupt_is_never_replaced_by_the_other_pushs_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the first answer is settled, the second push refused 401: the interrupt
    is what the drain raises, and nothing is left sending."""
    subs = [outbox.enqueue(engine, payload()) for _ in range(6)]
    settle = outbox.settle
    calls = []

    def interrupted_once(*args: Any, **kwargs: Any) -> outbox.Settlement:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return settle(*args, **kwargs)

    def handler(request: httpx.Request) -> httpx.Response:
        if _carries(request, subs[0]):
            return _ok(request)
        return error(401, "device_not_authorized")  # awaited after the interrupt

    monkeypatch.setattr(outbox, "settle", interrupted_once)
    worker = SyncWorker(engine, client_for(handler), SyncSettings(batch_size=3))
    with pytest.raises(KeyboardInterrupt):
        worker.drain_once()
    assert outbox.counts(engine)["sending"] == 0
