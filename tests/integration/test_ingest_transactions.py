"""How a batch's statements meet the database (services/ingest.settle_batch): the insert and
the device's health are one statement that commits on its own, so the rows every batch writes
(the services' totals, the month's ticket counter) are free again before the API reads the
tickets back, and no other batch waits on them across a round trip to the API. The connection
goes back to the pool with autocommit off, as psycopg opens it, after a batch, a heartbeat
and a fault injected after the commit, whose batch a resend then finds stored once. A batch
replayed item by item and another of the same kiosk, at once, lock in one order. Against a
real pool of one connection (two for the batches at once), so the connection checked is the
one the batch used."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import AsyncConnection
from sqlalchemy.engine import URL

from server_sync_api.domain import Device
from server_sync_api.protocol import DeviceStatus
from server_sync_api.services import enrollment, ingest
from tests.helpers import pg
from tests.helpers.items import DEFAULT_SERVICE_ID, ItemFactory, device_status
from tests.helpers.pools import Pool, autocommit_and_status, pool_of
from tests.helpers.server import add_device

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pool(db_url: URL) -> AsyncIterator[Pool]:
    async with pool_of(db_url) as opened:
        yield opened


@pytest.fixture
async def device(db_url: URL, pool: Pool) -> Device:
    code = add_device(db_url, "AGY-002")
    async with pool.connection() as conn:
        enrolled = await enrollment.enroll(conn, code.enrollment_code)
        cursor = await conn.execute(
            "SELECT device_id FROM kiosk_devices WHERE device_code = %s", (enrolled.device_code,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return Device(device_id=row[0], device_code=enrolled.device_code, entity_id=enrolled.entity_id)


async def _settle(pool: Pool, device: Device, raw_items: list[dict[str, Any]], queue_depth: int) -> list[Any]:
    status = DeviceStatus.model_validate(device_status(queue_depth=queue_depth))
    async with pool.connection() as conn:
        return await ingest.settle_batch(
            conn, device, ingest.screen_items(raw_items, device), status, datetime.now(UTC)
        )


def _rows(db_url: URL, query: str, device: Device) -> list[tuple[Any, ...]]:
    """The rows of `query`, whose one parameter is the device's id, read on a connection of its own."""
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        return conn.execute(query, (device.device_id,)).fetchall()


async def _until_a_backend_waits_on_a_lock(db_url: URL, timeout_s: float = 30) -> None:
    """Polls pg_stat_activity until a session of this test's database waits on a lock."""
    async with await AsyncConnection.connect(pg.conninfo(db_url), autocommit=True) as watcher:
        async with asyncio.timeout(timeout_s):
            while True:
                cursor = await watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if (await cursor.fetchone()) != (0,):
                    return
                await asyncio.sleep(0.02)


async def test_the_batch_is_committed_and_its_hot_rows_free_before_its_tickets_are_read(
    db_url: URL, pool: Pool, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = ItemFactory(device.device_code)
    raw = [items(rating=4), items(rating=1, feedback_text="Waited three hours.")]
    seen: dict[str, Any] = {}
    real_classify = ingest._classify

    async def classify(conn: AsyncConnection[Any], *args: Any) -> dict[int, ingest.Result]:
        # Between the insert and the look-up of its tickets, from another connection.
        seen["transaction"] = conn.info.transaction_status.name
        with psycopg.connect(pg.conninfo(db_url), autocommit=True) as other:
            seen["visible"] = other.execute(
                "SELECT count(*) FROM service_feedback WHERE device_id = %s", (device.device_id,)
            ).fetchone()
            seen["queue_depth"] = other.execute(
                "SELECT queue_depth FROM kiosk_devices WHERE device_id = %s", (device.device_id,)
            ).fetchone()
            # NOWAIT: a row still locked by the batch's transaction raises LockNotAvailable.
            with other.transaction():
                seen["totals"] = other.execute(
                    "SELECT submissions FROM service_feedback_totals WHERE service_id = %s "
                    "FOR UPDATE NOWAIT",
                    (DEFAULT_SERVICE_ID,),
                ).fetchone()
                seen["counters"] = other.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM ticket_number_counters FOR UPDATE NOWAIT) AS c"
                ).fetchone()
        return await real_classify(conn, *args)

    monkeypatch.setattr(ingest, "_classify", classify)
    results = await _settle(pool, device, raw, queue_depth=7)

    assert [r.status for r in results] == ["created", "created"]
    assert results[0].ticket_number is None
    assert results[1].ticket_number is not None  # read back after the commit
    assert seen == {
        "transaction": "IDLE",  # no transaction left open by the insert
        "visible": (2,),  # committed: another connection sees both rows
        "queue_depth": (7,),  # the device's health, written by the same statement
        "totals": (2,),
        "counters": (1,),
    }
    assert await autocommit_and_status(pool) == (False, "IDLE")


async def test_a_heartbeat_records_health_and_leaves_autocommit_off(
    db_url: URL, pool: Pool, device: Device
) -> None:
    assert await _settle(pool, device, [], queue_depth=3) == []
    health = (
        "SELECT queue_depth, last_seen_at IS NOT NULL, last_sync_at FROM kiosk_devices "
        "WHERE device_id = %s"
    )
    assert _rows(db_url, health, device) == [(3, True, None)]  # seen, but a heartbeat syncs nothing
    assert await autocommit_and_status(pool) == (False, "IDLE")


async def test_a_fault_after_the_commit_keeps_the_batch_and_its_resend_finds_it_once(
    db_url: URL, pool: Pool, device: Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = ItemFactory(device.device_code)
    raw = [items(rating=5), items(rating=2)]
    real_classify = ingest._classify

    async def failing(_conn: AsyncConnection[Any], *_args: Any) -> dict[int, ingest.Result]:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(ingest, "_classify", failing)
    with pytest.raises(RuntimeError, match="injected fault"):
        await _settle(pool, device, raw, queue_depth=2)
    assert await autocommit_and_status(pool) == (False, "IDLE")

    # The kiosk never got its answer, so it sends the batch again.
    monkeypatch.setattr(ingest, "_classify", real_classify)
    results = await _settle(pool, device, raw, queue_depth=2)
    assert [r.status for r in results] == ["duplicate", "duplicate"]
    stored = _rows(
        db_url,
        "SELECT f.client_uuid, f.feedback_id, t.ticket_number FROM service_feedback f "
        "LEFT JOIN tickets t USING (feedback_id) WHERE f.device_id = %s",
        device,
    )
    answered = [(r.client_uuid, r.feedback_id, r.ticket_number) for r in results]
    assert [a[0] for a in answered] == [UUID(item["client_uuid"]) for item in raw]
    assert sorted(stored) == sorted(answered)  # once each, with the ids the resend answered
    assert results[1].ticket_number is not None
    assert await autocommit_and_status(pool) == (False, "IDLE")


async def test_a_replay_and_a_batch_of_the_same_kiosk_at_once_lock_in_one_order(
    db_url: URL, device: Device, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One batch replayed item by item (its insert refused whole by a rule only this test's
    database has) while another batch of the same kiosk takes the common path. Both lock the
    device's row before the rows their inserts' triggers write; in the opposite orders they
    deadlocked, and the retry cost a second (deadlock_timeout)."""
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as admin:
        admin.execute("ALTER TABLE service_feedback ADD CONSTRAINT ck_test_no_three CHECK (rating <> 3)")
    real_insert = ingest._insert
    replay_holds_its_locks = asyncio.Event()

    async def held_in_a_transaction(conn: AsyncConnection[Any], *args: Any) -> dict[UUID, int]:
        inserted = await real_insert(conn, *args)
        if conn.info.transaction_status.name == "INTRANS" and not replay_holds_its_locks.is_set():
            # The replay, after its first item: its locks held until the other batch waits
            # on one of them, so the two meet in the middle of their lock-taking.
            replay_holds_its_locks.set()
            await _until_a_backend_waits_on_a_lock(db_url)
        return inserted

    async def common_batch() -> list[Any]:
        await replay_holds_its_locks.wait()
        return await _settle(two, device, common, queue_depth=2)

    monkeypatch.setattr(ingest, "_insert", held_in_a_transaction)
    caplog.set_level(logging.INFO, logger="server_sync_api.ingest")
    items = ItemFactory(device.device_code)
    replayed = [items(rating=1), items(rating=3), items(rating=2)]
    common = [items(rating=1), items(rating=5)]
    async with pool_of(db_url, 2) as two:
        answers: Sequence[list[Any]] = await asyncio.gather(
            _settle(two, device, replayed, queue_depth=5), common_batch()
        )
    assert [[r.status for r in results] for results in answers] == [
        ["created", "rejected", "created"],
        ["created", "created"],
    ]
    assert "refused whole" in caplog.text  # the first batch did take the replay
    assert "lock conflict" not in caplog.text
