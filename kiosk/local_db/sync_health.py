"""The sync worker's health, kept in the local database so every process (the app, the
`gea-kiosk status` command, staff mode) sees the same answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from kiosk.local_db import database
from kiosk.local_db.models import LocalSetting

LAST_SUCCESS = "sync.last_success_at"
OFFLINE_SINCE = "sync.offline_since"
NOT_AUTHORIZED = "sync.not_authorized"
LAST_ERROR = "sync.last_error"


@dataclass(frozen=True)
class SyncHealth:
    last_success_at: datetime | None
    offline_since: datetime | None
    authorized: bool
    last_error: str | None
    not_authorized_since: datetime | None = None


def load(engine: Engine) -> SyncHealth:
    with Session(database.reader(engine)) as session:
        rows = session.scalars(select(LocalSetting).where(LocalSetting.key.like("sync.%")))
        values = {row.key: row.value for row in rows}
    return SyncHealth(
        last_success_at=_time(values.get(LAST_SUCCESS)),
        offline_since=_time(values.get(OFFLINE_SINCE)),
        authorized=NOT_AUTHORIZED not in values,
        last_error=values.get(LAST_ERROR),
        not_authorized_since=_time(values.get(NOT_AUTHORIZED)),
    )


def record_success(engine: Engine, at: datetime) -> None:
    _write(
        engine, {LAST_SUCCESS: at.isoformat(), OFFLINE_SINCE: None, NOT_AUTHORIZED: None, LAST_ERROR: None}
    )


def record_offline(engine: Engine, since: datetime, error: str, last_success: datetime | None = None) -> None:
    """Keeps the first moment of an outage: `since` only counts if none is recorded yet.
    `last_success`: a success not written yet (held back mid-drain), stored with it."""
    current = load(engine)
    start = current.offline_since or since
    _write(engine, {OFFLINE_SINCE: start.isoformat(), LAST_ERROR: error[:500], **_success(last_success)})


def record_not_authorized(engine: Engine, error: str, last_success: datetime | None = None) -> None:
    """Keeps the first refusal's time, as record_offline keeps the first failure's."""
    current = load(engine)
    start = current.not_authorized_since or datetime.now(UTC)
    _write(engine, {NOT_AUTHORIZED: start.isoformat(), LAST_ERROR: error[:500], **_success(last_success)})


def _success(at: datetime | None) -> dict[str, str | None]:
    return {} if at is None else {LAST_SUCCESS: at.isoformat()}


def clear_not_authorized(engine: Engine) -> None:
    _write(engine, {NOT_AUTHORIZED: None})


def _write(engine: Engine, values: dict[str, str | None]) -> None:
    with Session(engine) as session, session.begin():
        for key, value in values.items():
            if value is None:
                session.execute(delete(LocalSetting).where(LocalSetting.key == key))
            else:
                session.merge(LocalSetting(key=key, value=value))


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # "1": a refusal recorded before its time was kept
        return None
