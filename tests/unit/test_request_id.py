"""RequestIdMiddleware: every answer carries the request's id, the client's when it sent one,
and handlers (the error handlers included, which run outside the app's own middleware) read
the same id from request.state."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from server_sync_api.api import errors
from server_sync_api.main import RequestIdMiddleware


async def _echo(request: Request) -> Response:
    return PlainTextResponse(request.state.request_id)


async def _fail(_request: Request) -> Response:
    raise RuntimeError("boom")


async def _unexpected(request: Request, _exc: Exception) -> Response:
    return JSONResponse({"quote": request.state.request_id}, status_code=500)


def _client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/echo", _echo), Route("/fail", _fail)],
        exception_handlers={Exception: _unexpected},
    )
    app.add_middleware(RequestIdMiddleware)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://kiosk.test")


@pytest.mark.anyio
async def test_the_clients_id_is_kept_and_sent_back() -> None:
    async with _client() as client:
        response = await client.get("/echo", headers={"X-Request-ID": "req-42"})
    assert response.text == "req-42"
    assert response.headers["X-Request-ID"] == "req-42"


@pytest.mark.anyio
async def test_without_one_each_request_gets_its_own() -> None:
    async with _client() as client:
        first, second = await client.get("/echo"), await client.get("/echo")
    assert re.fullmatch(r"[0-9a-f]{32}", first.text)
    assert first.headers["X-Request-ID"] == first.text
    assert second.text != first.text


@pytest.mark.anyio
async def test_a_long_id_is_cut_and_the_error_handler_quotes_it() -> None:
    async with _client() as client:
        response = await client.get("/fail", headers={"X-Request-ID": "x" * 100})
    assert response.status_code == 500
    assert response.json() == {"quote": "x" * 64}


@pytest.mark.anyio
async def test_the_apis_own_500_answer_carries_the_id_too() -> None:
    """errors.install's handler for the unexpected answers outside the middleware."""
    app = FastAPI()
    errors.install(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        response = await client.get("/fail", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-500"
    assert "Quote request id req-500 to IT." in response.json()["error"]["message"]
