"""The catalog the kiosk cached from the server: services, categories, priorities, limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kiosk.local_db import database
from kiosk.local_db.models import CatalogCache

DEFAULT_COMMENT_MAX_CHARS = 2_000


@dataclass(frozen=True)
class Service:
    service_id: str
    name: str
    entity_id: str
    active: bool
    category_ids: tuple[int, ...]


@dataclass(frozen=True)
class Catalog:
    body: dict[str, Any]

    @property
    def services(self) -> dict[str, Service]:
        return {
            s["service_id"]: Service(
                s["service_id"], s["name"], s["entity_id"], s["active"], tuple(s["category_ids"])
            )
            for s in self.body.get("services", [])
        }

    @property
    def comment_max_chars(self) -> int:
        return int(self.body.get("limits", {}).get("comment_max_chars", DEFAULT_COMMENT_MAX_CHARS))

    @property
    def priority_ids(self) -> set[int]:
        return {int(p["priority_id"]) for p in self.body.get("priorities", [])}


def load(engine: Engine) -> Catalog | None:
    with Session(database.reader(engine)) as session:
        row = session.get(CatalogCache, 1)
        return None if row is None else Catalog(dict(row.body))
