-- feedback_db, version 0001 downgrade: removes everything version 0001 created.
-- Views first, then tables (their triggers go with them), then functions and extensions.

DROP VIEW IF EXISTS v_daily_ticket_stats, v_qr_performance, v_entity_ticket_queue,
    v_active_tickets_sla, v_service_performance;

-- These take a table's row type as their argument, so they must go before the tables.
DROP FUNCTION IF EXISTS check_ticket_sla(tickets, TIMESTAMPTZ);
DROP FUNCTION IF EXISTS insert_ticket_for_feedback(service_feedback);

DROP TABLE IF EXISTS
    captcha_challenges, submission_attempts, sla_breaches, ticket_notes,
    ticket_activities_archive, ticket_activities, ticket_number_counters, tickets,
    submission_rate_limit, service_feedback, qr_codes, kiosk_devices, ticket_categories,
    ticket_status, priority_levels, service_master, entity_master, app_settings;

DROP SEQUENCE IF EXISTS kiosk_device_code_seq;

DROP FUNCTION IF EXISTS
    app_timezone(), validate_app_settings(), set_created_at(), set_updated_at(),
    refuse_entity_cycle(), service_category_chain(VARCHAR), default_category_for_service(VARCHAR),
    validate_feedback(), generate_ticket_number(TIMESTAMPTZ), assign_ticket_number(),
    calculate_sla_targets(INT, INT, TIMESTAMPTZ), feedback_sla_start(TIMESTAMPTZ, INT, TIMESTAMPTZ),
    set_ticket_sla_targets(), create_ticket_from_feedback(INT), after_feedback_insert(),
    set_ticket_status_times(), current_actor(), log_ticket_activity(),
    refuse_ticket_activity_change(), refuse_ticket_delete(), archive_ticket_activities(INTERVAL),
    sla_breach_escalates(VARCHAR, INTERVAL),
    record_sla_breach(INT, VARCHAR, TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ),
    check_sla_breach(), detect_sla_breaches(TIMESTAMPTZ),
    check_rate_limit(VARCHAR, INT, INT), requires_captcha(VARCHAR, INT),
    validate_captcha(VARCHAR, VARCHAR);

DROP EXTENSION IF EXISTS pg_trgm;
DROP EXTENSION IF EXISTS pgcrypto;
DROP EXTENSION IF EXISTS "uuid-ossp";
