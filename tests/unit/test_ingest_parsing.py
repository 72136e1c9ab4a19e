"""Per-item checks of the ingest, without a database: each broken rule has its own code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server_sync_api.domain import Device
from server_sync_api.protocol import DeviceStatus
from server_sync_api.services import catalog
from server_sync_api.services.ingest import (
    MAX_CLOCK_OFFSET_S,
    _Rejected,
    clock_offset_seconds,
    parse_item,
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
