from __future__ import annotations

from fastapi import APIRouter, Request

from server_sync_api.api.deps import Connection, Settings
from server_sync_api.api.errors import ApiError
from server_sync_api.protocol import EnrollRequest, EnrollResponse, ErrorResponse
from server_sync_api.services import enrollment

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


@router.post(
    "/enroll",
    response_model=EnrollResponse,
    responses={400: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
)
async def enroll(
    body: EnrollRequest, request: Request, conn: Connection, settings: Settings
) -> EnrollResponse:
    """Exchange a one-time enrollment code (from `gea-server devices add`) for a device token."""
    address = request.client.host if request.client else "unknown"
    window = settings.enroll_failure_window_minutes
    if await enrollment.recent_failures(conn, address, window) >= settings.enroll_max_failures:
        await conn.commit()
        raise ApiError(
            429,
            "too_many_attempts",
            f"Too many wrong enrollment codes from this address. Wait {window} minutes and try again.",
            headers={"Retry-After": str(window * 60)},
        )
    try:
        enrolled = await enrollment.enroll(conn, body.enrollment_code)
    except enrollment.EnrollmentRefused as refused:
        await conn.rollback()
        await enrollment.record_attempt(conn, address, False, refused.code)
        await conn.commit()
        raise ApiError(400, refused.code, refused.message) from None
    await enrollment.record_attempt(conn, address, True, None)
    await conn.commit()
    return EnrollResponse(
        device_code=enrolled.device_code,
        device_token=enrolled.device_token,
        entity_id=enrolled.entity_id,
        public_base_url=settings.public_base_url,
    )
