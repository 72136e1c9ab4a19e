-- feedback_db, version 0010 down: v_daily_ticket_stats as 0008 wrote it, counting the tickets on
-- each call; the day counts and their triggers go.

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

DROP TRIGGER trg_count_tickets_again_truncated ON app_settings;
DROP TRIGGER trg_count_tickets_again_settings ON app_settings;
DROP TRIGGER trg_count_tickets_again ON app_settings;
DROP TRIGGER trg_count_breaches_truncated ON sla_breaches;
DROP TRIGGER trg_count_breaches_moved ON sla_breaches;
DROP TRIGGER trg_count_breaches_deleted ON sla_breaches;
DROP TRIGGER trg_count_breaches_inserted ON sla_breaches;
DROP TRIGGER trg_add_ticket_days ON tickets;
DROP TRIGGER trg_count_tickets_inserted ON tickets;
DROP FUNCTION count_tickets_again();
DROP FUNCTION compact_ticket_day_totals();
DROP FUNCTION rebuild_ticket_day_totals();
DROP FUNCTION count_breaches_changed();
DROP FUNCTION count_ticket_breaches_changed(INT[], INT[]);
DROP FUNCTION count_ticket_changed();
DROP FUNCTION require_read_committed();
DROP FUNCTION count_tickets_inserted();
DROP FUNCTION add_ticket_day_deltas(INT[], TIMESTAMPTZ[], TIMESTAMPTZ[], TIMESTAMPTZ[], BOOLEAN[]);
DROP TABLE ticket_day_deltas;
