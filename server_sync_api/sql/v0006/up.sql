-- feedback_db, version 0006: the public channel (issue 15). Phones that scan a QR poster and
-- the web portal submit without a device; the server makes their references, limits them per
-- hashed address (ARCHITECTURE 4.10) with a CAPTCHA from the third in an hour, and throttles
-- look-ups of the status pages per address (ARCHITECTURE 5).

-- WEB-NNNNNN-XXXXXXXX: the server's references for phone and portal feedback (ARCHITECTURE
-- 6). The number is only for reading aloud; the 8 random characters make it unguessable.
-- A sequence may skip numbers (a rolled-back submission); references need no contiguity.
CREATE SEQUENCE web_reference_seq AS INT MINVALUE 1 NO CYCLE;
COMMENT ON SEQUENCE web_reference_seq IS
    'The number in WEB-NNNNNN-XXXXXXXX references of phone and portal feedback; gaps are harmless.';

-- Per-address throttles read the security log by kind and address over the last minutes
-- (the status look-up throttle counts misses, the enrollment throttle failures).
CREATE INDEX idx_attempts_type_address_created
    ON submission_attempts (attempt_type, ip_address, created_at);

-- A challenge is looked up by its code (unique) and purged by expiry.
CREATE INDEX idx_captcha_expires ON captcha_challenges (expires_at);

-- One active poster per service and place: `gea-server qr-poster` reuses it.
CREATE INDEX idx_qr_service_location ON qr_codes (service_id, location) WHERE is_active;

COMMENT ON TABLE captcha_challenges IS
    'ALTCHA challenges issued to an address (its HMAC), single use and valid 30 minutes: '
    'validate_captcha marks one solved exactly once. challenge_code is the challenge''s nonce.';
COMMENT ON COLUMN qr_codes.scan_count IS
    'Times the public form at /q/<qr_code_value> was opened (a page view, not a submission).';

-- Upgrading a running deployment: a role that already takes submissions (the API's) gets what
-- the public channel needs, so the form works the moment the upgrade commits; `gea-server
-- migrate` says so.
DO $$
DECLARE
    v_role TEXT;
BEGIN
    FOR v_role IN
        SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
        WHERE g.table_schema = current_schema() AND g.table_name = 'service_feedback'
          AND g.privilege_type = 'INSERT' AND g.grantee <> 'PUBLIC'
          AND NOT pg_has_role(g.grantee, (SELECT tableowner FROM pg_tables
                                          WHERE schemaname = current_schema()
                                            AND tablename = 'service_feedback'),
                              'MEMBER')
        ORDER BY 1
    LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE web_reference_seq TO %I', v_role);
        EXECUTE format('GRANT SELECT, INSERT ON submission_rate_limit, submission_attempts TO %I', v_role);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON captcha_challenges TO %I', v_role);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON qr_codes TO %I', v_role);
        RAISE NOTICE USING ERRCODE = '01GEA', MESSAGE = format(
            'role %s takes submissions, and now takes the public form''s too: granted it USAGE on '
            'web_reference_seq, SELECT and INSERT on submission_rate_limit and submission_attempts, '
            'SELECT, INSERT and UPDATE on captcha_challenges and qr_codes '
            '(docs/operations.md)', v_role);
    END LOOP;
END
$$;
