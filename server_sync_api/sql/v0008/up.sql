-- feedback_db, version 0008: the reporting views at a year of data (issue 16).
--
-- Measured with bench/analytics.py at 1,000,000 feedback rows and 300,000 tickets (a year):
-- v_daily_ticket_stats took 2.8-3.7 s, v_qr_performance 0.8-1.1 s, v_service_performance
-- 0.55-0.8 s. Every view keeps its name, its columns and its answer to the row; nothing here
-- stores a summary, so every answer is as fresh as the rows it reads.

-- ---------------------------------------------------------------------------------------
-- Indexes
-- ---------------------------------------------------------------------------------------

-- v_service_performance and v_qr_performance read only these columns of a feedback row, so
-- with them in the index each service's or QR code's rows are an index-only scan instead of
-- a heap page per row (a QR code's rows are spread over the whole year's heap).
DROP INDEX idx_feedback_service;
CREATE INDEX idx_feedback_service ON service_feedback (service_id)
    INCLUDE (rating, misuse_suspected, grievance_flag);
DROP INDEX idx_feedback_qr_code;
CREATE INDEX idx_feedback_qr_code ON service_feedback (qr_code_id)
    INCLUDE (rating, misuse_suspected) WHERE qr_code_id IS NOT NULL;

-- v_daily_ticket_stats counts tickets by the day they were created, closed and resolved:
-- three index-only scans of narrow indexes instead of three passes over the ticket heap
-- (titles and descriptions make it several times wider than these).
CREATE INDEX ix_tickets_created_at ON tickets (created_at);
CREATE INDEX ix_tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX ix_tickets_resolved_at ON tickets (resolved_at) INCLUDE (created_at, ticket_id)
    WHERE resolved_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- Views
-- ---------------------------------------------------------------------------------------

-- v_service_performance: each service's feedback aggregated on its own (an index-only scan of
-- idx_feedback_service), rather than every feedback row joined to its service and then
-- grouped. A filter on the service or its entity now picks the services first and reads only
-- theirs. A service without feedback gets 0 counts and NULL averages, as with the outer join.
CREATE OR REPLACE VIEW v_service_performance AS
SELECT
    s.service_id,
    s.service_name,
    s.entity_id,
    f.total_submissions,
    f.misuse_flagged,
    f.avg_rating,
    f.satisfaction_rate,
    f.feedback_count_by_rating,
    f.grievance_count
FROM service_master s
CROSS JOIN LATERAL (
    SELECT
        count(*)::INT AS total_submissions,
        (count(*) FILTER (WHERE f.misuse_suspected))::INT AS misuse_flagged,
        round(avg(f.rating) FILTER (WHERE NOT f.misuse_suspected), 2) AS avg_rating,
        round(100.0 * count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating > 3)
              / nullif(count(*) FILTER (WHERE NOT f.misuse_suspected), 0), 2) AS satisfaction_rate,
        jsonb_build_object(
            '1', count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 1),
            '2', count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 2),
            '3', count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 3),
            '4', count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 4),
            '5', count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 5)
        ) AS feedback_count_by_rating,
        (count(*) FILTER (WHERE f.grievance_flag))::INT AS grievance_count
    FROM service_feedback f
    WHERE f.service_id = s.service_id
) f;

-- v_daily_ticket_stats: one aggregate over the day each ticket was created, closed and
-- resolved (a row per event), instead of three aggregates joined by two full joins. The zone
-- is read once: app_timezone() is an SQL function with a subquery, which PostgreSQL does not
-- inline, so called per row it ran a query for every ticket three times (most of the old
-- cost). Days with no event have no row, as before.
CREATE OR REPLACE VIEW v_daily_ticket_stats AS
SELECT
    e.day AS date,
    (count(*) FILTER (WHERE e.kind = 1))::INT AS tickets_created,
    (count(*) FILTER (WHERE e.kind = 2))::INT AS tickets_closed,
    (count(*) FILTER (WHERE e.kind = 3))::INT AS tickets_resolved,
    avg(e.took) FILTER (WHERE e.kind = 3) AS avg_resolution_time,
    round(100.0 * count(*) FILTER (WHERE e.kind = 3 AND NOT e.breached)
          / nullif(count(*) FILTER (WHERE e.kind = 3), 0), 2) AS sla_compliance_rate
FROM (
    SELECT (t.created_at AT TIME ZONE (SELECT app_timezone()))::DATE AS day, 1 AS kind,
           NULL::INTERVAL AS took, NULL::BOOLEAN AS breached
    FROM tickets t
    UNION ALL
    SELECT (t.closed_at AT TIME ZONE (SELECT app_timezone()))::DATE, 2, NULL, NULL
    FROM tickets t
    WHERE t.closed_at IS NOT NULL
    UNION ALL
    -- EXISTS, an index probe per resolved ticket: `IN (SELECT ...)` is hashed only while the
    -- breaches fit in work_mem, and scans all of them for every ticket beyond that.
    SELECT (t.resolved_at AT TIME ZONE (SELECT app_timezone()))::DATE, 3, t.resolved_at - t.created_at,
           EXISTS (SELECT 1 FROM sla_breaches b WHERE b.ticket_id = t.ticket_id)
    FROM tickets t
    WHERE t.resolved_at IS NOT NULL
) e
GROUP BY e.day;
