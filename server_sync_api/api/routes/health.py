from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

from server_sync_api.api.errors import error_body
from server_sync_api.protocol import ErrorResponse, Health

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0


async def _current_revision(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> tuple[Any, ...] | None:
    async with pool.connection(timeout=READY_TIMEOUT_S) as conn:
        try:
            cursor = await conn.execute("SELECT version_num FROM alembic_version")
            return await cursor.fetchone()
        except errors.UndefinedTable:
            return None  # never migrated


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> Health:
    """The process is alive (it does not touch the database)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": ErrorResponse}})
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at the head revision."""
    pool: AsyncConnectionPool[AsyncConnection[Any]] = request.app.state.pool
    head: str = request.app.state.head_revision
    try:
        try:
            row = await _current_revision(pool)
        except psycopg.OperationalError:
            # Pooled connections die with a restarted server; drop them and ask once more.
            await pool.check()
            row = await _current_revision(pool)
    except Exception as exc:  # any failure here means "not ready", which is the answer
        message = f"The database cannot be reached ({type(exc).__name__})."
        return JSONResponse(error_body("not_ready", message), status_code=503, headers={"Retry-After": "5"})
    revision = row[0] if row else None
    if revision != head:
        message = f"The database is at revision {revision or 'none'}, not {head}: run gea-server migrate."
        return JSONResponse(error_body("not_ready", message), status_code=503)
    return JSONResponse(Health(status="ready", revision=revision).model_dump())
