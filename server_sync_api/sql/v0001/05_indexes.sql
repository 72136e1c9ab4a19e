-- feedback_db, version 0001: indexes (seed sections 3 and 10.2).
--
-- Seed names are kept. Unique constraints already index ticket_number, client_uuid,
-- reference_code and (ticket_id, breach_type), so the seed's idx_ticket_number is that
-- constraint's index rather than a second copy. BRIN serves the append-mostly timestamp
-- columns of the large tables; B-tree the lookups; a trigram GIN index the service search.

CREATE INDEX idx_entity_active ON entity_master (is_active);
CREATE INDEX idx_entity_type ON entity_master (entity_type);
CREATE INDEX idx_entity_parent ON entity_master (parent_entity_id);

CREATE INDEX idx_service_active ON service_master (is_active);
CREATE INDEX idx_service_entity ON service_master (entity_id);
CREATE INDEX idx_service_name_trgm ON service_master USING gin (service_name gin_trgm_ops);

CREATE INDEX idx_category_entity ON ticket_categories (entity_id);

CREATE INDEX idx_kiosk_devices_entity ON kiosk_devices (entity_id);

CREATE INDEX idx_qr_service ON qr_codes (service_id);
CREATE INDEX idx_qr_entity ON qr_codes (entity_id);

CREATE INDEX idx_feedback_service ON service_feedback (service_id);
CREATE INDEX idx_feedback_entity ON service_feedback (entity_id);
CREATE INDEX idx_feedback_rating ON service_feedback (rating);
CREATE INDEX idx_feedback_grievance ON service_feedback (grievance_flag) WHERE grievance_flag;
CREATE INDEX idx_feedback_created ON service_feedback USING brin (created_at);
CREATE INDEX idx_feedback_qr_code ON service_feedback (qr_code_id) WHERE qr_code_id IS NOT NULL;
CREATE INDEX idx_feedback_device ON service_feedback (device_id) WHERE device_id IS NOT NULL;

CREATE INDEX idx_rate_limit_ip_window ON submission_rate_limit (ip_hash, window_start);
CREATE INDEX idx_rate_limit_created ON submission_rate_limit USING brin (created_at);

CREATE INDEX idx_ticket_status ON tickets (status_id);
CREATE INDEX idx_ticket_entity ON tickets (entity_id);
CREATE INDEX idx_ticket_priority ON tickets (priority_id);
CREATE INDEX idx_ticket_assigned_to ON tickets (assigned_to) WHERE assigned_to IS NOT NULL;
CREATE INDEX idx_ticket_created ON tickets USING brin (created_at);
CREATE INDEX idx_ticket_service ON tickets (service_id);
CREATE INDEX idx_ticket_category ON tickets (category_id);
-- detect_sla_breaches() looks only at tickets still waiting for a response or resolution.
CREATE INDEX idx_ticket_open_response ON tickets (response_target) WHERE responded_at IS NULL;
CREATE INDEX idx_ticket_open_resolution ON tickets (resolution_target)
    WHERE resolved_at IS NULL AND closed_at IS NULL;

CREATE INDEX idx_activity_ticket ON ticket_activities (ticket_id);
CREATE INDEX idx_activity_type ON ticket_activities (activity_type);
CREATE INDEX idx_activity_created ON ticket_activities USING brin (created_at);
CREATE INDEX idx_activity_archive_ticket ON ticket_activities_archive (ticket_id);

CREATE INDEX idx_notes_ticket ON ticket_notes (ticket_id);

CREATE INDEX idx_breach_open ON sla_breaches (ticket_id) WHERE actual_time IS NULL;

CREATE INDEX idx_attempts_created ON submission_attempts USING brin (created_at);

CREATE INDEX idx_captcha_ip ON captcha_challenges (ip_hash);
