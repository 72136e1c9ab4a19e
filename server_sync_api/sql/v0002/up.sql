-- feedback_db, version 0002: a kiosk's last error travels with its heartbeat.
--
-- The kiosk sends its current error (a short code and a short message, nothing personal) in
-- every device_status, so `gea-server devices list` shows a failing printer or a full disk
-- without anyone visiting the office (ARCHITECTURE 5, "Submit a batch"). The three columns are
-- nullable and have no default, so adding them rewrites nothing: existing kiosks read as
-- "no error reported".

ALTER TABLE kiosk_devices
    ADD COLUMN last_error_code     VARCHAR(50),
    ADD COLUMN last_error_message  VARCHAR(300),
    ADD COLUMN last_error_at       TIMESTAMPTZ,
    -- The same snake_case form as the API's own error codes, so monitoring can match on it.
    ADD CONSTRAINT ck_kiosk_devices_last_error_code_format
        CHECK (last_error_code ~ '^[a-z][a-z0-9_]*$'),
    -- An error is all three or none: the fleet view never shows a code without its age.
    ADD CONSTRAINT ck_kiosk_devices_last_error_complete CHECK (
        (last_error_code IS NULL) = (last_error_message IS NULL)
        AND (last_error_code IS NULL) = (last_error_at IS NULL)
    );

COMMENT ON COLUMN kiosk_devices.last_error_code IS
    'The error the kiosk reported in its latest device_status (snake_case, e.g. disk_full, '
    'printer_offline); NULL when its latest device_status carried none.';
COMMENT ON COLUMN kiosk_devices.last_error_message IS
    'The kiosk''s short message for last_error_code, for IT; never personal data.';
COMMENT ON COLUMN kiosk_devices.last_error_at IS
    'Server time when the kiosk first reported last_error_code: kept while it keeps reporting '
    'the same code, reset when the code changes, NULL when the error is cleared.';
