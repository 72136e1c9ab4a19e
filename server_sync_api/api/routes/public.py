"""`POST /api/v1/public/feedback`: feedback from phones and the portal, for clients other than
the app's own pages (ARCHITECTURE 5, "Public feedback"). No device token; limited per address
(services/public_feedback.py)."""

from __future__ import annotations

import json
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from server_sync_api.api import bodies
from server_sync_api.api.client import client_address, client_hash
from server_sync_api.api.deps import Connection, Settings
from server_sync_api.api.errors import ApiError, describe_validation_errors
from server_sync_api.protocol import COMMENT_HARD_CAP, ErrorResponse
from server_sync_api.services import public_feedback
from server_sync_api.services.captcha import PAYLOAD_MAX_CHARS

router = APIRouter(tags=["public"])

# A 2,000-character comment is at most 8 KB of UTF-8, 48 KB escaped as \\uXXXX pairs.
BODY_MAX_BYTES = 64 * 1024


class PublicFeedbackRequest(BaseModel):
    """One citizen's feedback. `qr_code_value` when it came through a poster (channel
    `qr_code`), else the portal. `captcha` is the solved ALTCHA payload when the address needs
    one. `client_uuid` (optional) makes a retry safe: the same value answers the first
    submission's reference instead of storing it twice."""

    model_config = ConfigDict(extra="forbid")

    service_id: str = Field(min_length=1, max_length=50, examples=["SVC-001"])
    qr_code_value: str | None = Field(default=None, min_length=1, max_length=500)
    rating: StrictInt
    service_quality: StrictInt | None = None
    staff_behavior: StrictInt | None = None
    waiting_time: StrictInt | None = None
    cleanliness: StrictInt | None = None
    feedback_text: str | None = Field(default=None, max_length=COMMENT_HARD_CAP)
    grievance_flag: StrictBool = False
    language: Literal["en", "es"] = "en"
    captcha: str | None = Field(default=None, max_length=PAYLOAD_MAX_CHARS)
    client_uuid: UUID | None = None


class PublicFeedbackAccepted(BaseModel):
    reference_code: str = Field(examples=["WEB-000123-7QX4K2M9"])
    status_url: str = Field(examples=["https://feedback.gov.gd/s/WEB-000123-7QX4K2M9"])


def status_url(public_base_url: str, reference_code: str, language: str) -> str:
    return f"{public_base_url}/s/{reference_code}" + ("?lang=es" if language == "es" else "")


_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PublicFeedbackRequest.model_json_schema()}},
    }
}


@router.post(
    "/api/v1/public/feedback",
    status_code=201,
    response_model=PublicFeedbackAccepted,
    openapi_extra=_BODY,
    responses={
        200: {"model": PublicFeedbackAccepted, "description": "Sent before with this client_uuid"},
        **{code: {"model": ErrorResponse} for code in (400, 404, 409, 410, 413, 415, 422, 429)},
    },
)
async def public_feedback_route(request: Request, conn: Connection, settings: Settings) -> JSONResponse:
    """Public: a citizen's feedback from their own phone or browser. 201 with the reference;
    400 `captcha_required` or `captcha_invalid` with an ALTCHA `challenge` to solve; 429
    `rate_limited` with Retry-After; 404 / 410 for an unknown / retired poster."""
    address = client_address(request)
    try:
        body = await _parse(request)
    except ApiError as exc:
        await public_feedback.log_refusal(conn, address, exc.code)
        raise
    try:
        target = await _target(conn, body)
        feedback, problems = public_feedback.check(
            body.rating,
            {name: getattr(body, name) for name in public_feedback.SUB_RATINGS},
            body.feedback_text,
            body.grievance_flag,
            body.client_uuid,
        )
        if feedback is None:
            raise ApiError(422, "invalid_request", public_feedback.describe(problems))
    except ApiError as exc:
        await public_feedback.log_refusal(conn, address, exc.code)
        raise
    try:
        accepted = await public_feedback.submit(
            conn,
            target,
            feedback,
            ip_hash=client_hash(request, settings),
            address=address,
            captcha_payload=body.captcha,
            settings=settings,
        )
    except public_feedback.Refused as refused:
        headers = {"Retry-After": str(refused.retry_after_s)} if refused.retry_after_s else None
        extra = {"challenge": refused.challenge} if refused.challenge is not None else None
        raise ApiError(refused.status, refused.code, refused.message, headers=headers, extra=extra) from None
    answer = PublicFeedbackAccepted(
        reference_code=accepted.reference_code,
        status_url=status_url(settings.public_base_url, accepted.reference_code, body.language),
    )
    return JSONResponse(answer.model_dump(), status_code=200 if accepted.repeated else 201)


async def _parse(request: Request) -> PublicFeedbackRequest:
    if bodies.media_type(request) != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the feedback as application/json.")
    try:
        raw: Any = json.loads(await bodies.read_bounded(request, BODY_MAX_BYTES))
    except bodies.BodyTooLarge:
        raise ApiError(413, "payload_too_large", f"The body is at most {BODY_MAX_BYTES:,} bytes.") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None
    try:
        return PublicFeedbackRequest.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", describe_validation_errors(exc.errors())) from None


async def _target(conn: Connection, body: PublicFeedbackRequest) -> public_feedback.Target:
    if body.qr_code_value is None:
        found = await public_feedback.service_target(conn, body.service_id)
        if found is None:
            raise ApiError(
                422, "unknown_service", f"There is no active service {body.service_id}. Check service_id."
            )
        return found
    try:
        target = await public_feedback.qr_target(conn, body.qr_code_value)
    except public_feedback.UnknownQrCode:
        raise ApiError(404, "unknown_qr_code", "No poster has this QR code. Check qr_code_value.") from None
    except public_feedback.InactiveQrCode as retired:
        where = (
            "its service takes feedback at the portal (without qr_code_value)"
            if retired.service_open
            else "its service is no longer offered"
        )
        raise ApiError(410, "qr_code_inactive", f"This poster was retired: {where}.") from None
    if target.service_id != body.service_id:
        raise ApiError(
            422,
            "qr_code_service_mismatch",
            f"This poster is for service {target.service_id}, not {body.service_id}.",
        )
    return target
