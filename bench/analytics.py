"""Speed of the five reporting views (seed section 9) at a year of data, as dashboards read them.

Builds a scratch database from a migrated template with the demo catalog, then, with
set-based SQL only (generate_series; user triggers off for the generating transaction, as
the database owner, so each rule the triggers keep is kept by the statements themselves):

- a bigger catalog: three departments under each ministry and three units under each of
  those (60 more entities), three services per new entity (180 more), a category per new
  department, two kiosks per entity with services, two QR codes per service;
- N feedback rows (default 1,000,000) over the last 365 days in time order, a few services
  busier than the rest; ratings 1-5 weighted 12/13/15/30/30, 7% of the others grievances, so
  about 30% make tickets; kiosk, QR code, portal and walk-in channels, 1% flagged as misuse;
- the tickets those rows make, as the triggers would have made them: numbered gaplessly per
  month of the server's zone (with ticket_number_counters left at each month's last number),
  the service's default category, High for a grievance or a 1 and Medium for a 2 (a walk-in
  with staff's priority keeps it), SLA targets from the category's hours times the priority's
  factor from the submission time; then each ticket's life, written directly: the older, the
  likelier Resolved or Closed (some late), the rest Open, In Progress, Waiting or Reopened;
  their audit rows, and the SLA breaches they ran into (response breaches escalate at once,
  resolution breaches after an hour);
- each QR code's feedback_received and a scan count, then VACUUM ANALYZE.

Then, on one connection configured as the API's pool configures its own (no server-side
prepared statements), it times each query R times (default 30, after a warm-up), the queries
interleaved round by round so a slow moment of the machine hits them all: each whole view as
it stands, the views filtered as a dashboard filters them (one service, one ministry and its
subtree, the last 30 days), the 50 most urgent active tickets, and the baselines: a bare
count of the same feedback and tickets through their indexes (last 30 days, the whole year,
one service). Prints p50 and p95 in milliseconds, the rows each query returns and its p95
against the whole-year feedback count's. Nothing here asserts on time; the target is a p95
under 100 ms for every view at 1,000,000 rows.

--before VERSION measures the same rows a second time after running the down.sql of every
migration from head back to that one in the scratch database (e.g. --before v0008: the views
and indexes as they were before 0008), so before and after come from one run. --explain
prints EXPLAIN (ANALYZE, BUFFERS) of every query whose p95 passes 100 ms. --keep keeps the scratch database.
--unfolded-days D (default 1) adds, before timing, D days of submissions and desk changes
through the triggers, which append to the daily ticket counts what `gea-server maintenance`
folds each night: the daily view is timed as it reads just before the nightly run.

    python -m bench.analytics [--rows N] [--runs R] [--before VERSION] [--explain] [--keep]
                              [--unfolded-days D]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from bench.desk import percentile
from server_sync_api import migrate, schema
from tests.helpers import pg

DEFAULT_ROWS = 1_000_000
DEFAULT_RUNS = 30
# Feedback rows per INSERT statement (one transaction each), so WAL and memory stay bounded.
CHUNK = 1_000_000
TARGET_MS = 100.0
# The dashboards' filters: a ministry (its whole subtree) and one of its busy services.
MINISTRY = "MIN-001"

CATALOG = """
INSERT INTO entity_master (unique_entity_id, entity_name, entity_type, parent_entity_id)
SELECT 'DEPT-' || m || d || '0', 'Department ' || d || ' of ' || e.entity_name, 'DEPT', e.unique_entity_id
FROM entity_master e, generate_series(1, 3) AS d,
     LATERAL (SELECT substr(e.unique_entity_id, 7, 1)::int AS m) AS x
WHERE e.entity_type = 'MIN' AND e.parent_entity_id = 'GOV-000';

INSERT INTO entity_master (unique_entity_id, entity_name, entity_type, parent_entity_id)
SELECT 'UNIT-' || substr(e.unique_entity_id, 6, 2) || u, 'Unit ' || u || ' of ' || e.entity_name, 'UNIT',
       e.unique_entity_id
FROM entity_master e, generate_series(1, 3) AS u
WHERE e.unique_entity_id ~ '^DEPT-[0-9]{2}0$';

INSERT INTO service_master (service_id, service_name, entity_id, service_category, service_description)
SELECT 'SVC-' || e.unique_entity_id || '-' || s, 'Service ' || s || ' of ' || e.entity_name,
       e.unique_entity_id, 'Counter services', 'A generated service for the analytics bench.'
FROM entity_master e, generate_series(1, 3) AS s
WHERE e.unique_entity_id ~ '^(DEPT-[0-9]{2}0|UNIT-[0-9]{3})$';

INSERT INTO ticket_categories (entity_id, category_name, default_response_hours, default_resolution_hours)
SELECT e.unique_entity_id, 'Counter service of ' || e.unique_entity_id,
       4 + 4 * (row_number() OVER () % 3)::int,
       48 + 24 * (row_number() OVER () % 4)::int
FROM entity_master e WHERE e.unique_entity_id ~ '^DEPT-[0-9]{2}0$';

INSERT INTO kiosk_devices (name, entity_id, is_active, last_seen_at, last_sync_at, queue_depth, app_version)
SELECT 'Kiosk ' || k || ' of ' || e, e, TRUE, now() - interval '1 minute' * k,
       now() - interval '1 minute' * k, 0, '1.0.0'
FROM (SELECT DISTINCT entity_id AS e FROM service_master) AS s, generate_series(1, 2) AS k;

INSERT INTO qr_codes (qr_code_value, entity_id, service_id, location)
SELECT 'QR-' || replace(s.service_id, '-', '') || '-P' || p, s.entity_id, s.service_id,
       'Poster ' || p || ' at the counter of ' || s.service_name
FROM service_master s, generate_series(1, 2) AS p
ON CONFLICT (qr_code_value) DO NOTHING;

INSERT INTO officers (email, display_name, entity_id, role)
SELECT lower(e.unique_entity_id) || '.' || r || '@gov.gd', 'Officer ' || r || ' of ' || e.unique_entity_id,
       e.unique_entity_id, CASE WHEN r = 1 THEN 'supervisor' ELSE 'officer' END
FROM entity_master e, generate_series(1, 2) AS r
ON CONFLICT DO NOTHING;

-- What the ticket trigger looks up per row, looked up once per service.
CREATE TABLE bench_service AS
SELECT s.service_id, s.entity_id, s.service_name, c.category_id, c.default_response_hours,
       c.default_resolution_hours,
       row_number() OVER (ORDER BY s.service_id)::int AS n,
       (SELECT array_agg(q.qr_code_id ORDER BY q.qr_code_id) FROM qr_codes q
        WHERE q.service_id = s.service_id) AS qr_ids,
       (SELECT array_agg(k.device_id ORDER BY k.device_id) FROM kiosk_devices k
        WHERE k.entity_id = s.entity_id) AS device_ids,
       (SELECT array_agg(k.device_code ORDER BY k.device_id) FROM kiosk_devices k
        WHERE k.entity_id = s.entity_id) AS device_codes
FROM service_master s
JOIN ticket_categories c ON c.category_id = default_category_for_service(s.service_id);
"""

# %(rows)s feedback rows of %(total)s, the first being number %(first)s, created over the last
# 365 days in time order. The service is picked with a skew (r^2): a few busy counters.
FEEDBACK = """
WITH raw AS (
    SELECT g, random() AS r_svc, random() AS r_rating, random() AS r_grv, random() AS r_chan,
           random() AS r_sub, random() AS r_misc,
           now() - interval '365 days' * (1 - (g - 0.5) / %(total)s) AS at
    FROM generate_series(%(first)s + 1, %(first)s + %(rows)s) AS g
), rated AS (
    SELECT raw.*, 1 + floor(r_svc * r_svc * (SELECT count(*) FROM bench_service))::int AS svc_n,
           CASE WHEN r_rating < 0.12 THEN 1 WHEN r_rating < 0.25 THEN 2
                WHEN r_rating < 0.40 THEN 3 WHEN r_rating < 0.70 THEN 4 ELSE 5 END AS rating,
           CASE WHEN r_chan < 0.60 THEN 'kiosk' WHEN r_chan < 0.80 THEN 'qr_code'
                WHEN r_chan < 0.90 THEN 'portal' ELSE 'walk_in' END AS channel
    FROM raw
)
INSERT INTO service_feedback (reference_code, service_id, entity_id, rating, service_quality, staff_behavior,
    waiting_time, cleanliness, grievance_flag, feedback_text, channel, qr_code_id, device_id, priority_id,
    misuse_suspected, ip_hash, recorded_at, created_at, updated_at)
SELECT CASE WHEN channel = 'kiosk'
            THEN s.device_codes[1 + g %% cardinality(s.device_codes)] || '-' || g
                 || '-' || upper(to_hex(g %% 4096))
            WHEN channel IN ('portal', 'qr_code') THEN 'WEB-' || lpad(g::text, 8, '0') END,
       s.service_id, s.entity_id, rating,
       CASE WHEN r_sub < 0.5 THEN least(5, rating + g %% 2) END,
       CASE WHEN r_sub < 0.4 THEN rating END,
       CASE WHEN r_sub < 0.6 THEN greatest(1, rating - g %% 3) END,
       CASE WHEN r_sub < 0.3 THEN 4 END,
       rating >= 3 AND r_grv < 0.07,
       CASE WHEN rating <= 2 OR r_grv < 0.07
            THEN repeat('The queue did not move for an hour. ', 1 + g %% 5) END,
       channel,
       CASE WHEN channel = 'qr_code' THEN s.qr_ids[1 + g %% cardinality(s.qr_ids)] END,
       CASE WHEN channel = 'kiosk' THEN s.device_ids[1 + g %% cardinality(s.device_ids)] END,
       CASE WHEN channel = 'walk_in' AND r_misc < 0.3 THEN CASE WHEN r_misc < 0.1 THEN 1 ELSE 4 END END,
       channel = 'kiosk' AND r_misc > 0.99,
       CASE WHEN channel IN ('portal', 'qr_code') THEN md5(g::text) || md5((g %% 7919)::text) END,
       at - interval '2 minutes' * r_misc, at, at
FROM rated JOIN bench_service s ON s.n = rated.svc_n
ORDER BY at
"""

# The tickets the feedback makes, numbered per month of the server's zone in time order, and
# each one's life decided at once (status, times, assignment): see the module's docstring.
TICKETS = """
CREATE TEMP TABLE bench_life AS
WITH f AS (
    SELECT f.feedback_id, f.entity_id, f.service_id, f.rating, f.grievance_flag, f.feedback_text,
           f.created_at,
           f.recorded_at AS sla_start, s.service_name, s.category_id,
           coalesce(f.priority_id, CASE WHEN f.grievance_flag OR f.rating = 1 THEN 2 ELSE 3 END)
               AS priority_id,
           s.default_response_hours, s.default_resolution_hours,
           to_char(f.created_at AT TIME ZONE app_timezone(), 'YYYYMM') AS year_month
    FROM service_feedback f JOIN bench_service s USING (service_id)
    WHERE f.grievance_flag OR f.rating <= 2
), targets AS (
    SELECT f.*,
           f.sla_start + make_interval(secs => f.default_response_hours * p.sla_multiplier * 3600)
               AS response_target,
           f.sla_start + make_interval(secs => f.default_resolution_hours * p.sla_multiplier * 3600)
               AS first_resolution_target,
           row_number() OVER (PARTITION BY f.year_month ORDER BY f.created_at, f.feedback_id) AS seq,
           extract(epoch FROM now() - f.created_at) / 86400 AS age,
           random() AS r_done, random() AS r_status, random() AS r_resp, random() AS r_res,
           random() AS r_close
    FROM f JOIN priority_levels p USING (priority_id)
), s AS (
    SELECT targets.*,
           r_done < CASE WHEN age > 30 THEN 0.97 WHEN age > 7 THEN 0.85 WHEN age > 2 THEN 0.6 ELSE 0.25 END
               AS done,
           least(sla_start + (response_target - sla_start) * (0.1 + r_resp * 1.2),
                 sla_start + (now() - sla_start) * 0.5) AS answered
    FROM targets
), st AS (
    SELECT s.*,
           CASE WHEN done THEN CASE WHEN r_status < 0.7 THEN 5 ELSE 4 END
                WHEN r_status < 0.35 THEN 1 WHEN r_status < 0.70 THEN 2
                WHEN r_status < 0.85 THEN 3 ELSE 6 END AS status_id
    FROM s
)
SELECT st.*,
       CASE WHEN status_id <> 1 THEN answered END AS responded_at,
       CASE WHEN done THEN greatest(answered, least(now() - interval '1 minute',
            answered + (first_resolution_target - answered) * (0.2 + r_res))) END AS resolved_at,
       CASE WHEN status_id = 6 THEN answered + (now() - answered) * (0.3 + 0.7 * r_res) END
           AS resolution_start,
       CASE WHEN status_id <> 1 OR r_close < 0.2
            THEN lower(entity_id) || '.' || (1 + floor(r_close * 2)::int) || '@gov.gd' END AS assigned_to
FROM st;

INSERT INTO tickets (ticket_number, feedback_id, entity_id, service_id, category_id, priority_id, status_id,
    title, description, assigned_to, sla_start, response_target, resolution_target, responded_at,
    resolved_at, closed_at, resolution_notes, resolution_start, waiting_since, row_version, created_at,
    updated_at)
SELECT l.year_month || '-' || CASE WHEN l.seq > 999999 THEN l.seq::text ELSE lpad(l.seq::text, 6, '0') END,
       l.feedback_id, l.entity_id, l.service_id, l.category_id, l.priority_id, l.status_id,
       left(CASE WHEN l.grievance_flag THEN 'Grievance: ' || l.service_name
                 ELSE format('Low rating (%s/5): %s', l.rating, l.service_name) END, 255),
       l.feedback_text, l.assigned_to, l.sla_start, l.response_target,
       CASE WHEN l.status_id = 6 THEN l.resolution_start + (l.first_resolution_target - l.sla_start)
            ELSE l.first_resolution_target END,
       l.responded_at, l.resolved_at,
       CASE WHEN l.status_id = 5 THEN least(now(), l.resolved_at + interval '1 day' * l.r_close) END,
       CASE WHEN l.resolved_at IS NOT NULL THEN 'Explained the delay; apologised.' END,
       l.resolution_start,
       CASE WHEN l.status_id = 3 THEN least(now(), l.responded_at + interval '1 hour') END,
       1 + (l.assigned_to IS NOT NULL)::int + (l.status_id <> 1)::int + (l.resolved_at IS NOT NULL)::int
         + (l.status_id = 5)::int + 2 * (l.status_id = 6)::int,
       l.created_at,
       greatest(l.created_at, l.responded_at, l.resolved_at, l.resolution_start)
FROM bench_life l
ORDER BY l.created_at, l.feedback_id;

INSERT INTO ticket_number_counters (year_month, last_value)
SELECT year_month, max(seq) FROM bench_life GROUP BY year_month;

INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by, created_at)
SELECT t.ticket_id, 'created', NULL, t.ticket_number, 'system', t.created_at FROM tickets t
UNION ALL
SELECT t.ticket_id, 'assignment_change', NULL, t.assigned_to, 'supervisor@gov.gd',
       t.sla_start + interval '5 minutes'
FROM tickets t WHERE t.assigned_to IS NOT NULL
UNION ALL
SELECT t.ticket_id, 'status_change', 'Open', 'In Progress', t.assigned_to, t.responded_at
FROM tickets t WHERE t.responded_at IS NOT NULL
UNION ALL
SELECT t.ticket_id, 'status_change', 'In Progress', 'Waiting', t.assigned_to, t.waiting_since
FROM tickets t WHERE t.status_id = 3
UNION ALL
SELECT t.ticket_id, 'status_change', 'In Progress', 'Resolved', t.assigned_to, t.resolved_at
FROM tickets t WHERE t.resolved_at IS NOT NULL
UNION ALL
SELECT t.ticket_id, 'status_change', 'Resolved', 'Closed', t.assigned_to, t.closed_at
FROM tickets t WHERE t.closed_at IS NOT NULL
UNION ALL
SELECT t.ticket_id, 'status_change', 'Resolved', 'Reopened', t.assigned_to, t.resolution_start
FROM tickets t WHERE t.status_id = 6;

-- The breaches the scan would have recorded: the response clock read at the response (or now),
-- the resolution clock at the resolution or closing, else where a wait stopped it, else now.
INSERT INTO sla_breaches (ticket_id, breach_type, clock_started_at, expected_time, actual_time, hours_overdue,
                          escalated, created_at)
SELECT ticket_id, breach_type, clock_started_at, expected_time, actual_time,
       floor(extract(epoch FROM reads - expected_time) / 3600)::int,
       sla_breach_escalates(breach_type, reads - expected_time),
       expected_time + interval '1 minute'
FROM (
    SELECT t.ticket_id, 'response_breach'::varchar AS breach_type, t.sla_start AS clock_started_at,
           t.response_target AS expected_time, t.responded_at AS actual_time,
           coalesce(t.responded_at, now()) AS reads
    FROM tickets t
    UNION ALL
    SELECT t.ticket_id, 'resolution_breach', coalesce(t.resolution_start, t.sla_start), t.resolution_target,
           coalesce(t.resolved_at, t.closed_at),
           coalesce(t.resolved_at, t.closed_at, least(now(), t.waiting_since), now())
    FROM tickets t
) AS b
WHERE reads > expected_time AND expected_time + interval '1 minute' <= now();

UPDATE qr_codes q SET feedback_received = n.received, scan_count = n.received * 3 + q.qr_code_id % 50
FROM (SELECT qr_code_id, count(*)::int AS received FROM service_feedback
      WHERE qr_code_id IS NOT NULL GROUP BY 1) AS n
WHERE n.qr_code_id = q.qr_code_id;

DROP TABLE bench_service;
"""


@dataclass(frozen=True)
class DataSet:
    feedback: int
    tickets: int
    by_status: dict[str, int]
    breaches: int
    escalated: int
    entities: int
    services: int
    kiosks: int
    qr_codes: int
    seconds: float
    megabytes: float


def generate(conninfo: str, rows: int) -> DataSet:
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.16)")
        with conn.transaction():
            conn.execute(CATALOG)
        for first in range(0, rows, CHUNK):
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                conn.execute(FEEDBACK, {"rows": min(CHUNK, rows - first), "first": first, "total": rows})
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("SET LOCAL work_mem = '256MB'")
            conn.execute(TICKETS)
        with conn.transaction():
            # The triggers that keep these were off while the rows went in.
            conn.execute("SELECT rebuild_service_feedback_totals()")
            conn.execute("SELECT rebuild_ticket_day_totals()")
        conn.execute("VACUUM ANALYZE")
        seconds = time.perf_counter() - started
        by_status = {
            str(name): int(n)
            for name, n in conn.execute(
                "SELECT s.status_name, count(t.ticket_id) FROM ticket_status s "
                "LEFT JOIN tickets t USING (status_id) GROUP BY s.status_id, s.status_name "
                "ORDER BY s.status_id"
            ).fetchall()
        }
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM service_feedback), (SELECT count(*) FROM tickets), "
            "(SELECT count(*) FROM sla_breaches), (SELECT count(*) FROM sla_breaches WHERE escalated), "
            "(SELECT count(*) FROM entity_master), (SELECT count(*) FROM service_master), "
            "(SELECT count(*) FROM kiosk_devices), (SELECT count(*) FROM qr_codes), "
            "pg_database_size(current_database()) / 1048576.0"
        ).fetchone()
    assert counts is not None
    numbers = [int(c) for c in counts[:8]]
    feedback, tickets, breaches, escalated, entities, services, kiosks, qr_codes = numbers
    return DataSet(
        feedback,
        tickets,
        by_status,
        breaches,
        escalated,
        entities,
        services,
        kiosks,
        qr_codes,
        seconds,
        float(counts[8]),
    )


# Today's submissions since the last fold, through the triggers as the API writes them: a
# service picked as the catalog's share of feedback goes, a rating like the year's.
TODAYS_BATCH = """
INSERT INTO service_feedback (client_uuid, channel, service_id, entity_id, rating, created_at)
SELECT gen_random_uuid(), 'kiosk', f.service_id, f.entity_id, f.rating,
       now() - random() * interval '8 hours'
FROM service_feedback f TABLESAMPLE BERNOULLI (%(percent)s)
LIMIT %(rows)s
"""
# The desk's day: one ticket a statement, Open -> In Progress -> Resolved -> Closed.
NEXT_STATUS = {1: 2, 2: 4, 4: 5}


@dataclass
class Unfolded:
    days: int
    submissions: int
    desk_changes: int
    rows: int  # rows of ticket_day_deltas when measured
    folded_rows: int  # of them, the folded (one per day) ones


def days_of_changes(conninfo: str, feedback_rows: int, days: int) -> Unfolded:
    """What reaches ticket_day_deltas between two nightly folds, `days` times over: a day's
    share of the year's submissions in batches of 100, and as many desk changes as the day
    makes tickets, twice over (a ticket moves about twice a day on average over its life)."""
    per_day = max(100, feedback_rows // 365)
    submitted = changed = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        folded = count(conn, "ticket_day_deltas")
        # A sample of a little more than a batch, cut to the batch.
        percent = min(100.0, 100.0 * 150 / count(conn, "service_feedback"))
        for _ in range(days):
            before = count(conn, "tickets")
            for _ in range(per_day // 100):
                conn.execute(TODAYS_BATCH, {"rows": 100, "percent": percent})
                submitted += 100
            made = count(conn, "tickets") - before
            moves = conn.execute(
                "SELECT ticket_id, status_id FROM tickets WHERE status_id = ANY(%s) "
                "ORDER BY random() LIMIT %s",
                (list(NEXT_STATUS), 2 * made),
            ).fetchall()
            for ticket_id, status in moves:
                conn.execute(
                    "UPDATE tickets SET status_id = %s WHERE ticket_id = %s", (NEXT_STATUS[status], ticket_id)
                )
                changed += 1
        conn.execute("ANALYZE ticket_day_deltas")
        rows = count(conn, "ticket_day_deltas")
    return Unfolded(days, submitted, changed, rows, folded)


def count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


# -- The measured queries -------------------------------------------------------------------------

BASELINE = "baseline: feedback count, a year"


def queries(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (statement, parameters). The ministry's subtree and its busiest service are
    looked up once, as a dashboard has them from the officer's scope."""
    subtree = [
        str(row[0])
        for row in conn.execute(
            "WITH RECURSIVE t AS (SELECT unique_entity_id FROM entity_master WHERE unique_entity_id = %s "
            "UNION ALL SELECT e.unique_entity_id FROM entity_master e JOIN t "
            "ON e.parent_entity_id = t.unique_entity_id) SELECT unique_entity_id FROM t",
            (MINISTRY,),
        )
    ]
    row = conn.execute(
        "SELECT service_id FROM service_feedback WHERE entity_id = ANY(%s) "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        (subtree,),
    ).fetchone()
    assert row is not None
    p = {"subtree": subtree, "service": str(row[0])}
    month = "current_date - 30"
    return {
        "service performance: whole view": ("SELECT * FROM v_service_performance", {}),
        "service performance: a ministry": (
            "SELECT * FROM v_service_performance WHERE entity_id = ANY(%(subtree)s)",
            p,
        ),
        "service performance: one service": (
            "SELECT * FROM v_service_performance WHERE service_id = %(service)s",
            p,
        ),
        "entity queue: whole view": ("SELECT * FROM v_entity_ticket_queue", {}),
        "entity queue: a ministry": (
            "SELECT * FROM v_entity_ticket_queue WHERE entity_id = ANY(%(subtree)s)",
            p,
        ),
        "qr performance: whole view": ("SELECT * FROM v_qr_performance", {}),
        "qr performance: one service": (
            "SELECT * FROM v_qr_performance WHERE service_id = %(service)s",
            p,
        ),
        "daily stats: whole view (a year)": ("SELECT * FROM v_daily_ticket_stats", {}),
        "daily stats: last 30 days": (f"SELECT * FROM v_daily_ticket_stats WHERE date >= {month}", {}),
        "active SLA: 50 most urgent": (
            "SELECT * FROM v_active_tickets_sla ORDER BY hours_until_deadline LIMIT 50",
            {},
        ),
        "active SLA: a ministry's 50": (
            "SELECT * FROM v_active_tickets_sla WHERE entity_id = ANY(%(subtree)s) "
            "ORDER BY hours_until_deadline LIMIT 50",
            p,
        ),
        "baseline: feedback count, 30 days": (
            "SELECT count(*) FROM service_feedback WHERE created_at >= now() - interval '30 days'",
            {},
        ),
        BASELINE: (
            "SELECT count(*) FROM service_feedback WHERE created_at >= now() - interval '365 days'",
            {},
        ),
        "baseline: feedback count, one service": (
            "SELECT count(*) FROM service_feedback WHERE service_id = %(service)s",
            p,
        ),
        "baseline: ticket count, a year": (
            "SELECT count(*) FROM tickets WHERE created_at >= now() - interval '365 days'",
            {},
        ),
    }


@dataclass
class Timing:
    times: list[float]
    rows: int = 0

    @property
    def p50(self) -> float:
        return percentile(self.times, 50)

    @property
    def p95(self) -> float:
        return percentile(self.times, 95)


def measure(
    conn: psycopg.Connection[Any], plan: dict[str, tuple[str, dict[str, Any]]], runs: int
) -> dict[str, Timing]:
    results = {name: Timing([]) for name in plan}
    for name, (statement, params) in plan.items():  # warm-up: caches, catalog look-ups
        results[name].rows = len(conn.execute(statement, params).fetchall())
    for _ in range(runs):
        for name, (statement, params) in plan.items():
            started = time.perf_counter()
            conn.execute(statement, params).fetchall()
            results[name].times.append((time.perf_counter() - started) * 1000)
    return results


def explain(conn: psycopg.Connection[Any], name: str, statement: str, params: dict[str, Any]) -> None:
    print(f"--- {name}: {statement}")
    for (line,) in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall():
        print(line)
    print()


def table(columns: list[tuple[str, dict[str, Timing]]]) -> None:
    head = "".join(f" {label:>27}" for label, _ in columns)
    print(f"{'':<38}{head}")
    print(f"{'':<38}" + "".join(f" {'p50':>8} {'p95':>8} {'x base':>9}" for _ in columns) + f" {'rows':>8}")
    for name in columns[0][1]:
        cells = ""
        for _, results in columns:
            t, base = results[name], results[BASELINE].p95
            cells += f" {t.p50:>8.1f} {t.p95:>8.1f} {t.p95 / base:>8.2f}x"
        print(f"{name:<38}{cells} {columns[0][1][name].rows:>8,}")


def versions_down_to(version: str) -> list[str]:
    """The SQL versions whose down.sql undo everything from head back to before `version`,
    newest first (v0009, v0008 for v0008 when head is 0009)."""
    head, oldest = int(migrate.head_revision()), int(version.removeprefix("v"))
    if not 1 <= oldest <= head:
        raise SystemExit(f"--before: {version} is not a version between v0001 and v{head:04d}")
    return [f"v{n:04d}" for n in range(head, oldest - 1, -1)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="feedback rows (default 1,000,000)")
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help="timed runs of each query (default 30)"
    )
    parser.add_argument("--before", metavar="VERSION", help="also measure after VERSION's down.sql")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE every query over 100 ms")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--unfolded-days",
        type=int,
        default=1,
        metavar="DAYS",
        help="days of submissions and desk changes made through the triggers and not yet folded by "
        "maintenance, added before timing (default 1: the day before the nightly run; 0: none)",
    )
    args = parser.parse_args(argv)
    if args.rows < 10_000 or args.runs < 3:
        parser.error("use at least 10,000 rows and 3 runs")
    if args.unfolded_days < 0:
        parser.error("--unfolded-days: give 0 or more days")

    pg.check_admin_connection()
    template = f"gea_bench_tpl_{uuid.uuid4().hex[:8]}"
    name = f"gea_analytics_{uuid.uuid4().hex[:8]}"
    pg.create_template(template)
    try:
        url = pg.copy_database(template, name)
    finally:
        pg.drop_database(template)
    try:
        info = pg.conninfo(url)
        data = generate(info, args.rows)
        statuses = ", ".join(f"{s} {n:,}" for s, n in data.by_status.items())
        print(
            f"{data.feedback:,} feedback rows over 365 days; {data.tickets:,} tickets ({statuses}); "
            f"{data.breaches:,} SLA breaches ({data.escalated:,} escalated); {data.entities} entities, "
            f"{data.services} services, {data.kiosks} kiosks, {data.qr_codes} QR codes"
        )
        print(f"generated in {data.seconds:.0f} s; database {data.megabytes:,.0f} MB")
        if args.unfolded_days:
            day = days_of_changes(info, args.rows, args.unfolded_days)
            print(
                f"then {day.days} day(s) of changes before maintenance folds them: {day.submissions:,} "
                f"submissions in batches of 100 and {day.desk_changes:,} desk status changes through the "
                f"triggers; ticket_day_deltas holds {day.rows:,} rows ({day.folded_rows:,} folded)"
            )
        # As the API's pool: no server-side prepared statements.
        with psycopg.connect(info, autocommit=True, prepare_threshold=None) as conn:
            plan = queries(conn)
            columns = [("as migrated (head)", measure(conn, plan, args.runs))]
            if args.explain:
                for q, t in columns[0][1].items():
                    if t.p95 > TARGET_MS:
                        explain(conn, q, *plan[q])
            if args.before:
                with conn.transaction():
                    for version in versions_down_to(args.before):
                        conn.execute(schema.read_sql(version, "down.sql").encode())
                conn.execute("ANALYZE")
        if args.before:
            # A new session: a down.sql may change the database's own settings (0013's jit),
            # which apply to the sessions that begin after it.
            with psycopg.connect(info, autocommit=True, prepare_threshold=None) as conn:
                columns.append((f"before {args.before}", measure(conn, plan, args.runs)))
                if args.explain:
                    for q, t in columns[1][1].items():
                        if t.p95 > TARGET_MS:
                            explain(conn, f"{q} (before {args.before})", *plan[q])
        print()
        table(columns)
        print()
        if args.keep:
            print(f"kept database {name}")
    finally:
        if not args.keep:
            pg.drop_database(name)


if __name__ == "__main__":
    main()
