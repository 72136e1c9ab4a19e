from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from server_sync_api.api import bodies, status_page
from server_sync_api.api.client import client_address, same_origin
from server_sync_api.api.deps import AuthorizedDevice, Connection, Settings, device_of
from server_sync_api.api.errors import ApiError, describe_validation_errors
from server_sync_api.protocol import ErrorResponse, SubmissionStatus
from server_sync_api.public import pages as public_pages
from server_sync_api.services import appeal, lookup_throttle, status, waits

router = APIRouter(tags=["status"])

NOT_FOUND_REFERENCE = ApiError(
    404, "unknown_reference_code", "No submission has this reference code. Check it against your receipt."
)


# -- The throttle of public look-ups (services/lookup_throttle.py) -------------------------------
#
# Each route that answers whether a reference code exists admits the look-up first (taking the
# address's lock), looks the code up, records a miss, and ends its transaction at once.


async def looker(request: Request, conn: Connection) -> lookup_throttle.Looker:
    """The client as the throttle sees it: a kiosk with a valid device token is not limited; an
    invalid or revoked token is no token (limited, not 401: the look-ups are public). The token
    is checked on the route's own connection: a second one per request would let a flood of
    made-up tokens hold the whole pool, each request waiting for a second connection."""
    if await device_of(request, conn) is not None:
        await conn.commit()
        return lookup_throttle.Looker(None)
    await conn.commit()
    return lookup_throttle.Looker(client_address(request))


Looker = Annotated[lookup_throttle.Looker, Depends(looker)]


async def throttled(conn: Connection, who: lookup_throttle.Looker) -> int | None:
    """None when the look-up may go ahead (the address's lock is then held until the route
    commits); else the seconds to wait, with the transaction already ended."""
    try:
        await who.admit(conn)
    except lookup_throttle.Throttled as exc:
        await conn.rollback()
        return exc.retry_after_s
    return None


def rate_limited(retry_after_s: int) -> ApiError:
    """The JSON answer to a throttled look-up: the same whatever the code."""
    wait = waits.in_words(retry_after_s)
    return ApiError(
        429,
        "rate_limited",
        "Too many unknown reference codes were looked up from your network in the last "
        f"{lookup_throttle.WINDOW_MINUTES} minutes. Try again in {wait}.",
        headers={"Retry-After": str(retry_after_s)},
    )


def throttled_page(retry_after_s: int, lang: str) -> HTMLResponse:
    """The status page's answer to a throttled look-up: the same whatever the code."""
    return HTMLResponse(
        status_page.render_throttled(retry_after_s, lang),
        status_code=429,
        headers={"Retry-After": str(retry_after_s)},
    )


_RATE_LIMITED = {
    "model": ErrorResponse,
    "description": "Too many unknown reference codes from this address (`Retry-After`, seconds)",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
}


@router.get(
    "/api/v1/status/{reference_code}",
    response_model=SubmissionStatus,
    responses={404: {"model": ErrorResponse}, 429: _RATE_LIMITED},
)
async def status_by_reference(reference_code: str, conn: Connection, who: Looker) -> SubmissionStatus:
    """Public: where a submission is, where its ticket has been and the office's public replies,
    by the reference code on its receipt. Nothing personal, no officer, no internal note.
    Limited per address: 30 unknown codes in 10 minutes, then 429 (a device token is not
    limited)."""
    if (wait := await throttled(conn, who)) is not None:
        raise rate_limited(wait)
    found = await status.by_reference_code(conn, reference_code)
    if found is None:
        await who.missed(conn)
    await conn.commit()
    if found is None:
        raise NOT_FOUND_REFERENCE
    return found


@router.get(
    "/api/v1/tickets/{ticket_number}",
    response_model=SubmissionStatus,
    responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)
async def status_by_ticket(
    ticket_number: str, device: AuthorizedDevice, conn: Connection
) -> SubmissionStatus:
    """Staff: the same for a ticket of this device's entity (or those under it), by its number."""
    found = await status.by_ticket_number(conn, ticket_number, device.entity_id)
    await conn.commit()
    if found is None:
        raise ApiError(404, "unknown_ticket", f"No ticket {ticket_number} for this office. Check the number.")
    return found


@router.get("/s/{reference_code}", response_class=HTMLResponse, include_in_schema=False)
async def status_page_route(
    reference_code: str,
    request: Request,
    conn: Connection,
    settings: Settings,
    who: Looker,
    reopened: str | None = None,
) -> HTMLResponse:
    """The page a receipt's QR code opens on a citizen's phone, in their language (`?lang=`, else
    the browser's); it offers "not resolved" while the citizen may say it, and `?reopened=1`
    confirms that they did."""
    lang = public_pages.language(request)
    if (wait := await throttled(conn, who)) is not None:
        return throttled_page(wait, lang)
    found = await status.by_reference_code(conn, reference_code)
    if found is None:
        await who.missed(conn)
        await conn.commit()
        return HTMLResponse(status_page.render_not_found(reference_code, lang), status_code=404)
    offer = await appeal.offer(conn, reference_code)
    await conn.commit()
    # Only a ticket the citizen did reopen confirms it, whatever the address says.
    confirmed = reopened == "1" and offer.appealed and found.status == appeal.REOPENED_CODE
    page = status_page.render(found, settings.timezone, lang=lang, offer=offer, confirmed=confirmed)
    return HTMLResponse(page)


# -- "Not resolved": the citizen reopens a resolved complaint (services/appeal.py) ---------------

# The form's body: a reason of 1,000 characters is at most 12,000 bytes percent-encoded.
APPEAL_BODY_MAX_BYTES = 16 * 1024
CROSS_SITE_MESSAGE = "This can only be sent from the complaint's own status page."


class AppealRequest(BaseModel):
    """Why the complaint is not resolved: 1 to 1,000 characters once trimmed."""

    model_config = ConfigDict(extra="forbid")
    reason: str


@router.post("/s/{reference_code}/not-resolved", response_class=HTMLResponse, include_in_schema=False)
async def not_resolved_page(
    reference_code: str, request: Request, conn: Connection, settings: Settings, who: Looker
) -> Response:
    """The status page's "not resolved" form: reopens the complaint and goes back to the status
    page (303), or says why not; a blank or too long reason shows the page again with the error."""

    lang = public_pages.language(request)

    def refused(status_code: int, heading: str, message: str) -> HTMLResponse:
        return HTMLResponse(
            status_page.render_refused(reference_code, heading, message, lang), status_code=status_code
        )

    if not same_origin(request, settings):
        return refused(403, "This form was sent from another site", CROSS_SITE_MESSAGE)
    if bodies.media_type(request) != "application/x-www-form-urlencoded":
        return refused(415, "We could not read the form", "Send it from the status page's form.")
    try:
        body = await bodies.read_bounded(request, APPEAL_BODY_MAX_BYTES)
    except bodies.BodyTooLarge:
        return refused(413, "Your reason is too long", appeal.TOO_LONG)
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20)
    except ValueError:  # more fields than the form has
        return refused(400, "We could not read the form", "Send it from the status page's form.")
    typed = (fields.get("reason") or [""])[0]
    lang = public_pages.language(request, (fields.get("lang") or [""])[0])
    if (wait := await throttled(conn, who)) is not None:
        return throttled_page(wait, lang)
    try:
        await appeal.appeal(conn, reference_code, typed)
    except appeal.UnknownReference:
        await who.missed(conn)
        await conn.commit()
        return HTMLResponse(status_page.render_not_found(reference_code, lang), status_code=404)
    except appeal.AppealNotOpen as exc:
        await conn.rollback()
        return refused(409, "Your complaint cannot be reopened here", exc.message)
    except appeal.InvalidReason as exc:
        found = await status.by_reference_code(conn, reference_code)
        offer = await appeal.offer(conn, reference_code)
        await conn.commit()
        if found is None:  # gone meanwhile: cannot happen, submissions are permanent
            return HTMLResponse(status_page.render_not_found(reference_code, lang), status_code=404)
        page = status_page.render(
            found, settings.timezone, lang=lang, offer=offer, reason=typed, error=exc.message
        )
        return HTMLResponse(page, status_code=422)
    # The appeal was a savepoint inside the look-up's transaction (it holds the address's lock).
    await conn.commit()
    return RedirectResponse(f"/s/{reference_code}?reopened=1&lang={lang}", status_code=303)


_APPEAL_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AppealRequest.model_json_schema()}},
    }
}


@router.post(
    "/api/v1/status/{reference_code}/not-resolved",
    response_model=SubmissionStatus,
    openapi_extra=_APPEAL_BODY,
    responses={
        400: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        429: _RATE_LIMITED,
    },
)
async def not_resolved(
    reference_code: str, request: Request, conn: Connection, settings: Settings, who: Looker
) -> SubmissionStatus:
    """Public: the citizen says their resolved complaint is not resolved, with a reason (1 to
    1,000 characters). Once per ticket, within 14 days of its resolution; the ticket is reopened
    with a new resolution target. Answers the new status."""
    if not same_origin(request, settings):
        raise ApiError(403, "cross_site_request", CROSS_SITE_MESSAGE)
    if bodies.media_type(request) != "application/json":
        raise ApiError(415, "unsupported_media_type", 'Send {"reason": "..."} as application/json.')
    try:
        raw: Any = json.loads(await bodies.read_bounded(request, APPEAL_BODY_MAX_BYTES))
    except bodies.BodyTooLarge:
        raise ApiError(
            413, "payload_too_large", f"The body is at most {APPEAL_BODY_MAX_BYTES:,} bytes."
        ) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "malformed_json", "The body is not valid JSON.") from None
    try:
        body = AppealRequest.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", describe_validation_errors(exc.errors())) from None
    if (wait := await throttled(conn, who)) is not None:
        raise rate_limited(wait)
    try:
        await appeal.appeal(conn, reference_code, body.reason)
    except appeal.UnknownReference:
        await who.missed(conn)
        await conn.commit()
        raise NOT_FOUND_REFERENCE from None
    except appeal.AppealNotOpen as exc:
        await conn.rollback()
        raise ApiError(409, "appeal_not_open", exc.message) from None
    except appeal.InvalidReason as exc:
        await conn.rollback()
        raise ApiError(422, "invalid_request", exc.message) from None
    found = await status.by_reference_code(conn, reference_code)
    await conn.commit()
    if found is None:  # cannot happen: submissions are permanent
        raise NOT_FOUND_REFERENCE
    return found
