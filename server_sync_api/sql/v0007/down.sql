-- feedback_db, version 0007 down: back to 0006's row triggers (the text of 0001 and 0005).

ALTER TABLE tickets
    ADD CONSTRAINT fk_tickets_entity FOREIGN KEY (entity_id) REFERENCES entity_master (unique_entity_id),
    ADD CONSTRAINT fk_tickets_service FOREIGN KEY (service_id) REFERENCES service_master (service_id);
ALTER TABLE service_feedback
    ADD CONSTRAINT fk_service_feedback_entity FOREIGN KEY (entity_id)
        REFERENCES entity_master (unique_entity_id);

DROP TRIGGER trg_generate_ticket_number ON tickets;
CREATE TRIGGER trg_generate_ticket_number
    BEFORE INSERT ON tickets
    FOR EACH ROW EXECUTE FUNCTION assign_ticket_number();

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
            'FOR EACH ROW EXECUTE FUNCTION set_created_at()', t);
    END LOOP;
END
$$;

DROP TRIGGER trg_queue_ticket_events ON tickets;
CREATE OR REPLACE FUNCTION queue_ticket_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.priority_id IN (1, 2) THEN   -- Critical, High
            INSERT INTO notification_outbox (ticket_id, event, detail)
            VALUES (NEW.ticket_id, 'new_ticket', jsonb_build_object('priority_id', NEW.priority_id));
        END IF;
        IF (SELECT osticket_enabled FROM app_settings) THEN
            INSERT INTO osticket_outbox (ticket_id) VALUES (NEW.ticket_id);
        END IF;
    ELSIF NEW.assigned_to IS NOT NULL AND NEW.assigned_to IS DISTINCT FROM OLD.assigned_to THEN
        INSERT INTO notification_outbox (ticket_id, event, detail)
        VALUES (NEW.ticket_id, 'reassigned',
                jsonb_build_object('from', OLD.assigned_to, 'to', NEW.assigned_to, 'by', current_actor()));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_queue_ticket_events
    AFTER INSERT OR UPDATE OF assigned_to ON tickets
    FOR EACH ROW EXECUTE FUNCTION queue_ticket_events();

DROP TRIGGER trg_log_ticket_activity ON tickets;
CREATE OR REPLACE FUNCTION log_ticket_activity() RETURNS trigger
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

CREATE TRIGGER trg_log_ticket_activity
    AFTER INSERT OR UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION log_ticket_activity();

DROP TRIGGER trg_log_ticket_created ON tickets;
DROP FUNCTION after_ticket_insert_statement();

DROP TRIGGER trg_create_ticket_from_feedback ON service_feedback;
DROP FUNCTION after_feedback_insert_statement();
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

CREATE TRIGGER trg_create_ticket_from_feedback
    AFTER INSERT ON service_feedback
    FOR EACH ROW EXECUTE FUNCTION after_feedback_insert();

DROP FUNCTION sla_target(INT, TIMESTAMPTZ, DOUBLE PRECISION);
CREATE OR REPLACE FUNCTION feedback_sla_start(
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
