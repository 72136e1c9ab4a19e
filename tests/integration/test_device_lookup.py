"""The bearer token's look-up (api/deps.get_device) reads with autocommit on, one round trip
instead of BEGIN, SELECT and COMMIT, and gives the connection back with autocommit off, as
psycopg opens it, whether the look-up found a device, found none or failed; so no other
request inherits it. Against a real pool of one connection, so the connection checked is the
one the look-up used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from psycopg import AsyncConnection
from sqlalchemy.engine import URL
from starlette.requests import Request

from server_sync_api.api import deps
from server_sync_api.api.errors import ApiError
from server_sync_api.domain import Device
from server_sync_api.services import enrollment
from tests.helpers.pools import Pool, autocommit_and_status, pool_of
from tests.helpers.server import add_device

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pool(db_url: URL) -> AsyncIterator[Pool]:
    async with pool_of(db_url) as opened:
        yield opened


def _request(token: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})


async def test_the_look_up_reads_outside_a_transaction_and_leaves_autocommit_off(
    db_url: URL, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = add_device(db_url, "AGY-002")
    async with pool.connection() as conn:
        enrolled = await enrollment.enroll(conn, code.enrollment_code)

    seen: list[tuple[bool, str]] = []
    real_device_of = deps.device_of

    async def device_of(request: Request, conn: AsyncConnection[Any]) -> Device | None:
        found = await real_device_of(request, conn)
        seen.append((conn.autocommit, conn.info.transaction_status.name))  # after its SELECT
        return found

    monkeypatch.setattr(deps, "device_of", device_of)
    device = await deps.get_device(_request(enrolled.device_token), pool)
    assert (device.device_code, device.entity_id) == (enrolled.device_code, "AGY-002")
    assert seen == [(True, "IDLE")]  # no transaction left open: nothing to COMMIT
    assert await autocommit_and_status(pool) == (False, "IDLE")

    with pytest.raises(ApiError) as refused:
        await deps.get_device(_request("not-a-token"), pool)
    assert (refused.value.status, refused.value.code) == (401, "device_not_authorized")
    assert await autocommit_and_status(pool) == (False, "IDLE")


async def test_a_look_up_that_fails_still_leaves_autocommit_off(
    pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(_request: Request, conn: AsyncConnection[Any]) -> Device | None:
        await conn.execute("SELECT 1")
        raise RuntimeError("injected fault")

    monkeypatch.setattr(deps, "device_of", failing)
    with pytest.raises(RuntimeError, match="injected fault"):
        await deps.get_device(_request("any-token"), pool)
    assert await autocommit_and_status(pool) == (False, "IDLE")
