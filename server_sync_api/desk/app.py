"""The desk's part of the application: its routes, static files, the sign-in flow's cookie,
the identity provider's client, and pages (not JSON) for its errors."""

from __future__ import annotations

from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import Response
from psycopg_pool import PoolTimeout
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from server_sync_api.api.errors import request_id
from server_sync_api.core.config import ServerSettings
from server_sync_api.desk import admin, auth, dashboard, i18n, oidc, pages, web

NOT_CONFIGURED = (
    "IT must set GEA_SERVER_SESSION_SECRET on the server before officers can sign in. Kiosks and "
    "the public pages work without it."
)
EXPIRED = "Reload the page and try again. Nothing was changed."


def install(app: FastAPI, settings: ServerSettings) -> None:
    """Adds the desk. Without GEA_SERVER_SESSION_SECRET it only says it is not set up."""
    app.include_router(web.router)
    app.include_router(oidc.router)
    app.include_router(dashboard.router)
    app.include_router(admin.router)
    app.mount("/desk/static", StaticFiles(directory=Path(__file__).with_name("static")), name="desk-static")
    app.state.oidc_client = None
    if settings.session_secret is not None:
        app.state.oidc_client = oidc.register(settings)
        app.add_middleware(
            SessionMiddleware,
            secret_key=auth.derived_key(settings, "flow-cookie").hex(),
            session_cookie=auth.FLOW_COOKIE,
            max_age=auth.FLOW_MAX_AGE_S,
            path=auth.COOKIE_PATH,
            same_site="lax",
            https_only=auth.served_over_https(settings),
        )

    @app.exception_handler(auth.DeskNotConfigured)
    async def _not_configured(request: Request, _: Exception) -> Response:
        return web.message(request, "The ticket desk is not set up", NOT_CONFIGURED, 503)

    @app.exception_handler(auth.SignInRequired)
    async def _sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, auth.SignInRequired)
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": exc.next_path})
        return web.see_other(exc.next_path)

    @app.exception_handler(auth.CsrfRejected)
    async def _csrf(request: Request, _: Exception) -> Response:
        return web.message(request, "This form has expired", EXPIRED, 403)


def handles(path: str) -> bool:
    return path == "/desk" or path.startswith("/desk/")


def error_page(request: Request, status_code: int, exc: Exception) -> Response:
    """The desk's page for what the API would answer in JSON (404, 405, 422, 500, 503)."""
    if status_code == 503 or isinstance(exc, PoolTimeout | psycopg.OperationalError):
        text = "The database cannot be reached right now. Nothing was lost; try again shortly."
        return web.message(request, "Something went wrong", text, 503)
    if status_code >= 500:
        _ = i18n.translator(pages.language(request))
        text = _("Nothing was changed. Quote request {request_id} to IT.", request_id=request_id(request))
        return web.message(request, "Something went wrong", text, 500)
    if status_code == 404:
        return web.message(request, "Page not found", "There is nothing at this address.", 404)
    return web.message(request, "This form has expired", EXPIRED, status_code)
