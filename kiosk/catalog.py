"""The catalog the kiosk cached from the server: services, categories, priorities, limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from kiosk.local_db import catalog_cache

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

    @property
    def priorities(self) -> list[tuple[int, str]]:
        """(id, name) in the server's order: priority_order, most urgent first."""
        return [(int(p["priority_id"]), str(p["name"])) for p in self.body.get("priorities", [])]

    def entity_name(self, entity_id: str) -> str:
        for entity in self.body.get("entities", []):
            if entity.get("entity_id") == entity_id:
                return str(entity.get("name") or entity_id)
        return entity_id

    def categories_of(self, service: Service) -> list[tuple[int, str]]:
        """The categories a grievance about `service` may take, most specific first."""
        names = {int(c["category_id"]): str(c["name"]) for c in self.body.get("categories", [])}
        return [(cid, names.get(cid, str(cid))) for cid in service.category_ids]

    def counter_services(self, wanted: list[str]) -> list[Service]:
        """The services this counter offers: those IT listed (in IT's order) or every active one."""
        services = self.services
        if wanted:
            return [services[s] for s in wanted if s in services and services[s].active]
        return sorted((s for s in services.values() if s.active), key=lambda s: s.name)


def load(engine: Engine) -> Catalog | None:
    """The cached catalog (kiosk.local_db.catalog_cache), None before the first fetch."""
    cached = catalog_cache.load(engine)
    return None if cached is None else Catalog(cached.body)
