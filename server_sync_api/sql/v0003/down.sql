-- feedback_db, version 0003 downgrade: statuses lose their code (the API of 0002 derives it
-- from the name again).

ALTER TABLE ticket_status DROP COLUMN status_code;
