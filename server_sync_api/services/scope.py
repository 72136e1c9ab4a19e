"""What an entity may see: itself and every entity under it, in one query.

Every rule that limits rows to an entity's subtree uses it: the catalog a kiosk caches, the
services a kiosk may submit for, the tickets staff may look up, and what an officer may see
and change in the desk. Prepend `within_scope` to a statement and pass the entity as
%(scope_entity)s (or `within_officer_scope` and the officer as %(scope_officer)s); the
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


SCOPE_OFFICER = "scope_officer"

# An officer's scope: their entity and everything under it; an administrator's: every root and
# so everything. A disabled or unknown officer has an empty scope and sees nothing. The desk
# puts every ticket read and write through it, so typing another agency's ticket number finds
# nothing rather than relying on links being hidden.
_OFFICER_SCOPE = """
WITH RECURSIVE scope (entity_id) AS (
    SELECT e.unique_entity_id
    FROM officers o
    JOIN entity_master e
      ON e.unique_entity_id = o.entity_id OR (o.role = 'admin' AND e.parent_entity_id IS NULL)
    WHERE o.officer_id = %(scope_officer)s AND o.active
    UNION
    SELECT e.unique_entity_id FROM entity_master e JOIN scope ON e.parent_entity_id = scope.entity_id
)
"""


def within_officer_scope(statement: str) -> str:
    """`statement` with the `scope` of officer %(scope_officer)s before it."""
    return _OFFICER_SCOPE + statement
