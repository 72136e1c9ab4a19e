-- feedback_db, version 0001: functions (seed section 7, with ARCHITECTURE section 4).
--
-- Trigger functions are named after what they do and attached in 03_triggers.sql.
-- Errors raised here carry an SQLSTATE and, where a rule is broken, a CONSTRAINT name, so the
-- API can turn them into a clear rejection without parsing messages.

-- ---------------------------------------------------------------------------------------
-- Settings
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION app_timezone() RETURNS TEXT
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT timezone FROM app_settings WHERE singleton), 'America/Grenada')
$$;
COMMENT ON FUNCTION app_timezone() IS 'The server''s IANA time zone, from app_settings.';

CREATE FUNCTION validate_app_settings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Refuse an unknown zone here rather than at the first ticket of the month.
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = NEW.timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', NEW.timezone
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_app_settings_timezone',
                  HINT = 'Use an IANA zone name such as America/Grenada or UTC.';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Timestamps (seed 8.1, ARCHITECTURE 4.1)
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION set_created_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Only when NULL: tests and back-fills place rows in time; the API never sends it.
    IF NEW.created_at IS NULL THEN
        NEW.created_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Entities and categories
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION refuse_entity_cycle() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_entity_id IS NULL THEN
        RETURN NEW;
    END IF;
    IF EXISTS (
        WITH RECURSIVE up (entity_id, depth) AS (
            SELECT NEW.parent_entity_id, 1
            UNION ALL
            SELECT e.parent_entity_id, up.depth + 1
            FROM up JOIN entity_master e ON e.unique_entity_id = up.entity_id
            WHERE e.parent_entity_id IS NOT NULL AND up.depth < 100
        )
        SELECT 1 FROM up WHERE entity_id = NEW.unique_entity_id
    ) THEN
        RAISE EXCEPTION 'entity % cannot have % as its parent: that makes a cycle',
                NEW.unique_entity_id, NEW.parent_entity_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_entity_master_no_cycle';
    END IF;
    RETURN NEW;
END
$$;

-- The ticket categories a service may use: those of the service's entity and of each of
-- its ancestors up to the root, then "General" (ARCHITECTURE 4.5). depth 0 is the service's
-- own entity; the General fallback comes last whatever its depth.
-- PL/pgSQL rather than SQL: ticket creation calls these for every ticket, and PL/pgSQL
-- keeps its plans for the session where an SQL function would plan the CTE on every call.
CREATE FUNCTION service_category_chain(p_service_id VARCHAR)
RETURNS TABLE (category_id INT, entity_id VARCHAR, depth INT)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    WITH RECURSIVE chain (entity_id, depth) AS (
        SELECT s.entity_id, 0
        FROM service_master s
        WHERE s.service_id = p_service_id
        UNION ALL
        SELECT e.parent_entity_id, chain.depth + 1
        FROM chain JOIN entity_master e ON e.unique_entity_id = chain.entity_id
        WHERE e.parent_entity_id IS NOT NULL AND chain.depth < 100
    ),
    in_chain AS (
        SELECT c.category_id, c.entity_id::VARCHAR AS entity_id, chain.depth
        FROM chain JOIN ticket_categories c ON c.entity_id = chain.entity_id
    ),
    general AS (
        SELECT c.category_id, c.entity_id::VARCHAR AS entity_id, 1000 AS depth
        FROM ticket_categories c
        WHERE c.entity_id = 'GOV-000' AND c.category_name = 'General'
          AND EXISTS (SELECT 1 FROM service_master s WHERE s.service_id = p_service_id)
          AND NOT EXISTS (SELECT 1 FROM in_chain i WHERE i.category_id = c.category_id)
    )
    SELECT i.category_id, i.entity_id, i.depth FROM in_chain i
    UNION ALL
    SELECT g.category_id, g.entity_id, g.depth FROM general g
    ORDER BY 3, 1;
END
$$;

-- The category a ticket gets when staff chose none: the nearest level of the chain, lowest id.
CREATE FUNCTION default_category_for_service(p_service_id VARCHAR) RETURNS INT
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT c.category_id FROM service_category_chain(p_service_id) c
            ORDER BY c.depth, c.category_id LIMIT 1);
END
$$;

CREATE FUNCTION validate_feedback() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Fired only when a category is given. An unknown service is left to its foreign key.
    IF EXISTS (SELECT 1 FROM service_master WHERE service_id = NEW.service_id)
       AND NOT EXISTS (
        SELECT 1 FROM service_category_chain(NEW.service_id) c WHERE c.category_id = NEW.category_id
    ) THEN
        RAISE EXCEPTION 'category % is not one of service %''s categories', NEW.category_id, NEW.service_id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'ck_service_feedback_category_in_chain',
                  HINT = 'Choose a category of the service''s entity, one of its parents, or General.';
    END IF;
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Ticket numbers (seed 7.1, ARCHITECTURE 4.2)
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION generate_ticket_number(p_at TIMESTAMPTZ DEFAULT now()) RETURNS VARCHAR
LANGUAGE plpgsql AS $$
DECLARE
    v_month CHAR(6) := to_char(p_at AT TIME ZONE app_timezone(), 'YYYYMM');
    v_n     INT;
BEGIN
    -- The counter row is locked until the caller's transaction ends: concurrent inserts
    -- queue on it (no duplicates) and a rollback undoes the increment (no gaps).
    INSERT INTO ticket_number_counters AS c (year_month, last_value)
    VALUES (v_month, 1)
    ON CONFLICT (year_month) DO UPDATE SET last_value = c.last_value + 1
    RETURNING c.last_value INTO v_n;
    -- lpad would truncate past six digits; widen instead.
    RETURN v_month || '-' || CASE WHEN v_n > 999999 THEN v_n::text ELSE lpad(v_n::text, 6, '0') END;
END
$$;

CREATE FUNCTION assign_ticket_number() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.ticket_number IS NULL THEN
        -- BEFORE triggers fire in name order, so created_at may not be filled yet.
        NEW.created_at := coalesce(NEW.created_at, now());
        NEW.ticket_number := generate_ticket_number(NEW.created_at);
    END IF;
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------------------
-- SLA targets (seed 5.2 and 7.3, ARCHITECTURE 4.3 and 4.4)
-- ---------------------------------------------------------------------------------------

-- target = start + hours * factor. The factor multiplies time: Critical 0.50 halves it,
-- Low 1.50 extends it. A missing category counts as General, a missing priority as Medium.
CREATE FUNCTION calculate_sla_targets(
    p_category_id INT,
    p_priority_id INT,
    p_start TIMESTAMPTZ DEFAULT now()
) RETURNS TABLE (response_target TIMESTAMPTZ, resolution_target TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    WITH cat AS (
        SELECT default_response_hours, default_resolution_hours
        FROM ticket_categories
        WHERE category_id = coalesce(
            p_category_id,
            (SELECT category_id FROM ticket_categories
             WHERE entity_id = 'GOV-000' AND category_name = 'General'))
    ),
    factor AS (
        SELECT coalesce((SELECT sla_multiplier FROM priority_levels WHERE priority_id = p_priority_id), 1.00) AS f
    )
    SELECT p_start + make_interval(secs => cat.default_response_hours * factor.f * 3600),
           p_start + make_interval(secs => cat.default_resolution_hours * factor.f * 3600)
    FROM cat, factor
$$;

-- The SLA clock starts when the citizen submitted: the kiosk's time corrected by the clock
-- offset measured on delivery, clamped to [received - 7 days, received]. An offline kiosk
-- does not hide the wait, and a wrong clock neither breaches a ticket on arrival nor pushes
-- its deadlines into the future.
CREATE FUNCTION feedback_sla_start(
    p_recorded_at TIMESTAMPTZ,
    p_clock_offset_s INT,
    p_received_at TIMESTAMPTZ
) RETURNS TIMESTAMPTZ
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF p_recorded_at IS NULL THEN
        RETURN p_received_at;
    END IF;
    RETURN greatest(
        p_received_at - interval '7 days',
        least(p_received_at, p_recorded_at + make_interval(secs => coalesce(p_clock_offset_s, 0))));
END
$$;

CREATE FUNCTION set_ticket_sla_targets() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_targets RECORD;
BEGIN
    NEW.created_at := coalesce(NEW.created_at, now());
    NEW.sla_start := coalesce(NEW.sla_start, NEW.created_at);
    IF TG_OP = 'INSERT' THEN
        IF NEW.response_target IS NULL OR NEW.resolution_target IS NULL THEN
            SELECT * INTO v_targets FROM calculate_sla_targets(NEW.category_id, NEW.priority_id, NEW.sla_start);
            NEW.response_target := coalesce(NEW.response_target, v_targets.response_target);
            NEW.resolution_target := coalesce(NEW.resolution_target, v_targets.resolution_target);
        END IF;
    ELSIF NEW.priority_id IS DISTINCT FROM OLD.priority_id
          OR NEW.category_id IS DISTINCT FROM OLD.category_id THEN
        -- A re-prioritised ticket gets the deadlines of its new priority, from the same start.
        SELECT * INTO v_targets FROM calculate_sla_targets(NEW.category_id, NEW.priority_id, NEW.sla_start);
        NEW.response_target := v_targets.response_target;
        NEW.resolution_target := v_targets.resolution_target;
    END IF;
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Tickets from feedback (seed 5.1 and 7.2, ARCHITECTURE 4.5)
-- ---------------------------------------------------------------------------------------

-- Creates the ticket a feedback row calls for and returns its id. The caller has checked
-- that the feedback needs one and has none yet.
CREATE FUNCTION insert_ticket_for_feedback(fb service_feedback) RETURNS INT
LANGUAGE plpgsql AS $$
DECLARE
    v_service    VARCHAR;
    v_ticket_id  INT;
BEGIN
    SELECT service_name INTO v_service FROM service_master WHERE service_id = fb.service_id;

    INSERT INTO tickets (
        feedback_id, entity_id, service_id, category_id, priority_id, status_id,
        title, description, sla_start, created_at
    ) VALUES (
        fb.feedback_id,
        fb.entity_id,
        fb.service_id,
        coalesce(fb.category_id, default_category_for_service(fb.service_id)),
        -- Staff's priority on a walk-in wins; else a grievance or a 1 is High, a 2 Medium.
        coalesce(fb.priority_id, CASE WHEN fb.grievance_flag OR fb.rating = 1 THEN 2 ELSE 3 END),
        1,
        left(CASE WHEN fb.grievance_flag THEN 'Grievance: ' || v_service
                  ELSE format('Low rating (%s/5): %s', fb.rating, v_service) END, 255),
        fb.feedback_text,
        feedback_sla_start(fb.recorded_at, fb.clock_offset_s, fb.created_at),
        fb.created_at
    )
    RETURNING ticket_id INTO v_ticket_id;
    RETURN v_ticket_id;
END
$$;

-- The ticket for a feedback row: its id, creating it if the feedback calls for one and has
-- none yet (so calling it again is harmless), or NULL when the feedback makes no ticket.
CREATE FUNCTION create_ticket_from_feedback(p_feedback_id INT) RETURNS INT
LANGUAGE plpgsql AS $$
DECLARE
    fb           service_feedback%ROWTYPE;
    v_ticket_id  INT;
BEGIN
    SELECT * INTO fb FROM service_feedback WHERE feedback_id = p_feedback_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no feedback with id %', p_feedback_id USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT (fb.grievance_flag OR fb.rating <= 2) THEN
        RETURN NULL;
    END IF;
    SELECT ticket_id INTO v_ticket_id FROM tickets WHERE feedback_id = fb.feedback_id;
    IF FOUND THEN
        RETURN v_ticket_id;
    END IF;
    RETURN insert_ticket_for_feedback(fb);
END
$$;

CREATE FUNCTION after_feedback_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.grievance_flag OR NEW.rating <= 2 THEN
        PERFORM insert_ticket_for_feedback(NEW);   -- a new row has no ticket yet
    END IF;
    IF NEW.qr_code_id IS NOT NULL THEN
        UPDATE qr_codes SET feedback_received = feedback_received + 1 WHERE qr_code_id = NEW.qr_code_id;
    END IF;
    -- The public channels are limited per hashed address (ARCHITECTURE 4.10): each accepted
    -- submission is one row whose window is the hour that follows it.
    IF NEW.channel IN ('portal', 'qr_code') AND NEW.ip_hash IS NOT NULL THEN
        INSERT INTO submission_rate_limit (ip_hash, submission_count, window_start, window_end, requires_captcha)
        VALUES (NEW.ip_hash, 1, NEW.created_at, NEW.created_at + interval '1 hour',
                requires_captcha(NEW.ip_hash, 2));
    END IF;
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Ticket life: status times, audit, breaches (seed 5.3, 8.3, ARCHITECTURE 4.11)
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION set_ticket_status_times() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status_id IS DISTINCT FROM OLD.status_id THEN
        IF OLD.status_id = 1 AND NEW.responded_at IS NULL THEN   -- first move away from Open
            NEW.responded_at := now();
        END IF;
        IF NEW.status_id = 4 AND NEW.resolved_at IS NULL THEN    -- Resolved
            NEW.resolved_at := now();
        END IF;
        IF NEW.status_id = 5 AND NEW.closed_at IS NULL THEN      -- Closed
            NEW.closed_at := now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;

-- Who made a change: the application sets gea.actor for its transaction; otherwise the role.
CREATE FUNCTION current_actor() RETURNS VARCHAR
LANGUAGE sql STABLE AS $$
    SELECT left(coalesce(nullif(current_setting('gea.actor', true), ''), current_user::text), 100)
$$;

CREATE FUNCTION log_ticket_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by, created_at)
        VALUES (NEW.ticket_id, 'created', NULL, NEW.ticket_number,
                CASE WHEN NEW.feedback_id IS NULL THEN current_actor() ELSE 'system' END,
                NEW.created_at);
        RETURN NULL;
    END IF;
    IF NEW.status_id IS DISTINCT FROM OLD.status_id THEN
        INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by)
        VALUES (NEW.ticket_id, 'status_change',
                (SELECT status_name FROM ticket_status WHERE status_id = OLD.status_id),
                (SELECT status_name FROM ticket_status WHERE status_id = NEW.status_id),
                current_actor());
    END IF;
    IF NEW.priority_id IS DISTINCT FROM OLD.priority_id THEN
        INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by)
        VALUES (NEW.ticket_id, 'priority_change',
                (SELECT priority_name FROM priority_levels WHERE priority_id = OLD.priority_id),
                (SELECT priority_name FROM priority_levels WHERE priority_id = NEW.priority_id),
                current_actor());
    END IF;
    IF NEW.assigned_to IS DISTINCT FROM OLD.assigned_to THEN
        INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by)
        VALUES (NEW.ticket_id, 'assignment_change', OLD.assigned_to, NEW.assigned_to, current_actor());
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION refuse_ticket_activity_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Any role can set a custom setting, so the setting alone proves nothing: the delete must
    -- also run as the table's owner, which only archive_ticket_activities() (SECURITY
    -- DEFINER) does for the application's role.
    IF TG_OP = 'DELETE'
       AND current_setting('gea.archiving_ticket_activities', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'ticket_activities is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Rows older than a year are moved by archive_ticket_activities().';
END
$$;

CREATE FUNCTION refuse_ticket_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tickets are permanent: close ticket % instead of deleting it', OLD.ticket_number
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Moves activities older than p_older_than to ticket_activities_archive and returns how many.
-- The only code path allowed to remove rows from ticket_activities.
CREATE FUNCTION archive_ticket_activities(p_older_than INTERVAL DEFAULT interval '1 year')
RETURNS INT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_moved INT;
BEGIN
    -- Compare cutoffs, not intervals: interval comparison counts a year as 360 days.
    IF p_older_than IS NULL OR now() - p_older_than > now() - interval '1 year' THEN
        RAISE EXCEPTION 'ticket activities are kept at least a year (asked: %)', p_older_than
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('gea.archiving_ticket_activities', 'on', true);
    WITH moved AS (
        DELETE FROM ticket_activities
        WHERE created_at < now() - p_older_than
        RETURNING activity_id, ticket_id, activity_type, old_value, new_value, changed_by, created_at
    )
    INSERT INTO ticket_activities_archive
        (activity_id, ticket_id, activity_type, old_value, new_value, changed_by, created_at)
    SELECT * FROM moved;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    PERFORM set_config('gea.archiving_ticket_activities', 'off', true);
    RETURN v_moved;
END
$$;
-- Maintenance, not application work: the owner runs it (gea-server maintenance) or grants it.
REVOKE EXECUTE ON FUNCTION archive_ticket_activities(INTERVAL) FROM PUBLIC;

CREATE FUNCTION sla_breach_escalates(p_breach_type VARCHAR, p_overdue INTERVAL) RETURNS BOOLEAN
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    -- Seed 5.3: a response breach escalates at once, a resolution breach after an hour.
    RETURN p_breach_type = 'response_breach' OR p_overdue > interval '1 hour';
END
$$;

-- Records a breach once per (ticket, type). Later calls only complete it: the actual time
-- once it is known, the hours overdue as they grow, and escalation, which never reverts.
CREATE FUNCTION record_sla_breach(
    p_ticket_id INT,
    p_breach_type VARCHAR,
    p_expected TIMESTAMPTZ,
    p_actual TIMESTAMPTZ,
    p_as_of TIMESTAMPTZ
) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_overdue INTERVAL := coalesce(p_actual, p_as_of) - p_expected;
BEGIN
    INSERT INTO sla_breaches AS b (ticket_id, breach_type, expected_time, actual_time, hours_overdue, escalated)
    VALUES (p_ticket_id, p_breach_type, p_expected, p_actual,
            floor(extract(epoch FROM v_overdue) / 3600), sla_breach_escalates(p_breach_type, v_overdue))
    ON CONFLICT (ticket_id, breach_type) DO UPDATE
        SET actual_time = coalesce(b.actual_time, EXCLUDED.actual_time),
            hours_overdue = greatest(b.hours_overdue, EXCLUDED.hours_overdue),
            escalated = b.escalated OR EXCLUDED.escalated
        WHERE b.actual_time IS NULL;
END
$$;

-- Checks one ticket against its targets as of p_as_of and records what is breached.
CREATE FUNCTION check_ticket_sla(t tickets, p_as_of TIMESTAMPTZ) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    -- A ticket closed without passing through Resolved stopped its resolution clock then.
    v_resolved TIMESTAMPTZ := coalesce(t.resolved_at, t.closed_at);
BEGIN
    IF t.response_target IS NOT NULL
       AND coalesce(t.responded_at, p_as_of) > t.response_target THEN
        PERFORM record_sla_breach(t.ticket_id, 'response_breach', t.response_target, t.responded_at, p_as_of);
    ELSIF t.responded_at IS NOT NULL THEN
        -- Met a target that moved (priority lowered) after a breach was recorded: that
        -- breach still ends here rather than running for ever.
        UPDATE sla_breaches b SET actual_time = t.responded_at
        WHERE b.ticket_id = t.ticket_id AND b.breach_type = 'response_breach' AND b.actual_time IS NULL;
    END IF;
    IF t.resolution_target IS NOT NULL
       AND coalesce(v_resolved, p_as_of) > t.resolution_target THEN
        PERFORM record_sla_breach(t.ticket_id, 'resolution_breach', t.resolution_target, v_resolved, p_as_of);
    ELSIF v_resolved IS NOT NULL THEN
        UPDATE sla_breaches b SET actual_time = v_resolved
        WHERE b.ticket_id = t.ticket_id AND b.breach_type = 'resolution_breach' AND b.actual_time IS NULL;
    END IF;
END
$$;

CREATE FUNCTION check_sla_breach() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM check_ticket_sla(NEW, now());
    RETURN NULL;
END
$$;

-- Finds every ticket past a target it has not met by p_as_of, records each breach (once, and
-- only up to now), and returns them. The nightly `gea-server sla-scan` calls it; so can an
-- admin query.
CREATE FUNCTION detect_sla_breaches(p_as_of TIMESTAMPTZ DEFAULT now())
RETURNS TABLE (
    ticket_id INT,
    ticket_number VARCHAR,
    breach_type VARCHAR,
    expected_time TIMESTAMPTZ,
    hours_overdue INT,
    escalated BOOLEAN
)
LANGUAGE plpgsql AS $$
DECLARE
    t tickets%ROWTYPE;
    -- Only what has happened is recorded; a p_as_of in the future is a forecast, reported only.
    v_record_as_of TIMESTAMPTZ := least(p_as_of, now());
BEGIN
    FOR t IN
        SELECT * FROM tickets tk
        WHERE (tk.responded_at IS NULL AND tk.response_target < v_record_as_of)
           OR (tk.resolved_at IS NULL AND tk.closed_at IS NULL AND tk.resolution_target < v_record_as_of)
        ORDER BY tk.ticket_id
    LOOP
        PERFORM check_ticket_sla(t, v_record_as_of);
    END LOOP;
    RETURN QUERY
        SELECT tk.ticket_id, tk.ticket_number, x.breach_type, x.expected_time,
               floor(extract(epoch FROM p_as_of - x.expected_time) / 3600)::INT,
               sla_breach_escalates(x.breach_type, p_as_of - x.expected_time)
        FROM tickets tk
        CROSS JOIN LATERAL (VALUES
            ('response_breach'::VARCHAR, tk.response_target, tk.responded_at IS NULL),
            ('resolution_breach'::VARCHAR, tk.resolution_target,
             tk.resolved_at IS NULL AND tk.closed_at IS NULL)
        ) AS x (breach_type, expected_time, running)
        WHERE x.running AND x.expected_time < p_as_of
        ORDER BY x.expected_time, tk.ticket_id, x.breach_type;
END
$$;

-- ---------------------------------------------------------------------------------------
-- Rate limit and CAPTCHA (seed 5.4 and 7.1, ARCHITECTURE 4.10). Both only read.
-- ---------------------------------------------------------------------------------------

-- TRUE while the address has fewer than p_limit accepted submissions in the rolling window.
CREATE FUNCTION check_rate_limit(p_ip_hash VARCHAR, p_limit INT DEFAULT 5, p_hours INT DEFAULT 1)
RETURNS BOOLEAN
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(submission_count), 0) < p_limit
            FROM submission_rate_limit
            WHERE ip_hash = p_ip_hash
              AND window_start > now() - make_interval(hours => p_hours));
END
$$;

-- TRUE once the address has p_threshold or more accepted submissions in the last hour.
CREATE FUNCTION requires_captcha(p_ip_hash VARCHAR, p_threshold INT DEFAULT 2)
RETURNS BOOLEAN
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(submission_count), 0) >= p_threshold
            FROM submission_rate_limit
            WHERE ip_hash = p_ip_hash
              AND window_start > now() - interval '1 hour');
END
$$;

-- Marks an unexpired, unsolved challenge issued to this address as solved. TRUE exactly
-- once per challenge: a second use of the same code is refused.
CREATE FUNCTION validate_captcha(p_ip_hash VARCHAR, p_challenge_code VARCHAR)
RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE captcha_challenges
    SET is_solved = TRUE
    WHERE challenge_code = p_challenge_code
      AND ip_hash = p_ip_hash
      AND NOT is_solved
      AND expires_at > now();
    RETURN FOUND;
END
$$;
