"""The desk's dashboard: the seed's five reporting views (section 9) for an officer's scope
(ARCHITECTURE 4.13, issue 13).

Every statement is put through `within_officer_scope`; the entities of the scope reach the
statement as one array (`= ANY (ARRAY(SELECT entity_id FROM scope))`), a value the planner
pushes into a view's grouping and uses as an index condition, where `IN (SELECT ...)` is joined
only after a view has aggregated every entity.

Three panels read their view; two have the view's columns and formulas written over the base
tables, because reading the view could not be made fast or could not be scoped (measured at a
year of data, 1,000,000 feedback rows and 300,000 tickets, bench/desk.py's data):

- Satisfaction by service: v_service_performance's columns over the feedback that arrived in
  the last DAYS days (base tables). The view is all-time and a window cannot be put on it from
  outside, so reading it aggregates every feedback row ever received: 0.5-0.9 s for an
  administrator at a year of data, and more every month; over 30 days, about 60 ms.
- SLA compliance by day: v_daily_ticket_stats has no entity column (it aggregates every ticket
  before any WHERE applies), so it cannot be scoped. Its definition over the scope's tickets
  created, resolved or closed in the last DAYS days, a row for every day. One pass over the
  scope's tickets, found by their entity; no index bounds resolved_at or closed_at, so for an
  administrator that is every ticket (about 150 ms at a year of data, 20-50 ms for an agency
  or a ministry).
- Queue by entity: v_entity_ticket_queue's columns (base tables): for the view the planner
  reads every ticket ever made to find the open ones (about 100 ms whatever the scope); here
  they come from the desk's partial index on open tickets (migration 0004).
- Most urgent: v_active_tickets_sla, the scope's URGENT tickets with the nearest deadline. They
  are picked by an ordered scan of that partial index that stops after URGENT rows
  (desk_queue.DEADLINE: the deadline hours_until_deadline counts down to, unrounded, so two
  tickets the view rounds to the same 0.01 h fall in their deadlines' order) and then read
  from the view; ordering the view by its computed column would sort every active ticket.
- QR codes: v_qr_performance, the codes of the scope's services (a code's entity is its
  service's, by foreign key). Scans are a counter with no date, so this panel is all-time.

Days are in the server's zone (app_timezone()), as in the views. tests/integration/
test_desk_dashboard.py checks every panel's numbers against its view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection, pq
from psycopg.rows import class_row

from server_sync_api.domain import Officer
from server_sync_api.services.desk_queue import DEADLINE
from server_sync_api.services.scope import SCOPE_OFFICER, within_officer_scope

DAYS = 30
URGENT = 10

_IN_SCOPE = "ANY (ARRAY(SELECT entity_id FROM scope))"


@dataclass(frozen=True)
class ServiceRating:
    """One service's feedback over the window, as v_service_performance counts it."""

    service_id: str
    service_name: str
    entity_name: str
    total_submissions: int
    misuse_flagged: int
    avg_rating: Decimal | None
    satisfaction_rate: Decimal | None
    grievance_count: int


@dataclass(frozen=True)
class DayStats:
    """One day of v_daily_ticket_stats for the scope; `within_sla` is how many of the tickets
    resolved that day had no breach recorded (the rate's numerator)."""

    day: date
    tickets_created: int
    tickets_closed: int
    tickets_resolved: int
    within_sla: int
    avg_resolution_time: timedelta | None
    sla_compliance_rate: Decimal | None


@dataclass(frozen=True)
class EntityQueue:
    entity_id: str
    entity_name: str
    total_open_tickets: int
    high_priority_tickets: int
    avg_age_hours: Decimal | None
    sla_breach_count: int


@dataclass(frozen=True)
class UrgentTicket:
    ticket_number: str
    service_name: str
    priority: str
    status: str
    assigned_to: str | None
    assignee_name: str | None
    response_status: str
    resolution_status: str
    hours_until_deadline: Decimal | None


@dataclass(frozen=True)
class QrCodeStats:
    qr_code_value: str
    location: str | None
    service_name: str
    total_scans: int
    feedback_received: int
    feedback_conversion_rate: Decimal | None
    avg_rating_from_qr: Decimal | None


@dataclass(frozen=True)
class Dashboard:
    first_day: date
    last_day: date
    services: tuple[ServiceRating, ...]
    days: tuple[DayStats, ...]
    queues: tuple[EntityQueue, ...]
    urgent: tuple[UrgentTicket, ...]
    qr_codes: tuple[QrCodeStats, ...]

    @property
    def resolved(self) -> int:
        return sum(d.tickets_resolved for d in self.days)

    @property
    def sla_compliance_rate(self) -> Decimal | None:
        """The window's share resolved with no breach, over all its days (not a mean of days)."""
        if not self.resolved:
            return None
        within = sum(d.within_sla for d in self.days)
        return round(Decimal(100) * within / self.resolved, 2)


# The window: the last %(days)s days in the server's zone, today included.
_WINDOW = """,
window_ AS MATERIALIZED (
    SELECT w.zone, w.first_day, w.last_day, w.first_day::timestamp AT TIME ZONE w.zone AS since
    FROM (
        SELECT z.zone, (now() AT TIME ZONE z.zone)::date - (%(days)s - 1) AS first_day,
               (now() AT TIME ZONE z.zone)::date AS last_day
        FROM (SELECT app_timezone() AS zone) z
    ) w
)
"""

_BOUNDS = within_officer_scope(_WINDOW + "SELECT first_day, last_day FROM window_")

# v_service_performance's columns over the window (04_views.sql keeps the formulas).
_SERVICES = within_officer_scope(
    _WINDOW
    + f"""
SELECT
    s.service_id,
    s.service_name,
    e.entity_name,
    count(f.feedback_id)::INT AS total_submissions,
    (count(f.feedback_id) FILTER (WHERE f.misuse_suspected))::INT AS misuse_flagged,
    round(avg(f.rating) FILTER (WHERE NOT f.misuse_suspected), 2) AS avg_rating,
    round(100.0 * count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating > 3)
          / nullif(count(*) FILTER (WHERE NOT f.misuse_suspected), 0), 2) AS satisfaction_rate,
    (count(f.feedback_id) FILTER (WHERE f.grievance_flag))::INT AS grievance_count
FROM service_master s
JOIN entity_master e ON e.unique_entity_id = s.entity_id
LEFT JOIN service_feedback f
  ON f.service_id = s.service_id AND f.created_at >= (SELECT since FROM window_)
WHERE s.entity_id = {_IN_SCOPE}
GROUP BY s.service_id, s.service_name, e.entity_name
ORDER BY avg_rating DESC NULLS LAST, s.service_name, s.service_id
"""
)

# v_daily_ticket_stats's definition over the scope's tickets, one pass over them: those created,
# resolved or closed in the window. A row for every day of the window. The window's values are
# read by scalar subqueries, not joined: joined, they made the planner scan every ticket even
# for one agency's (150-250 ms, against 20-50 ms through the entity index).
_DAYS = within_officer_scope(
    _WINDOW
    + f""",
scoped AS MATERIALIZED (
    SELECT t.ticket_id, t.created_at, t.resolved_at,
           (t.created_at AT TIME ZONE (SELECT zone FROM window_))::date AS created_day,
           (t.resolved_at AT TIME ZONE (SELECT zone FROM window_))::date AS resolved_day,
           (t.closed_at AT TIME ZONE (SELECT zone FROM window_))::date AS closed_day
    FROM tickets t
    WHERE t.entity_id = {_IN_SCOPE}
      AND (t.created_at >= (SELECT since FROM window_)
           OR t.resolved_at >= (SELECT since FROM window_)
           OR t.closed_at >= (SELECT since FROM window_))
),
created AS (SELECT created_day AS day, count(*) AS n FROM scoped GROUP BY 1),
closed AS (SELECT closed_day AS day, count(*) AS n FROM scoped WHERE closed_day IS NOT NULL GROUP BY 1),
resolved AS (
    SELECT s.resolved_day AS day, count(*) AS n,
           avg(s.resolved_at - s.created_at) AS avg_resolution_time,
           count(*) FILTER (WHERE NOT EXISTS (
               SELECT 1 FROM sla_breaches b WHERE b.ticket_id = s.ticket_id)) AS within_sla
    FROM scoped s
    WHERE s.resolved_day IS NOT NULL
    GROUP BY 1
)
SELECT
    g.day::date AS day,
    coalesce(created.n, 0)::INT AS tickets_created,
    coalesce(closed.n, 0)::INT AS tickets_closed,
    coalesce(resolved.n, 0)::INT AS tickets_resolved,
    coalesce(resolved.within_sla, 0)::INT AS within_sla,
    resolved.avg_resolution_time,
    round(100.0 * resolved.within_sla / nullif(resolved.n, 0), 2) AS sla_compliance_rate
FROM window_ w
CROSS JOIN generate_series(w.first_day, w.last_day, interval '1 day') AS g(day)
LEFT JOIN created ON created.day = g.day::date
LEFT JOIN closed ON closed.day = g.day::date
LEFT JOIN resolved ON resolved.day = g.day::date
ORDER BY g.day
"""
)

# v_entity_ticket_queue's columns and formulas, from the base tables: given one entity, the
# view's join to the open tickets is planned as a scan of every ticket ever made (about 100 ms
# at a year of data, for any officer), where this picks the scope's open tickets out of the
# desk's partial index on them (migration 0004) and counts each one's breaches by its key.
_QUEUES = within_officer_scope(
    f"""
SELECT
    e.unique_entity_id AS entity_id,
    e.entity_name,
    count(t.ticket_id)::INT AS total_open_tickets,
    (count(t.ticket_id) FILTER (WHERE t.priority_id IN (1, 2)))::INT AS high_priority_tickets,
    round(avg(extract(epoch FROM now() - t.created_at) / 3600), 2) AS avg_age_hours,
    coalesce(sum(t.breaches), 0)::INT AS sla_breach_count
FROM entity_master e
LEFT JOIN (
    SELECT t.ticket_id, t.entity_id, t.priority_id, t.created_at,
           (SELECT count(*) FROM sla_breaches b WHERE b.ticket_id = t.ticket_id) AS breaches
    FROM tickets t
    WHERE t.status_id NOT IN (4, 5) AND t.entity_id = {_IN_SCOPE}
) t ON t.entity_id = e.unique_entity_id
WHERE e.unique_entity_id = {_IN_SCOPE}
GROUP BY e.unique_entity_id, e.entity_name
ORDER BY total_open_tickets DESC, sla_breach_count DESC, e.entity_name, e.unique_entity_id
"""
)

# Resolved and Closed are status ids 4 and 5 in the view and in the partial index alike.
_URGENT = within_officer_scope(
    f"""
SELECT v.ticket_number, v.service_name, v.priority, v.status, v.assigned_to,
       (SELECT o.display_name FROM officers o WHERE lower(o.email) = lower(v.assigned_to)) AS assignee_name,
       v.response_status, v.resolution_status, v.hours_until_deadline
FROM v_active_tickets_sla v
WHERE v.ticket_id = ANY (ARRAY(
    SELECT t.ticket_id FROM tickets t
    WHERE t.status_id NOT IN (4, 5) AND t.entity_id = {_IN_SCOPE}
    ORDER BY {DEADLINE}, t.ticket_id
    LIMIT %(limit)s
))
ORDER BY v.hours_until_deadline, v.ticket_id
"""
)

_QR_CODES = within_officer_scope(
    f"""
SELECT v.qr_code_value, v.location, v.service_name, v.total_scans, v.feedback_received,
       v.feedback_conversion_rate, v.avg_rating_from_qr
FROM v_qr_performance v
WHERE v.service_id IN (SELECT s.service_id FROM service_master s WHERE s.entity_id = {_IN_SCOPE})
ORDER BY v.feedback_received DESC, v.total_scans DESC, v.qr_code_value
"""
)

_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
# These statements take tens of milliseconds, but the planner's cost for a scan of a year of
# tickets passes jit_above_cost, and compiling them took 0.4-0.6 s (measured at 1,000,000
# feedback rows): more than the statements themselves.
_NO_JIT = "SELECT set_config('jit', 'off', true)"


async def _rows(
    conn: AsyncConnection[Any], row_type: type[Any], statement: str, params: dict[str, Any]
) -> tuple[Any, ...]:
    async with conn.cursor(row_factory=class_row(row_type)) as cursor:
        await cursor.execute(statement, params)
        return tuple(await cursor.fetchall())


async def _read(conn: AsyncConnection[Any], viewer: Officer, days: int) -> Dashboard:
    params: dict[str, Any] = {SCOPE_OFFICER: viewer.officer_id, "days": days, "limit": URGENT}
    cursor = await conn.execute(_BOUNDS, params)
    bounds = await cursor.fetchone()
    assert bounds is not None
    first_day, last_day = bounds
    return Dashboard(
        first_day=first_day,
        last_day=last_day,
        services=await _rows(conn, ServiceRating, _SERVICES, params),
        days=await _rows(conn, DayStats, _DAYS, params),
        queues=await _rows(conn, EntityQueue, _QUEUES, params),
        urgent=await _rows(conn, UrgentTicket, _URGENT, params),
        qr_codes=await _rows(conn, QrCodeStats, _QR_CODES, params),
    )


async def dashboard(conn: AsyncConnection[Any], viewer: Officer, *, days: int = DAYS) -> Dashboard:
    """The five panels for `viewer`'s scope (nothing for a disabled officer), the windowed ones
    over the last `days` days. On an idle connection they are read in one READ ONLY, REPEATABLE
    READ transaction, committed here; inside the caller's transaction, in that one."""
    if not 1 <= days <= 366:
        raise ValueError("days must be between 1 and 366")
    if conn.info.transaction_status == pq.TransactionStatus.IDLE:
        async with conn.transaction():
            await conn.execute(_SNAPSHOT)
            await conn.execute(_NO_JIT)
            return await _read(conn, viewer, days)
    # In the caller's transaction, whose JIT setting is put back afterwards.
    cursor = await conn.execute("SELECT current_setting('jit')")
    jit = await cursor.fetchone()
    await conn.execute(_NO_JIT)
    result = await _read(conn, viewer, days)
    if jit is not None:
        await conn.execute("SELECT set_config('jit', %s, true)", (jit[0],))
    return result
