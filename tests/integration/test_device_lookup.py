"""The bearer token's look-up (api/deps.get_device) reads with autocommit on, one round trip
instead of BEGIN, SELECT and COMMIT; the pool's reset gives every connection back with
autocommit off, so no other request inherits it. Against a real pool of one connection, as the
API makes it (main.py's reset)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import URL
from starlette.requests import Request

from server_sync_api.api import deps
from server_sync_api.api.errors import ApiError
from server_sync_api.services import enrollment
from tests.helpers import pg
from tests.helpers.server import add_device

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pool(db_url: URL) -> AsyncIterator[AsyncConnectionPool[AsyncConnection[Any]]]:
    """One connection, so the connection a test checks is the one the look-up used."""
    async with AsyncConnectionPool(
        pg.conninfo(db_url), min_size=1, max_size=1, open=False, reset=deps.autocommit_off
    ) as opened:
        yield opened


def _request(token: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})


async def _autocommit_and_status(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> tuple[bool, str]:
    async with pool.connection() as conn:
        return conn.autocommit, conn.info.transaction_status.name


async def test_the_look_up_finds_the_device_and_leaves_the_connection_as_psycopg_opens_it(
    db_url: URL, pool: AsyncConnectionPool[AsyncConnection[Any]]
) -> None:
    code = add_device(db_url, "AGY-002")
    async with pool.connection() as conn:
        enrolled = await enrollment.enroll(conn, code.enrollment_code)

    device = await deps.get_device(_request(enrolled.device_token), pool)
    assert (device.device_code, device.entity_id) == (enrolled.device_code, "AGY-002")
    assert await _autocommit_and_status(pool) == (False, "IDLE")

    with pytest.raises(ApiError) as refused:
        await deps.get_device(_request("not-a-token"), pool)
    assert (refused.value.status, refused.value.code) == (401, "device_not_authorized")
    assert await _autocommit_and_status(pool) == (False, "IDLE")

    # Without the pool's reset, the look-up's autocommit would stay with the connection.
    async with AsyncConnectionPool(pg.conninfo(db_url), min_size=1, max_size=1, open=False) as bare:
        await deps.get_device(_request(enrolled.device_token), bare)
        assert await _autocommit_and_status(bare) == (True, "IDLE")
