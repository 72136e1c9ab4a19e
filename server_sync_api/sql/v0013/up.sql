-- feedback_db, version 0013: the entity queue at a year of data (issue 16).
--
-- v_entity_ticket_queue reads every active ticket (about 15,000 at 1,000,000 feedback rows a
-- year) and probes sla_breaches once for each. Through the desk's index it fetched each of
-- those tickets from the heap, one page apiece (8,200 pages, about 40 ms of the query on a
-- 2-core server). This partial index holds exactly the columns the view reads of an active
-- ticket, in entity order, so it is read index-only: about 90 pages, in the order the view
-- groups by. Active means every status but Resolved and Closed (ids 4 and 5), as the view,
-- the desk's queue (ix_tickets_desk_open) and the status trigger have it; the WHERE must stay
-- that text or the planner will not match it. It costs one more index entry per ticket made.
CREATE INDEX ix_tickets_active_by_entity ON tickets (entity_id)
    INCLUDE (ticket_id, priority_id, created_at)
    WHERE status_id NOT IN (4, 5);

-- PostgreSQL compiles a query to machine code (JIT) when its estimated cost passes
-- jit_above_cost, whatever it will really take. The entity queue's 15,000 index probes are
-- estimated high and run in tens of milliseconds, and compiling them took 15-35 ms more, a
-- third of the query. None of this database's queries is the long analytic scan JIT pays for
-- (docs/scaling.md sends those to a replica or an analytics store), so it is off for every
-- session of this database. An administrator can turn it back on for a role or a session
-- (ALTER ROLE ... SET jit = on). A database that already has a jit setting of its own keeps it.
-- Only a role with the owner's rights (or a superuser) may set it; any other role that
-- migrates is told what to run instead. USAGE, not MEMBER: a member that does not inherit the
-- owner's rights (NOINHERIT) may not ALTER the database, and the migration would fail.
DO $$
BEGIN
    IF EXISTS (
        SELECT FROM pg_db_role_setting s, unnest(s.setconfig) AS c (setting)
        WHERE s.setrole = 0 AND c.setting LIKE 'jit=%'
          AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    ) THEN
        -- 01GEA: a notice `gea-server migrate` shows the operator (migrate.OPERATOR_NOTICE).
        RAISE NOTICE 'this database has a jit setting of its own, which is kept (feedback_db runs best with jit = off)'
            USING ERRCODE = '01GEA';
    ELSIF pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
    THEN
        EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    ELSE
        RAISE NOTICE 'only the database''s owner may turn off JIT compilation for it, which feedback_db runs best without: as the owner, run "ALTER DATABASE % SET jit = off"',
            quote_ident(current_database()) USING ERRCODE = '01GEA';
    END IF;
END
$$;
