from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from server_sync_api.api import status_page
from server_sync_api.api.deps import AuthorizedDevice, Connection, Settings
from server_sync_api.api.errors import ApiError
from server_sync_api.protocol import ErrorResponse, SubmissionStatus
from server_sync_api.services import status

router = APIRouter(tags=["status"])

NOT_FOUND_REFERENCE = ApiError(
    404, "unknown_reference_code", "No submission has this reference code. Check it against your receipt."
)


@router.get(
    "/api/v1/status/{reference_code}",
    response_model=SubmissionStatus,
    responses={404: {"model": ErrorResponse}},
)
async def status_by_reference(reference_code: str, conn: Connection) -> SubmissionStatus:
    """Public: where a submission is, where its ticket has been and the office's public replies,
    by the reference code on its receipt. Nothing personal, no officer, no internal note."""
    found = await status.by_reference_code(conn, reference_code)
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
async def status_page_route(reference_code: str, conn: Connection, settings: Settings) -> HTMLResponse:
    """The page a receipt's QR code opens on a citizen's phone."""
    found = await status.by_reference_code(conn, reference_code)
    await conn.commit()
    if found is None:
        return HTMLResponse(status_page.render_not_found(reference_code), status_code=404)
    return HTMLResponse(status_page.render(found, settings.timezone))
