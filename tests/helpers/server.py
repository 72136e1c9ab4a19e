"""The real API, served by uvicorn on a free 127.0.0.1 port in a background thread, against
a test's own database; and kiosks enrolled through it the way IT does it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import uvicorn
from sqlalchemy.engine import URL

from server_sync_api.core.config import ServerSettings
from server_sync_api.core.db import libpq_conninfo
from server_sync_api.main import create_app
from server_sync_api.services import devices

TEST_IP_HASH_SECRET = "test-secret-" + "x" * 32
STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(db_url: URL, **overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "database_url": db_url.render_as_string(hide_password=False),
        "ip_hash_secret": TEST_IP_HASH_SECRET,
        "public_base_url": "https://feedback.example.gd",
        **overrides,
    }
    return ServerSettings(**values)


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    settings: ServerSettings

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)


@contextmanager
def serve(settings: ServerSettings, port: int | None = None) -> Iterator[LiveServer]:
    """Run the app until the block ends; returns once the server accepts connections."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    started = threading.Event()
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        if not started.wait(STARTUP_TIMEOUT_S) or server.should_exit:
            raise RuntimeError("the test server did not start")
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join()


@dataclass(frozen=True)
class EnrolledDevice:
    device_code: str
    token: str
    entity_id: str


def add_device(db_url: URL, entity_id: str, name: str = "Test counter") -> devices.NewCode:
    with psycopg.connect(libpq_conninfo(db_url)) as conn:
        return devices.add_device(conn, name, entity_id, ttl_hours=72)


def enroll(server: LiveServer, db_url: URL, entity_id: str, name: str = "Test counter") -> EnrolledDevice:
    """Add a device as `gea-server devices add` does and enroll it over HTTP."""
    new = add_device(db_url, entity_id, name)
    with server.client() as client:
        response = client.post("/api/v1/devices/enroll", json={"enrollment_code": new.enrollment_code})
    response.raise_for_status()
    body = response.json()
    return EnrolledDevice(body["device_code"], body["device_token"], body["entity_id"])
