-- feedback_db, version 0002 downgrade: back to version 0001's kiosk_devices. The columns'
-- comments go with the columns.

ALTER TABLE kiosk_devices
    DROP CONSTRAINT IF EXISTS ck_kiosk_devices_last_error_complete,
    DROP CONSTRAINT IF EXISTS ck_kiosk_devices_last_error_code_format,
    DROP COLUMN IF EXISTS last_error_at,
    DROP COLUMN IF EXISTS last_error_message,
    DROP COLUMN IF EXISTS last_error_code;
