"""The outbox: every submission, written durably before anything else happens to it.

States (ARCHITECTURE 6): open → pending → sending → synced | rejected. Each function here
is one transaction. Any process may add rows; only the process holding the data directory's
lock claims rows for sending and runs `recover()`.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Engine,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from kiosk import __version__
from kiosk.local_db import database
from kiosk.local_db.models import DeviceIdentity, OutboxItem, OutboxState, ReferenceSequence, UTCDateTime

# Kinds, states and reference codes only: never a payload (it holds the citizen's words).
log = logging.getLogger("kiosk.local_db")

# Core statements on the table itself where ORM objects would only cost time.
OUTBOX = cast(Table, OutboxItem.__table__)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_RANDOM_CHARS = 4
SYNCED_RETENTION = timedelta(days=30)
# An open row this old has no citizen answering any more (the idle timeout is at most 10
# minutes between taps): it is finished and queued.
ABANDONED_OPEN_AFTER = timedelta(hours=1)
# Details a citizen may add to an open submission after the first tap.
DETAIL_FIELDS = frozenset(
    {"service_quality", "staff_behavior", "waiting_time", "cleanliness", "feedback_text", "grievance_flag"}
)


class NotEnrolled(Exception):
    """The kiosk has no device code yet, so it cannot make reference codes."""


class NotOpen(Exception):
    """The submission was already finished (or never existed): details can no longer change."""


@dataclass(frozen=True)
class Submission:
    client_uuid: str
    reference_code: str


@dataclass(frozen=True)
class OutboxRow:
    client_uuid: str
    reference_code: str
    payload: dict[str, Any]
    recorded_at: datetime
    state: OutboxState
    state_changed_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    error_code: str | None
    last_error: str | None
    feedback_id: int | None
    ticket_number: str | None
    # Which kiosk version queued it; None for rows queued before the outbox recorded it.
    kiosk_version: str | None = None

    @classmethod
    def of(cls, item: OutboxItem) -> OutboxRow:
        return cls(
            client_uuid=item.client_uuid,
            reference_code=item.reference_code,
            payload=dict(item.payload),
            recorded_at=item.recorded_at,
            state=item.state,
            state_changed_at=item.state_changed_at,
            attempts=item.attempts,
            next_attempt_at=item.next_attempt_at,
            error_code=item.error_code,
            last_error=item.last_error,
            feedback_id=item.feedback_id,
            ticket_number=item.ticket_number,
            kiosk_version=item.kiosk_version,
        )

    def wire_item(self) -> dict[str, Any]:
        """The item as POST /api/v1/submissions takes it."""
        return {
            **self.payload,
            "client_uuid": self.client_uuid,
            "reference_code": self.reference_code,
            "recorded_at": self.recorded_at.isoformat(),
        }


def _rowcount(result: object) -> int:
    """Rows changed by an UPDATE or DELETE (SQLAlchemy types execute() too loosely for it)."""
    return int(cast(CursorResult[Any], result).rowcount)


def utcnow() -> datetime:
    return datetime.now(UTC)


def reference_code(device_code: str, sequence: int) -> str:
    """K0007-000123-7QX4: device, local sequence, and random characters so that nobody can
    walk the public status pages by counting."""
    suffix = "".join(secrets.choice(CROCKFORD) for _ in range(REFERENCE_RANDOM_CHARS))
    return f"{device_code}-{sequence:06d}-{suffix}"


def _new_row(
    session: Session, payload: dict[str, Any], state: OutboxState, recorded_at: datetime
) -> Submission:
    identity = session.get(DeviceIdentity, 1)
    if identity is None:
        raise NotEnrolled("This kiosk is not enrolled yet: run gea-kiosk enroll.")
    # The sequence is allocated in the same transaction as the row: a crash loses both or neither.
    sequence = session.execute(
        update(ReferenceSequence)
        .where(ReferenceSequence.id == 1)
        .values(last_value=ReferenceSequence.last_value + 1)
        .returning(ReferenceSequence.last_value)
    ).scalar_one()
    submission = Submission(str(uuid.uuid4()), reference_code(identity.device_code, sequence))
    session.add(
        OutboxItem(
            client_uuid=submission.client_uuid,
            reference_code=submission.reference_code,
            sequence=sequence,
            payload=payload,
            recorded_at=recorded_at,
            state=state,
            state_changed_at=utcnow(),
            attempts=0,
            kiosk_version=__version__,
        )
    )
    return submission


def begin(engine: Engine, payload: dict[str, Any], recorded_at: datetime | None = None) -> Submission:
    """The citizen's first tap: a durable `open` row. Returns once it is committed."""
    with Session(engine) as session, session.begin():
        submission = _new_row(session, payload, OutboxState.OPEN, recorded_at or utcnow())
    log.info("recorded %s (open, %s)", submission.reference_code, payload.get("channel"))
    return submission


def enqueue(engine: Engine, payload: dict[str, Any], recorded_at: datetime | None = None) -> Submission:
    """A finished submission (a walk-in, a paper card): straight to `pending`."""
    with Session(engine) as session, session.begin():
        submission = _new_row(session, payload, OutboxState.PENDING, recorded_at or utcnow())
    log.info("recorded %s (pending, %s)", submission.reference_code, payload.get("channel"))
    return submission


def add_details(engine: Engine, client_uuid: str, details: dict[str, Any]) -> None:
    """Answers given after the first tap update the same, still open, row."""
    unknown = set(details) - DETAIL_FIELDS
    if unknown:
        raise ValueError(f"not a detail of a submission: {', '.join(sorted(unknown))}")
    with Session(engine) as session, session.begin():
        item = session.scalars(
            select(OutboxItem).where(
                OutboxItem.client_uuid == client_uuid, OutboxItem.state == OutboxState.OPEN
            )
        ).one_or_none()
        if item is None:
            raise NotOpen(f"submission {client_uuid} is finished; details cannot change")
        item.payload = {**item.payload, **details}


def finish(engine: Engine, client_uuid: str) -> bool:
    """open → pending (the citizen finished, left, or the next one started). False if it
    was not open, which is harmless: finishing twice changes nothing."""
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(OutboxItem)
            .where(OutboxItem.client_uuid == client_uuid, OutboxItem.state == OutboxState.OPEN)
            .values(state=OutboxState.PENDING, state_changed_at=utcnow())
        )
        return bool(_rowcount(result))


@dataclass(frozen=True)
class Recovery:
    reopened_open: int
    returned_sending: int


def recover(engine: Engine, *, open_older_than: timedelta | None = None) -> Recovery:
    """By the lock holder, before it syncs: rows left in flight become pending again, and so
    do unfinished (`open`) ones. Re-sending an item that did reach the server is answered
    `duplicate`, never a second row.

    At a process's start every open row is finished (no citizen is answering yet). When the
    lock changes hands while the app runs (a `sync --watch` stopped), pass `open_older_than`:
    a citizen may be answering right now, and finishing their row would refuse the comment
    they are typing."""
    now = utcnow()
    opened = finish_abandoned(engine, open_older_than, now)
    with Session(engine) as session, session.begin():
        sending = _rowcount(
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.state == OutboxState.SENDING)
                .values(state=OutboxState.PENDING, state_changed_at=now)
            )
        )
    return Recovery(opened, sending)


def finish_abandoned(engine: Engine, older_than: timedelta | None, now: datetime | None = None) -> int:
    """Open rows begun more than `older_than` ago (None: every open row, whenever it was
    recorded, even ahead of a clock set back since) become pending: their citizen is long
    gone, and the finish failed (a full disk at that moment) or the process died. Open rows
    are never sent, so without this one could wait for the next restart, months away."""
    now = now or utcnow()
    abandoned = OutboxItem.state == OutboxState.OPEN
    if older_than is not None:
        abandoned = abandoned & (OutboxItem.recorded_at <= now - older_than)
    with Session(engine) as session, session.begin():
        return _rowcount(
            session.execute(
                update(OutboxItem).where(abandoned).values(state=OutboxState.PENDING, state_changed_at=now)
            )
        )


# claim()'s statement: one UPDATE that picks the batch itself (the claim index read in
# order, stopping at the batch) and returns the rows it changed, in place of a SELECT, an
# UPDATE by the selected ids and the IN list SQLAlchemy compiled for them each batch. Plain
# SQL for the same reason as settle's. RETURNING gives the rows in no set order (sorted
# below) and `attempts` as the UPDATE left it.
_CLAIM = (
    f"UPDATE outbox SET state = '{OutboxState.SENDING.value}', state_changed_at = ?,"
    " attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox"
    f" WHERE state = '{OutboxState.PENDING.value}'{{due}} ORDER BY sequence LIMIT ?)"
    " RETURNING {returning}"
)
_CLAIM_ROWS = (
    "sequence, client_uuid, reference_code, payload, recorded_at, attempts,"
    " next_attempt_at, error_code, last_error, feedback_id, ticket_number, kiosk_version"
)
# claim_wire()'s rows: SQLite writes each item's JSON as OutboxRow.wire_item() gives it
# (json_set replaces a key the payload has, else appends it, as the dict's update does), so
# the worker builds no Python object per item's field. recorded_at is stored as UTCDateTime
# writes it (UTC, always six fractional digits); the wire has datetime.isoformat()'s text
# of it, which leaves out a fraction of .000000.
_WIRE_RECORDED_AT = (
    "CASE WHEN substr(recorded_at, 20, 7) = '.000000'"
    " THEN substr(recorded_at, 1, 19) || substr(recorded_at, 27) ELSE recorded_at END"
)
# A payload SQLite does not read as JSON (NaN or Infinity, which Python's json writes) gives
# NULL, not an error: one such row must not fail the claim of every batch after it.
_CLAIM_WIRE = (
    "sequence, client_uuid, CASE WHEN json_valid(payload) THEN json_set(payload,"
    " '$.client_uuid', client_uuid, '$.reference_code', reference_code,"
    f" '$.recorded_at', {_WIRE_RECORDED_AT}) END"
)
_DUE = " AND (next_attempt_at IS NULL OR next_attempt_at <= ?{later})"
_CLOCK_SET_BACK = " OR next_attempt_at > ?"


def claim(
    engine: Engine,
    limit: int,
    now: datetime | None = None,
    ignore_backoff: bool = False,
    longest_wait: timedelta | None = None,
) -> list[OutboxRow]:
    """Take up to `limit` pending rows that are due, oldest first, and mark them `sending`.

    A row is due when its backoff is over, or (with `longest_wait`, the longest backoff the
    worker ever sets) when its backoff ends further ahead than that: the clock was set back
    since (a fast clock put right by NTP), and waiting for it would hold the row for days."""
    now = now or utcnow()
    rows = _claim(engine, _CLAIM_ROWS, limit, now, ignore_backoff, longest_wait)
    return [
        OutboxRow(
            client_uuid=row.client_uuid,
            reference_code=row.reference_code,
            payload=json.loads(row.payload),
            recorded_at=datetime.fromisoformat(row.recorded_at),
            state=OutboxState.SENDING,
            state_changed_at=now,
            attempts=row.attempts,
            next_attempt_at=_time_or_none(row.next_attempt_at),
            error_code=row.error_code,
            last_error=row.last_error,
            feedback_id=row.feedback_id,
            ticket_number=row.ticket_number,
            kiosk_version=row.kiosk_version,
        )
        for row in sorted(rows, key=lambda row: int(row.sequence))
    ]


class WireItem(NamedTuple):
    """A claimed row as the worker sends it: its client_uuid, and the item as
    POST /api/v1/submissions takes it, as JSON text (the same object as OutboxRow.wire_item());
    None when the stored payload is not JSON SQLite reads (NaN, say): such an item cannot be
    sent, and its batch fails when it is (SyncClient.submit_wire), as it did when httpx
    refused to encode it."""

    client_uuid: str
    json: str | None


def claim_wire(
    engine: Engine,
    limit: int,
    now: datetime | None = None,
    ignore_backoff: bool = False,
    longest_wait: timedelta | None = None,
) -> list[WireItem]:
    """claim(), for sending: the same rows, changed the same way, each as its wire JSON."""
    rows = _claim(engine, _CLAIM_WIRE, limit, now or utcnow(), ignore_backoff, longest_wait)
    rows.sort(key=itemgetter(0))
    return [WireItem(client_uuid, wire) for _, client_uuid, wire in rows]


def _claim(
    engine: Engine,
    returning: str,
    limit: int,
    now: datetime,
    ignore_backoff: bool,
    longest_wait: timedelta | None,
) -> list[Any]:
    """claim()'s statement, returning `returning` for each row it claimed, in no set order."""
    stamp = _stored_time(engine, now)
    due = ""
    params: list[object] = [stamp]
    if not ignore_backoff:
        due = _DUE.format(later=_CLOCK_SET_BACK if longest_wait is not None else "")
        params.append(stamp)
        if longest_wait is not None:
            params.append(_stored_time(engine, now + longest_wait))
    params.append(limit)
    # A claim a power cut undoes leaves the batch pending: it is sent again, or answered duplicate.
    with database.resendable(engine).begin() as connection:
        return list(connection.exec_driver_sql(_CLAIM.format(due=due, returning=returning), tuple(params)))


def _stored_time(engine: Engine, at: datetime) -> str | None:
    """A time as the outbox stores it (UTCDateTime), for plain SQL."""
    return UTCDateTime().process_bind_param(at, engine.dialect)


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# What the server answered for one item: (client_uuid, feedback_id, ticket_number) for an
# item it has (created or duplicate), (client_uuid, error code, message) for one it rejected.
Synced = tuple[str, int | None, str | None]
Rejected = tuple[str, str, str]


@dataclass(frozen=True)
class Settlement:
    synced: int
    rejected: int
    # Answers for rows settled already (or purged since): such a row keeps what it has, so a
    # late or repeated answer never revives or re-dates it.
    ignored: int


# settle()'s two statements, run once per answer of a batch (the DB-API's executemany of one
# prepared statement). Plain SQL, not SQLAlchemy's UPDATE: building each row's parameters
# through its compiler cost more than SQLite's work on them. Only rows not settled yet change.
# A synced row's text becomes JSON null (as the kiosk has cleared it since it began);
# json_extract is NULL for a missing key and for null alike, and those payloads stay as they are.
_UNSETTLED = f"'{OutboxState.PENDING.value}', '{OutboxState.SENDING.value}'"
_SETTLE_SYNCED = (
    f"UPDATE outbox SET state = '{OutboxState.SYNCED.value}', state_changed_at = ?, feedback_id = ?,"
    " ticket_number = ?, error_code = NULL, last_error = NULL, next_attempt_at = NULL,"
    " payload = CASE WHEN json_extract(payload, '$.feedback_text') IS NULL THEN payload"
    " ELSE json_set(payload, '$.feedback_text', NULL) END"
    f" WHERE client_uuid = ? AND state IN ({_UNSETTLED})"
)
_SETTLE_REJECTED = (
    f"UPDATE outbox SET state = '{OutboxState.REJECTED.value}', state_changed_at = ?, error_code = ?,"
    f" last_error = ? WHERE client_uuid = ? AND state IN ({_UNSETTLED})"
)


def settle(engine: Engine, synced: Iterable[Synced] = (), rejected: Iterable[Rejected] = ()) -> Settlement:
    """A batch's answers, in one transaction of at most two statements whatever its size (an
    UPDATE by client_uuid for the synced rows and one for the rejected, each executed for
    every row of its kind), never a read per row.

    Synced rows (the server has them, created or duplicate) keep the server's feedback_id and
    ticket number, lose their errors and backoff, and their free text is cleared: the kiosk
    keeps as little personal data as it can, and the server has the text. Rejected rows (the
    server can never accept them) keep the code and message, shown to staff, and are never
    claimed again. Only rows not settled yet (`pending` or `sending`: a row released after a
    lost answer is the server's all the same) change (see Settlement.ignored)."""
    at = _stored_time(engine, utcnow())
    synced_rows = [
        (at, feedback_id, ticket_number, client_uuid) for client_uuid, feedback_id, ticket_number in synced
    ]
    rejected_rows = [(at, code, message, client_uuid) for client_uuid, code, message in rejected]
    if not synced_rows and not rejected_rows:
        return Settlement(0, 0, 0)
    done = done_rejected = 0
    # Undone by a power cut, the rows go back to pending at start-up and the server answers
    # duplicate (or rejects them again): a resend, never a lost submission.
    with database.resendable(engine).begin() as connection:
        if synced_rows:
            done = _rowcount(connection.exec_driver_sql(_SETTLE_SYNCED, synced_rows))
        if rejected_rows:
            done_rejected = _rowcount(connection.exec_driver_sql(_SETTLE_REJECTED, rejected_rows))
    ignored = len(synced_rows) + len(rejected_rows) - done - done_rejected
    if ignored:
        log.warning("%d answers were for rows settled or purged already; those are left as they are", ignored)
    return Settlement(done, done_rejected, ignored)


def mark_synced(engine: Engine, settled: Iterable[Synced]) -> Settlement:
    """settle() with synced rows only."""
    return settle(engine, synced=settled)


def mark_rejected(engine: Engine, rejected: Iterable[Rejected]) -> Settlement:
    """settle() with rejected rows only."""
    return settle(engine, rejected=rejected)


def release(engine: Engine, client_uuids: Sequence[str], error: str, next_attempt_at: datetime | None) -> int:
    """A batch that did not get through goes back to `pending`, to be retried after the
    backoff. Only rows still `sending` (halves of a split batch already settled stay so);
    returns how many."""
    now = utcnow()
    with Session(database.resendable(engine)) as session, session.begin():
        return _rowcount(
            session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.client_uuid.in_(client_uuids), OUTBOX.c.state == OutboxState.SENDING)
                .values(
                    state=OutboxState.PENDING,
                    state_changed_at=now,
                    last_error=error,
                    next_attempt_at=next_attempt_at,
                )
            )
        )


def unclaim(engine: Engine, client_uuids: Sequence[str]) -> int:
    """Claimed rows that were never sent (the worker claims the next batch while a push is
    in flight, and that push failed, or the worker is stopping) go back to `pending` as they
    were: the attempt is taken back, their error and backoff stay. Only rows still
    `sending`; returns how many."""
    if not client_uuids:
        return 0
    with Session(database.resendable(engine)) as session, session.begin():
        return _rowcount(
            session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.client_uuid.in_(client_uuids), OUTBOX.c.state == OutboxState.SENDING)
                .values(state=OutboxState.PENDING, state_changed_at=utcnow(), attempts=OUTBOX.c.attempts - 1)
            )
        )


def counts(engine: Engine) -> dict[str, int]:
    with Session(database.reader(engine)) as session:
        rows = session.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state)).all()
    found = {state.value: int(n) for state, n in rows}
    return {state.value: found.get(state.value, 0) for state in OutboxState}


def oldest_pending_at(engine: Engine) -> datetime | None:
    return queue_status(engine)[1]


def queue_status(engine: Engine, excluding: Collection[str] = ()) -> tuple[int, datetime | None]:
    """Rows waiting to reach the server (pending or sending) and the earliest recorded_at
    among them (None: none waits), in one read; the ISO text sorts as the times do.
    `excluding`: client_uuids not to count (a batch in flight whose answer will settle it)."""
    waiting: ColumnElement[bool] = OUTBOX.c.state.in_((OutboxState.PENDING, OutboxState.SENDING))
    if excluding:
        waiting = waiting & OUTBOX.c.client_uuid.not_in(excluding)
    with database.reader(engine).connect() as connection:
        depth, oldest = connection.execute(
            select(func.count(), func.min(OUTBOX.c.recorded_at)).where(waiting)
        ).one()
    return int(depth), oldest


def find(engine: Engine, reference_code: str) -> OutboxRow | None:
    with Session(database.reader(engine)) as session:
        item = session.scalars(
            select(OutboxItem).where(OutboxItem.reference_code == reference_code)
        ).one_or_none()
        return None if item is None else OutboxRow.of(item)


def find_by_ticket(engine: Engine, ticket_number: str) -> OutboxRow | None:
    with Session(database.reader(engine)) as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.ticket_number == ticket_number)).first()
        return None if item is None else OutboxRow.of(item)


def rejected(engine: Engine) -> list[OutboxRow]:
    with Session(database.reader(engine)) as session:
        items = session.scalars(
            select(OutboxItem).where(OutboxItem.state == OutboxState.REJECTED).order_by(OutboxItem.sequence)
        ).all()
        return [OutboxRow.of(item) for item in items]


def purge_synced(engine: Engine, now: datetime | None = None, keep: timedelta = SYNCED_RETENTION) -> int:
    """Synced rows are kept 30 days (reprint, status look-up), then removed."""
    cutoff = (now or utcnow()) - keep
    with Session(engine) as session, session.begin():
        return _rowcount(
            session.execute(
                delete(OutboxItem).where(
                    OutboxItem.state == OutboxState.SYNCED, OutboxItem.state_changed_at < cutoff
                )
            )
        )
