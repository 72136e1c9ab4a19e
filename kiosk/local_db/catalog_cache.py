"""The catalog as last fetched from the server (one row), owned here alone: the sync worker,
`gea-kiosk enroll`, the demo and the screens all read and write it through these functions,
on one clock (`outbox.utcnow`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kiosk.local_db import database
from kiosk.local_db.models import CatalogCache
from kiosk.local_db.outbox import utcnow


@dataclass(frozen=True)
class CachedCatalog:
    etag: str | None
    body: dict[str, Any]
    fetched_at: datetime


def load(engine: Engine) -> CachedCatalog | None:
    """The cached catalog (None before the first fetch)."""
    with Session(database.reader(engine)) as session:
        row = session.get(CatalogCache, 1)
        return None if row is None else CachedCatalog(row.etag, dict(row.body), row.fetched_at)


def store(engine: Engine, body: dict[str, Any], etag: str | None = None) -> None:
    """Replace the cached catalog with a fetched one (or the demo's built-in one)."""
    with Session(engine) as session, session.begin():
        row = session.get(CatalogCache, 1) or CatalogCache(id=1)
        row.etag = etag
        row.body = body
        row.fetched_at = utcnow()
        session.add(row)


def mark_current(engine: Engine) -> None:
    """The server answered 304: the cached catalog is still current as of now."""
    with Session(engine) as session, session.begin():
        row = session.get(CatalogCache, 1)
        if row is not None:  # a 304 without a cached copy only happens if the row was deleted
            row.fetched_at = utcnow()
