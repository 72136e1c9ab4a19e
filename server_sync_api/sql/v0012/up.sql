-- feedback_db, version 0012: trg_calculate_sla skips the tickets a feedback statement makes
-- (issue 16).
--
-- after_feedback_insert_statement() (0007) makes a batch's tickets with every SLA column
-- already computed: created_at, sla_start, the entity's calendar and both targets. The row
-- trigger trg_calculate_sla still ran once per ticket, a PL/pgSQL call that, with the values
-- given, only looked the calendar up again (it fills a calendar only when none is given, and
-- "none" is also the answer for an entity without one). The statement now says so with a
-- transaction-local setting, feedback_db.ticket_targets_set, on for its one INSERT INTO
-- tickets only; the trigger's WHEN skips a row only while it is on and the row has its times
-- and targets. A failed INSERT rolls the setting back with it. Every other insert (the desk's
-- own tickets, an import, create_ticket_from_feedback()) and every update is computed as
-- before. A role that sets the flag itself gains nothing: it can already give its own targets
-- and calendar.

CREATE OR REPLACE FUNCTION after_feedback_insert_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_zone TEXT := app_timezone();
BEGIN
    -- Each part runs only when some row calls for it: most statements are one kiosk rating or
    -- a batch of them, and an INSERT of no rows would still fire the tickets' statement trigger.
    -- Tickets (seed 5.1, 7.1, 7.2): a grievance, or a rating of 1 or 2.
    IF EXISTS (SELECT 1 FROM new_feedback WHERE grievance_flag OR rating <= 2) THEN
        -- Every column trg_calculate_sla would fill is given below, the calendar included (the
        -- same entity_sla_calendar() it would call), so it is told to skip these rows.
        PERFORM set_config('feedback_db.ticket_targets_set', 'on', TRUE);
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
        PERFORM set_config('feedback_db.ticket_targets_set', '', TRUE);
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

DROP TRIGGER trg_calculate_sla ON tickets;
CREATE TRIGGER trg_calculate_sla
    BEFORE INSERT OR UPDATE OF priority_id, category_id ON tickets
    FOR EACH ROW
    WHEN (current_setting('feedback_db.ticket_targets_set', TRUE) IS DISTINCT FROM 'on'
          OR NEW.created_at IS NULL OR NEW.sla_start IS NULL
          OR NEW.response_target IS NULL OR NEW.resolution_target IS NULL)
    EXECUTE FUNCTION set_ticket_sla_targets();
