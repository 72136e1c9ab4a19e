"""The catalog a kiosk caches: its entities' services, categories, priorities, limits."""

from __future__ import annotations

import hashlib
from typing import Any

from psycopg import AsyncConnection

from server_sync_api.domain import Device
from server_sync_api.protocol import (
    Catalog,
    CatalogCategory,
    CatalogEntity,
    CatalogLimits,
    CatalogPriority,
    CatalogService,
)
from server_sync_api.services.scope import SCOPE_ENTITY, within_scope


async def build_catalog(conn: AsyncConnection[Any], device: Device, public_base_url: str) -> Catalog:
    params = {SCOPE_ENTITY: device.entity_id}
    cursor = await conn.execute(
        within_scope(
            "SELECT unique_entity_id, entity_name, entity_type, parent_entity_id, is_active "
            "FROM entity_master WHERE unique_entity_id IN (SELECT entity_id FROM scope) ORDER BY 1"
        ),
        params,
    )
    entities = [
        CatalogEntity(entity_id=r[0], name=r[1], entity_type=r[2], parent_entity_id=r[3], active=r[4])
        for r in await cursor.fetchall()
    ]
    cursor = await conn.execute(
        within_scope(
            """
        SELECT s.service_id, s.service_name, s.entity_id, s.service_category, s.service_description,
               s.is_active,
               (SELECT coalesce(array_agg(c.category_id ORDER BY c.depth, c.category_id), '{}')
                FROM service_category_chain(s.service_id) c)
        FROM service_master s WHERE s.entity_id IN (SELECT entity_id FROM scope) ORDER BY 1
        """
        ),
        params,
    )
    services = [
        CatalogService(
            service_id=r[0],
            name=r[1],
            entity_id=r[2],
            service_category=r[3],
            description=r[4],
            active=r[5],
            category_ids=list(r[6]),
        )
        for r in await cursor.fetchall()
    ]
    used = sorted({cid for service in services for cid in service.category_ids})
    cursor = await conn.execute(
        "SELECT category_id, category_name, entity_id, default_response_hours, default_resolution_hours "
        "FROM ticket_categories WHERE category_id = ANY(%s) ORDER BY 1",
        (used,),
    )
    categories = [
        CatalogCategory(
            category_id=r[0], name=r[1], entity_id=r[2], response_hours=r[3], resolution_hours=r[4]
        )
        for r in await cursor.fetchall()
    ]
    cursor = await conn.execute(
        "SELECT priority_id, priority_name, sla_multiplier FROM priority_levels ORDER BY priority_order, 1"
    )
    priorities = [
        CatalogPriority(priority_id=r[0], name=r[1], sla_multiplier=float(r[2]))
        for r in await cursor.fetchall()
    ]
    return Catalog(
        device_code=device.device_code,
        entity_id=device.entity_id,
        public_base_url=public_base_url,
        entities=entities,
        services=services,
        categories=categories,
        priorities=priorities,
        limits=CatalogLimits(),
    )


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates
