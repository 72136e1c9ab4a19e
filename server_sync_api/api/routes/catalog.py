from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from server_sync_api.api.deps import AuthorizedDevice, Connection, Settings
from server_sync_api.protocol import Catalog, ErrorResponse
from server_sync_api.services import catalog

router = APIRouter(prefix="/api/v1", tags=["catalog"])


@router.get(
    "/catalog",
    response_model=Catalog,
    responses={304: {"description": "Not modified"}, 401: {"model": ErrorResponse}},
)
async def get_catalog(
    device: AuthorizedDevice,
    conn: Connection,
    settings: Settings,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The services of the device's entity and those under it, with categories and limits.

    Send the ETag back as If-None-Match: an unchanged catalog answers 304 with no body.
    """
    result = await catalog.build_catalog(conn, device, settings.public_base_url)
    await conn.commit()
    body = result.model_dump_json().encode("utf-8")
    etag = catalog.etag_of(body)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if catalog.etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
