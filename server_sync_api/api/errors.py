"""Every error leaves the API as {"error": {"code": ..., "message": ...}}.

Domain code raises `ApiError`; this module's handlers map it, FastAPI's validation errors,
Starlette's HTTP errors (404, 405...), an unreachable database and any unexpected exception
to that shape. Unexpected errors are logged with the request id and never show a trace or SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("server_sync_api.api")

DATABASE_RETRY_AFTER_S = 5
POOL_CHECK_TIMEOUT_S = 2.0

_STATUS_CODES = {
    400: "bad_request",
    401: "device_not_authorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}
_STATUS_MESSAGES = {
    404: "There is nothing at this address. Check the URL.",
    405: "This address does not accept that method.",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra  # more members of "error", e.g. a CAPTCHA challenge


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    return {"error": {"code": code, "message": message, **(extra or {})}}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, extra), status_code=status, headers=headers)


def describe_validation_errors(errors: Any) -> str:
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) + "."


# Pages for people (the desk, the public form) answer errors as pages, not JSON: a predicate
# on the path and a renderer taking the request, the status and the exception.
HtmlErrors = tuple[Callable[[str], bool], Callable[[Request, int, Exception], Response]]


def install(app: FastAPI, html: Sequence[HtmlErrors] = ()) -> None:
    def as_page(request: Request, status: int, exc: Exception) -> Response | None:
        for handles, render in html:
            if handles(request.url.path):
                return render(request, status, exc)
        return None

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if (page := as_page(request, 422, exc)) is not None:
            return page
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "The body is not valid JSON.")
        return error_response(422, "invalid_request", describe_validation_errors(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if (page := as_page(request, exc.status_code, exc)) is not None:
            return page
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = _STATUS_MESSAGES.get(exc.status_code) or str(exc.detail)
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def _database_unavailable(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable (request %s): %s", request_id(request), type(exc).__name__)
        pool = getattr(request.app.state, "pool", None)
        if isinstance(exc, psycopg.OperationalError) and pool is not None:
            # The connection may have died with a restarted server: drop the pool's dead ones
            # now, so the kiosk's retry gets a live connection.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.check(), POOL_CHECK_TIMEOUT_S)
        if (page := as_page(request, 503, exc)) is not None:
            return page
        return error_response(
            503,
            "database_unavailable",
            "The database cannot be reached right now. Nothing was lost; try again shortly.",
            {"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        rid = request_id(request)
        log.error("unexpected error (request %s)", rid, exc_info=exc)
        if (page := as_page(request, 500, exc)) is not None:
            return page
        # This handler answers outside the app's middleware, so the id is added here.
        return error_response(
            500,
            "internal_error",
            f"Something went wrong on the server. Quote request id {rid} to IT.",
            {"X-Request-ID": rid},
        )


def request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))
