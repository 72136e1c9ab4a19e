-- feedback_db, version 0009: per-service feedback totals kept by the ingest (issue 16).
--
-- v_service_performance counted every feedback row of every service on each call: 0.2-0.3 s
-- at a year of a national volume (1,000,000 rows, bench/analytics.py), growing with the rows.
-- service_feedback_totals holds the counts the view reports, one row per service, changed in
-- the same statement as the feedback rows it counts (statement triggers with transition
-- tables): the view reads a row per service and is exactly as current as the rows themselves.
-- A batch adds its counts to each of its services once, in service order, so concurrent
-- batches queue briefly on a busy service's row (like the month's ticket counter), and two
-- single-statement batches never deadlock on each other. A transaction of several such
-- statements (the API's item-by-item replay of a batch the database refused) can, and the API
-- retries it like any deadlock.

CREATE TABLE service_feedback_totals (
    service_id    VARCHAR(50) NOT NULL,
    submissions   BIGINT NOT NULL DEFAULT 0,
    misuse        BIGINT NOT NULL DEFAULT 0,
    grievances    BIGINT NOT NULL DEFAULT 0,
    -- Per rating, misuse-flagged feedback left out (as the view's averages and rates).
    rating_1      BIGINT NOT NULL DEFAULT 0,
    rating_2      BIGINT NOT NULL DEFAULT 0,
    rating_3      BIGINT NOT NULL DEFAULT 0,
    rating_4      BIGINT NOT NULL DEFAULT 0,
    rating_5      BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT pk_service_feedback_totals PRIMARY KEY (service_id),
    CONSTRAINT fk_service_feedback_totals_service FOREIGN KEY (service_id)
        REFERENCES service_master (service_id) ON DELETE CASCADE
);
COMMENT ON TABLE service_feedback_totals IS
    'Feedback counts per service for v_service_performance, kept by triggers on service_feedback '
    'in the same statement as the rows they count; never written by hand.';

-- Adds each statement's rows to their services' totals: +1 for a row inserted, -1 for a row
-- deleted, both for a row updated (feedback is permanent, seed 6.1, so the last two are only
-- corrections by hand). Only services whose counts changed are written, in service order.
CREATE FUNCTION count_service_feedback() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_service   VARCHAR[] := '{}';
    v_sign      INT[] := '{}';
    v_rating    INT[] := '{}';
    v_misuse    BOOLEAN[] := '{}';
    v_grievance BOOLEAN[] := '{}';
BEGIN
    -- Each branch names only the transition table its event has.
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT v_service || array_agg(o.service_id), v_sign || array_agg(-1),
               v_rating || array_agg(o.rating), v_misuse || array_agg(o.misuse_suspected),
               v_grievance || array_agg(o.grievance_flag)
        INTO v_service, v_sign, v_rating, v_misuse, v_grievance
        FROM old_rows o;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT v_service || array_agg(n.service_id), v_sign || array_agg(1),
               v_rating || array_agg(n.rating), v_misuse || array_agg(n.misuse_suspected),
               v_grievance || array_agg(n.grievance_flag)
        INTO v_service, v_sign, v_rating, v_misuse, v_grievance
        FROM new_rows n;
    END IF;

    INSERT INTO service_feedback_totals AS t (
        service_id, submissions, misuse, grievances, rating_1, rating_2, rating_3, rating_4, rating_5)
    SELECT d.*
    FROM (
        SELECT c.service_id,
               sum(c.sign) AS submissions,
               coalesce(sum(c.sign) FILTER (WHERE c.misuse), 0) AS misuse,
               coalesce(sum(c.sign) FILTER (WHERE c.grievance), 0) AS grievances,
               coalesce(sum(c.sign) FILTER (WHERE NOT c.misuse AND c.rating = 1), 0) AS rating_1,
               coalesce(sum(c.sign) FILTER (WHERE NOT c.misuse AND c.rating = 2), 0) AS rating_2,
               coalesce(sum(c.sign) FILTER (WHERE NOT c.misuse AND c.rating = 3), 0) AS rating_3,
               coalesce(sum(c.sign) FILTER (WHERE NOT c.misuse AND c.rating = 4), 0) AS rating_4,
               coalesce(sum(c.sign) FILTER (WHERE NOT c.misuse AND c.rating = 5), 0) AS rating_5
        FROM unnest(v_service, v_sign, v_rating, v_misuse, v_grievance)
            AS c (service_id, sign, rating, misuse, grievance)
        GROUP BY c.service_id
    ) d
    WHERE (d.submissions, d.misuse, d.grievances, d.rating_1, d.rating_2, d.rating_3, d.rating_4,
           d.rating_5) <> (0, 0, 0, 0, 0, 0, 0, 0)
    ORDER BY d.service_id
    ON CONFLICT (service_id) DO UPDATE SET
        submissions = t.submissions + excluded.submissions,
        misuse = t.misuse + excluded.misuse,
        grievances = t.grievances + excluded.grievances,
        rating_1 = t.rating_1 + excluded.rating_1,
        rating_2 = t.rating_2 + excluded.rating_2,
        rating_3 = t.rating_3 + excluded.rating_3,
        rating_4 = t.rating_4 + excluded.rating_4,
        rating_5 = t.rating_5 + excluded.rating_5;
    RETURN NULL;
END
$$;

-- Named to fire before trg_create_ticket_from_feedback (same timing, name order): every
-- statement takes the services' totals before any month's ticket counter, so no two
-- statements take the two kinds of row in opposite orders.
CREATE TRIGGER trg_count_feedback_inserted
    AFTER INSERT ON service_feedback
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_service_feedback();
-- No TRUNCATE: tickets reference feedback, and ticket_activities refuses to be truncated.
CREATE TRIGGER trg_count_feedback_updated
    AFTER UPDATE ON service_feedback
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_service_feedback();
CREATE TRIGGER trg_count_feedback_deleted
    AFTER DELETE ON service_feedback
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_service_feedback();

-- The totals counted again from the rows: for the rows already stored when 0009 arrives, and
-- after a bulk load that bypassed the triggers (session_replication_role = replica, as
-- bench/analytics.py's generator and a logical-replication subscriber load). Writers wait
-- while it counts, so no row is counted twice or missed.
CREATE FUNCTION rebuild_service_feedback_totals() RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE service_feedback IN SHARE MODE;
    DELETE FROM service_feedback_totals;
    INSERT INTO service_feedback_totals (
        service_id, submissions, misuse, grievances, rating_1, rating_2, rating_3, rating_4, rating_5)
    SELECT f.service_id, count(*),
           count(*) FILTER (WHERE f.misuse_suspected),
           count(*) FILTER (WHERE f.grievance_flag),
           count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 1),
           count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 2),
           count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 3),
           count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 4),
           count(*) FILTER (WHERE NOT f.misuse_suspected AND f.rating = 5)
    FROM service_feedback f
    GROUP BY f.service_id;
END
$$;
REVOKE EXECUTE ON FUNCTION rebuild_service_feedback_totals() FROM PUBLIC;

SELECT rebuild_service_feedback_totals();

-- Upgrading a running deployment: a role that takes submissions (the API's) must now also
-- keep the totals, or the first kiosk batch after the upgrade is refused; `gea-server migrate`
-- says what it granted.
DO $$
DECLARE
    v_role TEXT;
BEGIN
    FOR v_role IN
        SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
        WHERE g.table_schema = current_schema() AND g.table_name = 'service_feedback'
          AND g.privilege_type = 'INSERT' AND g.grantee <> 'PUBLIC'
          AND NOT pg_has_role(g.grantee, (SELECT tableowner FROM pg_tables
                                          WHERE schemaname = current_schema()
                                            AND tablename = 'service_feedback'),
                              'MEMBER')
        ORDER BY 1
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON service_feedback_totals TO %I', v_role);
        RAISE NOTICE USING ERRCODE = '01GEA', MESSAGE = format(
            'role %s takes submissions, and now keeps the per-service totals too: granted it '
            'SELECT, INSERT and UPDATE on service_feedback_totals (docs/operations.md)', v_role);
    END LOOP;
END
$$;

-- The same columns and answers as before, from one row per service. avg_rating is the sum of
-- the ratings over their count, the division avg() does; a service with no feedback has 0
-- counts and NULL averages, as with the outer join of 0001.
CREATE OR REPLACE VIEW v_service_performance AS
SELECT
    s.service_id,
    s.service_name,
    s.entity_id,
    coalesce(t.submissions, 0)::INT AS total_submissions,
    coalesce(t.misuse, 0)::INT AS misuse_flagged,
    round((t.rating_1 + 2 * t.rating_2 + 3 * t.rating_3 + 4 * t.rating_4 + 5 * t.rating_5)::NUMERIC
          / nullif(t.rating_1 + t.rating_2 + t.rating_3 + t.rating_4 + t.rating_5, 0), 2) AS avg_rating,
    round(100.0 * (t.rating_4 + t.rating_5)
          / nullif(t.rating_1 + t.rating_2 + t.rating_3 + t.rating_4 + t.rating_5, 0), 2) AS satisfaction_rate,
    jsonb_build_object(
        '1', coalesce(t.rating_1, 0),
        '2', coalesce(t.rating_2, 0),
        '3', coalesce(t.rating_3, 0),
        '4', coalesce(t.rating_4, 0),
        '5', coalesce(t.rating_5, 0)
    ) AS feedback_count_by_rating,
    coalesce(t.grievances, 0)::INT AS grievance_count
FROM service_master s
LEFT JOIN service_feedback_totals t ON t.service_id = s.service_id;
