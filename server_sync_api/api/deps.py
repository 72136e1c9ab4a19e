"""Typed dependencies for the routes: settings, a database connection, the calling device."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from server_sync_api import security
from server_sync_api.api.errors import ApiError
from server_sync_api.core.config import ServerSettings
from server_sync_api.core.db import autocommit
from server_sync_api.domain import Device

# How long a request waits for a pooled connection before answering 503.
POOL_TIMEOUT_S = 5.0


def get_settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.settings
    return settings


async def get_pool(request: Request) -> AsyncConnectionPool[AsyncConnection[Any]]:
    # async although it never waits: FastAPI runs a plain `def` dependency in its thread pool,
    # a hand-over to another thread and back on every request that uses the pool.
    pool: AsyncConnectionPool[AsyncConnection[Any]] = request.app.state.pool
    return pool


async def get_connection(
    pool: Annotated[AsyncConnectionPool[AsyncConnection[Any]], Depends(get_pool)],
) -> AsyncIterator[AsyncConnection[Any]]:
    async with pool.connection(timeout=POOL_TIMEOUT_S) as conn:
        yield conn


NOT_AUTHORIZED = ApiError(
    401,
    "device_not_authorized",
    "This kiosk is not authorized: it was revoked or never enrolled. Ask IT to re-enroll it.",
    headers={"WWW-Authenticate": "Bearer"},
)


async def device_of(request: Request, conn: AsyncConnection[Any]) -> Device | None:
    """The active device whose bearer token the request carries, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    token_digest = security.digest(token.strip())
    cursor = await conn.execute(
        "SELECT device_id, device_code, entity_id, token_hash FROM kiosk_devices "
        "WHERE token_hash = %s AND is_active",
        (token_digest,),
    )
    row = await cursor.fetchone()
    if row is None or not security.same_digest(row[3], token_digest):
        return None
    return Device(device_id=row[0], device_code=row[1], entity_id=row[2])


async def get_device(
    request: Request, pool: Annotated[AsyncConnectionPool[AsyncConnection[Any]], Depends(get_pool)]
) -> Device:
    """The device the bearer token belongs to. Uses a connection of its own, returned at once,
    so a route can read a large body without holding one."""
    if not request.headers.get("authorization", "").strip():
        raise NOT_AUTHORIZED
    # One round trip instead of three: a single read needs no transaction, where psycopg
    # would send BEGIN before it and COMMIT as the block ends, on every request a kiosk makes.
    async with pool.connection(timeout=POOL_TIMEOUT_S) as conn, autocommit(conn):
        device = await device_of(request, conn)
    if device is None:
        raise NOT_AUTHORIZED
    return device


Settings = Annotated[ServerSettings, Depends(get_settings)]
Connection = Annotated[AsyncConnection[Any], Depends(get_connection)]
Pool = Annotated[AsyncConnectionPool[AsyncConnection[Any]], Depends(get_pool)]
AuthorizedDevice = Annotated[Device, Depends(get_device)]
