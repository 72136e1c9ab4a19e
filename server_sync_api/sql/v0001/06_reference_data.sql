-- feedback_db, version 0001: reference data (seed 3.1.3, 3.3.2; ARCHITECTURE 4.3, 4.6).

INSERT INTO app_settings (singleton) VALUES (TRUE);

-- The root that owns the General category every service can fall back to.
INSERT INTO entity_master (unique_entity_id, entity_name, entity_type, parent_entity_id)
VALUES ('GOV-000', 'Government of Grenada', 'MIN', NULL);

INSERT INTO ticket_categories (category_name, entity_id, default_response_hours, default_resolution_hours)
VALUES ('General', 'GOV-000', 4, 72);

INSERT INTO ticket_status (status_id, status_name, status_order, color) VALUES
    (1, 'Open', 1, 'red'),
    (2, 'In Progress', 2, 'yellow'),
    (3, 'Waiting', 3, 'orange'),
    (4, 'Resolved', 4, 'green'),
    (5, 'Closed', 5, 'gray'),
    (6, 'Reopened', 2, 'purple');

INSERT INTO priority_levels (priority_id, priority_name, priority_order, sla_multiplier) VALUES
    (1, 'Critical', 1, 0.50),
    (2, 'High', 2, 0.75),
    (3, 'Medium', 3, 1.00),
    (4, 'Low', 4, 1.50);
