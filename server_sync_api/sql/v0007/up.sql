-- feedback_db, version 0007: set-based ingest (issue 16).
--
-- The API writes a kiosk's batch as one INSERT ... SELECT FROM unnest(...). Until now every
-- row of that statement ran a chain of row triggers: one INSERT into tickets per ticket, which
-- ran its own row triggers (number, SLA targets, audit row, notification row), one counter
-- upsert per ticket, one rate-limit row per public submission. Here the work is done once per
-- statement, with transition tables:
--
-- 1. service_feedback: trg_create_ticket_from_feedback becomes a statement trigger. For all the
--    rows the statement inserted it takes each month's ticket counter once (months in order, so
--    two batches never wait on each other in opposite orders), makes the tickets with their
--    numbers and SLA targets in one INSERT ... SELECT, counts QR use and writes rate-limit rows.
-- 2. tickets: the audit row ('created'), the new-ticket notification and the osTicket row are
--    written by a statement trigger too, one INSERT each for however many tickets the statement
--    made. Updates keep their row triggers (a desk changes one ticket at a time).
-- 3. The BEFORE INSERT row triggers that fill a value the caller did not give (created_at, the
--    ticket number) fire only when the value is missing, so a row that arrives complete costs
--    no function call.
--
-- A single-row insert (the public form, a desk's own ticket, a test) takes the same paths with
-- one row. Every rule holds as before: numbers unique and gapless per month (the counter row
-- stays locked until the transaction ends), the same targets, titles, audit and outbox rows.

-- ---------------------------------------------------------------------------------------
-- 1. Feedback: tickets, QR counts and rate-limit rows per statement
-- ---------------------------------------------------------------------------------------

-- The seed's per-row function, now as SQL so the planner inlines it into set-based statements.
CREATE OR REPLACE FUNCTION feedback_sla_start(
    p_recorded_at TIMESTAMPTZ,
    p_clock_offset_s INT,
    p_received_at TIMESTAMPTZ
) RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_recorded_at IS NULL THEN p_received_at
        ELSE greatest(
            p_received_at - interval '7 days',
            least(p_received_at, p_recorded_at + make_interval(secs => coalesce(p_clock_offset_s, 0))))
    END
$$;

-- The instant p_seconds of working time after p_start: sla_add_working_time, with the common
-- case (no calendar: 24x7) answered inline, without a PL/pgSQL call per ticket.
CREATE FUNCTION sla_target(p_calendar_id INT, p_start TIMESTAMPTZ, p_seconds DOUBLE PRECISION)
RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_calendar_id IS NULL THEN p_start + make_interval(secs => greatest(coalesce(p_seconds, 0), 0))
        ELSE sla_add_working_time(p_calendar_id, p_start, p_seconds)
    END
$$;

CREATE FUNCTION after_feedback_insert_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_zone TEXT := app_timezone();
BEGIN
    -- Each part runs only when some row calls for it: most statements are one kiosk rating or
    -- a batch of them, and an INSERT of no rows would still fire the tickets' statement trigger.
    -- Tickets (seed 5.1, 7.1, 7.2): a grievance, or a rating of 1 or 2.
    IF EXISTS (SELECT 1 FROM new_feedback WHERE grievance_flag OR rating <= 2) THEN
        WITH wanted AS (
            SELECT n.feedback_id, n.entity_id, n.service_id, n.category_id, n.priority_id, n.rating,
                   n.grievance_flag, n.feedback_text, n.created_at,
                   feedback_sla_start(n.recorded_at, n.clock_offset_s, n.created_at) AS sla_start,
                   to_char(n.created_at AT TIME ZONE v_zone, 'YYYYMM') AS year_month
            FROM new_feedback n
            WHERE n.grievance_flag OR n.rating <= 2
        ),
        -- Each month's counter once, in month order; the rows stay locked until commit, so
        -- concurrent batches queue (no duplicates) and a rollback undoes the increment (no gaps).
        counters AS (
            INSERT INTO ticket_number_counters AS c (year_month, last_value)
            SELECT year_month, count(*) FROM wanted GROUP BY year_month ORDER BY year_month
            ON CONFLICT (year_month) DO UPDATE SET last_value = c.last_value + excluded.last_value
            RETURNING c.year_month, c.last_value
        ),
        -- Per distinct service and entity, not per ticket.
        services AS MATERIALIZED (
            SELECT s.service_id, s.service_name,
                   CASE WHEN EXISTS (SELECT 1 FROM wanted w
                                     WHERE w.service_id = s.service_id AND w.category_id IS NULL)
                        THEN default_category_for_service(s.service_id) END AS default_category_id
            FROM service_master s
            WHERE s.service_id IN (SELECT service_id FROM wanted)
        ),
        calendars AS MATERIALIZED (
            SELECT e.entity_id, entity_sla_calendar(e.entity_id) AS calendar_id
            FROM (SELECT DISTINCT entity_id FROM wanted) e
        ),
        numbered AS (
            SELECT w.*, s.service_name, cal.calendar_id,
                   coalesce(w.category_id, s.default_category_id) AS ticket_category_id,
                   -- Staff's priority on a walk-in wins; else a grievance or a 1 is High, a 2 Medium.
                   coalesce(w.priority_id, CASE WHEN w.grievance_flag OR w.rating = 1 THEN 2 ELSE 3 END)
                       AS ticket_priority_id,
                   k.last_value - count(*) OVER (PARTITION BY w.year_month)
                       + row_number() OVER (PARTITION BY w.year_month ORDER BY w.feedback_id) AS n
            FROM wanted w
            JOIN services s ON s.service_id = w.service_id
            JOIN calendars cal ON cal.entity_id = w.entity_id
            JOIN counters k ON k.year_month = w.year_month
        )
        INSERT INTO tickets (
            feedback_id, entity_id, service_id, category_id, priority_id, status_id, title, description,
            sla_start, created_at, sla_calendar_id, ticket_number, response_target, resolution_target
        )
        SELECT t.feedback_id, t.entity_id, t.service_id, t.ticket_category_id, t.ticket_priority_id, 1,
               left(CASE WHEN t.grievance_flag THEN 'Grievance: ' || t.service_name
                         ELSE format('Low rating (%s/5): %s', t.rating, t.service_name) END, 255),
               t.feedback_text, t.sla_start, t.created_at, t.calendar_id,
               -- lpad would truncate past six digits; widen instead (as generate_ticket_number).
               t.year_month || '-' || CASE WHEN t.n > 999999 THEN t.n::text ELSE lpad(t.n::text, 6, '0') END,
               sla_target(t.calendar_id, t.sla_start, d.response_seconds),
               sla_target(t.calendar_id, t.sla_start, d.resolution_seconds)
        FROM numbered t
        -- LEFT: without durations (no category at all) a ticket still comes, targets at its start.
        LEFT JOIN LATERAL sla_durations(t.ticket_category_id, t.ticket_priority_id) d ON TRUE
        ORDER BY t.feedback_id;
    END IF;

    IF EXISTS (SELECT 1 FROM new_feedback WHERE qr_code_id IS NOT NULL) THEN
        UPDATE qr_codes q
        SET feedback_received = q.feedback_received + n.received
        FROM (SELECT qr_code_id, count(*) AS received FROM new_feedback
              WHERE qr_code_id IS NOT NULL GROUP BY qr_code_id) n
        WHERE q.qr_code_id = n.qr_code_id;
    END IF;

    -- The public channels are limited per hashed address (ARCHITECTURE 4.10): each accepted
    -- submission is one row whose window is the hour that follows it. Whether it required a
    -- CAPTCHA counts the address's rows in the last hour, this statement's earlier ones included
    -- (requires_captcha(ip_hash, 2) as each row would have seen it).
    IF EXISTS (SELECT 1 FROM new_feedback WHERE channel IN ('portal', 'qr_code') AND ip_hash IS NOT NULL) THEN
        INSERT INTO submission_rate_limit (ip_hash, submission_count, window_start, window_end, requires_captcha)
        SELECT n.ip_hash, 1, n.created_at, n.created_at + interval '1 hour',
               coalesce((SELECT sum(r.submission_count) FROM submission_rate_limit r
                         WHERE r.ip_hash = n.ip_hash AND r.window_start > now() - interval '1 hour'), 0)
               + count(*) FILTER (WHERE n.created_at > now() - interval '1 hour') OVER (
                     PARTITION BY n.ip_hash ORDER BY n.feedback_id
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) >= 2
        FROM new_feedback n
        WHERE n.channel IN ('portal', 'qr_code') AND n.ip_hash IS NOT NULL
        ORDER BY n.feedback_id;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER trg_create_ticket_from_feedback ON service_feedback;
CREATE TRIGGER trg_create_ticket_from_feedback
    AFTER INSERT ON service_feedback
    REFERENCING NEW TABLE AS new_feedback
    FOR EACH STATEMENT EXECUTE FUNCTION after_feedback_insert_statement();

-- The per-row function stays for the seed's create_ticket_from_feedback(), which makes one
-- ticket for one stored row; after_feedback_insert() no longer runs.
DROP FUNCTION after_feedback_insert();

-- ---------------------------------------------------------------------------------------
-- 2. Tickets: the audit row and outbox rows per statement
-- ---------------------------------------------------------------------------------------

CREATE FUNCTION after_ticket_insert_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_tickets) THEN
        RETURN NULL;  -- statement triggers fire for an INSERT of no rows too
    END IF;
    INSERT INTO ticket_activities (ticket_id, activity_type, old_value, new_value, changed_by, created_at)
    SELECT t.ticket_id, 'created', NULL, t.ticket_number,
           CASE WHEN t.feedback_id IS NULL THEN current_actor() ELSE 'system' END, t.created_at
    FROM new_tickets t
    ORDER BY t.ticket_id;

    INSERT INTO notification_outbox (ticket_id, event, detail)
    SELECT t.ticket_id, 'new_ticket', jsonb_build_object('priority_id', t.priority_id)
    FROM new_tickets t
    WHERE t.priority_id IN (1, 2)   -- Critical, High
    ORDER BY t.ticket_id;

    IF (SELECT osticket_enabled FROM app_settings) THEN
        INSERT INTO osticket_outbox (ticket_id)
        SELECT t.ticket_id FROM new_tickets t ORDER BY t.ticket_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_log_ticket_created
    AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_tickets
    FOR EACH STATEMENT EXECUTE FUNCTION after_ticket_insert_statement();

-- Changes stay per row: a status, priority or assignee change is one ticket's event.
CREATE OR REPLACE FUNCTION log_ticket_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
DROP TRIGGER trg_log_ticket_activity ON tickets;
CREATE TRIGGER trg_log_ticket_activity
    AFTER UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION log_ticket_activity();

CREATE OR REPLACE FUNCTION queue_ticket_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to THEN
        INSERT INTO notification_outbox (ticket_id, event, detail)
        VALUES (NEW.ticket_id, 'reassigned',
                jsonb_build_object('from', OLD.assigned_to, 'to', NEW.assigned_to, 'by', current_actor()));
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER trg_queue_ticket_events ON tickets;
CREATE TRIGGER trg_queue_ticket_events
    AFTER UPDATE OF assigned_to ON tickets
    FOR EACH ROW EXECUTE FUNCTION queue_ticket_events();

-- ---------------------------------------------------------------------------------------
-- 3. Row triggers that fill a missing value fire only when it is missing
-- ---------------------------------------------------------------------------------------

DO $$
DECLARE
    t TEXT;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
        WHERE g.tgname = 'trg_set_created_at_timestamp' AND NOT g.tgisinternal
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TRIGGER trg_set_created_at_timestamp ON %I', t);
        EXECUTE format(
            'CREATE TRIGGER trg_set_created_at_timestamp BEFORE INSERT ON %I '
            'FOR EACH ROW WHEN (NEW.created_at IS NULL) EXECUTE FUNCTION set_created_at()', t);
    END LOOP;
END
$$;

DROP TRIGGER trg_generate_ticket_number ON tickets;
CREATE TRIGGER trg_generate_ticket_number
    BEFORE INSERT ON tickets
    FOR EACH ROW WHEN (NEW.ticket_number IS NULL) EXECUTE FUNCTION assign_ticket_number();

-- ---------------------------------------------------------------------------------------
-- 4. One foreign-key check where three said the same thing
-- ---------------------------------------------------------------------------------------

-- A feedback row's and a ticket's (service_id, entity_id) must be a row of service_master
-- (fk_*_service_entity), whose entity_id references entity_master: a pair that passes that
-- check has an entity that exists. The entity-only key checked it a second time for every row
-- (and, for tickets, the service-only key a third). fk_service_feedback_service stays: it names
-- an unknown service as such for the API (services/ingest.py, CONSTRAINT_REJECTIONS).
ALTER TABLE service_feedback DROP CONSTRAINT fk_service_feedback_entity;
ALTER TABLE tickets DROP CONSTRAINT fk_tickets_entity, DROP CONSTRAINT fk_tickets_service;
