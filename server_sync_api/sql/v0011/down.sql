-- feedback_db, version 0011 down: the service-only key again.
ALTER TABLE service_feedback
    ADD CONSTRAINT fk_service_feedback_service FOREIGN KEY (service_id)
        REFERENCES service_master (service_id);
