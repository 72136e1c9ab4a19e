"""The ingest writes its insert's columns as binary arrays itself (ingest._binary_params);
PostgreSQL reads from them exactly the rows it reads from the lists psycopg dumps."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from server_sync_api.domain import Device
from server_sync_api.protocol import SubmissionItem
from server_sync_api.services import ingest

Conn = psycopg.Connection[tuple[Any, ...]]
DEVICE = Device(device_id=7, device_code="K0007", entity_id="AGY-002")
# The insert's own unnest(...), with its casts, numbered so that rows compare in order.
UNNEST = ingest.INSERT_BATCH.split("FROM unnest(")[1].split(") AS u")[0]
QUERY = f"SELECT * FROM unnest({UNNEST}) WITH ORDINALITY AS u ORDER BY ordinality"


def item(n: int, **overrides: Any) -> SubmissionItem:
    base: dict[str, Any] = {
        "client_uuid": f"0b6c2a52-8f59-4d5f-9a0b-{n:012x}",
        "reference_code": f"K0007-{n:06d}-7QX4",
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 4,
        "recorded_at": "2026-11-22T10:00:00Z",
    }
    return SubmissionItem.model_validate({**base, **overrides})


ITEMS = [
    item(1),
    item(2, recorded_at="2026-11-22T10:00:00"),  # naive: taken as UTC
    item(
        3,
        channel="walk_in",
        rating=1,
        service_quality=5,
        staff_behavior=1,
        waiting_time=2,
        cleanliness=3,
        grievance_flag=True,
        feedback_text="Très bien 👍 — merci\nnext line",
        category_id=2**31 - 1,
        priority_id=-(2**31),
        misuse_suspected=True,
        submitted_by="desk ü",
        recorded_at="2026-03-29T01:59:59.999999+05:45",
    ),
    item(4, feedback_text="", submitted_by="", category_id=0, recorded_at="0001-01-01T00:00:00+00:00"),
    item(5, rating=5, waiting_time=5, recorded_at="9999-12-30T11:59:59.999999-12:00"),
    item(6, rating=5, waiting_time=5, feedback_text="Très bien 👍 — merci\nnext line", category_id=2**31 - 1),
    item(7, channel="api", recorded_at="1999-12-31T23:59:59.000001Z"),
    item(8, recorded_at="2026-11-22T13:00:00+03:00"),  # the same instant as item 1, as sent
]


def rows(conn: Conn, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cursor = conn.cursor()
    cursor.adapters.register_dumper(ingest._BinaryArray, ingest._BinaryArrayDumper)
    return cursor.execute(QUERY, params).fetchall()


@pytest.mark.parametrize("count", [len(ITEMS), 1, 0])
def test_binary_columns_read_as_the_lists_do(conn: Conn, count: int) -> None:
    params = ingest._insert_params(ITEMS[:count], DEVICE, 30)
    binary = ingest._binary_params(params, conn.info.encoding)
    assert all(isinstance(binary[name], ingest._BinaryArray) for name in ingest.BATCH_COLUMNS)
    expected = rows(conn, params)
    assert len(expected) == count
    assert rows(conn, binary) == expected


def test_an_int_beyond_int4_is_left_to_psycopg_and_refused_as_before(conn: Conn) -> None:
    params = ingest._insert_params([item(1), item(2, category_id=2**31)], DEVICE, 30)
    binary = ingest._binary_params(params, conn.info.encoding)
    assert binary["category_id"] is params["category_id"]
    assert isinstance(binary["rating"], ingest._BinaryArray)
    for given in (params, binary):
        with pytest.raises(psycopg.errors.NumericValueOutOfRange):
            rows(conn, given)
