-- feedback_db, version 0009 down: v_service_performance as 0008 wrote it, counting the feedback
-- rows on each call; the totals and their triggers go.

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

DROP TRIGGER trg_count_feedback_deleted ON service_feedback;
DROP TRIGGER trg_count_feedback_updated ON service_feedback;
DROP TRIGGER trg_count_feedback_inserted ON service_feedback;
DROP FUNCTION rebuild_service_feedback_totals();
DROP FUNCTION count_service_feedback();
DROP TABLE service_feedback_totals;
