-- feedback_db, version 0005 down: back to 0004. SLAs count 24x7 again, the Waiting pause and
-- calendars go, breaches are one per ticket and type again (a reopened ticket keeps its first
-- breach of each type), and the outboxes and scheduled jobs go.

-- Version 0004's (that is 0001's) view, scan, breach functions and targets.
CREATE OR REPLACE VIEW v_active_tickets_sla AS
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

CREATE OR REPLACE FUNCTION detect_sla_breaches(p_as_of TIMESTAMPTZ DEFAULT now())
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

DROP FUNCTION IF EXISTS record_sla_breaches(TIMESTAMPTZ);

CREATE OR REPLACE FUNCTION check_ticket_sla(t tickets, p_as_of TIMESTAMPTZ) RETURNS VOID
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

DROP FUNCTION IF EXISTS record_sla_breach(INT, VARCHAR, TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ);
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

DROP TRIGGER IF EXISTS trg_set_breach_clock ON sla_breaches;
DROP FUNCTION IF EXISTS set_breach_clock();
DELETE FROM sla_breaches b
USING sla_breaches first
WHERE first.ticket_id = b.ticket_id AND first.breach_type = b.breach_type
  AND first.breach_id < b.breach_id;
ALTER TABLE sla_breaches
    DROP CONSTRAINT IF EXISTS uq_sla_breaches_ticket_type_clock,
    ADD CONSTRAINT uq_sla_breaches_ticket_type UNIQUE (ticket_id, breach_type),
    DROP COLUMN IF EXISTS clock_started_at;

CREATE OR REPLACE FUNCTION set_ticket_sla_targets() RETURNS trigger
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
            NEW.resolution_target := coalesce(NEW.resolution_target,
                (SELECT resolution_target FROM calculate_sla_targets(
                    NEW.category_id, NEW.priority_id, coalesce(NEW.resolution_start, NEW.sla_start))));
        END IF;
    ELSIF NEW.priority_id IS DISTINCT FROM OLD.priority_id
          OR NEW.category_id IS DISTINCT FROM OLD.category_id THEN
        -- A re-prioritised ticket gets the deadlines of its new priority, from the same starts.
        SELECT * INTO v_targets FROM calculate_sla_targets(NEW.category_id, NEW.priority_id, NEW.sla_start);
        NEW.response_target := v_targets.response_target;
        NEW.resolution_target := (SELECT resolution_target FROM calculate_sla_targets(
            NEW.category_id, NEW.priority_id, coalesce(NEW.resolution_start, NEW.sla_start)));
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION set_ticket_status_times() RETURNS trigger
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
        IF NEW.status_id NOT IN (4, 5) AND (OLD.resolved_at IS NOT NULL OR OLD.closed_at IS NOT NULL) THEN
            NEW.resolved_at := NULL;
            NEW.closed_at := NULL;
            NEW.resolution_start := now();
            NEW.resolution_target := (SELECT resolution_target FROM calculate_sla_targets(
                NEW.category_id, NEW.priority_id, NEW.resolution_start));
        END IF;
    END IF;
    RETURN NEW;
END
$$;

DROP INDEX IF EXISTS ix_tickets_sla_calendar_open;
DROP FUNCTION IF EXISTS sla_recompute_open_targets(INT);
DROP FUNCTION IF EXISTS ticket_resolution_target(INT, INT, INT, TIMESTAMPTZ, INTERVAL);
DROP FUNCTION IF EXISTS calculate_sla_targets(INT, INT, TIMESTAMPTZ, INT);
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

DROP FUNCTION IF EXISTS sla_durations(INT, INT);
DROP FUNCTION IF EXISTS sla_working_seconds(INT, TIMESTAMPTZ, TIMESTAMPTZ);
DROP FUNCTION IF EXISTS sla_add_working_time(INT, TIMESTAMPTZ, DOUBLE PRECISION);
DROP FUNCTION IF EXISTS sla_calendar_zone(INT);
DROP FUNCTION IF EXISTS entity_sla_calendar(VARCHAR);
DROP INDEX IF EXISTS ix_entity_master_sla_calendar;
DROP TRIGGER IF EXISTS trg_validate_sla_calendar ON sla_calendars;
DROP FUNCTION IF EXISTS validate_sla_calendar();

COMMENT ON COLUMN priority_levels.sla_multiplier IS
    'Time factor, applied by multiplication: target = sla_start + category hours * sla_multiplier. '
    'Critical 0.50 (half the time), High 0.75, Medium 1.00, Low 1.50 (ARCHITECTURE 4.3).';
DROP TABLE IF EXISTS scheduled_jobs;
ALTER TABLE tickets DROP COLUMN IF EXISTS sla_calendar_id, DROP COLUMN IF EXISTS waiting_since,
    DROP COLUMN IF EXISTS paused;
ALTER TABLE entity_master DROP COLUMN IF EXISTS sla_calendar_id;
DROP TABLE IF EXISTS sla_holidays;
DROP TABLE IF EXISTS sla_calendar_hours;
DROP TABLE IF EXISTS sla_calendars;
DROP TRIGGER IF EXISTS trg_queue_breach_events ON sla_breaches;
DROP FUNCTION IF EXISTS queue_breach_events();
DROP TRIGGER IF EXISTS trg_queue_ticket_events ON tickets;
DROP FUNCTION IF EXISTS queue_ticket_events();
DROP TABLE IF EXISTS osticket_outbox;
ALTER TABLE app_settings DROP COLUMN IF EXISTS osticket_enabled;
DROP TABLE IF EXISTS notification_deliveries;
DROP TABLE IF EXISTS notification_outbox;
