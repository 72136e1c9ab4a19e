-- feedback_db, version 0001: triggers (seed section 8).
--
-- PostgreSQL fires triggers on the same event in name order; the functions that need
-- created_at fill it themselves, so the order below matters only where a comment says so.

CREATE TRIGGER trg_validate_app_settings
    BEFORE INSERT OR UPDATE ON app_settings
    FOR EACH ROW EXECUTE FUNCTION validate_app_settings();

-- Timestamps on every table that has them.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'entity_master', 'service_master', 'priority_levels', 'ticket_status', 'ticket_categories',
        'kiosk_devices', 'qr_codes', 'service_feedback', 'submission_rate_limit', 'tickets',
        'ticket_activities', 'ticket_notes', 'sla_breaches', 'submission_attempts',
        'captcha_challenges'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER trg_set_created_at_timestamp BEFORE INSERT ON %I '
            'FOR EACH ROW EXECUTE FUNCTION set_created_at()', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY[
        'entity_master', 'service_master', 'kiosk_devices', 'qr_codes', 'service_feedback', 'tickets'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER trg_set_updated_at_timestamp BEFORE UPDATE ON %I '
            'FOR EACH ROW EXECUTE FUNCTION set_updated_at()', t);
    END LOOP;
END
$$;

CREATE TRIGGER trg_refuse_entity_cycle
    BEFORE INSERT OR UPDATE OF parent_entity_id ON entity_master
    FOR EACH ROW EXECUTE FUNCTION refuse_entity_cycle();

-- Feedback: validate, then make the ticket (seed 8.4) and count QR and rate-limit use.
CREATE TRIGGER trg_validate_feedback
    BEFORE INSERT OR UPDATE OF category_id, service_id ON service_feedback
    FOR EACH ROW WHEN (NEW.category_id IS NOT NULL) EXECUTE FUNCTION validate_feedback();

CREATE TRIGGER trg_create_ticket_from_feedback
    AFTER INSERT ON service_feedback
    FOR EACH ROW EXECUTE FUNCTION after_feedback_insert();

-- Tickets (seed 8.2, 8.3).
CREATE TRIGGER trg_generate_ticket_number
    BEFORE INSERT ON tickets
    FOR EACH ROW EXECUTE FUNCTION assign_ticket_number();

CREATE TRIGGER trg_calculate_sla
    BEFORE INSERT OR UPDATE OF priority_id, category_id ON tickets
    FOR EACH ROW EXECUTE FUNCTION set_ticket_sla_targets();

CREATE TRIGGER trg_set_ticket_status_times
    BEFORE UPDATE OF status_id ON tickets
    FOR EACH ROW EXECUTE FUNCTION set_ticket_status_times();

-- AFTER, so the activity rows reference a ticket that exists and see the final values.
CREATE TRIGGER trg_log_ticket_activity
    AFTER INSERT OR UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION log_ticket_activity();

CREATE TRIGGER trg_check_sla_breach
    AFTER UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION check_sla_breach();

CREATE TRIGGER trg_refuse_ticket_delete
    BEFORE DELETE ON tickets
    FOR EACH ROW EXECUTE FUNCTION refuse_ticket_delete();

-- The audit trail is append-only (ARCHITECTURE 4.11).
CREATE TRIGGER trg_ticket_activities_append_only
    BEFORE UPDATE OR DELETE ON ticket_activities
    FOR EACH ROW EXECUTE FUNCTION refuse_ticket_activity_change();

CREATE TRIGGER trg_ticket_activities_no_truncate
    BEFORE TRUNCATE ON ticket_activities
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_ticket_activity_change();
