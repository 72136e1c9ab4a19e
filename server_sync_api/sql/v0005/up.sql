-- feedback_db, version 0005: SLAs that run on their own (issue 14).
--
-- 1. Outboxes, filled by triggers in the transaction of the event they report: mail to officers
--    (notification_outbox, sent by `gea-server notify`) and, when enabled, new tickets for the
--    ministry's osTicket (osticket_outbox, sent by `gea-server osticket-push`).
-- 2. SLA calendars: working hours per weekday, holidays and closures, per entity or inherited;
--    targets in working time, and time spent in "Waiting" pauses the resolution clock.
-- 3. Breaches per clock: a reopened ticket's second resolution breach gets its own row, and the
--    scan is one set-based statement.
-- 4. scheduled_jobs: when each scheduled job last started and how it went (the scheduler's
--    advisory lock keeps it to one runner; this table keeps each job to its interval).

-- ---------------------------------------------------------------------------------------
-- 1. Outboxes
-- ---------------------------------------------------------------------------------------

CREATE TABLE notification_outbox (
    notification_id  BIGINT GENERATED ALWAYS AS IDENTITY,
    ticket_id        INT NOT NULL,
    -- new_ticket: a High or Critical ticket was made; breach: an SLA target was missed;
    -- escalation: a breach escalated (seed 5.3); reassigned: the ticket has a new assignee.
    event            VARCHAR(20) NOT NULL,
    detail           JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- pending until every recipient has it (sent), or nobody could be found to tell (skipped).
    state            VARCHAR(10) NOT NULL DEFAULT 'pending',
    attempts         INT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error       TEXT,
    sent_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_notification_outbox PRIMARY KEY (notification_id),
    CONSTRAINT fk_notification_outbox_ticket FOREIGN KEY (ticket_id) REFERENCES tickets (ticket_id),
    CONSTRAINT ck_notification_outbox_event
        CHECK (event IN ('new_ticket', 'breach', 'escalation', 'reassigned')),
    CONSTRAINT ck_notification_outbox_state CHECK (state IN ('pending', 'sent', 'skipped')),
    CONSTRAINT ck_notification_outbox_attempts CHECK (attempts >= 0)
);
CREATE INDEX ix_notification_outbox_due ON notification_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX ix_notification_outbox_ticket ON notification_outbox (ticket_id);
COMMENT ON TABLE notification_outbox IS
    'Mail to officers about a ticket, one row per event, written by triggers in the event''s own '
    'transaction. Recipients are resolved when it is sent (gea-server notify).';

-- Who already has a notification: a retry after a partial failure mails only the others.
CREATE TABLE notification_deliveries (
    notification_id  BIGINT NOT NULL,
    recipient        VARCHAR(254) NOT NULL,
    message_id       VARCHAR(255) NOT NULL,
    sent_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_notification_deliveries PRIMARY KEY (notification_id, recipient),
    CONSTRAINT fk_notification_deliveries_notification FOREIGN KEY (notification_id)
        REFERENCES notification_outbox (notification_id) ON DELETE CASCADE
);

ALTER TABLE app_settings ADD COLUMN osticket_enabled BOOLEAN NOT NULL DEFAULT FALSE;
COMMENT ON COLUMN app_settings.osticket_enabled IS
    'TRUE when new tickets are queued for osTicket; gea-server migrate writes it from '
    'GEA_SERVER_OSTICKET_URL.';

CREATE TABLE osticket_outbox (
    ticket_id        INT NOT NULL,
    -- pending: to send; sending: a sender has it (or died with it); sent: osTicket answered with
    -- its number; parked: a send whose answer was lost, for a person to check in osTicket.
    state            VARCHAR(10) NOT NULL DEFAULT 'pending',
    attempts         INT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_at       TIMESTAMPTZ,
    remote_id        VARCHAR(50),
    last_error       TEXT,
    sent_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_osticket_outbox PRIMARY KEY (ticket_id),
    CONSTRAINT fk_osticket_outbox_ticket FOREIGN KEY (ticket_id) REFERENCES tickets (ticket_id),
    CONSTRAINT ck_osticket_outbox_state CHECK (state IN ('pending', 'sending', 'sent', 'parked')),
    CONSTRAINT ck_osticket_outbox_sent CHECK ((state = 'sent') = (remote_id IS NOT NULL)),
    CONSTRAINT ck_osticket_outbox_attempts CHECK (attempts >= 0)
);
CREATE INDEX ix_osticket_outbox_due ON osticket_outbox (next_attempt_at) WHERE state = 'pending';
COMMENT ON TABLE osticket_outbox IS
    'New tickets for the ministry''s osTicket (seed: "Integration: osTicket sync"); sent at least '
    'once by gea-server osticket-push, with a lost answer parked for a person to check.';

CREATE FUNCTION queue_ticket_events() RETURNS trigger
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

CREATE FUNCTION queue_breach_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A breach that escalates on arrival (every response breach) is one event, not two.
    IF TG_OP = 'INSERT' OR (NEW.escalated AND NOT OLD.escalated) THEN
        INSERT INTO notification_outbox (ticket_id, event, detail)
        VALUES (NEW.ticket_id,
                CASE WHEN NEW.escalated THEN 'escalation' ELSE 'breach' END,
                jsonb_build_object('breach_id', NEW.breach_id, 'breach_type', NEW.breach_type,
                                   'expected_time', NEW.expected_time));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER trg_queue_breach_events
    AFTER INSERT OR UPDATE OF escalated ON sla_breaches
    FOR EACH ROW EXECUTE FUNCTION queue_breach_events();

-- ---------------------------------------------------------------------------------------
-- 2. SLA calendars (ARCHITECTURE 4.14)
-- ---------------------------------------------------------------------------------------

CREATE TABLE sla_calendars (
    calendar_id  INT GENERATED BY DEFAULT AS IDENTITY,
    name         VARCHAR(100) NOT NULL,
    -- IANA zone the working hours are read in (checked by trg_validate_sla_calendar).
    timezone     TEXT NOT NULL,
    created_at   TIMESTAMPTZ DEFAULT now(),
    updated_at   TIMESTAMPTZ DEFAULT now(),
    CONSTRAINT pk_sla_calendars PRIMARY KEY (calendar_id),
    CONSTRAINT ck_sla_calendars_name_not_blank CHECK (btrim(name) <> '')
);
CREATE UNIQUE INDEX uq_sla_calendars_name ON sla_calendars (lower(name));
COMMENT ON TABLE sla_calendars IS
    'Working time for SLA targets: hours per weekday (sla_calendar_hours) and days off '
    '(sla_holidays), read in the calendar''s zone. Entities use their own or their nearest '
    'ancestor''s; with none, SLAs run 24x7.';

-- One span of working hours per weekday; a weekday with no row is not worked.
CREATE TABLE sla_calendar_hours (
    calendar_id  INT NOT NULL,
    weekday      SMALLINT NOT NULL,   -- ISO: 1 Monday ... 7 Sunday
    opens        TIME NOT NULL,
    closes       TIME NOT NULL,       -- 24:00 for a day worked to midnight
    CONSTRAINT pk_sla_calendar_hours PRIMARY KEY (calendar_id, weekday),
    CONSTRAINT fk_sla_calendar_hours_calendar FOREIGN KEY (calendar_id)
        REFERENCES sla_calendars (calendar_id) ON DELETE CASCADE,
    CONSTRAINT ck_sla_calendar_hours_weekday CHECK (weekday BETWEEN 1 AND 7),
    CONSTRAINT ck_sla_calendar_hours_span CHECK (closes > opens)
);

-- Days off: public holidays (loaded from the `holidays` package) and one-off closures.
CREATE TABLE sla_holidays (
    calendar_id   INT NOT NULL,
    holiday_date  DATE NOT NULL,
    name          VARCHAR(200) NOT NULL,
    kind          VARCHAR(10) NOT NULL DEFAULT 'holiday',
    created_at    TIMESTAMPTZ DEFAULT now(),
    CONSTRAINT pk_sla_holidays PRIMARY KEY (calendar_id, holiday_date),
    CONSTRAINT fk_sla_holidays_calendar FOREIGN KEY (calendar_id)
        REFERENCES sla_calendars (calendar_id) ON DELETE CASCADE,
    CONSTRAINT ck_sla_holidays_kind CHECK (kind IN ('holiday', 'closure')),
    CONSTRAINT ck_sla_holidays_name_not_blank CHECK (btrim(name) <> '')
);

ALTER TABLE entity_master ADD COLUMN sla_calendar_id INT
    CONSTRAINT fk_entity_master_sla_calendar REFERENCES sla_calendars (calendar_id);
COMMENT ON COLUMN entity_master.sla_calendar_id IS
    'This entity''s SLA calendar; NULL inherits the parent''s (none anywhere: 24x7).';

ALTER TABLE tickets
    -- The calendar in force when the ticket was made (NULL: 24x7); its targets count in it.
    ADD COLUMN sla_calendar_id INT CONSTRAINT fk_tickets_sla_calendar REFERENCES sla_calendars (calendar_id),
    -- Set while the ticket is in "Waiting": its resolution clock is paused since then.
    ADD COLUMN waiting_since TIMESTAMPTZ,
    -- Working time spent in "Waiting" since the resolution clock (re)started.
    ADD COLUMN paused INTERVAL NOT NULL DEFAULT interval '0';
COMMENT ON COLUMN tickets.paused IS
    'Working time spent in Waiting since the resolution clock (re)started; the resolution target '
    'moves out by it.';

-- Calendars: a known zone, and the timestamps every table has.
CREATE FUNCTION validate_sla_calendar() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = NEW.timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', NEW.timezone
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_sla_calendars_timezone',
                  HINT = 'Use an IANA zone name such as America/Grenada or UTC.';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER trg_validate_sla_calendar
    BEFORE INSERT OR UPDATE OF timezone ON sla_calendars
    FOR EACH ROW EXECUTE FUNCTION validate_sla_calendar();
CREATE TRIGGER trg_set_created_at_timestamp BEFORE INSERT ON sla_calendars
    FOR EACH ROW EXECUTE FUNCTION set_created_at();
CREATE TRIGGER trg_set_updated_at_timestamp BEFORE UPDATE ON sla_calendars
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_set_created_at_timestamp BEFORE INSERT ON sla_holidays
    FOR EACH ROW EXECUTE FUNCTION set_created_at();

-- Entities with a calendar of their own are few; this makes "none anywhere" one index probe.
CREATE INDEX ix_entity_master_sla_calendar ON entity_master (sla_calendar_id)
    WHERE sla_calendar_id IS NOT NULL;

-- The entity's own calendar or its nearest ancestor's; NULL (24x7) when none has one.
CREATE FUNCTION entity_sla_calendar(p_entity_id VARCHAR) RETURNS INT
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_entity    VARCHAR := p_entity_id;
    v_calendar  INT;
    v_depth     INT := 0;
BEGIN
    -- Most deployments set no calendar: answer them without walking the tree.
    IF NOT EXISTS (SELECT 1 FROM entity_master WHERE sla_calendar_id IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    -- ck_entity_master_no_cycle keeps the chain finite; the depth bound is a second guard.
    WHILE v_entity IS NOT NULL AND v_depth < 64 LOOP
        SELECT e.sla_calendar_id, e.parent_entity_id INTO v_calendar, v_entity
        FROM entity_master e WHERE e.unique_entity_id = v_entity;
        IF v_calendar IS NOT NULL THEN
            RETURN v_calendar;
        END IF;
        v_depth := v_depth + 1;
    END LOOP;
    RETURN NULL;
END
$$;

-- Whether a calendar can count working time: it exists and has at least one working day.
-- A calendar without working hours counts 24x7 rather than never reaching a deadline.
CREATE FUNCTION sla_calendar_zone(p_calendar_id INT) RETURNS TEXT
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_calendar_id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT c.timezone FROM sla_calendars c
            WHERE c.calendar_id = p_calendar_id
              AND EXISTS (SELECT 1 FROM sla_calendar_hours h WHERE h.calendar_id = c.calendar_id));
END
$$;

-- The instant p_seconds of working time after p_start, in the calendar's working hours and
-- zone, skipping days off. NULL calendar: plain elapsed time (24x7). Durations are seconds,
-- never day-intervals, so a daylight-saving change cannot stretch or shrink them.
CREATE FUNCTION sla_add_working_time(p_calendar_id INT, p_start TIMESTAMPTZ, p_seconds DOUBLE PRECISION)
RETURNS TIMESTAMPTZ
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_zone    TEXT := sla_calendar_zone(p_calendar_id);
    v_left    DOUBLE PRECISION := greatest(coalesce(p_seconds, 0), 0);
    v_cursor  TIMESTAMPTZ := p_start;
    v_day     DATE;
    v_opens   TIME;
    v_closes  TIME;
    v_open    TIMESTAMPTZ;
    v_close   TIMESTAMPTZ;
    v_idle    INT := 0;
    v_days    INT := 0;
BEGIN
    IF v_zone IS NULL OR p_start IS NULL THEN
        RETURN p_start + make_interval(secs => v_left);
    END IF;
    IF v_left = 0 THEN
        RETURN p_start;  -- nothing to add: not even to the next opening
    END IF;
    v_day := (p_start AT TIME ZONE v_zone)::DATE;
    LOOP
        SELECT h.opens, h.closes INTO v_opens, v_closes
        FROM sla_calendar_hours h
        WHERE h.calendar_id = p_calendar_id AND h.weekday = extract(isodow FROM v_day)
          AND NOT EXISTS (SELECT 1 FROM sla_holidays d
                          WHERE d.calendar_id = p_calendar_id AND d.holiday_date = v_day);
        IF FOUND THEN
            v_idle := 0;
            v_open := (v_day + v_opens) AT TIME ZONE v_zone;
            v_close := (v_day + v_closes) AT TIME ZONE v_zone;
            v_cursor := greatest(v_cursor, v_open);
            IF v_cursor < v_close THEN
                IF extract(epoch FROM v_close - v_cursor) >= v_left THEN
                    RETURN v_cursor + make_interval(secs => v_left);
                END IF;
                v_left := v_left - extract(epoch FROM v_close - v_cursor);
            END IF;
        ELSE
            v_idle := v_idle + 1;
            -- A year and more of days off in a row is a mistake in the calendar, not a reason
            -- to give a citizen's complaint no deadline: fall back to elapsed time.
            IF v_idle > 400 THEN
                RETURN p_start + make_interval(secs => greatest(coalesce(p_seconds, 0), 0));
            END IF;
        END IF;
        v_day := v_day + 1;
        v_days := v_days + 1;
        -- A deadline more than ten years of calendar away says the calendar is wrong (a minute
        -- a week): elapsed time gives the complaint a deadline, and the loop an end.
        IF v_days > 3660 THEN
            RETURN p_start + make_interval(secs => greatest(coalesce(p_seconds, 0), 0));
        END IF;
    END LOOP;
END
$$;

-- Working seconds between two instants in the calendar (elapsed seconds without one).
CREATE FUNCTION sla_working_seconds(p_calendar_id INT, p_from TIMESTAMPTZ, p_to TIMESTAMPTZ)
RETURNS DOUBLE PRECISION
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_zone   TEXT := sla_calendar_zone(p_calendar_id);
    v_total  DOUBLE PRECISION := 0;
    v_day    DATE;
    v_last   DATE;
    v_opens  TIME;
    v_closes TIME;
    v_from   TIMESTAMPTZ;
    v_to     TIMESTAMPTZ;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RETURN 0;
    END IF;
    IF v_zone IS NULL THEN
        RETURN extract(epoch FROM p_to - p_from);
    END IF;
    v_day := (p_from AT TIME ZONE v_zone)::DATE;
    v_last := (p_to AT TIME ZONE v_zone)::DATE;
    WHILE v_day <= v_last LOOP
        SELECT h.opens, h.closes INTO v_opens, v_closes
        FROM sla_calendar_hours h
        WHERE h.calendar_id = p_calendar_id AND h.weekday = extract(isodow FROM v_day)
          AND NOT EXISTS (SELECT 1 FROM sla_holidays d
                          WHERE d.calendar_id = p_calendar_id AND d.holiday_date = v_day);
        IF FOUND THEN
            v_from := greatest(p_from, (v_day + v_opens) AT TIME ZONE v_zone);
            v_to := least(p_to, (v_day + v_closes) AT TIME ZONE v_zone);
            IF v_to > v_from THEN
                v_total := v_total + extract(epoch FROM v_to - v_from);
            END IF;
        END IF;
        v_day := v_day + 1;
    END LOOP;
    RETURN v_total;
END
$$;

-- How long a ticket of this category and priority has, in seconds: hours times the factor.
-- A missing category counts as General, a missing priority as Medium.
CREATE FUNCTION sla_durations(p_category_id INT, p_priority_id INT)
RETURNS TABLE (response_seconds DOUBLE PRECISION, resolution_seconds DOUBLE PRECISION)
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
    SELECT (cat.default_response_hours * factor.f * 3600)::DOUBLE PRECISION,
           (cat.default_resolution_hours * factor.f * 3600)::DOUBLE PRECISION
    FROM cat, factor
$$;

-- The seed's calculate_sla_targets, now in a calendar's working time (NULL: 24x7 as before).
DROP FUNCTION calculate_sla_targets(INT, INT, TIMESTAMPTZ);
CREATE FUNCTION calculate_sla_targets(
    p_category_id INT,
    p_priority_id INT,
    p_start TIMESTAMPTZ DEFAULT now(),
    p_calendar_id INT DEFAULT NULL
) RETURNS TABLE (response_target TIMESTAMPTZ, resolution_target TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT sla_add_working_time(p_calendar_id, p_start, d.response_seconds),
           sla_add_working_time(p_calendar_id, p_start, d.resolution_seconds)
    FROM sla_durations(p_category_id, p_priority_id) d
$$;

-- The resolution target as the rules make it: from the start of the resolution clock (the
-- reopening, else sla_start), its duration plus the working time already spent waiting.
CREATE FUNCTION ticket_resolution_target(
    p_category_id INT, p_priority_id INT, p_calendar_id INT, p_clock_start TIMESTAMPTZ, p_paused INTERVAL
) RETURNS TIMESTAMPTZ
LANGUAGE sql STABLE AS $$
    SELECT sla_add_working_time(p_calendar_id, p_clock_start,
                                d.resolution_seconds + extract(epoch FROM coalesce(p_paused, interval '0')))
    FROM sla_durations(p_category_id, p_priority_id) d
$$;

-- Targets on insert, and again when the priority or category changes (ARCHITECTURE 4.3, 4.14).
-- A ticket keeps the calendar its entity had when it was made.
CREATE OR REPLACE FUNCTION set_ticket_sla_targets() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := coalesce(NEW.created_at, now());
    NEW.sla_start := coalesce(NEW.sla_start, NEW.created_at);
    IF TG_OP = 'INSERT' THEN
        NEW.sla_calendar_id := coalesce(NEW.sla_calendar_id, entity_sla_calendar(NEW.entity_id));
        IF NEW.status_id = 3 THEN  -- written straight in as Waiting (an import): paused from now
            NEW.waiting_since := coalesce(NEW.waiting_since, now());
        END IF;
        IF NEW.response_target IS NULL THEN
            NEW.response_target := sla_add_working_time(NEW.sla_calendar_id, NEW.sla_start,
                (SELECT response_seconds FROM sla_durations(NEW.category_id, NEW.priority_id)));
        END IF;
        IF NEW.resolution_target IS NULL THEN
            NEW.resolution_target := ticket_resolution_target(NEW.category_id, NEW.priority_id,
                NEW.sla_calendar_id, coalesce(NEW.resolution_start, NEW.sla_start), NEW.paused);
        END IF;
    ELSIF NEW.priority_id IS DISTINCT FROM OLD.priority_id
          OR NEW.category_id IS DISTINCT FROM OLD.category_id THEN
        -- A re-prioritised ticket gets the deadlines of its new priority, from the same starts.
        NEW.response_target := sla_add_working_time(NEW.sla_calendar_id, NEW.sla_start,
            (SELECT response_seconds FROM sla_durations(NEW.category_id, NEW.priority_id)));
        NEW.resolution_target := ticket_resolution_target(NEW.category_id, NEW.priority_id,
            NEW.sla_calendar_id, coalesce(NEW.resolution_start, NEW.sla_start), NEW.paused);
    END IF;
    RETURN NEW;
END
$$;

-- Status times (ARCHITECTURE 4.11, 4.13): response on leaving Open, resolved and closed times,
-- reopening, and the Waiting pause. Entering Waiting (3) stops the resolution clock; leaving
-- it moves the resolution target out by the working time spent waiting.
CREATE OR REPLACE FUNCTION set_ticket_status_times() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_waited DOUBLE PRECISION;
BEGIN
    IF NEW.status_id IS DISTINCT FROM OLD.status_id THEN
        IF OLD.status_id = 1 AND NEW.responded_at IS NULL THEN   -- first move away from Open
            NEW.responded_at := now();
        END IF;
        IF OLD.status_id = 3 AND OLD.waiting_since IS NOT NULL THEN  -- leaving Waiting
            v_waited := sla_working_seconds(NEW.sla_calendar_id, OLD.waiting_since, now());
            NEW.paused := OLD.paused + make_interval(secs => v_waited);
            NEW.resolution_target := sla_add_working_time(NEW.sla_calendar_id, NEW.resolution_target, v_waited);
            NEW.waiting_since := NULL;
        END IF;
        IF NEW.status_id = 4 AND NEW.resolved_at IS NULL THEN    -- Resolved
            NEW.resolved_at := now();
        END IF;
        IF NEW.status_id = 5 AND NEW.closed_at IS NULL THEN      -- Closed
            NEW.closed_at := now();
        END IF;
        -- Reopening: leaving Resolved or Closed for any other status starts a new resolution
        -- clock, counted from now with the ticket's category, priority and calendar.
        IF NEW.status_id NOT IN (4, 5) AND (OLD.resolved_at IS NOT NULL OR OLD.closed_at IS NOT NULL) THEN
            NEW.resolved_at := NULL;
            NEW.closed_at := NULL;
            NEW.resolution_start := now();
            NEW.paused := interval '0';
            NEW.resolution_target := ticket_resolution_target(NEW.category_id, NEW.priority_id,
                NEW.sla_calendar_id, NEW.resolution_start, NEW.paused);
        END IF;
        IF NEW.status_id = 3 AND NEW.waiting_since IS NULL THEN  -- entering Waiting
            NEW.waiting_since := now();
        END IF;
    END IF;
    RETURN NEW;
END
$$;

-- After a calendar's hours or days off change, the open tickets counted in it get the deadlines
-- the new calendar gives: the response target while nobody has responded, the resolution
-- target while unresolved. Returns how many tickets' deadlines moved.
CREATE FUNCTION sla_recompute_open_targets(p_calendar_id INT) RETURNS INT
LANGUAGE plpgsql AS $$
DECLARE
    v_moved INT;
BEGIN
    WITH fresh AS (
        SELECT t.ticket_id,
               CASE WHEN t.responded_at IS NULL
                    THEN sla_add_working_time(t.sla_calendar_id, t.sla_start,
                             (SELECT response_seconds FROM sla_durations(t.category_id, t.priority_id)))
                    ELSE t.response_target END AS response_target,
               ticket_resolution_target(t.category_id, t.priority_id, t.sla_calendar_id,
                   coalesce(t.resolution_start, t.sla_start), t.paused) AS resolution_target
        FROM tickets t
        WHERE t.sla_calendar_id = p_calendar_id
          AND t.resolved_at IS NULL AND t.closed_at IS NULL
    )
    UPDATE tickets t
    SET response_target = f.response_target, resolution_target = f.resolution_target
    FROM fresh f
    WHERE t.ticket_id = f.ticket_id
      AND (t.response_target IS DISTINCT FROM f.response_target
           OR t.resolution_target IS DISTINCT FROM f.resolution_target);
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    RETURN v_moved;
END
$$;
CREATE INDEX ix_tickets_sla_calendar_open ON tickets (sla_calendar_id)
    WHERE sla_calendar_id IS NOT NULL AND resolved_at IS NULL AND closed_at IS NULL;

-- ---------------------------------------------------------------------------------------
-- 3. Breaches per clock, and the scan
-- ---------------------------------------------------------------------------------------

-- A breach belongs to one run of a clock: the response clock starts at sla_start, the
-- resolution clock at sla_start and again at each reopening. A reopened ticket that misses
-- its new resolution target gets a second row.
ALTER TABLE sla_breaches ADD COLUMN clock_started_at TIMESTAMPTZ;
UPDATE sla_breaches b
SET clock_started_at = CASE
        WHEN b.breach_type = 'resolution_breach' AND t.resolution_start IS NOT NULL
             AND b.expected_time >= t.resolution_start THEN t.resolution_start
        ELSE t.sla_start END
FROM tickets t WHERE t.ticket_id = b.ticket_id;
ALTER TABLE sla_breaches
    ALTER COLUMN clock_started_at SET NOT NULL,
    DROP CONSTRAINT uq_sla_breaches_ticket_type,
    ADD CONSTRAINT uq_sla_breaches_ticket_type_clock UNIQUE (ticket_id, breach_type, clock_started_at);
COMMENT ON COLUMN sla_breaches.clock_started_at IS
    'When the clock this breach belongs to started: sla_start, or the reopening for a later '
    'resolution clock. One breach per ticket, type and clock.';

-- A breach written straight into the table (an import, a report tool) belongs to the clock
-- running now: the response clock, or the current resolution clock.
CREATE FUNCTION set_breach_clock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.clock_started_at IS NULL THEN
        NEW.clock_started_at := (
            SELECT CASE WHEN NEW.breach_type = 'resolution_breach'
                        THEN coalesce(t.resolution_start, t.sla_start) ELSE t.sla_start END
            FROM tickets t WHERE t.ticket_id = NEW.ticket_id);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER trg_set_breach_clock
    BEFORE INSERT ON sla_breaches
    FOR EACH ROW WHEN (NEW.clock_started_at IS NULL) EXECUTE FUNCTION set_breach_clock();

DROP FUNCTION record_sla_breach(INT, VARCHAR, TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ);
-- Records a breach once per (ticket, type, clock). Later calls only complete it: the actual time
-- once it is known, the hours overdue as they grow, and escalation, which never reverts. The
-- existing row is updated first and a row inserted only when there is none: an INSERT ... ON
-- CONFLICT takes an id from the sequence even when it conflicts, and this runs on every update
-- of an overdue ticket.
CREATE FUNCTION record_sla_breach(
    p_ticket_id INT,
    p_breach_type VARCHAR,
    p_clock_started_at TIMESTAMPTZ,
    p_expected TIMESTAMPTZ,
    p_actual TIMESTAMPTZ,
    p_as_of TIMESTAMPTZ
) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_overdue INTERVAL := coalesce(p_actual, p_as_of) - p_expected;
    v_hours INT := floor(extract(epoch FROM v_overdue) / 3600);
    v_escalates BOOLEAN := sla_breach_escalates(p_breach_type, v_overdue);
BEGIN
    PERFORM 1 FROM sla_breaches b
    WHERE b.ticket_id = p_ticket_id AND b.breach_type = p_breach_type
      AND b.clock_started_at = p_clock_started_at;
    IF FOUND THEN
        UPDATE sla_breaches b
        SET actual_time = coalesce(b.actual_time, p_actual),
            hours_overdue = greatest(b.hours_overdue, v_hours),
            escalated = b.escalated OR v_escalates
        WHERE b.ticket_id = p_ticket_id AND b.breach_type = p_breach_type
          AND b.clock_started_at = p_clock_started_at
          AND b.actual_time IS NULL
          AND (p_actual IS NOT NULL OR v_hours > b.hours_overdue OR (v_escalates AND NOT b.escalated));
        RETURN;
    END IF;
    -- None yet; another transaction may be writing the same one (the scan): theirs stands,
    -- and ours completes it.
    INSERT INTO sla_breaches AS b (ticket_id, breach_type, clock_started_at, expected_time, actual_time,
                                   hours_overdue, escalated)
    VALUES (p_ticket_id, p_breach_type, p_clock_started_at, p_expected, p_actual, v_hours, v_escalates)
    ON CONFLICT (ticket_id, breach_type, clock_started_at) DO UPDATE
        SET actual_time = coalesce(b.actual_time, EXCLUDED.actual_time),
            hours_overdue = greatest(b.hours_overdue, EXCLUDED.hours_overdue),
            escalated = b.escalated OR EXCLUDED.escalated
        WHERE b.actual_time IS NULL;
END
$$;

-- Checks one ticket against its targets as of p_as_of and records what is breached. While the
-- ticket waits, its resolution clock reads the moment it started waiting.
CREATE OR REPLACE FUNCTION check_ticket_sla(t tickets, p_as_of TIMESTAMPTZ) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_done BOOLEAN := t.status_id IN (4, 5);   -- Resolved, Closed
    -- A ticket closed without passing through Resolved stopped its resolution clock then.
    v_resolved TIMESTAMPTZ := coalesce(t.resolved_at, t.closed_at);
    -- A done ticket with no response time (an import) was answered when it was done.
    v_responded TIMESTAMPTZ := coalesce(t.responded_at, CASE WHEN v_done THEN v_resolved END);
    v_resolution_clock TIMESTAMPTZ := coalesce(t.resolution_start, t.sla_start);
    -- What each clock reads: when it stopped, or now (a waiting ticket's resolution clock: when
    -- the wait began). NULL: a done ticket with no time to read, which is not judged.
    v_response_reads TIMESTAMPTZ := CASE WHEN v_responded IS NOT NULL THEN v_responded
                                         WHEN NOT v_done THEN p_as_of END;
    v_resolution_reads TIMESTAMPTZ := CASE WHEN v_resolved IS NOT NULL THEN v_resolved
                                           WHEN NOT v_done THEN least(p_as_of, coalesce(t.waiting_since, p_as_of)) END;
BEGIN
    IF t.response_target IS NOT NULL AND v_response_reads > t.response_target THEN
        PERFORM record_sla_breach(t.ticket_id, 'response_breach', t.sla_start, t.response_target,
                                  v_responded, p_as_of);
    ELSIF v_responded IS NOT NULL THEN
        -- Met a target that moved (priority lowered) after a breach was recorded: that
        -- breach still ends here rather than running for ever.
        UPDATE sla_breaches b SET actual_time = v_responded
        WHERE b.ticket_id = t.ticket_id AND b.breach_type = 'response_breach' AND b.actual_time IS NULL;
    END IF;
    IF t.resolution_target IS NOT NULL AND v_resolution_reads > t.resolution_target THEN
        PERFORM record_sla_breach(t.ticket_id, 'resolution_breach', v_resolution_clock,
                                  t.resolution_target, v_resolved, v_resolution_reads);
    ELSIF v_resolved IS NOT NULL THEN
        UPDATE sla_breaches b SET actual_time = v_resolved
        WHERE b.ticket_id = t.ticket_id AND b.breach_type = 'resolution_breach' AND b.actual_time IS NULL;
    END IF;
END
$$;

-- The scan (gea-server sla-scan): every running breach of an open ticket recorded once per
-- clock, or brought up to date (hours overdue, escalation), in one statement. Only what has
-- happened is recorded: p_as_of is capped at now(). Returns what it changed.
-- Recorded breaches are updated, and only missing ones inserted: an INSERT ... ON CONFLICT
-- would take an id from the sequence for every running breach at every scan, and a scan every
-- minute over tens of thousands of them would exhaust an INT within weeks.
CREATE FUNCTION record_sla_breaches(p_as_of TIMESTAMPTZ DEFAULT now())
RETURNS TABLE (new_breaches INT, new_escalations INT, updated INT)
LANGUAGE plpgsql AS $$
DECLARE
    v_as_of TIMESTAMPTZ := least(p_as_of, now());
BEGIN
    RETURN QUERY
    WITH running AS (
        SELECT r.ticket_id, r.breach_type, r.clock, r.expected,
               floor(extract(epoch FROM r.clock_reads - r.expected) / 3600)::INT AS hours,
               sla_breach_escalates(r.breach_type, r.clock_reads - r.expected) AS escalates
        FROM (
            SELECT t.ticket_id, 'response_breach'::VARCHAR AS breach_type, t.sla_start AS clock,
                   t.response_target AS expected, v_as_of AS clock_reads
            FROM tickets t
            WHERE t.responded_at IS NULL AND t.response_target < v_as_of
              AND t.status_id NOT IN (4, 5)
            UNION ALL
            SELECT t.ticket_id, 'resolution_breach', coalesce(t.resolution_start, t.sla_start),
                   t.resolution_target, least(v_as_of, coalesce(t.waiting_since, v_as_of))
            FROM tickets t
            WHERE t.resolved_at IS NULL AND t.closed_at IS NULL AND t.status_id NOT IN (4, 5)
              AND t.resolution_target < least(v_as_of, coalesce(t.waiting_since, v_as_of))
        ) AS r
    ),
    -- Recorded breaches whose hours or escalation moved on. `was` is the row as this statement
    -- found it (every CTE sees the same snapshot), for counting the escalations made here; the
    -- conditions read the row itself, which PostgreSQL reads again if another transaction
    -- changed it meanwhile (a ticket resolved that very moment has completed its breach).
    updated AS (
        UPDATE sla_breaches b
        SET hours_overdue = greatest(b.hours_overdue, r.hours),
            escalated = b.escalated OR r.escalates
        FROM running r
        JOIN sla_breaches was
          ON (was.ticket_id, was.breach_type, was.clock_started_at) = (r.ticket_id, r.breach_type, r.clock)
        WHERE b.breach_id = was.breach_id
          AND b.actual_time IS NULL
          AND (r.hours > b.hours_overdue OR (r.escalates AND NOT b.escalated))
        RETURNING b.escalated AND NOT was.escalated AS escalated_now
    ),
    missing AS (
        SELECT r.* FROM running r
        WHERE NOT EXISTS (
            SELECT 1 FROM sla_breaches was
            WHERE (was.ticket_id, was.breach_type, was.clock_started_at) = (r.ticket_id, r.breach_type, r.clock))
    ),
    -- The tickets about to get a new breach, locked and read as they are now: one an officer is
    -- answering or resolving at this very moment is skipped (the next scan sees how it ended,
    -- and an answer in time leaves no breach behind), and one changed since this statement
    -- began is judged by its new version.
    still AS (
        SELECT t.ticket_id, t.status_id, t.responded_at, t.resolved_at, t.closed_at, t.waiting_since,
               t.response_target, t.resolution_target, coalesce(t.resolution_start, t.sla_start) AS clock
        FROM tickets t
        WHERE t.ticket_id IN (SELECT m.ticket_id FROM missing m)
        FOR SHARE SKIP LOCKED
    ),
    inserted AS (
        INSERT INTO sla_breaches (ticket_id, breach_type, clock_started_at, expected_time,
                                  hours_overdue, escalated)
        SELECT m.ticket_id, m.breach_type, m.clock, m.expected, m.hours, m.escalates
        FROM missing m
        JOIN still s ON s.ticket_id = m.ticket_id
        WHERE s.status_id NOT IN (4, 5)
          AND CASE m.breach_type
                  WHEN 'response_breach' THEN s.responded_at IS NULL AND s.response_target = m.expected
                  ELSE s.resolved_at IS NULL AND s.closed_at IS NULL AND s.resolution_target = m.expected
                       AND s.clock = m.clock AND (s.waiting_since IS NULL OR s.waiting_since > m.expected)
              END
        ORDER BY m.ticket_id, m.breach_type   -- one lock order for every writer
        -- A breach another transaction wrote meanwhile stands; the next scan brings it up to date.
        ON CONFLICT (ticket_id, breach_type, clock_started_at) DO NOTHING
        RETURNING escalated
    )
    SELECT (SELECT count(*) FROM inserted)::INT,
           ((SELECT count(*) FROM inserted WHERE inserted.escalated)
            + (SELECT count(*) FROM updated WHERE updated.escalated_now))::INT,
           (SELECT count(*) FROM updated)::INT;
END
$$;

-- The seed's detect_sla_breaches(): records (as the scan does) and reports every breach still
-- running at p_as_of; a p_as_of in the future is a forecast, reported but not recorded.
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
BEGIN
    PERFORM record_sla_breaches(p_as_of);
    RETURN QUERY
        SELECT tk.ticket_id, tk.ticket_number, x.breach_type, x.expected_time,
               floor(extract(epoch FROM x.clock_reads - x.expected_time) / 3600)::INT,
               sla_breach_escalates(x.breach_type, x.clock_reads - x.expected_time)
        FROM tickets tk
        CROSS JOIN LATERAL (VALUES
            ('response_breach'::VARCHAR, tk.response_target, tk.responded_at IS NULL, p_as_of),
            ('resolution_breach'::VARCHAR, tk.resolution_target,
             tk.resolved_at IS NULL AND tk.closed_at IS NULL, least(p_as_of, coalesce(tk.waiting_since, p_as_of)))
        ) AS x (breach_type, expected_time, running, clock_reads)
        WHERE x.running AND x.expected_time < x.clock_reads AND tk.status_id NOT IN (4, 5)
        ORDER BY x.expected_time, tk.ticket_id, x.breach_type;
END
$$;

-- v_active_tickets_sla: a waiting ticket's resolution clock is paused, so it is on track or
-- breached as of the moment it started waiting, and its hours to the deadline stand still.
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
    CASE WHEN least(now(), coalesce(t.waiting_since, now())) > t.resolution_target
         THEN 'breached' ELSE 'on_track' END AS resolution_status,
    -- Hours to the next deadline still ahead of the ticket; negative when it is overdue.
    round(extract(epoch FROM
        CASE WHEN t.responded_at IS NULL THEN t.response_target - now()
             ELSE t.resolution_target - least(now(), coalesce(t.waiting_since, now())) END
        ) / 3600, 2) AS hours_until_deadline
FROM tickets t
JOIN service_master s ON s.service_id = t.service_id
JOIN priority_levels p ON p.priority_id = t.priority_id
JOIN ticket_status st ON st.status_id = t.status_id
WHERE t.status_id NOT IN (4, 5);

-- ---------------------------------------------------------------------------------------
-- 4. Scheduled jobs
-- ---------------------------------------------------------------------------------------

COMMENT ON COLUMN priority_levels.sla_multiplier IS
    'Time factor, applied by multiplication: the target is category hours * sla_multiplier after '
    'sla_start, in the ticket''s SLA calendar''s working time (24x7 without one). Critical 0.50 '
    '(half the time), High 0.75, Medium 1.00, Low 1.50 (ARCHITECTURE 4.3, 4.14).';

CREATE TABLE scheduled_jobs (
    job               VARCHAR(30) NOT NULL,
    last_started_at   TIMESTAMPTZ,
    last_finished_at  TIMESTAMPTZ,
    last_outcome      TEXT,
    CONSTRAINT pk_scheduled_jobs PRIMARY KEY (job)
);
COMMENT ON TABLE scheduled_jobs IS
    'When serve''s scheduler (GEA_SERVER_SCHEDULER=on) last ran each job, and how it went.';

-- ---------------------------------------------------------------------------------------
-- 5. Upgrading a running deployment
-- ---------------------------------------------------------------------------------------

-- Tickets already waiting are paused from the upgrade on.
UPDATE tickets SET waiting_since = now() WHERE status_id = 3 AND waiting_since IS NULL;

-- The triggers of a ticket now queue its events and read the calendars, with the rights of
-- whoever writes the ticket. A role that may already write tickets (the API's, given the
-- grants of docs/operations.md before this version) gets what that now takes, so that kiosks'
-- complaints keep arriving the moment the upgrade commits; `gea-server migrate` says so.
DO $$
DECLARE
    v_role TEXT;
BEGIN
    FOR v_role IN
        SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
        WHERE g.table_schema = current_schema() AND g.table_name = 'tickets'
          AND g.privilege_type IN ('INSERT', 'UPDATE') AND g.grantee <> 'PUBLIC'
          AND NOT pg_has_role(g.grantee, (SELECT tableowner FROM pg_tables
                                          WHERE schemaname = current_schema() AND tablename = 'tickets'),
                              'MEMBER')
        ORDER BY 1
    LOOP
        EXECUTE format('GRANT INSERT ON notification_outbox, osticket_outbox TO %I', v_role);
        EXECUTE format('GRANT SELECT ON sla_calendars, sla_calendar_hours, sla_holidays TO %I', v_role);
        RAISE NOTICE USING ERRCODE = '01GEA', MESSAGE = format(
            'role %s writes tickets, whose triggers now queue notifications and read SLA calendars: '
            'granted it INSERT on notification_outbox and osticket_outbox and SELECT on the calendar '
            'tables (docs/operations.md lists the grants the scheduler needs besides)', v_role);
    END LOOP;
END
$$;
