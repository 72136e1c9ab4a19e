-- feedback_db, version 0004 downgrade: no desk. Officers, their sessions and sign-ins go; notes
-- lose is_public (public replies become internal notes); tickets lose their version and
-- resolution start, and the two trigger functions get version 0001's text back.

-- Desk indexes
DROP INDEX IF EXISTS ix_tickets_desk_done;
DROP INDEX IF EXISTS ix_tickets_desk_open;

DROP TRIGGER IF EXISTS trg_bump_ticket_row_version ON tickets;
DROP FUNCTION IF EXISTS bump_ticket_row_version();
ALTER TABLE tickets DROP COLUMN IF EXISTS resolution_start, DROP COLUMN IF EXISTS row_version;
DROP INDEX IF EXISTS ix_ticket_notes_ticket;
ALTER TABLE ticket_notes DROP COLUMN IF EXISTS is_public;
DROP TABLE IF EXISTS officer_sign_ins;
DROP TABLE IF EXISTS officer_sessions;
DROP TABLE IF EXISTS officers;
DROP FUNCTION IF EXISTS end_disabled_officer_sessions();

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
    END IF;
    RETURN NEW;
END
$$;
