"""The ingest's shortcuts give the answers of the slow ways they replace: the whole-batch
check says what check_item says of each item, and results built without validation
(ingest.Stored) serialise byte for byte as ItemResult does."""

from __future__ import annotations

import warnings
from dataclasses import fields, replace
from typing import Any
from uuid import UUID

import pytest

from server_sync_api.api.routes.submissions import results_json
from server_sync_api.protocol import ErrorDetail, ItemResult, SubmissionItem, SubmissionResults
from server_sync_api.services.ingest import (
    Stored,
    _Rejected,
    all_pass_check_item,
    check_item,
    screen_parsed_items,
)
from tests.unit.test_ingest_parsing import DEVICE, item

# Items the schema accepts, each good or breaking one of check_item's rules (or near one).
VARIANTS = [
    item(),
    item(channel="walk_in", submitted_by="desk 2", feedback_text="Très bien 👍", category_id=3),
    item(channel="api", service_quality=1, staff_behavior=5, waiting_time=3, cleanliness=2),
    item(feedback_text="", submitted_by=""),
    item(feedback_text="x" * 10_000),
    item(feedback_text="x" * 10_001),
    item(feedback_text="ü" * 10_001),
    item(channel="portal"),
    item(channel="qr_code"),
    item(rating=0),
    item(rating=6),
    item(rating=-1),
    item(rating=2**40),
    item(service_quality=0),
    item(staff_behavior=6),
    item(waiting_time=-3),
    item(cleanliness=9),
    item(feedback_text="nul\x00byte"),
    item(submitted_by="\x00"),
    item(service_id="SVC\x00"),
    item(feedback_text="lone \ud800 surrogate"),
    item(feedback_text="ends high \ud83d", submitted_by="fine"),
    item(feedback_text="\udbff\x00"),
    item(reference_code="K0007-123-7QX4"),
    item(reference_code="K0008-000123-7QX4"),
    item(reference_code="K00071-000123-7QX4"),
    item(reference_code="K0007-000123-7QX4\n"),
    item(reference_code="k0007-000123-7QX4"),
    item(reference_code="K0007-000123-7QXI"),
    item(reference_code="K0007-0001234567-7QX4ABCD"),
    item(reference_code=""),
]


def passes(parsed: SubmissionItem) -> bool:
    try:
        check_item(parsed, DEVICE)
    except _Rejected:
        return False
    return True


@pytest.mark.parametrize("raw", VARIANTS)
def test_the_whole_batch_check_says_what_check_item_says(raw: dict[str, Any]) -> None:
    parsed = SubmissionItem.model_validate(raw)
    good = SubmissionItem.model_validate(item(client_uuid="1b6c2a52-8f59-4d5f-9a0b-1c1e2d3f4a5b"))
    assert passes(good)
    for batch in ([parsed], [good, parsed], [parsed, good, good]):
        assert all_pass_check_item(batch, DEVICE) is passes(parsed)
        assert (screen_parsed_items(batch, DEVICE) is not None) is passes(parsed)


def test_the_variants_break_rules_and_keep_to_some() -> None:
    verdicts = [passes(SubmissionItem.model_validate(raw)) for raw in VARIANTS]
    assert verdicts.count(True) >= 5
    assert verdicts.count(False) >= 20


def test_an_empty_batch_passes() -> None:
    assert all_pass_check_item([], DEVICE)


def test_stored_has_item_results_fields_in_its_order() -> None:
    assert [f.name for f in fields(Stored)] == list(ItemResult.model_fields)


def test_results_serialise_as_submission_results_did() -> None:
    first = UUID("0b6c2a52-8f59-4d5f-9a0b-1c1e2d3f4a5b")
    second = UUID("FFFFFFFF-0000-4000-8000-00000000000A")
    created = Stored(first, "created", 41, "TKT-2026-000041")
    rejected = ItemResult(
        client_uuid="0B6C2A52-8F59-4D5F-9A0B-1C1E2D3F4A5B",
        status="rejected",
        error=ErrorDetail(code="rating_out_of_range", message='rating must be "between" 1 and 5; é.'),
    )
    results: list[ItemResult | Stored] = [
        created,
        Stored(second, "duplicate", 2**31 - 1, None),
        rejected,
        replace(created, status="duplicate"),
        ItemResult(client_uuid=None, status="rejected", error=ErrorDetail(code="invalid_item", message="x")),
    ]
    as_before = SubmissionResults(
        results=[
            r
            if isinstance(r, ItemResult)
            else ItemResult(
                client_uuid=str(r.client_uuid),
                status=r.status,
                feedback_id=r.feedback_id,
                ticket_number=r.ticket_number,
            )
            for r in results
        ]
    ).model_dump_json()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydantic warns when it serialises a value off its type
        assert results_json(results) == as_before.encode()
        assert results_json([]) == SubmissionResults(results=[]).model_dump_json().encode()
    assert b'"client_uuid":"ffffffff-0000-4000-8000-00000000000a"' in results_json(results)
