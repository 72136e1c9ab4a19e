"""Exactly-once ingest of a kiosk's batch (ARCHITECTURE section 5, "Submit a batch").

Each item is checked on its own, then every valid item goes into feedback_db in one
statement, `INSERT ... ON CONFLICT DO NOTHING`, which also records the device's health and
commits on its own (autocommit: on the common path no transaction spans two statements).
What the insert skipped is looked up: a stored row with the same
client_uuid makes the item a `duplicate` (same feedback_id and ticket_number as the first
time); a stored row with the same reference code but another client_uuid makes it a
`reference_code_conflict`. A racing copy on another connection waits on the unique index for
the first copy's commit, so it, too, ends as `duplicate`.

Items are inserted in client_uuid order so that two batches sharing items take their
locks in the same order; a deadlock that still happens (the month's ticket counter is a
shared lock) is retried. If the database refuses something the checks here did not foresee,
the batch is replayed in a new transaction, one item per savepoint, so the bad item is
rejected alone.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import attrgetter, methodcaller
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection, errors
from pydantic import ValidationError

from server_sync_api.core.db import autocommit
from server_sync_api.domain import Device
from server_sync_api.protocol import (
    COMMENT_HARD_CAP,
    DEVICE_CHANNELS,
    REFERENCE_CODE_PATTERN,
    DeviceStatus,
    ErrorDetail,
    ItemResult,
    SubmissionItem,
)
from server_sync_api.services.scope import SCOPE_ENTITY, within_scope

log = logging.getLogger("server_sync_api.ingest")

DEADLOCK_RETRIES = 5
# An int4 column; a clock wrong by more than this is clamped anyway by the SLA rule.
MAX_CLOCK_OFFSET_S = 2_000_000_000
SUB_RATINGS = ("service_quality", "staff_behavior", "waiting_time", "cleanliness")
_REFERENCE_CODE = re.compile(REFERENCE_CODE_PATTERN)

# Constraint names (docs/schema.md) to the rejection a kiosk shows staff.
CONSTRAINT_REJECTIONS = {
    "ck_service_feedback_rating_range": "rating_out_of_range",
    "ck_service_feedback_service_quality_range": "rating_out_of_range",
    "ck_service_feedback_staff_behavior_range": "rating_out_of_range",
    "ck_service_feedback_waiting_time_range": "rating_out_of_range",
    "ck_service_feedback_cleanliness_range": "rating_out_of_range",
    "ck_service_feedback_text_length": "text_too_long",
    "ck_service_feedback_category_in_chain": "category_not_allowed",
    # Before 0011. Since, the pair's key refuses an unknown service too, but only after the
    # catalog check passed it: the replay checks the catalog again and names it unknown_service.
    "fk_service_feedback_service": "unknown_service",
    "fk_service_feedback_service_entity": "entity_mismatch",
    "fk_service_feedback_category": "category_not_allowed",
    "fk_service_feedback_priority": "unknown_priority",
    "ck_service_feedback_reference_code_format": "invalid_item",
}


@dataclass(frozen=True, slots=True)
class Stored:
    """The result of an item the database holds, created or duplicate: ItemResult's fields in
    its order, built without ItemResult's validation (the server made every value: the UUID
    parsed, the ids read from the database), for the route to serialise as ItemResult is."""

    client_uuid: UUID
    status: Literal["created", "duplicate"]
    feedback_id: int
    ticket_number: str | None
    error: None = None


# One item's answer: a Stored item, or an ItemResult (a rejection).
Result = ItemResult | Stored


@dataclass
class _Candidate:
    index: int
    item: SubmissionItem


@dataclass
class ScreenedBatch:
    """A batch after the per-item checks, before the database: the items already settled
    (rejected), the candidates for the insert, and later copies of a client_uuid in the same
    batch (index -> index of the first copy)."""

    size: int
    results: dict[int, Result]
    candidates: list[_Candidate]
    repeats: dict[int, int]


class _Rejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.detail = ErrorDetail(code=code, message=message)


def _rejected(client_uuid: str | None, code: str, message: str) -> ItemResult:
    return ItemResult(
        client_uuid=client_uuid, status="rejected", error=ErrorDetail(code=code, message=message)
    )


def _raw_uuid(raw: Any) -> str | None:
    value = raw.get("client_uuid") if isinstance(raw, dict) else None
    # Echoed back in the result, so it must be something JSON can carry.
    return value if isinstance(value, str) and len(value) <= 64 and _encodable(value) else None


def _as_utc(moment: datetime) -> datetime:
    """A kiosk should send UTC with an offset; a naive time is taken as UTC, never refused."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def clock_offset_seconds(received_at: datetime, status: DeviceStatus | None) -> int | None:
    if status is None or status.device_time is None:
        return None
    offset = round((received_at - _as_utc(status.device_time)).total_seconds())
    return max(-MAX_CLOCK_OFFSET_S, min(MAX_CLOCK_OFFSET_S, offset))


# SubmissionItem's text fields, in the model's field order, so that the first bad one is named.
TEXT_FIELDS = ("reference_code", "channel", "service_id", "entity_id", "feedback_text", "submitted_by")


def parse_item(raw: Any, device: Device) -> SubmissionItem:
    """Validate one raw item; raises _Rejected with the code for the first broken rule."""
    if not isinstance(raw, dict):
        raise _Rejected("invalid_item", "Each item must be a JSON object.")
    try:
        item = SubmissionItem.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise _Rejected("invalid_item", f"{problems}.") from None
    check_item(item, device)
    return item


def check_item(item: SubmissionItem, device: Device) -> None:
    """The rules the schema does not state, each with its own code; raises _Rejected.
    all_pass_check_item() asks the same questions of a whole batch: a rule added here goes
    there too, and a bad item for it into tests/unit/test_ingest_fast_paths.py."""
    for name in TEXT_FIELDS:
        value = getattr(item, name)
        # PostgreSQL text holds neither NUL nor lone surrogates; say so instead of failing.
        if value is not None and ("\x00" in value or not (value.isascii() or _encodable(value))):
            raise _Rejected("invalid_item", f"{name} contains a character that cannot be stored.")
    if item.channel not in DEVICE_CHANNELS:
        raise _Rejected(
            "channel_not_allowed",
            f"channel {item.channel} is for citizens' own phones and the web portal; a kiosk sends "
            f"{', '.join(DEVICE_CHANNELS)}.",
        )
    if not 1 <= item.rating <= 5:
        raise _Rejected("rating_out_of_range", f"rating must be between 1 and 5; it was {item.rating}.")
    for name in SUB_RATINGS:
        value = getattr(item, name)
        if value is not None and not 1 <= value <= 5:
            raise _Rejected("rating_out_of_range", f"{name} must be between 1 and 5; it was {value}.")
    if item.feedback_text is not None and len(item.feedback_text) > COMMENT_HARD_CAP:
        raise _Rejected(
            "text_too_long",
            f"feedback_text has {len(item.feedback_text):,} characters; at most {COMMENT_HARD_CAP:,} "
            "are accepted.",
        )
    if not _REFERENCE_CODE.fullmatch(item.reference_code):
        raise _Rejected(
            "invalid_item",
            "reference_code must look like K0007-000123-7QX4 (device code, six digits, four characters).",
        )
    if not item.reference_code.startswith(device.device_code + "-"):
        raise _Rejected(
            "reference_code_foreign",
            f"reference_code {item.reference_code} belongs to another device; this device is "
            f"{device.device_code}.",
        )


def screen_items(raw_items: Sequence[Any], device: Device) -> ScreenedBatch:
    """Check each raw item (decoded JSON) on its own: a malformed item is rejected alone."""
    batch = ScreenedBatch(len(raw_items), {}, [], {})
    first_index: dict[UUID, int] = {}
    for index, raw in enumerate(raw_items):
        try:
            item = parse_item(raw, device)
        except _Rejected as rejection:
            batch.results[index] = ItemResult(
                client_uuid=_raw_uuid(raw), status="rejected", error=rejection.detail
            )
            continue
        _add_candidate(batch, first_index, index, item)
    return batch


def screen_parsed_items(items: Sequence[SubmissionItem], device: Device) -> ScreenedBatch | None:
    """The same checks for items the schema already accepted (the whole body validated at
    once). None when an item breaks a rule: its rejection echoes the client_uuid exactly as
    sent, which only the raw item has, so the caller screens the raw items instead."""
    if not all_pass_check_item(items, device):
        return None
    batch = ScreenedBatch(len(items), {}, [], {})
    first_index: dict[UUID, int] = {}
    for index, item in enumerate(items):
        _add_candidate(batch, first_index, index, item)
    return batch


_TEXTS = attrgetter(*TEXT_FIELDS)
_SUB_RATING_VALUES = attrgetter(*SUB_RATINGS)
_DEVICE_CHANNEL_SET = frozenset(DEVICE_CHANNELS)
_RATINGS = frozenset(range(1, 6))


def all_pass_check_item(items: Sequence[SubmissionItem], device: Device) -> bool:
    """Whether check_item passes every item, found by whole-batch checks (loops in C) rather
    than item by item: each line asks one of check_item's questions of all the items at once.
    It only says yes or no; which rule an item breaks, and its message, is check_item's."""
    texts: list[str] = list(filter(None, chain.from_iterable(map(_TEXTS, items))))  # the text fields set
    joined = "".join(texts)  # a lone surrogate stays one when joined: Python never pairs them
    if "\x00" in joined or not (joined.isascii() or _encodable(joined)):
        return False
    if not set(map(attrgetter("channel"), items)) <= _DEVICE_CHANNEL_SET:
        return False
    ratings = set(map(attrgetter("rating"), items))
    ratings.update(chain.from_iterable(map(_SUB_RATING_VALUES, items)))
    ratings.discard(None)
    if not ratings <= _RATINGS:
        return False
    comments: filter[str] = filter(None, map(attrgetter("feedback_text"), items))
    if max(map(len, comments), default=0) > COMMENT_HARD_CAP:
        return False
    codes = list(map(attrgetter("reference_code"), items))
    return all(map(_REFERENCE_CODE.fullmatch, codes)) and all(
        map(methodcaller("startswith", device.device_code + "-"), codes)
    )


def _add_candidate(
    batch: ScreenedBatch, first_index: dict[UUID, int], index: int, item: SubmissionItem
) -> None:
    first = first_index.setdefault(item.client_uuid, index)
    if first != index:
        batch.repeats[index] = first
    else:
        batch.candidates.append(_Candidate(index, item))


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _check_catalog(
    conn: AsyncConnection[Any], device: Device, candidates: list[_Candidate]
) -> dict[int, Result]:
    """Service, entity, category and priority rules, one query each for the whole batch."""
    rejections: dict[int, Result] = {}
    if not candidates:
        return rejections
    service_ids = sorted({c.item.service_id for c in candidates})
    cursor = await conn.execute(
        within_scope(
            "SELECT s.service_id, s.entity_id, s.entity_id IN (SELECT entity_id FROM scope) "
            "FROM service_master s WHERE s.service_id = ANY(%(services)s)"
        ),
        {SCOPE_ENTITY: device.entity_id, "services": service_ids},
    )
    services = {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}

    with_category = sorted(
        {c.item.service_id for c in candidates if c.item.category_id is not None} & set(services)
    )
    chains: dict[str, set[int]] = {sid: set() for sid in with_category}
    if with_category:
        cursor = await conn.execute(
            "SELECT s.sid, c.category_id FROM unnest(%s::varchar[]) AS s (sid), "
            "LATERAL service_category_chain(s.sid) AS c",
            (with_category,),
        )
        for sid, category_id in await cursor.fetchall():
            chains[sid].add(category_id)
    priorities: set[int] = set()
    if any(c.item.priority_id is not None for c in candidates):  # kiosks' ratings carry none
        cursor = await conn.execute("SELECT priority_id FROM priority_levels")
        priorities = {row[0] for row in await cursor.fetchall()}

    for c in candidates:
        item, uid = c.item, str(c.item.client_uuid)
        known = services.get(item.service_id)
        if known is None:
            rejections[c.index] = _rejected(
                uid, "unknown_service", f"Service {item.service_id} is unknown to the server."
            )
        elif not known[1]:
            rejections[c.index] = _rejected(
                uid,
                "service_not_allowed",
                f"Service {item.service_id} belongs to {known[0]}, "
                f"outside this device's entity {device.entity_id}.",
            )
        elif item.entity_id != known[0]:
            rejections[c.index] = _rejected(
                uid,
                "entity_mismatch",
                f"Service {item.service_id} belongs to {known[0]}, not {item.entity_id}.",
            )
        elif item.category_id is not None and item.category_id not in chains[item.service_id]:
            rejections[c.index] = _rejected(
                uid,
                "category_not_allowed",
                f"Category {item.category_id} is not one of service {item.service_id}'s categories.",
            )
        elif item.priority_id is not None and item.priority_id not in priorities:
            rejections[c.index] = _rejected(
                uid, "unknown_priority", f"Priority {item.priority_id} does not exist."
            )
    return rejections


# The batch as one statement; bench/ measures the direct insert with this same statement.
# The columns go as binary arrays (%b): psycopg dumps a binary array several times faster
# than a text one (no quoting of each string, no formatting of each timestamp), and
# PostgreSQL reads it without parsing text.
INSERT_BATCH = """
INSERT INTO service_feedback (
    client_uuid, reference_code, channel, service_id, entity_id, rating,
    service_quality, staff_behavior, waiting_time, cleanliness, grievance_flag, feedback_text,
    category_id, priority_id, misuse_suspected, submitted_by, recorded_at,
    clock_offset_s, device_id
)
SELECT u.*, %(offset)s::int, %(device_id)s::int
FROM unnest(
    %(client_uuid)b::uuid[], %(reference_code)b::varchar[], %(channel)b::varchar[],
    %(service_id)b::varchar[], %(entity_id)b::varchar[], %(rating)b::int[],
    %(service_quality)b::int[], %(staff_behavior)b::int[], %(waiting_time)b::int[],
    %(cleanliness)b::int[], %(grievance_flag)b::bool[], %(feedback_text)b::text[],
    %(category_id)b::int[], %(priority_id)b::int[], %(misuse_suspected)b::bool[],
    %(submitted_by)b::varchar[], %(recorded_at)b::timestamptz[]
) AS u
ORDER BY 1
ON CONFLICT DO NOTHING
RETURNING client_uuid, feedback_id
"""
BATCH_COLUMNS = (
    "client_uuid", "reference_code", "channel", "service_id", "entity_id", "rating",
    "service_quality", "staff_behavior", "waiting_time", "cleanliness", "grievance_flag",
    "feedback_text", "category_id", "priority_id", "misuse_suspected", "submitted_by", "recorded_at",
)  # fmt: skip
_ROW = attrgetter(*BATCH_COLUMNS)


def _insert_params(items: Sequence[SubmissionItem], device: Device, offset: int | None) -> dict[str, Any]:
    # Two C-level passes (each item's values as a row, rows into columns) instead of a Python
    # loop over every item and column.
    columns: list[tuple[Any, ...]] = list(zip(*map(_ROW, items), strict=True)) or [()] * len(BATCH_COLUMNS)
    params: dict[str, Any] = {name: list(values) for name, values in zip(BATCH_COLUMNS, columns, strict=True)}
    params["recorded_at"] = [_as_utc(moment) for moment in params["recorded_at"]]
    params["offset"] = offset
    params["device_id"] = device.device_id
    return params


async def _insert(
    conn: AsyncConnection[Any],
    items: Sequence[SubmissionItem],
    device: Device,
    offset: int | None,
    health: tuple[str, dict[str, Any]] | None = None,
) -> dict[UUID, int]:
    """Insert what is new; returns the feedback id of each client_uuid actually inserted.
    With `health` (device_status_update's statement), the device's health is recorded by the
    same statement, as a WITH clause: it shares the statement's fate, kept or refused with it.
    Its parameters `offset` and `device_id` are the insert's own."""
    query, params = INSERT_BATCH, _insert_params(items, device, offset)
    if health is not None:
        query = f"WITH device_health AS ({health[0]}) {INSERT_BATCH}"
        params = health[1] | params
    cursor = await conn.execute(query, params)
    return {row[0]: row[1] for row in await cursor.fetchall()}


async def _insert_one_by_one(
    conn: AsyncConnection[Any], candidates: list[_Candidate], device: Device, offset: int | None
) -> tuple[dict[int, Result], dict[UUID, int]]:
    """The slow path: each item in its own savepoint, database refusals mapped to codes."""
    rejections: dict[int, Result] = {}
    inserted: dict[UUID, int] = {}
    for c in candidates:
        try:
            async with conn.transaction():
                inserted |= await _insert(conn, [c.item], device, offset)
        except (errors.IntegrityError, errors.DataError) as exc:
            constraint = exc.diag.constraint_name or ""
            code = CONSTRAINT_REJECTIONS.get(constraint, "invalid_item")
            log.warning(
                "item %s refused by the database: %s (%s)", c.item.client_uuid, constraint, type(exc).__name__
            )
            rejections[c.index] = _rejected(
                str(c.item.client_uuid),
                code,
                f"The database refused this item ({constraint or 'invalid value'}).",
            )
    return rejections, inserted


async def _stored(
    conn: AsyncConnection[Any], candidates: list[_Candidate], inserted: dict[UUID, int]
) -> tuple[dict[UUID, tuple[int, str | None]], dict[str, UUID]]:
    """Stored rows for the batch: by client_uuid (feedback id, ticket) and, for the items the
    insert skipped, the owner of each reference code. The common case, everything new, costs
    one look-up of tickets by feedback id."""
    skipped = [c.item for c in candidates if c.item.client_uuid not in inserted]
    by_uuid: dict[UUID, tuple[int, str | None]] = {uid: (fid, None) for uid, fid in inserted.items()}
    by_code: dict[str, UUID] = {}
    if skipped:
        cursor = await conn.execute(
            "SELECT client_uuid, feedback_id, reference_code FROM service_feedback "
            "WHERE client_uuid = ANY(%s) "
            "UNION ALL "
            "SELECT client_uuid, feedback_id, reference_code FROM service_feedback "
            "WHERE reference_code = ANY(%s)",
            ([item.client_uuid for item in skipped], [item.reference_code for item in skipped]),
        )
        for client_uuid, feedback_id, reference_code in await cursor.fetchall():
            by_uuid[client_uuid] = (feedback_id, None)
            if reference_code is not None:
                by_code[reference_code] = client_uuid
    ids = [fid for fid, _ in by_uuid.values()]
    cursor = await conn.execute(
        # int[] like the column: against the smallint[] or bigint[] psycopg would pick for the
        # ids, PostgreSQL can neither hash the list nor probe the index with it, and compares
        # every ticket with every id.
        "SELECT feedback_id, ticket_number FROM tickets WHERE feedback_id = ANY(%s::int[])",
        (ids,),
    )
    tickets = dict(await cursor.fetchall())
    return {uid: (fid, tickets.get(fid)) for uid, (fid, _) in by_uuid.items()}, by_code


def _on_server_clock(moment: datetime, offset: int) -> datetime:
    """A kiosk's time moved by the measured offset. A date at the edge of the calendar (a
    broken clock) would leave it; such a date is kept as sent rather than refused."""
    try:
        return moment + timedelta(seconds=offset)
    except OverflowError:
        return moment


def device_status_update(
    device: Device, status: DeviceStatus | None, offset: int | None, synced: bool
) -> tuple[str, dict[str, Any]]:
    """The UPDATE that records the device's health, and its parameters: run alone, or as the
    batch insert's WITH clause (_insert)."""
    if status is None:
        # Nothing reported, nothing known: health fields (the last error too) stay as they were.
        return (
            "UPDATE kiosk_devices SET last_seen_at = now(), "
            "last_sync_at = CASE WHEN %(synced)s THEN now() ELSE last_sync_at END "
            "WHERE device_id = %(device_id)s",
            {"synced": synced, "device_id": device.device_id},
        )
    error = status.last_error
    oldest = _as_utc(status.oldest_pending_at) if status.oldest_pending_at else None
    if oldest is not None and offset:
        # The kiosk dated it by its own clock; the fleet view judges backlogs by the server's.
        oldest = _on_server_clock(oldest, offset)
    return (
        """
        UPDATE kiosk_devices SET
            last_seen_at = now(),
            last_sync_at = CASE WHEN %(synced)s THEN now() ELSE last_sync_at END,
            queue_depth = coalesce(%(queue_depth)s, queue_depth),
            oldest_pending_at = %(oldest)s,
            clock_drift_seconds = coalesce(%(offset)s, clock_drift_seconds),
            app_version = coalesce(%(app_version)s, app_version),
            printer_state = coalesce(%(printer)s, printer_state),
            -- No coalesce: the kiosk sends its current error in every device_status, so one
            -- without it means the error is over. The error's age runs from its first report
            -- and starts again with a new code (SET reads the row as it was before this
            -- UPDATE, so last_error_code here is the code reported last time).
            last_error_at = CASE
                WHEN %(error_code)s::varchar IS NULL THEN NULL
                WHEN last_error_code = %(error_code)s::varchar THEN last_error_at
                ELSE now()
            END,
            last_error_code = %(error_code)s::varchar,
            last_error_message = %(error_message)s::varchar
        WHERE device_id = %(device_id)s
        """,
        {
            "synced": synced,
            "queue_depth": status.queue_depth,
            "oldest": oldest,
            "offset": offset,
            "app_version": status.app_version,
            "printer": status.printer,
            "error_code": error.code if error else None,
            "error_message": error.message if error else None,
            "device_id": device.device_id,
        },
    )


async def record_device_status(
    conn: AsyncConnection[Any], device: Device, status: DeviceStatus | None, offset: int | None, synced: bool
) -> None:
    await conn.execute(*device_status_update(device, status, offset, synced))


async def settle_batch(
    conn: AsyncConnection[Any],
    device: Device,
    batch: ScreenedBatch,
    status: DeviceStatus | None,
    received_at: datetime,
) -> list[Result]:
    """Settle a screened batch in the database; returns one result per item, in request order.
    `conn` comes from the pool with autocommit off and goes back so."""
    started = time.perf_counter()
    offset = clock_offset_seconds(received_at, status)
    results = dict(batch.results)
    async with autocommit(conn):
        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                settled = await _settle_batch(conn, device, batch, status, offset)
                break
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == DEADLOCK_RETRIES:
                    raise
                log.info("batch from %s hit a lock conflict; retrying (%d)", device.device_code, attempt)
    results.update(settled)

    for index, first in batch.repeats.items():
        original = results[first]
        # A rejection is repeated as it is; a stored item is a duplicate the second time.
        results[index] = replace(original, status="duplicate") if isinstance(original, Stored) else original
    ordered = [results[i] for i in range(batch.size)]
    counts = Counter(r.status for r in ordered)
    log.info(
        "batch from %s: %d items, %d created, %d duplicate, %d rejected, %.0f ms",
        device.device_code,
        len(ordered),
        counts["created"],
        counts["duplicate"],
        counts["rejected"],
        (time.perf_counter() - started) * 1000,
    )
    return ordered


class _BatchRefused(Exception):
    """The database refused the batch's one statement; none of it was kept."""


async def _settle_batch(
    conn: AsyncConnection[Any],
    device: Device,
    batch: ScreenedBatch,
    status: DeviceStatus | None,
    offset: int | None,
) -> dict[int, Result]:
    """The common path runs with autocommit, each statement a transaction of its own: the
    checks' reads, then the batch's insert and the device's health in one statement, then the
    look-up of the tickets it made. So the rows every batch writes (the services' totals, the
    month's ticket counter) stay locked only while that one statement runs and commits, never
    across a round trip to this process, whose event loop may be busy with another request's
    body; and BEGIN and COMMIT cost no round trips of their own. When the database refuses
    the insert, nothing of the statement is kept, and one transaction replays the batch one
    item per savepoint, so the bad item is rejected alone. The statement's WITH clause updates
    the device's row after the insert's rows and before its triggers (PostgreSQL runs an
    unreferenced data-modifying WITH at the statement's end, before its AFTER triggers)."""
    try:
        return await _settle(conn, device, batch, status, offset, item_by_item=False)
    except _BatchRefused:
        pass
    async with conn.transaction():
        return await _settle(conn, device, batch, status, offset, item_by_item=True)


async def _settle(
    conn: AsyncConnection[Any],
    device: Device,
    batch: ScreenedBatch,
    status: DeviceStatus | None,
    offset: int | None,
    *,
    item_by_item: bool,
) -> dict[int, Result]:
    candidates = batch.candidates
    synced = batch.size > 0
    results = await _check_catalog(conn, device, candidates)
    turned_down = [c for c in candidates if c.index in results]
    resent = await _stored_among(conn, device, turned_down) if turned_down else []
    for c in resent:
        # Stored already (the kiosk lost its settle and sends it again): the first answer
        # stands, whatever changed in the catalog or the device's scope since.
        del results[c.index]
    settled = results.keys() | {c.index for c in resent}
    # By the UUID's int: the same order as the UUIDs', compared in C rather than by UUID.__lt__.
    valid = sorted((c for c in candidates if c.index not in settled), key=lambda c: c.item.client_uuid.int)
    inserted: dict[UUID, int] = {}  # none when every item was settled by the checks
    if valid and item_by_item:
        # The device's row before the items: the common path's one statement locks it before
        # the rows its triggers write, so two batches of one kiosk, one on each path, take
        # their locks in the same order instead of deadlocking.
        await record_device_status(conn, device, status, offset, synced)
        refused, inserted = await _insert_one_by_one(conn, valid, device, offset)
        results.update(refused)
        valid = [c for c in valid if c.index not in refused]
    elif valid:
        try:
            health = device_status_update(device, status, offset, synced)
            inserted = await _insert(conn, [c.item for c in valid], device, offset, health)
        except (errors.IntegrityError, errors.DataError) as exc:
            log.warning(
                "batch from %s refused whole (%s); inserting item by item",
                device.device_code,
                exc.diag.constraint_name,
            )
            raise _BatchRefused from exc
    else:
        await record_device_status(conn, device, status, offset, synced)
    results.update(await _classify(conn, valid + resent, inserted))
    return results


async def _stored_among(
    conn: AsyncConnection[Any], device: Device, candidates: list[_Candidate]
) -> list[_Candidate]:
    """The candidates this device has stored already (a resend comes from the kiosk that sent
    it first; another device's client_uuid gets the checks' answer, not that row's ids)."""
    cursor = await conn.execute(
        "SELECT client_uuid FROM service_feedback WHERE client_uuid = ANY(%s) AND device_id = %s",
        ([c.item.client_uuid for c in candidates], device.device_id),
    )
    stored = {row[0] for row in await cursor.fetchall()}
    return [c for c in candidates if c.item.client_uuid in stored]


async def _classify(
    conn: AsyncConnection[Any], valid: list[_Candidate], inserted: dict[UUID, int]
) -> dict[int, Result]:
    if not valid:
        return {}
    by_uuid, by_code = await _stored(conn, valid, inserted)
    results: dict[int, Result] = {}
    for c in valid:
        uid = c.item.client_uuid
        stored = by_uuid.get(uid)
        if stored is not None:
            feedback_id, ticket_number = stored
            results[c.index] = Stored(
                uid, "created" if uid in inserted else "duplicate", feedback_id, ticket_number
            )
        else:
            # Skipped by ON CONFLICT, yet no row has this client_uuid: the code is taken.
            owner = by_code.get(c.item.reference_code)
            log.warning("reference code %s already used by %s", c.item.reference_code, owner)
            results[c.index] = _rejected(
                str(uid),
                "reference_code_conflict",
                f"reference_code {c.item.reference_code} is already used by another submission.",
            )
    return results
