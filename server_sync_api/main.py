"""The FastAPI application: `create_app(settings)` builds it, `uvicorn` serves it
(`create_served_app` for `gea-server serve`).

The connection pool is opened in the lifespan from the settings, without waiting for the
database, so the process starts (and /healthz answers) while PostgreSQL is still coming up;
/readyz tells a load balancer when it can send traffic.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class RequestIdMiddleware:
    """Every request gets an id (the client's X-Request-ID, else a new one), kept in
    `request.state.request_id` for the logs and error pages and sent back in X-Request-ID.

    A plain ASGI middleware: Starlette's `@app.middleware("http")` runs each request in a task
    of its own and streams the answer through it: about 0.4 ms of the API's CPU a request, a
    quarter of what a kiosk's heartbeat cost it (bench/sync_server.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = Headers(scope=scope).get("x-request-id", "")[:64] or uuid.uuid4().hex
        # request.state is this per-request dict (uvicorn copies the app's state into each scope).
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])  # optional in ASGI; MutableHeaders needs it
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        await self.app(scope, receive, send_with_id)


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

    app.add_middleware(RequestIdMiddleware)

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


def create_served_app() -> FastAPI:
    """The app as `gea-server serve` runs it: built once in each worker process, after which
    what is alive (modules, routes, validators: about 140,000 objects) lives as long as the
    process. gc.freeze moves it out of the cyclic garbage collector's reach. Otherwise each
    full collection walks all of it: 80-100 ms of a worker's CPU, about once per 40,000 items
    ingested, during which the request it interrupted waits (docs/scaling.md). Frozen objects
    are still freed when nothing refers to them; only a cycle among them would outlive its
    use. Not in create_app: a test process builds many apps, and each freeze would keep the
    cycles of the tests before it for good."""
    app = create_app()
    gc.collect()  # what is garbage already is not frozen with the rest
    gc.freeze()
    return app
