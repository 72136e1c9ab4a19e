-- feedback_db, version 0013 down: no index of active tickets by entity; JIT as the server has
-- it. The database's jit = off is reset (0013 cannot tell one it set from one an administrator
-- set before it, which it kept); a role without the owner's rights is told what to run.
DROP INDEX IF EXISTS ix_tickets_active_by_entity;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_db_role_setting s, unnest(s.setconfig) AS c (setting)
        WHERE s.setrole = 0 AND c.setting = 'jit=off'
          AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    ) THEN
        NULL;  -- nothing of 0013's to undo
    ELSIF pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
    THEN
        EXECUTE format('ALTER DATABASE %I RESET jit', current_database());
    ELSE
        -- 01GEA: a notice `gea-server migrate` shows the operator (migrate.OPERATOR_NOTICE).
        RAISE NOTICE 'only the database''s owner may turn JIT compilation back on for it: as the owner, run "ALTER DATABASE % RESET jit"',
            quote_ident(current_database()) USING ERRCODE = '01GEA';
    END IF;
END
$$;
