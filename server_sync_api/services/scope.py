"""What an entity may see: itself and every entity under it, in one query.

Every rule that limits rows to an entity's subtree uses it: the catalog a kiosk caches, the
services a kiosk may submit for, the tickets staff may look up, and the officers' access to
come. Prepend `within_scope` to a statement and pass the entity as %(scope_entity)s; the
statement then limits itself with `... IN (SELECT entity_id FROM scope)`.
"""

from __future__ import annotations

SCOPE_ENTITY = "scope_entity"

_SCOPE = """
WITH RECURSIVE scope (entity_id) AS (
    SELECT %(scope_entity)s::varchar
    UNION
    SELECT e.unique_entity_id FROM entity_master e JOIN scope ON e.parent_entity_id = scope.entity_id
)
"""


def within_scope(statement: str) -> str:
    """`statement` with the `scope` of %(scope_entity)s before it."""
    return _SCOPE + statement
