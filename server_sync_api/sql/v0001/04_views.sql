-- feedback_db, version 0001: the five views of seed section 9.
--
-- Feedback flagged misuse_suspected (a burst of taps on a kiosk) is counted in
-- total_submissions but left out of every average, rate and per-rating count.
-- Tickets are "active" until Resolved (4) or Closed (5). Days are in the server's zone.

CREATE VIEW v_service_performance AS
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
COMMENT ON VIEW v_service_performance IS
    'Per service: submissions, average rating and satisfaction rate (% rating > 3), leaving '
    'misuse-flagged feedback out of the averages, rates and per-rating counts.';

-- on_track: target not reached yet; met: done in time; breached: done late or overdue now.
CREATE VIEW v_active_tickets_sla AS
SELECT
    t.ticket_id,
    t.ticket_number,
    t.entity_id,
    s.service_name,
    p.priority_name AS priority,
    st.status_name AS status,
    t.assigned_to,
    t.created_at,
    t.response_target,
    t.resolution_target,
    CASE
        WHEN t.responded_at IS NOT NULL AND t.responded_at <= t.response_target THEN 'met'
        WHEN coalesce(t.responded_at, now()) > t.response_target THEN 'breached'
        ELSE 'on_track'
    END AS response_status,
    CASE WHEN now() > t.resolution_target THEN 'breached' ELSE 'on_track' END AS resolution_status,
    -- Hours to the next deadline still ahead of the ticket; negative when it is overdue.
    round(extract(epoch FROM
        CASE WHEN t.responded_at IS NULL THEN t.response_target ELSE t.resolution_target END
        - now()) / 3600, 2) AS hours_until_deadline
FROM tickets t
JOIN service_master s ON s.service_id = t.service_id
JOIN priority_levels p ON p.priority_id = t.priority_id
JOIN ticket_status st ON st.status_id = t.status_id
WHERE t.status_id NOT IN (4, 5);

CREATE VIEW v_entity_ticket_queue AS
SELECT
    e.unique_entity_id AS entity_id,
    e.entity_name,
    count(t.ticket_id)::INT AS total_open_tickets,
    (count(t.ticket_id) FILTER (WHERE t.priority_id IN (1, 2)))::INT AS high_priority_tickets,
    round(avg(extract(epoch FROM now() - t.created_at) / 3600), 2) AS avg_age_hours,
    coalesce(sum(b.breaches), 0)::INT AS sla_breach_count
FROM entity_master e
LEFT JOIN tickets t ON t.entity_id = e.unique_entity_id AND t.status_id NOT IN (4, 5)
LEFT JOIN LATERAL (
    SELECT count(*) AS breaches FROM sla_breaches b WHERE b.ticket_id = t.ticket_id
) b ON TRUE
GROUP BY e.unique_entity_id, e.entity_name;
COMMENT ON VIEW v_entity_ticket_queue IS
    'Per entity, over its active tickets: how many, how many Critical or High, their average '
    'age in hours, and the SLA breaches recorded against them.';

CREATE VIEW v_qr_performance AS
SELECT
    q.qr_code_id,
    q.qr_code_value,
    q.location,
    q.service_id,
    s.service_name,
    q.scan_count AS total_scans,
    coalesce(f.received, 0)::INT AS feedback_received,
    round(100.0 * coalesce(f.received, 0) / nullif(q.scan_count, 0), 2) AS feedback_conversion_rate,
    f.avg_rating AS avg_rating_from_qr
FROM qr_codes q
JOIN service_master s ON s.service_id = q.service_id
LEFT JOIN LATERAL (
    SELECT count(*) AS received, round(avg(rating), 2) AS avg_rating
    FROM service_feedback sf
    WHERE sf.qr_code_id = q.qr_code_id AND NOT sf.misuse_suspected
) f ON TRUE;
COMMENT ON VIEW v_qr_performance IS
    'Per QR code: scans, feedback received (misuse-flagged left out), conversion rate '
    '(feedback per 100 scans) and the average rating given through it.';

CREATE VIEW v_daily_ticket_stats AS
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
COMMENT ON VIEW v_daily_ticket_stats IS
    'Per day in the server''s zone: tickets created, closed and resolved; the average time from '
    'creation to resolution of those resolved that day; and the % of them resolved with no SLA '
    'breach recorded.';
