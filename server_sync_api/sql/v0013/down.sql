-- feedback_db, version 0013 down: no index of active tickets by entity; JIT as the server has it.
DROP INDEX IF EXISTS ix_tickets_active_by_entity;

DO $$
BEGIN
    IF pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'MEMBER')
    THEN
        EXECUTE format('ALTER DATABASE %I RESET jit', current_database());
    END IF;
END
$$;
