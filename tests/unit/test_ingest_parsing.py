"""Per-item checks of the ingest, without a database: each broken rule has its own code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server_sync_api.domain import Device
from server_sync_api.protocol import DeviceStatus, SubmissionBatch
from server_sync_api.services import catalog
from server_sync_api.services.ingest import (
    MAX_CLOCK_OFFSET_S,
    TEXT_FIELDS,
    _insert_params,
    _Rejected,
    clock_offset_seconds,
    parse_item,
    screen_items,
    screen_parsed_items,
)

DEVICE = Device(device_id=7, device_code="K0007", entity_id="AGY-002")


def item(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "client_uuid": "0b6c2a52-8f59-4d5f-9a0b-1c1e2d3f4a5b",
        "reference_code": "K0007-000123-7QX4",
        "service_id": "SVC-001",
        "entity_id": "AGY-002",
        "rating": 4,
        "recorded_at": "2026-11-22T10:00:00Z",
    }
    return {**base, **overrides}


def rejection(raw: Any) -> str:
    with pytest.raises(_Rejected) as excinfo:
        parse_item(raw, DEVICE)
    return excinfo.value.detail.code


def test_a_good_item_parses() -> None:
    parsed = parse_item(item(feedback_text="x" * 10_000, service_quality=1), DEVICE)
    assert parsed.rating == 4
    assert parsed.channel == "kiosk"


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    assert parse_item(item(new_field_from_a_newer_kiosk=True), DEVICE).rating == 4


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not an object", "invalid_item"),
        (item(rating="4"), "invalid_item"),
        (item(rating=True), "invalid_item"),
        (item(client_uuid="nope"), "invalid_item"),
        (item(channel="fax"), "invalid_item"),
        (item(channel="portal"), "channel_not_allowed"),
        (item(channel="qr_code"), "channel_not_allowed"),
        (item(recorded_at="yesterday"), "invalid_item"),
        (item(rating=0), "rating_out_of_range"),
        (item(rating=6), "rating_out_of_range"),
        (item(cleanliness=9), "rating_out_of_range"),
        (item(feedback_text="x" * 10_001), "text_too_long"),
        (item(feedback_text="nul\x00byte"), "invalid_item"),
        (item(feedback_text="lone \ud800 surrogate"), "invalid_item"),
        (item(reference_code="K0007-123-7QX4"), "invalid_item"),
        (item(reference_code="K0008-000123-7QX4"), "reference_code_foreign"),
        (item(reference_code="K0007-000123-7QX4\n"), "invalid_item"),
        (item(client_uuid="\ud800"), "invalid_item"),
    ],
)
def test_each_broken_rule_has_its_code(raw: Any, code: str) -> None:
    assert rejection(raw) == code


def test_every_text_field_of_an_item_is_checked_for_characters_postgresql_cannot_store() -> None:
    # In the model's order, so that the first bad field is the one named, as before.
    full = parse_item(item(feedback_text="t", submitted_by="s", category_id=1, priority_id=1), DEVICE)
    assert list(TEXT_FIELDS) == [name for name, value in full if isinstance(value, str)]


def test_an_item_names_its_first_text_field_that_cannot_be_stored() -> None:
    with pytest.raises(_Rejected, match="^service_id contains"):
        parse_item(item(service_id="a\x00", feedback_text="b\x00"), DEVICE)


def test_a_batch_validated_whole_is_screened_as_the_raw_items_are() -> None:
    raws = [item(), item(client_uuid="1b6c2a52-8f59-4d5f-9a0b-1c1e2d3f4a5b", rating=1), item()]
    parsed = SubmissionBatch.model_validate({"items": raws}).items
    whole = screen_parsed_items(parsed, DEVICE)
    assert whole is not None
    by_item = screen_items(raws, DEVICE)
    assert (whole.size, whole.results, whole.repeats) == (by_item.size, by_item.results, by_item.repeats)
    assert whole.repeats == {2: 0}  # the third is a repeat of the first's client_uuid
    assert [(c.index, c.item) for c in whole.candidates] == [(c.index, c.item) for c in by_item.candidates]


def test_a_batch_validated_whole_with_a_broken_rule_goes_item_by_item() -> None:
    # Only the raw item has its client_uuid as sent, which its rejection echoes.
    parsed = SubmissionBatch.model_validate({"items": [item(), item(rating=6)]}).items
    assert screen_parsed_items(parsed, DEVICE) is None
    screened = screen_items(
        [item(), item(client_uuid="0B6C2A52-8F59-4D5F-9A0B-1C1E2D3F4A5B", rating=6)], DEVICE
    )
    assert screened.results[1].client_uuid == "0B6C2A52-8F59-4D5F-9A0B-1C1E2D3F4A5B"


def test_insert_columns_hold_each_item_in_order_with_times_in_utc() -> None:
    first = parse_item(item(recorded_at="2026-11-22T10:00:00"), DEVICE)  # naive: taken as UTC
    second = parse_item(item(rating=2, feedback_text="slow", recorded_at="2026-11-22T10:00:00-04:00"), DEVICE)
    params = _insert_params([first, second], DEVICE, 30)
    assert params["rating"] == [4, 2]
    assert params["feedback_text"] == [None, "slow"]
    assert params["recorded_at"] == [
        datetime(2026, 11, 22, 10, tzinfo=UTC),
        datetime(2026, 11, 22, 14, tzinfo=UTC),
    ]
    assert params["recorded_at"][1].utcoffset() is not None
    assert (params["offset"], params["device_id"]) == (30, DEVICE.device_id)


def test_missing_field_is_named() -> None:
    raw = item()
    del raw["service_id"]
    with pytest.raises(_Rejected, match="service_id"):
        parse_item(raw, DEVICE)


def test_clock_offset_is_server_minus_device_time() -> None:
    received = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    fast = DeviceStatus(device_time=received + timedelta(days=3))
    assert clock_offset_seconds(received, fast) == -3 * 86400
    naive_slow = DeviceStatus(device_time=datetime(2026, 11, 22, 11, 0))
    assert clock_offset_seconds(received, naive_slow) == 3600
    assert clock_offset_seconds(received, None) is None
    absurd = DeviceStatus(device_time=datetime(1, 1, 1, tzinfo=UTC))
    assert clock_offset_seconds(received, absurd) == MAX_CLOCK_OFFSET_S


@pytest.mark.parametrize(
    ("header", "matches"),
    [(None, False), ('"abc"', True), ('W/"abc"', True), ('"x", "abc"', True), ("*", True), ('"abd"', False)],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert catalog.etag_matches(header, '"abc"') is matches


def test_etag_follows_the_body() -> None:
    assert catalog.etag_of(b"a") == catalog.etag_of(b"a")
    assert catalog.etag_of(b"a") != catalog.etag_of(b"b")
