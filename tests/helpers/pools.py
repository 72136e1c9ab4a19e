"""Real psycopg pools for tests of how the API uses and gives back a pooled connection: with
one connection, the connection a test checks after a call is the one the call used."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import URL

from tests.helpers import pg

Pool = AsyncConnectionPool[AsyncConnection[Any]]


@asynccontextmanager
async def pool_of(db_url: URL, size: int = 1) -> AsyncIterator[Pool]:
    """A pool of `size` connections to `db_url`, all opened at once, closed when the block ends."""
    async with AsyncConnectionPool(pg.conninfo(db_url), min_size=size, max_size=size, open=False) as opened:
        yield opened


async def autocommit_and_status(pool: Pool) -> tuple[bool, str]:
    """How the pool's next connection comes: its autocommit flag and transaction status."""
    async with pool.connection() as conn:
        return conn.autocommit, conn.info.transaction_status.name
