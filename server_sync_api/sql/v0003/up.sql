-- feedback_db, version 0003: ticket statuses get a stable code.
--
-- The API and the citizen's status page said a ticket's status as its display name in
-- snake_case (lower(replace(status_name, ' ', '_'))), so renaming a status for the people who
-- read it ("In Progress" to "Being worked on", a translation) changed what the API returned and
-- what clients match on. The code is data now: set once, never derived from the name again.
-- The seed's six statuses (ids 1-6) get the codes they always had; a status an administrator
-- added gets its name in snake_case, or status_<id> when that is not a usable code.

ALTER TABLE ticket_status ADD COLUMN status_code VARCHAR(30);

UPDATE ticket_status t
SET status_code = named.code
FROM (
    SELECT status_id,
           CASE
               WHEN status_id BETWEEN 1 AND 6 THEN
                   (ARRAY['open', 'in_progress', 'waiting', 'resolved', 'closed', 'reopened'])[status_id]
               WHEN derived ~ '^[a-z][a-z0-9_]{0,29}$'
                    AND derived NOT IN ('open', 'in_progress', 'waiting', 'resolved', 'closed', 'reopened')
                    AND count(*) OVER (PARTITION BY derived) = 1 THEN derived
               ELSE 'status_' || status_id
           END AS code
    FROM (
        SELECT status_id,
               trim(BOTH '_' FROM lower(regexp_replace(status_name, '[^A-Za-z0-9]+', '_', 'g'))) AS derived
        FROM ticket_status
    ) AS raw
) AS named
WHERE named.status_id = t.status_id;

ALTER TABLE ticket_status
    ALTER COLUMN status_code SET NOT NULL,
    ADD CONSTRAINT uq_ticket_status_code UNIQUE (status_code),
    -- The same snake_case form as the API's other codes.
    ADD CONSTRAINT ck_ticket_status_code_format CHECK (status_code ~ '^[a-z][a-z0-9_]*$');

COMMENT ON COLUMN ticket_status.status_code IS
    'Stable code the API and the status page use (open, in_progress, ...); rename status_name freely.';
