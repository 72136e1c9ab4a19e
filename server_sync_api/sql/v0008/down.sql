-- feedback_db, version 0008 down: 0001's text of the two views and 0001's two feedback indexes.

CREATE OR REPLACE VIEW v_service_performance AS
SELECT
    s.service_id,
    s.service_name,
    s.entity_id,
    count(f.feedback_id)::INT AS total_submissions,
    (count(f.feedback_id) FILTER (WHERE f.misuse_suspected))::INT AS misuse_flagged,
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
    (count(f.feedback_id) FILTER (WHERE f.grievance_flag))::INT AS grievance_count
FROM service_master s
LEFT JOIN service_feedback f ON f.service_id = s.service_id
GROUP BY s.service_id, s.service_name, s.entity_id;

CREATE OR REPLACE VIEW v_daily_ticket_stats AS
WITH created AS (
    SELECT (created_at AT TIME ZONE app_timezone())::DATE AS day, count(*) AS n
    FROM tickets GROUP BY 1
),
closed AS (
    SELECT (closed_at AT TIME ZONE app_timezone())::DATE AS day, count(*) AS n
    FROM tickets WHERE closed_at IS NOT NULL GROUP BY 1
),
resolved AS (
    SELECT
        (t.resolved_at AT TIME ZONE app_timezone())::DATE AS day,
        count(*) AS n,
        avg(t.resolved_at - t.created_at) AS avg_resolution_time,
        count(*) FILTER (WHERE NOT EXISTS (
            SELECT 1 FROM sla_breaches b WHERE b.ticket_id = t.ticket_id)) AS within_sla
    FROM tickets t
    WHERE t.resolved_at IS NOT NULL
    GROUP BY 1
)
SELECT
    day AS date,
    coalesce(created.n, 0)::INT AS tickets_created,
    coalesce(closed.n, 0)::INT AS tickets_closed,
    coalesce(resolved.n, 0)::INT AS tickets_resolved,
    resolved.avg_resolution_time,
    round(100.0 * resolved.within_sla / nullif(resolved.n, 0), 2) AS sla_compliance_rate
FROM created
FULL JOIN closed USING (day)
FULL JOIN resolved USING (day);

DROP INDEX ix_tickets_resolved_at;
DROP INDEX ix_tickets_closed_at;
DROP INDEX ix_tickets_created_at;

DROP INDEX idx_feedback_qr_code;
CREATE INDEX idx_feedback_qr_code ON service_feedback (qr_code_id) WHERE qr_code_id IS NOT NULL;
DROP INDEX idx_feedback_service;
CREATE INDEX idx_feedback_service ON service_feedback (service_id);
