-- feedback_db, version 0006 down: back to 0005. Phone and portal submissions stay (their
-- references are ordinary reference codes); only their sequence and the indexes go. Grants
-- the upgrade gave stay: they name tables that remain.
DROP INDEX IF EXISTS idx_qr_service_location;
DROP INDEX IF EXISTS idx_captcha_expires;
DROP INDEX IF EXISTS idx_attempts_type_address_created;
DROP SEQUENCE IF EXISTS web_reference_seq;
COMMENT ON TABLE captcha_challenges IS NULL;
COMMENT ON COLUMN qr_codes.scan_count IS NULL;
