from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError

from server_sync_api.api import bodies
from server_sync_api.api.deps import POOL_TIMEOUT_S, AuthorizedDevice, Pool
from server_sync_api.api.errors import ApiError, describe_validation_errors
from server_sync_api.domain import Device
from server_sync_api.protocol import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ITEMS,
    DeviceStatus,
    ErrorResponse,
    ItemResult,
    SubmissionBatch,
    SubmissionResults,
)
from server_sync_api.services import ingest

router = APIRouter(prefix="/api/v1", tags=["submissions"])


@dataclass(slots=True)
class _Results:
    """SubmissionResults with a stored item's result as ingest.Stored (ItemResult's fields, in
    its order, not validated again): the same JSON, serialised by pydantic's Rust core."""

    results: list[ItemResult | ingest.Stored]


_RESULTS: TypeAdapter[_Results] = TypeAdapter(_Results)

# The body is parsed here (whole when it is valid, else item by item), so the schema is given
# to OpenAPI by hand.
_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmissionBatch"}}},
    }
}


@router.post(
    "/submissions",
    response_model=SubmissionResults,
    openapi_extra=_BODY_SCHEMA,
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def submit(request: Request, device: AuthorizedDevice, pool: Pool) -> Response:
    """Submit a batch of up to 500 items (2 MiB); each item is settled on its own.

    An empty `items` list is a heartbeat that only records the device's health.
    """
    received_at = datetime.now(UTC)
    screened, status = _screen(await _read_body(request), device)
    # Only now, with the whole body in hand, does the request take a database connection.
    async with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
        results = await ingest.settle_batch(conn, device, screened, status, received_at)
    # Serialized here by pydantic's Rust core: returned as a model, FastAPI would validate the
    # results it was just given once more before serializing them (response_model stays for
    # OpenAPI).
    return Response(results_json(results), media_type="application/json")


def results_json(results: list[ingest.Result]) -> bytes:
    """The body of the answer, as SubmissionResults(results=...).model_dump_json() gives it."""
    return _RESULTS.dump_json(_Results(results))


def _screen(body: bytes, device: Device) -> tuple[ingest.ScreenedBatch, DeviceStatus | None]:
    """The common case, a batch with nothing wrong in it, is validated whole in one call to
    pydantic's Rust core; anything amiss (a malformed item, a broken rule, a bad envelope)
    sends the batch down the item-by-item path, which settles each item on its own."""
    whole = _valid_batch(body)
    if whole is not None:
        screened = ingest.screen_parsed_items(whole.items, device)
        if screened is not None:
            return screened, whole.device_status
    return _screen_item_by_item(_decode(body), device)


def _valid_batch(body: bytes) -> SubmissionBatch | None:
    """The body as a SubmissionBatch when the whole of it is valid, else None. Where the
    JSON parser used here is stricter than json.loads (a byte-order mark, UTF-16, a lone
    surrogate, deep nesting), the answer is None too, and json.loads decides as before."""
    try:
        return SubmissionBatch.model_validate_json(body)
    except ValidationError:
        return None


def _screen_item_by_item(body: Any, device: Device) -> tuple[ingest.ScreenedBatch, DeviceStatus | None]:
    """The envelope checked (refused whole when wrong), then each item screened on its own."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ApiError(422, "invalid_request", 'The body must be an object with an "items" list.')
    items: list[Any] = body["items"]
    if len(items) > BATCH_MAX_ITEMS:
        raise ApiError(
            413,
            "too_many_items",
            f"A batch holds at most {BATCH_MAX_ITEMS} items; this one has {len(items)}. Split it.",
        )
    try:
        status = (
            None if body.get("device_status") is None else DeviceStatus.model_validate(body["device_status"])
        )
    except ValidationError as exc:
        errors = [{**e, "loc": ("device_status", *e["loc"])} for e in exc.errors()]
        raise ApiError(422, "invalid_request", describe_validation_errors(errors)) from None
    return ingest.screen_items(items, device), status


async def _read_body(request: Request) -> bytes:
    if bodies.media_type(request) != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the batch as application/json.")
    try:
        return await bodies.read_bounded(request, BATCH_MAX_BYTES)
    except bodies.BodyTooLarge:
        raise ApiError(
            413,
            "payload_too_large",
            f"A batch is at most {BATCH_MAX_BYTES:,} bytes. Send fewer items per batch.",
        ) from None


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(
            400, "malformed_json", "The body is not valid JSON (or is nested too deeply)."
        ) from None


__all__ = ["SubmissionBatch", "router"]
