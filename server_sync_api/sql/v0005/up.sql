-- feedback_db, version 0005: SLAs that run on their own (issue 14).
--
-- 1. Outboxes, filled by triggers in the transaction of the event they report: mail to officers
--    (notification_outbox, sent by `gea-server notify`) and, when enabled, new tickets for the
--    ministry's osTicket (osticket_outbox, sent by `gea-server osticket-push`).
-- 2. SLA calendars: working hours per weekday, holidays and closures, per entity or inherited;
--    targets in working time, and time spent in "Waiting" pauses the resolution clock.
-- 3. Breaches per clock: a reopened ticket's second resolution breach gets its own row, and the
--    scan is one set-based statement.
-- 4. scheduled_jobs: when each scheduled job last ran, so one runner across hosts runs each once.

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

-- ---------------------------------------------------------------------------------------
-- 4. Scheduled jobs
-- ---------------------------------------------------------------------------------------

CREATE TABLE scheduled_jobs (
    job               VARCHAR(30) NOT NULL,
    last_started_at   TIMESTAMPTZ,
    last_finished_at  TIMESTAMPTZ,
    last_outcome      TEXT,
    CONSTRAINT pk_scheduled_jobs PRIMARY KEY (job)
);
COMMENT ON TABLE scheduled_jobs IS
    'When serve''s scheduler (GEA_SERVER_SCHEDULER=on) last ran each job, and how it went.';
