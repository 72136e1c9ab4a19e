"""POST /api/v1/submissions over real HTTP against the real app and PostgreSQL (ARCHITECTURE 5).

Each item is settled on its own: created, duplicate (same ids as the first time) or rejected
for one of the reasons section 5 lists, with nothing stored for a rejected item. Limits answer
413/400/415/422 in the {"error": {"code", "message"}} shape; odd but honest input (a wrong kiosk
clock, a naive time, a service deactivated since the kiosk cached it) is accepted, and the SLA
start is corrected and clamped as ARCHITECTURE 4.4 says. An empty batch is a heartbeat.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from server_sync_api.protocol import BATCH_MAX_BYTES, BATCH_MAX_ITEMS, COMMENT_HARD_CAP
from server_sync_api.services import devices
from tests.helpers import pg
from tests.helpers.items import Item, ItemFactory, batch, device_status, iso, utc_now
from tests.helpers.processes import wait_until
from tests.helpers.server import EnrolledDevice, LiveServer, enroll

SUBMISSIONS = "/api/v1/submissions"
THREE_DAYS_S = 3 * 86400
# Between the server measuring its receive time and the database's now() for the same request.
CLOCK_SLACK = timedelta(seconds=10)

Db = psycopg.Connection[dict[str, Any]]


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def db(db_url: URL) -> Iterator[Db]:
    """An autocommit connection to the test's database: each query sees what the API committed."""
    with psycopg.connect(pg.conninfo(db_url), autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture
def client(live_server: LiveServer, device: EnrolledDevice) -> Iterator[httpx.Client]:
    with live_server.client(device.token) as http:
        yield http


@pytest.fixture
def items(device: EnrolledDevice) -> ItemFactory:
    return ItemFactory(device.device_code)


def post(client: httpx.Client, body: Any) -> httpx.Response:
    """Send any JSON value as the body (ASCII-escaped, so even a lone surrogate travels)."""
    return client.post(
        SUBMISSIONS, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def expect_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        # Failed without a traceback: the server thread in this process is likely formatting its
        # own traceback now, and CPython 3.11 shares the ast module's state between threads.
        pytest.fail(
            f"expected HTTP {status}, got {response.status_code}: {response.text[:500]}", pytrace=False
        )


def results_of(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    expect_status(response, 200)
    body = response.json()
    assert set(body) == {"results"}
    results: list[dict[str, Any]] = body["results"]
    assert len(results) == count
    return results


def submit(
    client: httpx.Client, *batch_items: Any, status: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    return results_of(post(client, batch(list(batch_items), status)), len(batch_items))


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    expect_status(response, status)
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"].strip()


def assert_created(result: dict[str, Any], item: Item) -> None:
    assert result["status"] == "created", result
    assert result["client_uuid"] == item["client_uuid"]
    assert isinstance(result["feedback_id"], int)
    assert result["error"] is None


def assert_rejected(result: dict[str, Any], code: str, client_uuid: str | None) -> None:
    assert result["status"] == "rejected", result
    assert result["client_uuid"] == client_uuid
    assert result["feedback_id"] is None
    assert result["ticket_number"] is None
    assert result["error"]["code"] == code, result
    assert result["error"]["message"].strip()


def stored(db: Db, client_uuid: str) -> dict[str, Any] | None:
    """The stored feedback row of a client_uuid, with its ticket's columns (t_*) if any."""
    return db.execute(
        """
        SELECT f.*, t.ticket_number AS t_ticket_number, t.category_id AS t_category_id,
               t.priority_id AS t_priority_id, t.sla_start AS t_sla_start, t.title AS t_title
        FROM service_feedback f LEFT JOIN tickets t ON t.feedback_id = f.feedback_id
        WHERE f.client_uuid::text = %s
        """,
        (client_uuid,),
    ).fetchone()


def only_row(db: Db, client_uuid: str) -> dict[str, Any]:
    row = stored(db, client_uuid)
    assert row is not None, f"no row for {client_uuid}"
    return row


def count(db: Db, query: str, params: tuple[Any, ...] = ()) -> int:
    row = db.execute(query, params).fetchone()
    assert row is not None
    value: int = next(iter(row.values()))
    return value


def feedback_count(db: Db) -> int:
    return count(db, "SELECT count(*) FROM service_feedback")


def ticket_count(db: Db) -> int:
    return count(db, "SELECT count(*) FROM tickets")


def storable(value: str) -> str:
    """`value` as PostgreSQL could hold it (no NUL, no lone surrogate), for looking it up."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def nothing_stored_for(db: Db, item: Any) -> bool:
    if not isinstance(item, dict):
        return True
    uid, ref = item.get("client_uuid"), item.get("reference_code")
    # Looked up as PostgreSQL could have stored it: that was not stored either.
    uid, ref = (storable(value) if isinstance(value, str) else "" for value in (uid, ref))
    return (
        count(
            db,
            "SELECT count(*) FROM service_feedback WHERE client_uuid::text = %s OR reference_code = %s",
            (uid, ref),
        )
        == 0
    )


def category_id(db: Db, entity_id: str, name: str) -> int:
    row = db.execute(
        "SELECT category_id FROM ticket_categories WHERE entity_id = %s AND category_name = %s",
        (entity_id, name),
    ).fetchone()
    assert row is not None, (entity_id, name)
    value: int = row["category_id"]
    return value


def device_row(db: Db, device_code: str) -> dict[str, Any]:
    row = db.execute("SELECT * FROM kiosk_devices WHERE device_code = %s", (device_code,)).fetchone()
    assert row is not None
    return row


def assert_rejected_alone(
    client: httpx.Client, db: Db, items: ItemFactory, bad: Any, code: str, client_uuid: str | None
) -> None:
    """`bad` between two valid items: it alone is rejected with `code`, and nothing of it is stored."""
    before, after = items(rating=1), items(rating=5)
    first, middle, last = submit(client, before, bad, after)
    assert_created(first, before)
    assert_rejected(middle, code, client_uuid)
    assert_created(last, after)
    assert nothing_stored_for(db, bad)
    assert feedback_count(db) == 2
    assert ticket_count(db) == 1  # the neighbour's rating 1; nothing for the rejected item


# --- batches: created, duplicate, rejected, in order ----------------------------------------


def test_mixed_batch_settles_each_item_on_its_own_in_request_order(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    earlier = items(rating=2)
    [first_time] = submit(client, earlier)
    assert_created(first_time, earlier)
    assert first_time["ticket_number"]

    low, happy, out_of_range = items(rating=1), items(rating=5), items(rating=9)
    sent: list[Any] = [low, out_of_range, happy, dict(low), 42, earlier, items(service_id="SVC-999")]
    results = submit(client, *sent)

    assert [r["status"] for r in results] == [
        "created",
        "rejected",
        "created",
        "duplicate",
        "rejected",
        "duplicate",
        "rejected",
    ]
    assert [r["client_uuid"] for r in results] == [
        item["client_uuid"] if isinstance(item, dict) else None for item in sent
    ]
    assert results[0]["ticket_number"]
    assert results[2]["ticket_number"] is None
    # The in-batch repeat and the earlier-stored item carry the ids of their first time.
    assert (results[3]["feedback_id"], results[3]["ticket_number"]) == (
        results[0]["feedback_id"],
        results[0]["ticket_number"],
    )
    assert (results[5]["feedback_id"], results[5]["ticket_number"]) == (
        first_time["feedback_id"],
        first_time["ticket_number"],
    )
    assert results[1]["error"]["code"] == "rating_out_of_range"
    assert results[4]["error"]["code"] == "invalid_item"
    assert results[6]["error"]["code"] == "unknown_service"
    assert feedback_count(db) == 3  # earlier, low, happy
    assert ticket_count(db) == 2  # earlier (2), low (1)
    assert only_row(db, low["client_uuid"])["feedback_id"] == results[0]["feedback_id"]
    assert nothing_stored_for(db, out_of_range)


def test_replaying_a_whole_batch_answers_the_same_and_stores_each_item_once(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    valid = [items(rating=r) for r in (1, 2, 3, 4, 5)] + [items(rating=5, grievance_flag=True)]
    invalid = [items(rating=0), items(service_id="SVC-005", entity_id="DEPT-001"), "not an item"]
    sent: list[Any] = [*valid[:3], invalid[0], *valid[3:], invalid[1], invalid[2], valid[0]]

    first = submit(client, *sent)
    replay = submit(client, *sent)
    again = submit(client, *sent)

    assert [r["status"] for r in first] == [
        "created", "created", "created", "rejected", "created", "created", "created",
        "rejected", "rejected", "duplicate",
    ]  # fmt: skip
    for original, replayed in zip(first, replay, strict=True):
        expected = "rejected" if original["status"] == "rejected" else "duplicate"
        assert replayed["status"] == expected
        assert replayed["client_uuid"] == original["client_uuid"]
        assert replayed["feedback_id"] == original["feedback_id"]
        assert replayed["ticket_number"] == original["ticket_number"]
        assert replayed["error"] == original["error"]
    assert again == replay
    ticketed = {r["ticket_number"] for r in first if r["ticket_number"]}
    assert len(ticketed) == 3  # ratings 1 and 2, and the grievance
    assert feedback_count(db) == len(valid)
    assert ticket_count(db) == 3
    for item in valid:
        assert (
            count(db, "SELECT count(*) FROM service_feedback WHERE client_uuid = %s", (item["client_uuid"],))
            == 1
        )
    stored_tickets = {only_row(db, item["client_uuid"])["t_ticket_number"] for item in valid}
    assert stored_tickets - {None} == ticketed


def test_a_stored_item_sent_again_is_a_duplicate_even_after_the_device_moved(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    """A kiosk whose settle was lost (a power cut after the answer) sends the item again; the
    first answer stands even if the device's scope changed in between, where a new item for
    the same service is now refused."""
    low = items(rating=1)
    [first] = submit(client, low)
    assert_created(first, low)
    db.execute(
        "UPDATE kiosk_devices SET entity_id = 'DEPT-001' WHERE device_code = %s", (device.device_code,)
    )
    fresh = items(rating=1)
    again, refused = submit(client, low, fresh)
    assert again["status"] == "duplicate"
    assert (again["feedback_id"], again["ticket_number"]) == (first["feedback_id"], first["ticket_number"])
    assert_rejected(refused, "service_not_allowed", fresh["client_uuid"])
    assert feedback_count(db) == 1


def test_another_devices_stored_item_is_not_answered_with_its_ids(
    client: httpx.Client, db: Db, items: ItemFactory, live_server: LiveServer, db_url: URL
) -> None:
    """Only a resend from the kiosk that stored an item is a duplicate whatever the checks say
    now; another device sending the same client_uuid for a service outside its scope gets the
    checks' answer, not the stored row's feedback id and ticket number."""
    low = items(rating=1)
    [first] = submit(client, low)
    assert_created(first, low)
    traffic = enroll(live_server, db_url, "AGY-003")
    copy = {**ItemFactory(traffic.device_code)(rating=1), "client_uuid": low["client_uuid"]}
    copy.update(service_id=low["service_id"], entity_id=low["entity_id"])
    with live_server.client(traffic.token) as http:
        [answer] = submit(http, copy)
    assert_rejected(answer, "service_not_allowed", low["client_uuid"])
    assert feedback_count(db) == 1


def test_in_batch_repeat_of_a_rejected_item_is_rejected_the_same_way(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    bad = items(rating=6)
    first, repeat = submit(client, bad, dict(bad))
    assert_rejected(first, "rating_out_of_range", bad["client_uuid"])
    assert repeat == first
    assert feedback_count(db) == 0


def test_created_item_is_stored_as_sent_with_the_device_and_its_clock_offset(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    recorded = utc_now().replace(microsecond=123000) - timedelta(minutes=5)
    item = items(
        rating=2,
        service_quality=1,
        staff_behavior=2,
        waiting_time=3,
        cleanliness=4,
        feedback_text="The queue did not move for an hour.",
        misuse_suspected=True,
        recorded_at=iso(recorded),
    )
    [result] = submit(client, item, status=device_status())
    assert_created(result, item)
    row = only_row(db, item["client_uuid"])
    assert row["feedback_id"] == result["feedback_id"]
    assert row["t_ticket_number"] == result["ticket_number"]
    assert row["reference_code"] == item["reference_code"]
    assert (row["service_id"], row["entity_id"], row["channel"]) == ("SVC-001", "AGY-002", "kiosk")
    assert (row["rating"], row["service_quality"], row["staff_behavior"]) == (2, 1, 2)
    assert (row["waiting_time"], row["cleanliness"]) == (3, 4)
    assert row["feedback_text"] == item["feedback_text"]
    assert row["misuse_suspected"] is True
    assert row["recorded_at"] == recorded
    assert row["device_id"] == device_row(db, device.device_code)["device_id"]
    assert abs(row["clock_offset_s"]) <= CLOCK_SLACK.total_seconds()


# --- rejections, each alone and leaving nothing stored ---------------------------------------


def nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(42, id="a-number"),
        pytest.param("an item", id="a-string"),
        pytest.param(None, id="null"),
        pytest.param([1, 2], id="a-list"),
        pytest.param(True, id="a-bool"),
        pytest.param(nested_list(500), id="a-list-nested-500-deep"),
    ],
)
def test_item_that_is_not_an_object_is_rejected_as_invalid_item(
    client: httpx.Client, db: Db, items: ItemFactory, bad: Any
) -> None:
    assert_rejected_alone(client, db, items, bad, "invalid_item", None)


@pytest.mark.parametrize(
    "missing", ["client_uuid", "reference_code", "service_id", "entity_id", "rating", "recorded_at"]
)
def test_item_missing_a_required_field_is_rejected_as_invalid_item(
    client: httpx.Client, db: Db, items: ItemFactory, missing: str
) -> None:
    bad = items(omit=[missing])
    expected_uuid = None if missing == "client_uuid" else bad["client_uuid"]
    assert_rejected_alone(client, db, items, bad, "invalid_item", expected_uuid)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"rating": "5"}, id="rating-string"),
        pytest.param({"rating": 4.5}, id="rating-float"),
        pytest.param({"rating": True}, id="rating-bool"),
        pytest.param({"rating": None}, id="rating-null"),
        pytest.param({"service_quality": "3"}, id="sub-rating-string"),
        pytest.param({"grievance_flag": "yes"}, id="grievance-flag-yes"),
        pytest.param({"grievance_flag": 1}, id="grievance-flag-int"),
        pytest.param({"misuse_suspected": "false"}, id="misuse-string"),
        pytest.param({"category_id": "2"}, id="category-string"),
        pytest.param({"priority_id": 2.0}, id="priority-float"),
        pytest.param({"feedback_text": 12345}, id="text-number"),
        pytest.param({"recorded_at": "yesterday"}, id="recorded-at-not-a-time"),
        pytest.param({"recorded_at": None}, id="recorded-at-null"),
        pytest.param({"channel": "fax"}, id="channel-unknown"),
        pytest.param({"service_id": ""}, id="service-empty"),
        pytest.param({"service_id": ["SVC-001"]}, id="service-list"),
        pytest.param({"entity_id": {"id": "AGY-002"}}, id="entity-object"),
        pytest.param({"submitted_by": "x" * 101}, id="submitted-by-too-long"),
    ],
)
def test_item_with_a_wrong_type_or_value_is_rejected_as_invalid_item(
    client: httpx.Client, db: Db, items: ItemFactory, overrides: dict[str, Any]
) -> None:
    bad = items(**overrides)
    assert_rejected_alone(client, db, items, bad, "invalid_item", bad["client_uuid"])


@pytest.mark.parametrize("channel", ["portal", "qr_code"])
def test_a_device_may_not_label_its_items_as_citizens_own_channels(
    client: httpx.Client, db: Db, items: ItemFactory, channel: str
) -> None:
    """portal and qr_code are limited per address (ARCHITECTURE 4.10); a kiosk is not."""
    bad = items(channel=channel)
    assert_rejected_alone(client, db, items, bad, "channel_not_allowed", bad["client_uuid"])


@pytest.mark.parametrize("channel", ["kiosk", "walk_in", "api"])
def test_a_device_may_send_its_own_channels(
    client: httpx.Client, db: Db, items: ItemFactory, channel: str
) -> None:
    good = items(channel=channel)
    (result,) = submit(client, good)
    assert_created(result, good)
    stored = db.execute("SELECT channel FROM service_feedback WHERE client_uuid = %s", (good["client_uuid"],))
    assert stored.fetchone() == {"channel": channel}


@pytest.mark.parametrize("client_uuid", ["not-a-uuid", 12345, ""])
def test_item_with_a_bad_client_uuid_is_rejected_as_invalid_item(
    client: httpx.Client, db: Db, items: ItemFactory, client_uuid: Any
) -> None:
    bad = items(client_uuid=client_uuid)
    echoed = client_uuid if isinstance(client_uuid, str) else None
    assert_rejected_alone(client, db, items, bad, "invalid_item", echoed)


def test_client_uuid_that_cannot_be_encoded_is_rejected_without_echoing_it(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    """A lone surrogate cannot go back out as UTF-8: the item is rejected, the batch still answered."""
    bad = items(client_uuid="\ud800")
    assert_rejected_alone(client, db, items, bad, "invalid_item", None)


@pytest.mark.parametrize(
    "field", ["feedback_text", "submitted_by", "service_id", "entity_id", "reference_code"]
)
def test_string_with_a_nul_character_is_rejected_as_invalid_item(
    client: httpx.Client, db: Db, items: ItemFactory, field: str
) -> None:
    bad = items()
    bad[field] = (bad.get(field) or "Front desk") + "\x00"
    assert_rejected_alone(client, db, items, bad, "invalid_item", bad["client_uuid"])


def test_text_with_a_lone_surrogate_is_rejected_as_invalid_item(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    bad = items(feedback_text="broken \ud800 text")
    assert_rejected_alone(client, db, items, bad, "invalid_item", bad["client_uuid"])


@pytest.mark.parametrize(
    "make_code",
    [
        pytest.param(lambda dc: f"{dc}-12345-7QX4", id="five-digits"),
        pytest.param(lambda dc: f"{dc}-000001-7QXI", id="not-crockford"),
        pytest.param(lambda dc: f"{dc}-000001-7qx4", id="lower-case"),
        pytest.param(lambda dc: f"{dc}-000001-7QX4\n", id="trailing-newline"),
        pytest.param(lambda dc: f"{dc}000001-7QX4", id="no-dash"),
        pytest.param(lambda _: "", id="empty"),
    ],
)
def test_malformed_reference_code_is_rejected_as_invalid_item(
    client: httpx.Client, db: Db, items: ItemFactory, make_code: Any
) -> None:
    bad = items(reference_code=make_code(items.device_code))
    assert_rejected_alone(client, db, items, bad, "invalid_item", bad["client_uuid"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rating", 0),
        ("rating", 6),
        ("rating", -1),
        *[
            (name, value)
            for name in ("service_quality", "staff_behavior", "waiting_time", "cleanliness")
            for value in (0, 6)
        ],
    ],
)
def test_rating_or_sub_rating_out_of_range_is_rejected(
    client: httpx.Client, db: Db, items: ItemFactory, field: str, value: int
) -> None:
    bad = items()
    bad[field] = value
    assert_rejected_alone(client, db, items, bad, "rating_out_of_range", bad["client_uuid"])


def test_every_rating_and_sub_rating_from_1_to_5_is_accepted(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    sent = [
        items(rating=v, service_quality=v, staff_behavior=v, waiting_time=v, cleanliness=v)
        for v in range(1, 6)
    ]
    for result, item in zip(submit(client, *sent), sent, strict=True):
        assert_created(result, item)
    assert feedback_count(db) == 5


def test_comment_over_the_hard_cap_is_rejected_and_one_at_the_cap_is_accepted(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    over = items(feedback_text="x" * (COMMENT_HARD_CAP + 1))
    assert_rejected_alone(client, db, items, over, "text_too_long", over["client_uuid"])

    at_cap = items(rating=1, feedback_text="é" * COMMENT_HARD_CAP)
    [result] = submit(client, at_cap)
    assert_created(result, at_cap)
    assert only_row(db, at_cap["client_uuid"])["feedback_text"] == "é" * COMMENT_HARD_CAP


def test_unknown_service_is_rejected(client: httpx.Client, db: Db, items: ItemFactory) -> None:
    bad = items(service_id="SVC-999", entity_id="AGY-002")
    assert_rejected_alone(client, db, items, bad, "unknown_service", bad["client_uuid"])


def test_a_service_removed_after_the_catalog_check_is_named_unknown_not_moved(
    client: httpx.Client, db: Db, db_url: URL, items: ItemFactory
) -> None:
    """Since 0011 the pair's key refuses an unknown service and another entity's alike; the
    batch the database refused is replayed after a new catalog check, which names the service
    unknown. The race is made by holding the batch's insert on a lock while the service goes."""
    db.execute(
        "INSERT INTO service_master (service_id, service_name, entity_id) "
        "VALUES ('SVC-GONE', 'Gone', 'AGY-002')"
    )
    gone, happy = items(service_id="SVC-GONE", entity_id="AGY-002"), items(rating=5)
    answer: list[list[dict[str, Any]]] = []
    with psycopg.connect(pg.conninfo(db_url)) as holder:
        holder.execute("LOCK TABLE service_feedback IN SHARE MODE")
        sender = threading.Thread(target=lambda: answer.append(submit(client, gone, happy)))
        sender.start()
        wait_until(
            lambda: db.execute(
                "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'service_feedback' AND NOT l.granted"
            ).fetchone(),
            "the batch's insert waits for the lock",
        )
        db.execute("DELETE FROM service_master WHERE service_id = 'SVC-GONE'")
        holder.commit()
        sender.join()
    [gone_result, happy_result] = answer[0]
    assert_rejected(gone_result, "unknown_service", gone["client_uuid"])
    assert_created(happy_result, happy)
    assert nothing_stored_for(db, gone)


@pytest.mark.parametrize(
    ("service_id", "entity_id"),
    [
        pytest.param("SVC-005", "DEPT-001", id="another-ministry"),
        pytest.param("SVC-002", "UNIT-001", id="a-sibling-agency-unit"),
        pytest.param("SVC-008", "AGY-003", id="a-sibling-agency"),
    ],
)
def test_service_outside_the_devices_entities_is_rejected(
    client: httpx.Client, db: Db, items: ItemFactory, service_id: str, entity_id: str
) -> None:
    bad = items(service_id=service_id, entity_id=entity_id)
    assert_rejected_alone(client, db, items, bad, "service_not_allowed", bad["client_uuid"])


@pytest.mark.parametrize("entity_id", ["MIN-004", "AGY-003", "NO-SUCH-ENTITY"])
def test_entity_that_is_not_the_services_own_is_rejected(
    client: httpx.Client, db: Db, items: ItemFactory, entity_id: str
) -> None:
    bad = items(service_id="SVC-001", entity_id=entity_id)
    assert_rejected_alone(client, db, items, bad, "entity_mismatch", bad["client_uuid"])


def test_device_submits_for_services_of_entities_under_its_own(
    live_server: LiveServer, db_url: URL, db: Db
) -> None:
    traffic = enroll(live_server, db_url, "AGY-003")
    make = ItemFactory(traffic.device_code)
    own, unit, foreign = (
        make(service_id="SVC-008", entity_id="AGY-003"),
        make(service_id="SVC-002", entity_id="UNIT-001"),
        make(service_id="SVC-001", entity_id="AGY-002"),
    )
    wrong_entity = make(service_id="SVC-002", entity_id="AGY-003")
    with live_server.client(traffic.token) as http:
        results = submit(http, own, unit, foreign, wrong_entity)
    assert_created(results[0], own)
    assert_created(results[1], unit)
    assert_rejected(results[2], "service_not_allowed", foreign["client_uuid"])
    assert_rejected(results[3], "entity_mismatch", wrong_entity["client_uuid"])
    assert feedback_count(db) == 2


@pytest.mark.parametrize(
    "category",
    [
        pytest.param(("DEPT-001", "Income tax service"), id="another-ministrys-department"),
        pytest.param(("AGY-003", "Licensing and registration"), id="a-sibling-agency"),
        pytest.param(("MIN-001", "Tax and revenue complaints"), id="another-ministry"),
        pytest.param(None, id="no-such-category"),
    ],
)
def test_category_outside_the_services_chain_is_rejected(
    client: httpx.Client, db: Db, items: ItemFactory, category: tuple[str, str] | None
) -> None:
    cid = 999_999 if category is None else category_id(db, *category)
    bad = items(channel="walk_in", grievance_flag=True, category_id=cid)
    assert_rejected_alone(client, db, items, bad, "category_not_allowed", bad["client_uuid"])


@pytest.mark.parametrize("priority_id", [0, 5, 99, -1])
def test_unknown_priority_is_rejected(
    client: httpx.Client, db: Db, items: ItemFactory, priority_id: int
) -> None:
    bad = items(channel="walk_in", grievance_flag=True, priority_id=priority_id)
    assert_rejected_alone(client, db, items, bad, "unknown_priority", bad["client_uuid"])


def test_reference_code_of_another_device_is_rejected_as_foreign(
    live_server: LiveServer, db_url: URL, client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    other = enroll(live_server, db_url, "AGY-003")
    for code in (
        f"{other.device_code}-000001-7QX4",
        "K9999-000001-7QX4",
        f"{items.device_code}1-000001-7QX4",  # a device code that merely starts with ours
    ):
        bad = items(reference_code=code)
        [result] = submit(client, bad)
        assert_rejected(result, "reference_code_foreign", bad["client_uuid"])
        assert nothing_stored_for(db, bad)
    assert feedback_count(db) == 0


def test_reference_code_taken_by_another_submission_in_an_earlier_batch_is_a_conflict(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    original = items(rating=1)
    [first] = submit(client, original)
    assert_created(first, original)

    thief = items(rating=2, reference_code=original["reference_code"])
    neighbour = items()
    conflict, ok = submit(client, thief, neighbour)
    assert_rejected(conflict, "reference_code_conflict", thief["client_uuid"])
    assert_created(ok, neighbour)
    assert stored(db, thief["client_uuid"]) is None
    row = only_row(db, original["client_uuid"])
    assert (row["rating"], row["t_ticket_number"]) == (1, first["ticket_number"])
    assert ticket_count(db) == 1
    # The owner's own replay is still a duplicate, and the conflict stays a conflict.
    replay_owner, replay_thief = submit(client, original, thief)
    assert replay_owner["status"] == "duplicate"
    assert replay_owner["feedback_id"] == first["feedback_id"]
    assert_rejected(replay_thief, "reference_code_conflict", thief["client_uuid"])


def test_two_items_of_one_batch_sharing_a_reference_code_store_one_and_reject_the_other(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    a = items(rating=1)
    b = items(rating=1, reference_code=a["reference_code"])
    results = submit(client, a, b)
    assert sorted(r["status"] for r in results) == ["created", "rejected"]
    [winner] = [r for r in results if r["status"] == "created"]
    [loser] = [r for r in results if r["status"] == "rejected"]
    assert loser["error"]["code"] == "reference_code_conflict"
    assert feedback_count(db) == 1
    assert ticket_count(db) == 1
    assert only_row(db, winner["client_uuid"])["reference_code"] == a["reference_code"]
    assert stored(db, loser["client_uuid"]) is None


def test_a_refusal_the_checks_did_not_foresee_rejects_that_item_alone_and_keeps_exactly_once(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    # A rule of the database's that the API does not know: the batch's one statement fails,
    # its transaction is rolled back, and a new one replays the batch one item per savepoint.
    db.execute(
        "ALTER TABLE service_feedback ADD CONSTRAINT ck_test_refused "
        "CHECK (feedback_text IS DISTINCT FROM 'refuse me')"
    )
    low, bad, happy = items(rating=1), items(rating=5, feedback_text="refuse me"), items(rating=5)
    first = submit(client, low, bad, happy, status=device_status(queue_depth=3))
    assert_created(first[0], low)
    assert first[0]["ticket_number"]
    assert_rejected(first[1], "invalid_item", bad["client_uuid"])
    assert "ck_test_refused" in first[1]["error"]["message"]
    assert_created(first[2], happy)
    assert nothing_stored_for(db, bad)
    assert feedback_count(db) == 2
    assert ticket_count(db) == 1
    # The device's health is recorded once, by the transaction that settled the batch.
    assert device_row(db, device.device_code)["queue_depth"] == 3

    again = submit(client, low, bad, happy)
    assert [r["status"] for r in again] == ["duplicate", "rejected", "duplicate"]
    assert (again[0]["feedback_id"], again[0]["ticket_number"]) == (
        first[0]["feedback_id"],
        first[0]["ticket_number"],
    )
    assert again[2]["feedback_id"] == first[2]["feedback_id"]
    assert feedback_count(db) == 2


def test_a_rejected_item_echoes_its_client_uuid_as_sent_even_in_an_otherwise_valid_batch(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    # A batch whose every item passes the schema is validated whole, at once; one that breaks
    # a rule after the schema still gets its own rejection, with its client_uuid as sent.
    upper = str(uuid.uuid4()).upper()
    good, foreign = items(rating=5), items(client_uuid=upper, channel="portal")
    results = submit(client, good, foreign)
    assert_created(results[0], good)
    assert_rejected(results[1], "channel_not_allowed", upper)
    # An accepted item's client_uuid is answered in its canonical form.
    other = str(uuid.uuid4())
    [created] = submit(client, items(client_uuid=other.upper()))
    assert created["status"] == "created"
    assert created["client_uuid"] == other
    assert feedback_count(db) == 2


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: b"\xef\xbb\xbf" + text.encode(), id="utf-8 with a byte-order mark"),
        pytest.param(lambda text: text.encode("utf-16"), id="utf-16"),
    ],
)
def test_json_that_only_the_item_by_item_path_reads_is_still_accepted(
    client: httpx.Client, db: Db, items: ItemFactory, encode: Callable[[str], bytes]
) -> None:
    # json.loads reads these (RFC 8259 encodings); the whole-body validator does not, so such
    # a batch takes the item-by-item path and is settled as before.
    item = items(rating=1)
    response = client.post(
        SUBMISSIONS,
        content=encode(json.dumps(batch([item]))),
        headers={"Content-Type": "application/json"},
    )
    [result] = results_of(response, 1)
    assert_created(result, item)
    assert result["ticket_number"]
    assert feedback_count(db) == 1


# --- categories, priorities and tickets through the API -------------------------------------


@pytest.mark.parametrize(
    "category",
    [
        pytest.param(("AGY-002", "Passport counter service"), id="the-services-entity"),
        pytest.param(("MIN-004", "National security services"), id="a-parent"),
        pytest.param(("GOV-000", "General"), id="general"),
    ],
)
def test_walk_in_with_staff_category_and_priority_makes_a_ticket_with_them(
    client: httpx.Client, db: Db, items: ItemFactory, category: tuple[str, str]
) -> None:
    cid = category_id(db, *category)
    item = items(
        channel="walk_in",
        rating=3,
        grievance_flag=True,
        category_id=cid,
        priority_id=1,
        submitted_by="Front desk, counter 2",
        feedback_text="Passport photo rejected twice without explanation.",
    )
    [result] = submit(client, item)
    assert_created(result, item)
    row = only_row(db, item["client_uuid"])
    assert (row["channel"], row["category_id"], row["priority_id"]) == ("walk_in", cid, 1)
    assert row["submitted_by"] == "Front desk, counter 2"
    assert row["t_ticket_number"] == result["ticket_number"]
    assert (row["t_category_id"], row["t_priority_id"]) == (cid, 1)
    assert row["t_title"] == "Grievance: Passport Application and Renewal"


@pytest.mark.parametrize(("rating", "priority"), [(1, 2), (2, 3)])
def test_low_rating_makes_a_ticket_with_the_default_priority_and_nearest_category(
    client: httpx.Client, db: Db, items: ItemFactory, rating: int, priority: int
) -> None:
    item = items(rating=rating)
    [result] = submit(client, item)
    assert_created(result, item)
    assert result["ticket_number"]
    row = only_row(db, item["client_uuid"])
    assert row["t_ticket_number"] == result["ticket_number"]
    assert row["t_priority_id"] == priority
    assert row["t_category_id"] == min(
        category_id(db, "AGY-002", "Passport delays"), category_id(db, "AGY-002", "Passport counter service")
    )


@pytest.mark.parametrize("rating", [3, 4, 5])
def test_rating_of_3_to_5_without_grievance_makes_no_ticket(
    client: httpx.Client, db: Db, items: ItemFactory, rating: int
) -> None:
    item = items(rating=rating)
    [result] = submit(client, item)
    assert_created(result, item)
    assert result["ticket_number"] is None
    assert only_row(db, item["client_uuid"])["t_ticket_number"] is None
    assert ticket_count(db) == 0


# --- limits: 413, 400, 415, 422 -------------------------------------------------------------


def test_501_items_are_refused_with_413_too_many_items_and_nothing_is_stored(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    response = post(client, batch(items.many(BATCH_MAX_ITEMS + 1), device_status()))
    assert_error(response, 413, "too_many_items")
    assert feedback_count(db) == 0
    assert device_row(db, device.device_code)["last_sync_at"] is None


def test_500_items_are_accepted(client: httpx.Client, db: Db, items: ItemFactory) -> None:
    sent = items.many(BATCH_MAX_ITEMS)
    results = submit(client, *sent)
    assert {r["status"] for r in results} == {"created"}
    assert [r["client_uuid"] for r in results] == [i["client_uuid"] for i in sent]
    assert feedback_count(db) == BATCH_MAX_ITEMS


def padded_body(items: list[Item], size: int) -> bytes:
    """A valid batch padded with an ignored key to exactly `size` bytes."""
    base = json.dumps({"items": items, "padding": ""}).encode()
    body = json.dumps({"items": items, "padding": "p" * (size - len(base))}).encode()
    assert len(body) == size
    return body


def test_body_of_exactly_2_mib_is_accepted(client: httpx.Client, db: Db, items: ItemFactory) -> None:
    item = items()
    response = client.post(
        SUBMISSIONS,
        content=padded_body([item], BATCH_MAX_BYTES),
        headers={"Content-Type": "application/json"},
    )
    [result] = results_of(response, 1)
    assert_created(result, item)
    assert feedback_count(db) == 1


def test_body_over_2_mib_is_refused_with_413_payload_too_large(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    response = client.post(
        SUBMISSIONS,
        content=padded_body([items()], BATCH_MAX_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 413, "payload_too_large")
    assert feedback_count(db) == 0


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_body_over_2_mib_without_content_length_is_refused_with_413(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    request = client.build_request(
        "POST",
        SUBMISSIONS,
        content=chunks(padded_body([items()], BATCH_MAX_BYTES + 1)),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    assert_error(client.send(request), 413, "payload_too_large")
    assert feedback_count(db) == 0


def test_chunked_body_within_the_limit_is_accepted(client: httpx.Client, db: Db, items: ItemFactory) -> None:
    item = items()
    request = client.build_request(
        "POST",
        SUBMISSIONS,
        content=chunks(padded_body([item], BATCH_MAX_BYTES)),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    [result] = results_of(client.send(request), 1)
    assert_created(result, item)
    assert feedback_count(db) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"items": [', id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"{'items': []}", id="single-quotes"),
        pytest.param(b'{"items": []} trailing', id="trailing-garbage"),
        pytest.param(b'{"items": ["\xff\xfe"]}', id="not-utf-8"),
        pytest.param(b'{"items": [NaN]', id="nan-truncated"),
    ],
)
def test_malformed_json_is_refused_with_400(client: httpx.Client, db: Db, body: bytes) -> None:
    response = client.post(SUBMISSIONS, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "malformed_json")
    assert feedback_count(db) == 0


def test_json_nested_too_deep_to_parse_is_refused_with_400_not_a_server_error(
    client: httpx.Client, db: Db
) -> None:
    depth = 5_000
    body = b'{"items": ' + b"[" * depth + b"]" * depth + b"}"
    response = client.post(SUBMISSIONS, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "malformed_json")
    assert feedback_count(db) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
    ],
)
def test_wrong_content_type_is_refused_with_415(
    client: httpx.Client, db: Db, items: ItemFactory, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post(SUBMISSIONS, content=json.dumps(batch([items()])).encode(), headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert feedback_count(db) == 0


def test_json_content_type_with_a_charset_is_accepted(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    item = items()
    response = client.post(
        SUBMISSIONS,
        content=json.dumps(batch([item])).encode(),
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    [result] = results_of(response, 1)
    assert_created(result, item)
    assert feedback_count(db) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="a-list"),
        pytest.param("items", id="a-string"),
        pytest.param(7, id="a-number"),
        pytest.param(None, id="null"),
        pytest.param({}, id="no-items"),
        pytest.param({"items": None}, id="items-null"),
        pytest.param({"items": {"0": {}}}, id="items-an-object"),
        pytest.param({"items": "[]"}, id="items-a-string"),
    ],
)
def test_body_that_is_not_an_object_with_an_items_list_is_refused_with_422(
    client: httpx.Client, db: Db, body: Any
) -> None:
    assert_error(post(client, body), 422, "invalid_request")
    assert feedback_count(db) == 0


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({"printer": "on fire"}, id="printer-unknown"),
        pytest.param({"queue_depth": -1}, id="queue-depth-negative"),
        pytest.param({"queue_depth": "3"}, id="queue-depth-string"),
        pytest.param({"device_time": "soon"}, id="device-time-not-a-time"),
        pytest.param({"app_version": "v" * 51}, id="app-version-too-long"),
        pytest.param("ok", id="not-an-object"),
        # An int4 column and PostgreSQL text: refused with a 422, never a 500.
        pytest.param({"queue_depth": 2**31}, id="queue-depth-beyond-int4"),
        pytest.param({"app_version": "1.0\x00"}, id="app-version-with-nul"),
        # The kiosk's last error: a snake_case code of 1-50 characters and a message of at most
        # 300 that PostgreSQL can store (the columns' sizes and CHECK).
        pytest.param(
            {"last_error": {"code": "disk full", "message": "Disk full."}}, id="error-code-with-space"
        ),
        pytest.param(
            {"last_error": {"code": "Disk_Full", "message": "Disk full."}}, id="error-code-uppercase"
        ),
        pytest.param(
            {"last_error": {"code": "1_disk", "message": "Disk full."}}, id="error-code-leading-digit"
        ),
        pytest.param(
            {"last_error": {"code": "disk_full\n", "message": "Disk full."}}, id="error-code-newline"
        ),
        pytest.param({"last_error": {"code": "", "message": "Disk full."}}, id="error-code-empty"),
        pytest.param({"last_error": {"code": "e" * 51, "message": "Disk full."}}, id="error-code-too-long"),
        pytest.param({"last_error": {"code": 7, "message": "Disk full."}}, id="error-code-a-number"),
        pytest.param({"last_error": {"message": "Disk full."}}, id="error-code-missing"),
        pytest.param({"last_error": {"code": "disk_full"}}, id="error-message-missing"),
        pytest.param(
            {"last_error": {"code": "disk_full", "message": "m" * 400}}, id="error-message-400-chars"
        ),
        pytest.param({"last_error": {"code": "disk_full", "message": "full\x00"}}, id="error-message-nul"),
        pytest.param(
            {"last_error": {"code": "disk_full", "message": "full \ud800"}}, id="error-message-lone-surrogate"
        ),
        pytest.param({"last_error": "disk_full"}, id="error-not-an-object"),
    ],
)
def test_invalid_device_status_is_refused_with_422_and_stores_nothing(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice, status: Any
) -> None:
    assert_error(post(client, batch([items()], status)), 422, "invalid_request")
    assert feedback_count(db) == 0
    assert device_row(db, device.device_code)["last_sync_at"] is None


# --- accepted although odd: clocks, naive times, deactivated services ------------------------


def test_kiosk_clock_three_days_fast_is_measured_and_the_sla_start_corrected(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    kiosk_now = utc_now() + timedelta(days=3)
    item = items(rating=1, recorded_at=iso(kiosk_now - timedelta(hours=1)))
    [result] = submit(client, item, status=device_status(device_time=kiosk_now))
    assert_created(result, item)
    row = only_row(db, item["client_uuid"])
    assert abs(row["clock_offset_s"] + THREE_DAYS_S) <= CLOCK_SLACK.total_seconds()
    assert row["recorded_at"] == kiosk_now - timedelta(hours=1)  # stored as the kiosk sent it
    # Submitted an hour ago in real time: neither in the future nor clamped to "now".
    assert abs(row["t_sla_start"] - (row["created_at"] - timedelta(hours=1))) <= CLOCK_SLACK


def test_kiosk_clock_three_days_slow_is_measured_and_the_sla_start_corrected(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    kiosk_now = utc_now() - timedelta(days=3)
    item = items(rating=1, recorded_at=iso(kiosk_now - timedelta(hours=1)))
    [result] = submit(client, item, status=device_status(device_time=kiosk_now))
    assert_created(result, item)
    row = only_row(db, item["client_uuid"])
    assert abs(row["clock_offset_s"] - THREE_DAYS_S) <= CLOCK_SLACK.total_seconds()
    assert row["recorded_at"] == kiosk_now - timedelta(hours=1)
    assert abs(row["t_sla_start"] - (row["created_at"] - timedelta(hours=1))) <= CLOCK_SLACK


def test_fast_clock_without_device_time_is_clamped_to_the_receive_time(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    item = items(rating=1, recorded_at=iso(utc_now() + timedelta(days=3)))
    [result] = submit(client, item)  # no device_status: the offset cannot be measured
    assert_created(result, item)
    row = only_row(db, item["client_uuid"])
    assert row["clock_offset_s"] is None
    assert row["t_sla_start"] == row["created_at"]


def test_item_recorded_ten_days_ago_by_an_offline_kiosk_has_its_sla_start_clamped_to_7_days(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    item = items(rating=2, recorded_at=iso(utc_now() - timedelta(days=10)))
    [result] = submit(client, item, status=device_status())
    assert_created(result, item)
    row = only_row(db, item["client_uuid"])
    assert abs(row["clock_offset_s"]) <= CLOCK_SLACK.total_seconds()
    assert row["t_sla_start"] == row["created_at"] - timedelta(days=7)


def test_naive_recorded_at_is_accepted_as_utc(client: httpx.Client, db: Db, items: ItemFactory) -> None:
    naive = datetime(2026, 1, 15, 10, 30, 0)
    item = items(recorded_at=naive.isoformat())
    assert "+" not in item["recorded_at"]
    assert "Z" not in item["recorded_at"]
    [result] = submit(client, item, status=device_status())
    assert_created(result, item)
    assert only_row(db, item["client_uuid"])["recorded_at"] == naive.replace(tzinfo=UTC)


def test_recorded_at_with_another_offset_is_stored_as_the_same_instant(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    item = items(recorded_at="2026-01-15T06:30:00-04:00")
    [result] = submit(client, item)
    assert_created(result, item)
    assert only_row(db, item["client_uuid"])["recorded_at"] == datetime(2026, 1, 15, 10, 30, tzinfo=UTC)


def test_time_is_never_a_reason_even_years_off(client: httpx.Client, db: Db, items: ItemFactory) -> None:
    far_future, far_past = (
        items(rating=1, recorded_at="9999-12-31T00:00:00Z"),
        items(rating=1, recorded_at="0001-01-01T00:00:00Z"),
    )
    results = submit(
        client, far_future, far_past, status=device_status(device_time=datetime(1, 1, 1, tzinfo=UTC))
    )
    assert_created(results[0], far_future)
    assert_created(results[1], far_past)
    # The offset is as large as an int column holds; the SLA start is clamped either way.
    future_row, past_row = only_row(db, far_future["client_uuid"]), only_row(db, far_past["client_uuid"])
    assert future_row["clock_offset_s"] > 2_000_000_000 - 1
    assert future_row["t_sla_start"] == future_row["created_at"]
    assert past_row["t_sla_start"] == past_row["created_at"] - timedelta(days=7)


def test_service_deactivated_after_the_kiosk_cached_it_is_still_accepted(
    client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    def svc_001_active() -> bool:
        catalog = client.get("/api/v1/catalog")
        expect_status(catalog, 200)
        [service] = [s for s in catalog.json()["services"] if s["service_id"] == "SVC-001"]
        active: bool = service["active"]
        return active

    assert svc_001_active()
    db.execute("UPDATE service_master SET is_active = false WHERE service_id = 'SVC-001'")
    assert not svc_001_active()

    item = items(rating=1)
    [result] = submit(client, item)
    assert_created(result, item)
    assert result["ticket_number"]
    assert only_row(db, item["client_uuid"])["t_ticket_number"] == result["ticket_number"]


# --- heartbeat and device health ----------------------------------------------------------


def test_empty_batch_is_a_heartbeat_that_records_health_but_not_a_sync(
    client: httpx.Client, db: Db, device: EnrolledDevice
) -> None:
    oldest = utc_now().replace(microsecond=250000) - timedelta(hours=2)
    status = device_status(
        device_time=utc_now() - timedelta(seconds=120),
        queue_depth=7,
        oldest_pending_at=oldest,
        app_version="2.3.4",
        printer="error",
    )
    response = post(client, batch([], status))
    expect_status(response, 200)
    assert response.json() == {"results": []}
    row = device_row(db, device.device_code)
    assert row["last_seen_at"] is not None
    assert row["last_sync_at"] is None
    assert row["queue_depth"] == 7
    assert abs(row["clock_drift_seconds"] - 120) <= CLOCK_SLACK.total_seconds()
    # Stored by the server's clock: the kiosk's date, corrected by the offset just measured.
    assert row["oldest_pending_at"] == oldest + timedelta(seconds=row["clock_drift_seconds"])
    assert (row["app_version"], row["printer_state"]) == ("2.3.4", "error")
    assert feedback_count(db) == 0


def test_oldest_pending_at_the_calendars_edge_is_kept_as_sent_when_the_correction_would_leave_it(
    client: httpx.Client, db: Db, device: EnrolledDevice
) -> None:
    # Found by the fuzz test: a fast kiosk clock moved year 1 before the first date there is.
    oldest = datetime(1, 1, 1, tzinfo=UTC)
    status = device_status(device_time=utc_now() + timedelta(days=3), oldest_pending_at=oldest)
    expect_status(post(client, batch([], status)), 200)
    assert device_row(db, device.device_code)["oldest_pending_at"] == oldest


def test_batch_with_items_sets_last_sync_and_a_later_heartbeat_keeps_it(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    [result] = submit(client, items(), status=device_status(queue_depth=1, oldest_pending_at=utc_now()))
    assert result["status"] == "created"
    synced = device_row(db, device.device_code)
    assert synced["last_sync_at"] is not None
    assert synced["last_seen_at"] == synced["last_sync_at"]
    assert synced["queue_depth"] == 1

    assert results_of(post(client, batch([], device_status(queue_depth=0, printer="none"))), 0) == []
    beat = device_row(db, device.device_code)
    assert beat["last_sync_at"] == synced["last_sync_at"]
    assert beat["last_seen_at"] > synced["last_seen_at"]
    assert (beat["queue_depth"], beat["oldest_pending_at"], beat["printer_state"]) == (0, None, "none")


def test_heartbeat_without_device_status_records_last_seen_only(
    client: httpx.Client, db: Db, device: EnrolledDevice
) -> None:
    assert results_of(post(client, {"items": []}), 0) == []
    row = device_row(db, device.device_code)
    assert row["last_seen_at"] is not None
    assert row["last_sync_at"] is None
    assert (row["queue_depth"], row["clock_drift_seconds"], row["printer_state"]) == (None, None, None)


DISK_FULL = {"code": "disk_full", "message": "Only 120 MB left on the data disk; receipts cannot be saved."}
PRINTER_OFFLINE = {"code": "printer_offline", "message": "The receipt printer does not answer."}


def last_error(row: dict[str, Any]) -> tuple[Any, Any, Any]:
    return row["last_error_code"], row["last_error_message"], row["last_error_at"]


@pytest.mark.parametrize("send_null", [False, True], ids=["left-out", "null"])
def test_heartbeat_records_the_kiosks_last_error_and_a_later_one_without_it_clears_it(
    client: httpx.Client, db: Db, device: EnrolledDevice, send_null: bool
) -> None:
    expect_status(post(client, batch([], device_status(last_error=DISK_FULL))), 200)
    reported = device_row(db, device.device_code)
    assert reported["last_error_code"] == "disk_full"
    assert reported["last_error_message"] == DISK_FULL["message"]
    # The server's time of the first report: the same request's time as last_seen_at.
    assert reported["last_error_at"] == reported["last_seen_at"]

    status = device_status()  # the kiosk has no error now: it sends none, or an older kiosk
    if send_null:
        status["last_error"] = None
    expect_status(post(client, batch([], status)), 200)
    cleared = device_row(db, device.device_code)
    assert cleared["last_seen_at"] > reported["last_seen_at"]
    assert last_error(cleared) == (None, None, None)


def test_batch_with_items_records_the_last_error_too(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    [result] = submit(client, items(), status=device_status(last_error=PRINTER_OFFLINE))
    assert result["status"] == "created"
    row = device_row(db, device.device_code)
    assert last_error(row) == ("printer_offline", PRINTER_OFFLINE["message"], row["last_sync_at"])


def test_same_error_code_keeps_when_it_was_first_reported_and_a_new_code_starts_again(
    client: httpx.Client, db: Db, device: EnrolledDevice
) -> None:
    expect_status(post(client, batch([], device_status(last_error=DISK_FULL))), 200)
    first = device_row(db, device.device_code)

    worse = {"code": "disk_full", "message": "Only 12 MB left on the data disk."}
    expect_status(post(client, batch([], device_status(last_error=worse))), 200)
    again = device_row(db, device.device_code)
    assert again["last_seen_at"] > first["last_seen_at"]
    # Still the same problem: its age runs from the first report; the message is the latest.
    assert last_error(again) == ("disk_full", worse["message"], first["last_error_at"])

    expect_status(post(client, batch([], device_status(last_error=PRINTER_OFFLINE))), 200)
    other = device_row(db, device.device_code)
    assert last_error(other) == ("printer_offline", PRINTER_OFFLINE["message"], other["last_seen_at"])
    assert other["last_error_at"] > first["last_error_at"]

    # Cleared, then back: a new occurrence, with a new first report.
    expect_status(post(client, batch([], device_status())), 200)
    expect_status(post(client, batch([], device_status(last_error=PRINTER_OFFLINE))), 200)
    back = device_row(db, device.device_code)
    assert back["last_error_code"] == "printer_offline"
    assert back["last_error_at"] == back["last_seen_at"]
    assert back["last_error_at"] > other["last_error_at"]


def test_push_without_device_status_leaves_the_last_error_as_it_was(
    client: httpx.Client, db: Db, device: EnrolledDevice
) -> None:
    expect_status(post(client, batch([], device_status(last_error=DISK_FULL))), 200)
    reported = device_row(db, device.device_code)

    assert results_of(post(client, {"items": []}), 0) == []  # nothing said about the kiosk's health
    after = device_row(db, device.device_code)
    assert after["last_seen_at"] > reported["last_seen_at"]
    assert last_error(after) == last_error(reported)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        pytest.param({"code": "disk full", "message": "Disk full."}, "last_error.code", id="code-with-space"),
        pytest.param(
            {"code": "disk_full", "message": "m" * 400}, "last_error.message", id="message-400-chars"
        ),
        pytest.param({"code": "disk_full", "message": "a\x00b"}, "last_error.message", id="message-nul"),
    ],
)
def test_bad_last_error_is_refused_with_a_422_naming_the_field_and_the_recorded_one_is_kept(
    client: httpx.Client, db: Db, device: EnrolledDevice, bad: dict[str, Any], field: str
) -> None:
    expect_status(post(client, batch([], device_status(last_error=DISK_FULL))), 200)
    before = device_row(db, device.device_code)

    response = post(client, batch([], device_status(last_error=bad)))

    assert_error(response, 422, "invalid_request")
    assert f"device_status.{field}" in response.json()["error"]["message"]
    assert device_row(db, device.device_code) == before


def test_kiosk_clock_days_off_is_recorded_as_drift_and_items_still_accepted(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    kiosk_now = utc_now() + timedelta(days=3)
    item = items(recorded_at=iso(kiosk_now))
    [result] = submit(client, item, status=device_status(device_time=kiosk_now))
    assert_created(result, item)
    drift = device_row(db, device.device_code)["clock_drift_seconds"]
    assert abs(drift + THREE_DAYS_S) <= CLOCK_SLACK.total_seconds()


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Bearer not-a-real-token", id="wrong-token"),
        pytest.param("Bearer", id="scheme-without-token"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic-scheme"),
    ],
)
def test_request_without_a_valid_token_is_refused_with_401(
    live_server: LiveServer, db: Db, items: ItemFactory, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with live_server.client() as http:
        response = http.post(SUBMISSIONS, json=batch([items(rating=1)]), headers=headers)
    assert_error(response, 401, "device_not_authorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert feedback_count(db) == 0


def test_token_of_one_device_with_a_suffix_is_refused(
    live_server: LiveServer, device: EnrolledDevice, db: Db, items: ItemFactory
) -> None:
    with live_server.client(device.token + "x") as http:
        assert_error(post(http, batch([items()])), 401, "device_not_authorized")
    assert feedback_count(db) == 0


def test_device_revoked_by_the_cli_is_refused_on_its_next_request(
    client: httpx.Client, db_url: URL, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    assert submit(client, items())[0]["status"] == "created"
    with psycopg.connect(pg.conninfo(db_url)) as admin:
        devices.revoke_device(admin, device.device_code)
    pending = items(rating=1)
    assert_error(post(client, batch([pending])), 401, "device_not_authorized")
    assert_error(post(client, batch([], device_status())), 401, "device_not_authorized")
    assert nothing_stored_for(db, pending)
    assert feedback_count(db) == 1


def test_deactivated_device_is_refused_even_with_its_token_hash_kept(
    client: httpx.Client, db: Db, items: ItemFactory, device: EnrolledDevice
) -> None:
    assert submit(client, items())[0]["status"] == "created"
    db.execute("UPDATE kiosk_devices SET is_active = false WHERE device_code = %s", (device.device_code,))
    pending = items()
    assert_error(post(client, batch([pending])), 401, "device_not_authorized")
    assert nothing_stored_for(db, pending)
    seen_before = device_row(db, device.device_code)["last_seen_at"]
    assert_error(post(client, batch([])), 401, "device_not_authorized")
    assert device_row(db, device.device_code)["last_seen_at"] == seen_before


def test_unauthenticated_request_is_refused_before_its_body_is_judged(live_server: LiveServer) -> None:
    with live_server.client() as http:
        response = http.post(SUBMISSIONS, content=b"not json", headers={"Content-Type": "text/plain"})
    assert_error(response, 401, "device_not_authorized")


def test_client_uuid_already_stored_is_a_duplicate_even_from_another_device(
    live_server: LiveServer, db_url: URL, client: httpx.Client, db: Db, items: ItemFactory
) -> None:
    item = items(rating=1)
    [first] = submit(client, item)
    other = enroll(live_server, db_url, "AGY-002", name="Counter 2")
    copy = dict(item, reference_code=f"{other.device_code}-000001-7QX4")
    with live_server.client(other.token) as http:
        [result] = submit(http, copy)
    # A different reference code under a known client_uuid: the stored row wins, no second row.
    assert result["status"] == "duplicate"
    assert (result["feedback_id"], result["ticket_number"]) == (first["feedback_id"], first["ticket_number"])
    assert feedback_count(db) == 1
    assert uuid.UUID(result["client_uuid"]) == uuid.UUID(item["client_uuid"])
