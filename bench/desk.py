"""Speed of the desk's two pages' data at a year of data: the queue and one ticket.

Builds a scratch database from a migrated template with the demo catalog, then a year of
history with set-based SQL (generate_series):

- N feedback rows (default 1,000,000) spread over the last 365 days, through the real
  trigger path, so about 30% become tickets with real numbers, SLA targets and audit rows;
- a life for every ticket, written with the triggers off for speed: the older a ticket, the
  likelier it is resolved or closed (some late); the rest open, in progress, waiting or
  reopened; most assigned to an officer of their entity; their status and assignment
  activities, notes (some public) and SLA breaches;
- four officers per entity (one a supervisor) and an administrator; then ANALYZE.

Then, on one connection configured as the API's pool configures its own (no server-side
prepared statements), it times `desk_queue.queue()` over a mix of filters and viewers (no
filter, a status, assigned to me, unassigned, breached, a service, a date range, a priority
and category, page 2 through the cursor) and `desk_tickets.ticket()` for random tickets of
the viewer's scope. Each call's baseline is the bare SQL of the same call (the same
statements and parameters through psycopg, rows fetched and dropped), timed in the same run
and interleaved with it, so the ratio is what the Python around the SQL costs. Prints p50 and
p95 in milliseconds for each and the ratio. Nothing here asserts on time; the target is a p95
under 100 ms for both pages.

    python -m bench.desk [--rows N] [--rounds R] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any

import psycopg

from server_sync_api.domain import Officer
from server_sync_api.services import desk_queue, desk_tickets
from server_sync_api.services.desk_queue import QueueFilters
from server_sync_api.services.scope import SCOPE_OFFICER, within_officer_scope
from tests.helpers import pg

DEFAULT_ROWS = 1_000_000
DEFAULT_ROUNDS = 40
# Feedback rows per INSERT statement while generating (one transaction each).
CHUNK = 100_000

KIOSKS = """
INSERT INTO kiosk_devices (name, entity_id)
SELECT 'Kiosk ' || g || ' of ' || s.entity_id, s.entity_id
FROM service_master s, generate_series(1, 3) AS g
"""

OFFICERS = """
INSERT INTO officers (email, display_name, entity_id, role)
SELECT lower(e.unique_entity_id) || '.' || r || '@gov.gd', 'Officer ' || r || ' of ' || e.unique_entity_id,
       e.unique_entity_id, CASE WHEN r = 1 THEN 'supervisor' ELSE 'officer' END
FROM entity_master e, generate_series(1, 4) AS r;
INSERT INTO officers (email, display_name, entity_id, role)
VALUES ('admin@gov.gd', 'Administrator', 'GOV-000', 'admin');
"""

# %(rows)s feedback rows, created over the last 365 days in time order; ratings 1-5 weighted
# 12/13/15/30/30 and 7% of the others grievances, so about 30% make tickets.
FEEDBACK = """
WITH svc AS (
    SELECT array_agg(service_id ORDER BY service_id) AS ids,
           array_agg(entity_id ORDER BY service_id) AS ents, count(*)::int AS n
    FROM service_master
), dev AS (
    SELECT array_agg(device_id ORDER BY device_id) AS ids, count(*)::int AS n FROM kiosk_devices
), raw AS (
    SELECT g, random() AS r_svc, random() AS r_rating, random() AS r_grv, random() AS r_chan,
           random() AS r_sub,
           now() - interval '365 days' * (1 - (g - 0.5 + %(first)s) / %(total)s) AS at
    FROM generate_series(1, %(rows)s) AS g
), rated AS (
    SELECT raw.*, CASE WHEN r_rating < 0.12 THEN 1 WHEN r_rating < 0.25 THEN 2
                       WHEN r_rating < 0.40 THEN 3 WHEN r_rating < 0.70 THEN 4 ELSE 5 END AS rating
    FROM raw
)
INSERT INTO service_feedback (service_id, entity_id, rating, service_quality, staff_behavior,
    waiting_time, cleanliness, grievance_flag, feedback_text, channel, device_id, recorded_at, created_at)
SELECT svc.ids[1 + floor(r_svc * svc.n)::int], svc.ents[1 + floor(r_svc * svc.n)::int], rating,
       CASE WHEN r_sub < 0.5 THEN least(5, rating + g %% 2) END,
       CASE WHEN r_sub < 0.4 THEN rating END,
       CASE WHEN r_sub < 0.6 THEN greatest(1, rating - g %% 3) END,
       CASE WHEN r_sub < 0.3 THEN 4 END,
       rating >= 3 AND r_grv < 0.07,
       CASE WHEN rating <= 2 OR r_grv < 0.07
            THEN repeat('The queue did not move for an hour. ', 1 + g %% 5) END,
       CASE WHEN r_chan < 0.75 THEN 'kiosk' WHEN r_chan < 0.9 THEN 'qr_code' ELSE 'walk_in' END,
       CASE WHEN r_chan < 0.75 THEN dev.ids[1 + g %% dev.n] END,
       at - interval '2 minutes', at
FROM rated, svc, dev
ORDER BY at
"""

# Each ticket's life, decided once: done (resolved or closed) the likelier the older it is;
# otherwise open, in progress, waiting or reopened. Times stay before now(), some late.
LIFE = """
CREATE TEMP TABLE life AS
WITH r AS (
    SELECT t.ticket_id, t.entity_id, t.sla_start, t.response_target, t.resolution_target,
           extract(epoch FROM now() - t.created_at) / 86400 AS age,
           random() AS r_done, random() AS r_status, random() AS r_resp, random() AS r_res,
           random() AS r_asg, random() AS r_close
    FROM tickets t
), s AS (
    SELECT r.*,
           r_done < CASE WHEN age > 30 THEN 0.97 WHEN age > 7 THEN 0.85 WHEN age > 2 THEN 0.6 ELSE 0.25 END
               AS done,
           least(sla_start + (response_target - sla_start) * (0.1 + r_resp * 1.2),
                 sla_start + (now() - sla_start) * 0.5) AS answered
    FROM r
), st AS (
    SELECT s.*,
           CASE WHEN done THEN CASE WHEN r_status < 0.7 THEN 5 ELSE 4 END
                WHEN r_status < 0.35 THEN 1 WHEN r_status < 0.70 THEN 2
                WHEN r_status < 0.85 THEN 3 ELSE 6 END AS status_id
    FROM s
)
SELECT st.ticket_id, st.status_id, st.sla_start, st.entity_id,
       CASE WHEN st.status_id <> 1 THEN st.answered END AS responded_at,
       CASE WHEN st.done THEN least(now() - interval '1 minute',
            st.answered + (st.resolution_target - st.answered) * (0.2 + st.r_res)) END AS resolved_at,
       CASE WHEN st.status_id = 6
            THEN st.answered + (now() - st.answered) * (0.3 + 0.7 * st.r_res) END AS resolution_start,
       CASE WHEN st.status_id = 6
            THEN st.answered + (now() - st.answered) * (0.3 + 0.7 * st.r_res)
                 + (st.resolution_target - st.sla_start) END AS reopened_target,
       CASE WHEN st.status_id <> 1 OR st.r_asg < 0.2
            THEN lower(st.entity_id) || '.' || (1 + floor(st.r_asg * 4)::int) || '@gov.gd' END AS assigned_to,
       st.r_close
FROM st;
UPDATE life SET resolved_at = greatest(resolved_at, responded_at) WHERE resolved_at IS NOT NULL;

UPDATE tickets t SET
    status_id = l.status_id,
    responded_at = l.responded_at,
    resolved_at = l.resolved_at,
    closed_at = CASE WHEN l.status_id = 5
                     THEN least(now(), l.resolved_at + interval '1 day' * l.r_close) END,
    resolution_start = l.resolution_start,
    resolution_target = coalesce(l.reopened_target, t.resolution_target),
    resolution_notes = CASE WHEN l.resolved_at IS NOT NULL THEN 'Explained the delay; apologised.' END,
    assigned_to = l.assigned_to,
    waiting_since = CASE WHEN l.status_id = 3 THEN l.responded_at + interval '1 hour' END,
    row_version = 1 + (l.assigned_to IS NOT NULL)::int + (l.status_id <> 1)::int
                  + (l.resolved_at IS NOT NULL)::int + (l.status_id = 5)::int + 2 * (l.status_id = 6)::int,
    updated_at = greatest(t.created_at, l.responded_at, l.resolved_at, l.resolution_start)
FROM life l
WHERE l.ticket_id = t.ticket_id;

INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by, created_at)
SELECT l.ticket_id, 'assignment_change', NULL, l.assigned_to, l.assigned_to,
       l.sla_start + interval '5 minutes'
FROM life l WHERE l.assigned_to IS NOT NULL
UNION ALL
SELECT l.ticket_id, 'status_change', 'Open', 'In Progress', l.assigned_to, l.responded_at
FROM life l WHERE l.responded_at IS NOT NULL
UNION ALL
SELECT l.ticket_id, 'status_change', 'In Progress', 'Waiting', l.assigned_to,
       l.responded_at + interval '1 hour'
FROM life l WHERE l.status_id = 3
UNION ALL
SELECT l.ticket_id, 'status_change', 'In Progress', 'Resolved', l.assigned_to, t.resolved_at
FROM life l JOIN tickets t USING (ticket_id) WHERE t.resolved_at IS NOT NULL
UNION ALL
SELECT l.ticket_id, 'status_change', 'Resolved', 'Closed', l.assigned_to, t.closed_at
FROM life l JOIN tickets t USING (ticket_id) WHERE t.closed_at IS NOT NULL
UNION ALL
SELECT l.ticket_id, 'status_change', 'In Progress', 'Resolved', l.assigned_to,
       l.resolution_start - interval '2 days'
FROM life l WHERE l.status_id = 6
UNION ALL
SELECT l.ticket_id, 'status_change', 'Resolved', 'Reopened', l.assigned_to, l.resolution_start
FROM life l WHERE l.status_id = 6;

INSERT INTO ticket_notes (ticket_id, note_text, created_by, is_public, created_at)
SELECT l.ticket_id,
       CASE WHEN n = 1 THEN 'Called the citizen; waiting for the documents.'
            ELSE 'Thank you for your patience: your certificate is ready for collection.' END,
       l.assigned_to, n = 2, l.responded_at + interval '3 hours' * n
FROM life l, generate_series(1, 2) AS n
WHERE l.assigned_to IS NOT NULL AND l.responded_at IS NOT NULL AND (n = 1 OR l.r_close < 0.4);

INSERT INTO sla_breaches (ticket_id, breach_type, clock_started_at, expected_time, actual_time,
                          hours_overdue, escalated)
SELECT t.ticket_id, 'response_breach', t.sla_start, t.response_target, t.responded_at,
       floor(extract(epoch FROM coalesce(t.responded_at, now()) - t.response_target) / 3600), true
FROM tickets t WHERE coalesce(t.responded_at, now()) > t.response_target
UNION ALL
SELECT t.ticket_id, 'resolution_breach', coalesce(t.resolution_start, t.sla_start), t.resolution_target,
       coalesce(t.resolved_at, t.closed_at),
       floor(extract(epoch FROM coalesce(t.resolved_at, t.closed_at, now()) - t.resolution_target) / 3600),
       coalesce(t.resolved_at, t.closed_at, now()) > t.resolution_target + interval '1 hour'
FROM tickets t WHERE coalesce(t.resolved_at, t.closed_at, now()) > t.resolution_target;
"""


@dataclass(frozen=True)
class DataSet:
    feedback: int
    tickets: int
    open_tickets: int
    activities: int
    notes: int
    seconds: float


@contextmanager
def year_of_data(rows: int) -> Iterator[tuple[str, DataSet]]:
    """A scratch database from a fresh template, `generate`d with `rows` feedback rows: its
    conninfo and what was made. Both databases are dropped when the block ends."""
    pg.check_admin_connection()
    template = f"gea_bench_tpl_{uuid.uuid4().hex[:8]}"
    pg.create_template(template)
    try:
        with pg.fresh_database(template, prefix="gea_bench") as url:
            info = pg.conninfo(url)
            yield info, generate(info, rows)
    finally:
        pg.drop_database(template)


def generate(conninfo: str, rows: int) -> DataSet:
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute(KIOSKS)
        conn.execute(OFFICERS)
        for first in range(0, rows, CHUNK):
            conn.execute(FEEDBACK, {"rows": min(CHUNK, rows - first), "first": first, "total": rows})
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(LIFE)
        # Months' counters as the triggers would have left them, then fresh statistics.
        conn.execute("VACUUM ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM service_feedback), (SELECT count(*) FROM tickets), "
            "(SELECT count(*) FROM tickets WHERE status_id NOT IN (4, 5)), "
            "(SELECT count(*) FROM ticket_activities), (SELECT count(*) FROM ticket_notes)"
        ).fetchone()
    assert counts is not None
    feedback, tickets, open_tickets, activities, notes = (int(c) for c in counts)
    return DataSet(feedback, tickets, open_tickets, activities, notes, time.perf_counter() - started)


# -- The measured calls --------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    viewer: Officer
    filters: QueueFilters
    page_two: bool = False


@dataclass
class Timings:
    page: list[float]
    bare: list[float]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def officer(conn: psycopg.AsyncConnection[Any], where: str, *params: object) -> Officer:
    cursor = await conn.execute(
        "SELECT officer_id, email, display_name, entity_id, role, active FROM officers WHERE " + where, params
    )
    row = await cursor.fetchone()
    assert row is not None, where
    return Officer(*row)


async def cases(conn: psycopg.AsyncConnection[Any]) -> list[Case]:
    admin = await officer(conn, "role = 'admin'")
    ministry = await officer(conn, "entity_id = 'MIN-001' AND role = 'supervisor'")
    registry = await officer(conn, "entity_id = 'DEPT-003' AND role = 'officer' ORDER BY email LIMIT 1")
    agency = await officer(conn, "entity_id = 'AGY-002' AND role = 'officer' ORDER BY email LIMIT 1")
    month = date.today() - timedelta(days=30)
    return [
        Case("admin, no filter", admin, QueueFilters()),
        Case("admin, page 2 by cursor", admin, QueueFilters(), page_two=True),
        Case("admin, in progress", admin, QueueFilters(statuses=("in_progress",))),
        Case("admin, unassigned", admin, QueueFilters(assigned="unassigned")),
        Case("admin, breached", admin, QueueFilters(breached=True)),
        Case("admin, a service", admin, QueueFilters(service_id="SVC-009")),
        Case("admin, last 30 days", admin, QueueFilters(created_from=month, created_to=date.today())),
        Case("admin, resolved + closed", admin, QueueFilters(statuses=("resolved", "closed"))),
        Case("ministry, no filter", ministry, QueueFilters()),
        Case("ministry, critical+high", ministry, QueueFilters(priority_ids=(1, 2))),
        Case("registry, assigned to me", registry, QueueFilters(assigned="me")),
        Case("registry, a category", registry, QueueFilters(category_id=5)),
        Case("registry, page 2 by cursor", registry, QueueFilters(), page_two=True),
        Case("agency, no filter", agency, QueueFilters()),
        Case("agency, reopened, 30 days", agency, QueueFilters(statuses=("reopened",), created_from=month)),
    ]


async def bare(conn: psycopg.AsyncConnection[Any], statement: str, params: Any) -> None:
    cursor = await conn.execute(statement, params)
    await cursor.fetchall()


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def page_statement(
    conn: psycopg.AsyncConnection[Any], case: Case
) -> tuple[str | None, str, dict[str, Any]]:
    """The case's cursor (page 2: the first page's) and the one statement queue() runs for it."""
    after = None
    if case.page_two:
        after = (await desk_queue.queue(conn, case.viewer, case.filters)).next_cursor
    position = desk_queue._decode_cursor(after) if after else None
    limit = desk_queue.DEFAULT_LIMIT + 1  # queue() reads one more row to know there is a next page
    statement, params = desk_queue._statement(case.viewer, case.filters, position, limit)
    return after, statement, params


async def measure_queue(conn: psycopg.AsyncConnection[Any], case: Case, rounds: int) -> Timings:
    after, statement, params = await page_statement(conn, case)
    timings = Timings([], [])
    for _ in range(rounds):
        timings.page.append(
            await timed(lambda: desk_queue.queue(conn, case.viewer, case.filters, after=after))
        )
        timings.bare.append(await timed(lambda: bare(conn, statement, params)))
    return timings


async def ticket_sql(conn: psycopg.AsyncConnection[Any], viewer: Officer, number: str) -> None:
    """The statements `desk_tickets.ticket` runs, bare."""
    cursor = await conn.execute(desk_tickets._TICKET, {SCOPE_OFFICER: viewer.officer_id, "number": number})
    row = await cursor.fetchone()
    assert row is not None
    ticket_id, service_id, entity_id = row[0], row[10], row[12]
    for statement, params in (
        (desk_tickets._TIMELINE, {"ticket": ticket_id}),
        (desk_tickets._BREACHES, {"ticket": ticket_id}),
        (desk_tickets._STATUSES, None),
        (desk_tickets._ASSIGNEES, {SCOPE_OFFICER: viewer.officer_id, "entity": entity_id, "email": None}),
        (desk_tickets._CHAIN, {"service": service_id}),
        (desk_tickets._PRIORITIES, None),
    ):
        await bare(conn, statement, params)


async def measure_tickets(conn: psycopg.AsyncConnection[Any], viewer: Officer, rounds: int) -> Timings:
    cursor = await conn.execute(
        within_officer_scope(
            "SELECT ticket_number FROM tickets t WHERE t.entity_id IN (SELECT entity_id FROM scope) "
            "ORDER BY random() LIMIT %(n)s"
        ),
        {SCOPE_OFFICER: viewer.officer_id, "n": rounds},
    )
    numbers = [row[0] for row in await cursor.fetchall()]
    timings = Timings([], [])
    for number in numbers:
        timings.page.append(await timed(partial(desk_tickets.ticket, conn, viewer, number)))
        timings.bare.append(await timed(partial(ticket_sql, conn, viewer, number)))
    return timings


async def explain(conn: psycopg.AsyncConnection[Any], case: Case) -> None:
    _, statement, params = await page_statement(conn, case)
    cursor = await conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
    print(f"--- {case.name}")
    for (line,) in await cursor.fetchall():
        print(line)


async def run(conninfo: str, rounds: int, show_plans: bool) -> tuple[dict[str, Timings], Timings]:
    # As the API's pool: no server-side prepared statements.
    connect = psycopg.AsyncConnection.connect(conninfo, autocommit=True, prepare_threshold=None)
    async with await connect as conn:
        all_cases = await cases(conn)
        for case in all_cases:  # warm the caches and the plans' catalog look-ups once
            await desk_queue.queue(conn, case.viewer, case.filters)
        if show_plans:
            for case in all_cases:
                await explain(conn, case)
        results = {case.name: await measure_queue(conn, case, rounds) for case in all_cases}
        admin = all_cases[0].viewer
        supervisor = all_cases[8].viewer
        tickets = await measure_tickets(conn, admin, rounds * 4)
        more = await measure_tickets(conn, supervisor, rounds * 4)  # with the assignees list
    return results, Timings(tickets.page + more.page, tickets.bare + more.bare)


def line(label: str, t: Timings) -> str:
    p50, p95 = statistics.median(t.page), percentile(t.page, 95)
    b50, b95 = statistics.median(t.bare), percentile(t.bare, 95)
    return f"{label:<30} {p50:>8.2f} {p95:>8.2f}   {b50:>8.2f} {b95:>8.2f}   {p95 / b95:>6.2f}x"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="feedback rows (default 1,000,000)")
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="calls per queue case (default 40)"
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of every queue case")
    args = parser.parse_args(argv)
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")
    random.seed(42)

    with year_of_data(args.rows) as (info, data):
        print(
            f"{data.feedback:,} feedback rows, {data.tickets:,} tickets "
            f"({data.open_tickets:,} not resolved or closed), {data.activities:,} activities, "
            f"{data.notes:,} notes; generated in "
            f"{data.seconds:.0f} s"
        )
        queue_results, ticket_results = asyncio.run(run(info, args.rounds, args.explain))

    print()
    print(f"{'':<30} {'desk (ms)':>17}   {'bare SQL (ms)':>17}   {'p95':>7}")
    print(f"{'':<30} {'p50':>8} {'p95':>8}   {'p50':>8} {'p95':>8}   {'ratio':>7}")
    for name, timings in queue_results.items():
        print(line(f"queue: {name}", timings))
    mix = list(queue_results.values())
    every = Timings([v for t in mix for v in t.page], [v for t in mix for v in t.bare])
    print(line("queue: the whole mix", every))
    print(line("ticket page (7 statements)", ticket_results))
    print()


if __name__ == "__main__":
    main()
