-- feedback_db, version 0005 down: back to 0004.
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
