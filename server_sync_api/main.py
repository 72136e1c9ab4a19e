"""The FastAPI application: `create_app(settings)` builds it, `uvicorn` serves it.

The connection pool is opened in the lifespan from the settings, without waiting for the
database, so the process starts (and /healthz answers) while PostgreSQL is still coming up;
/readyz tells a load balancer when it can send traffic.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from server_sync_api import __version__, migrate
from server_sync_api.api import errors
from server_sync_api.api.routes import catalog, devices, health, public, status, submissions
from server_sync_api.core.config import ServerSettings, load_settings, require_api_settings
from server_sync_api.core.db import libpq_conninfo
from server_sync_api.desk import app as desk
from server_sync_api.protocol import SubmissionBatch
from server_sync_api.public import pages as public_pages
from server_sync_api.public import web as public_web
from server_sync_api.services.scheduler import Scheduler

log = logging.getLogger("server_sync_api")


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or load_settings()
    require_api_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            libpq_conninfo(settings.url),
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            open=False,
            name="feedback_db",
            # No server-side prepared statements: their cached generic plans outlive the table
            # statistics they were made with, and transaction-mode PgBouncer cannot follow them.
            kwargs={"prepare_threshold": None},
        )
        await pool.open(wait=False)
        app.state.pool = pool
        # GEA_SERVER_SCHEDULER=on: every worker starts one; one across all hosts runs the jobs.
        scheduler = Scheduler(settings) if settings.scheduler == "on" else None
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await asyncio.to_thread(scheduler.stop)
            await pool.close()

    app = FastAPI(
        title="GEA feedback sync API",
        version=__version__,
        description="What counter kiosks talk to: enrollment, batch submissions, catalog, status.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.head_revision = migrate.head_revision()
    errors.install(app, html=[(desk.handles, desk.error_page), (public_web.handles, public_web.error_page)])

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    for module in (devices, submissions, catalog, status, public, health):
        app.include_router(module.router)
    app.include_router(public_web.router)
    app.mount(public_pages.STATIC_PREFIX, public_pages.static_files(), name="public-static")
    desk.install(app, settings)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            # The submissions route parses its body by hand; publish the documented shape.
            batch = SubmissionBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(batch.pop("$defs", {}))
            components["SubmissionBatch"] = batch
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
