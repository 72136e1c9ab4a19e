-- feedback_db, version 0010: ticket counts per day, kept by the triggers (issue 16).
--
-- v_daily_ticket_stats grouped every ticket three times (by the day it was created, closed and
-- resolved) on each call: 0.4-0.6 s at a year of a national volume (300,000 tickets,
-- bench/analytics.py), and a dashboard's "last 30 days" cost as much as the whole year, since
-- the day is only known after the zone conversion. ticket_day_deltas holds what each change
-- did to each day's counts, written in the same transaction as the tickets and breaches it
-- counts, so the view sums a few rows per day and is as current as the rows themselves.
--
-- Append-only, never updated in place: a first version kept one row per day and upserted it,
-- and every ticket made that day then waited for any open transaction that had made one (an
-- officer's, an import) to end. Each statement adds its own rows instead, which nobody else
-- locks; `gea-server maintenance` folds each day's rows into one (compact_ticket_day_totals()),
-- so the view reads about a row per day plus the day's changes since the last run.
--
-- The invariant: per day, the sum of the rows is what the view's 0001 definition computes from
-- the tickets and breaches as they stand. Each trigger adds the difference its own change
-- makes, judged against the other table as it stands at that moment:
-- - tickets inserted (per statement): their created, closed and resolved days;
-- - a ticket's created_at, closed_at or resolved_at changed (per row, as the desk changes one
--   ticket at a time): its old contribution out, its new one in. It fires before
--   trg_check_sla_breach (AFTER triggers run in name order), so a breach that trigger records
--   for the same change is counted by the breach trigger below, against the ticket as now;
-- - breaches recorded, moved or removed (per statement): a resolved ticket whose "has a
--   breach" changed moves between resolved in time and not; breaches truncated: counted again;
-- - the server's zone changed: every day is different, so everything is counted again.

CREATE TABLE ticket_day_deltas (
    day               DATE NOT NULL,
    delta_id          BIGINT GENERATED ALWAYS AS IDENTITY,
    created           INT NOT NULL DEFAULT 0,
    closed            INT NOT NULL DEFAULT 0,
    resolved          INT NOT NULL DEFAULT 0,
    -- The resolution times (resolved_at - created_at) of the tickets resolved that day, summed
    -- (the view's average is this over `resolved`, the division avg() does), and how many of
    -- them had no breach recorded.
    resolution_time   INTERVAL NOT NULL DEFAULT interval '0',
    resolved_in_time  INT NOT NULL DEFAULT 0,
    -- Led by the day, so the key is also the index a filter on dates uses.
    CONSTRAINT pk_ticket_day_deltas PRIMARY KEY (day, delta_id)
);
COMMENT ON TABLE ticket_day_deltas IS
    'What each change to tickets and breaches did to the counts of the days of the server''s zone, '
    'summed per day by v_daily_ticket_stats; appended by triggers on tickets, sla_breaches and '
    'app_settings in the transaction of each change, folded per day by compact_ticket_day_totals(); '
    'never written by hand.';

-- Adds each given ticket state's contribution, signed: +1 for a state that now counts, -1 for
-- one that no longer does, one row per day whose counts move.
CREATE FUNCTION add_ticket_day_deltas(
    p_sign INT[], p_created TIMESTAMPTZ[], p_closed TIMESTAMPTZ[], p_resolved TIMESTAMPTZ[],
    p_breached BOOLEAN[]
) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_zone TEXT := app_timezone();
BEGIN
    WITH t AS (
        SELECT * FROM unnest(p_sign, p_created, p_closed, p_resolved, p_breached)
            AS t (sign, created_at, closed_at, resolved_at, breached)
    ),
    events AS (
        SELECT (t.created_at AT TIME ZONE v_zone)::DATE AS day, t.sign AS created, 0 AS closed,
               0 AS resolved, NULL::INTERVAL AS took, 0 AS in_time
        FROM t WHERE t.created_at IS NOT NULL
        UNION ALL
        SELECT (t.closed_at AT TIME ZONE v_zone)::DATE, 0, t.sign, 0, NULL, 0
        FROM t WHERE t.closed_at IS NOT NULL
        UNION ALL
        -- Negated, not multiplied: an interval's months, days and microseconds are summed
        -- apart, and negation keeps each exactly.
        SELECT (t.resolved_at AT TIME ZONE v_zone)::DATE, 0, 0, t.sign,
               CASE WHEN t.sign > 0 THEN t.resolved_at - t.created_at
                    ELSE -(t.resolved_at - t.created_at) END,
               CASE WHEN t.breached THEN 0 ELSE t.sign END
        FROM t WHERE t.resolved_at IS NOT NULL
    ),
    days AS (
        SELECT e.day, sum(e.created) AS created, sum(e.closed) AS closed, sum(e.resolved) AS resolved,
               coalesce(sum(e.took), interval '0') AS took, sum(e.in_time) AS in_time
        FROM events e
        GROUP BY e.day
    )
    INSERT INTO ticket_day_deltas (day, created, closed, resolved, resolution_time, resolved_in_time)
    SELECT days.day, days.created, days.closed, days.resolved, days.took, days.in_time
    FROM days
    -- A day whose counts do not move (a ticket's created day when it is resolved) gets no row.
    -- `took = '0'` compares normalised intervals; that is exact here because every resolution
    -- time is justified (resolved_at - created_at) and a call's sum for a day is one ticket's
    -- change or new tickets only.
    WHERE (days.created, days.closed, days.resolved, days.in_time) <> (0, 0, 0, 0)
       OR days.took <> interval '0';
END
$$;

CREATE FUNCTION count_tickets_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A new ticket has no breach yet (sla_breaches references it).
    PERFORM add_ticket_day_deltas(array_agg(1), array_agg(t.created_at), array_agg(t.closed_at),
                                  array_agg(t.resolved_at), array_agg(FALSE))
    FROM new_tickets t
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

-- The triggers below judge a ticket against its breaches (resolved in time or not), so two of
-- them for one ticket must not judge at once, each blind to the other's uncommitted change: a
-- breach added while another transaction resolves the ticket, or two first breaches added at
-- once. They serialise on the ticket's row. A change to a ticket's times holds its row lock
-- already (the UPDATE's). A change to its breaches locks the ticket's row before judging, in
-- ticket order: FOR SHARE while the ticket is unresolved (its counts do not depend on its
-- breaches; the lock only makes it wait for, or hold back, a transaction resolving it) and
-- FOR NO KEY UPDATE once it is resolved (two breach writers then wait for each other too).
-- The SLA scan writes breaches of unresolved tickets only, holding them FOR SHARE already, so
-- concurrent scans never upgrade a lock the other holds. Each trigger judges in a statement
-- of its own, whose snapshot (READ COMMITTED) includes what the transaction it waited for
-- committed; these functions must stay VOLATILE for that. Only changes to the same ticket
-- wait on each other, never new tickets or another ticket's, and row locks live in the rows,
-- not in PostgreSQL's shared lock table, so a statement may change any number of tickets.
-- Under REPEATABLE READ or SERIALIZABLE the snapshot would predate the wait, so such a change
-- is refused with a clear error instead of counted wrong. A tool that writes breaches itself
-- should lock their tickets first (FOR SHARE, as the SLA scan does), or it can deadlock with
-- the desk resolving one of them.
CREATE FUNCTION require_read_committed() RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') IN ('repeatable read', 'serializable') THEN
        RAISE EXCEPTION 'a ticket''s created, resolved or closed time or its SLA breaches can only '
                        'change in a READ COMMITTED transaction (this one is %)',
                        upper(current_setting('transaction_isolation'))
            USING ERRCODE = 'invalid_transaction_state',
                  HINT = 'The daily ticket counts judge each change against what is committed '
                         'when it is made; use the default isolation level for such changes.';
    END IF;
END
$$;

CREATE FUNCTION count_ticket_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_breached BOOLEAN;
BEGIN
    PERFORM require_read_committed();
    v_breached := EXISTS (SELECT 1 FROM sla_breaches WHERE ticket_id = NEW.ticket_id);
    PERFORM add_ticket_day_deltas(
        ARRAY[-1, 1], ARRAY[OLD.created_at, NEW.created_at], ARRAY[OLD.closed_at, NEW.closed_at],
        ARRAY[OLD.resolved_at, NEW.resolved_at], ARRAY[v_breached, v_breached]);
    RETURN NULL;
END
$$;

-- A resolved ticket whose "has a breach" changed moves between resolved in time and not: it is
-- counted out as it was and back in as it is (its days and resolution time cancel out).
-- p_ticket and p_added: each ticket whose breaches changed and by how many (+ added, - removed).
CREATE FUNCTION count_ticket_breaches_changed(p_ticket INT[], p_added INT[]) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM require_read_committed();
    PERFORM 1 FROM tickets WHERE ticket_id = ANY(p_ticket) AND resolved_at IS NULL
    ORDER BY ticket_id FOR SHARE;
    PERFORM 1 FROM tickets WHERE ticket_id = ANY(p_ticket) AND resolved_at IS NOT NULL
    ORDER BY ticket_id FOR NO KEY UPDATE;
    PERFORM add_ticket_day_deltas(array_agg(x.sign), array_agg(c.created_at), array_agg(c.closed_at),
                                  array_agg(c.resolved_at),
                                  array_agg(CASE WHEN x.sign > 0 THEN c.now > 0 ELSE c.now - c.added > 0 END))
    FROM (
        SELECT t.created_at, t.closed_at, t.resolved_at, a.added,
               (SELECT count(*) FROM sla_breaches b WHERE b.ticket_id = t.ticket_id) AS now
        FROM unnest(p_ticket, p_added) AS a (ticket_id, added)
        JOIN tickets t ON t.ticket_id = a.ticket_id
        WHERE t.resolved_at IS NOT NULL
    ) c
    CROSS JOIN (VALUES (-1), (1)) AS x (sign)
    WHERE (c.now > 0) <> (c.now - c.added > 0)
    HAVING count(*) > 0;
END
$$;

-- Per statement: a row trigger would see every change of the statement already made but
-- judge only its own. Each ticket's breaches are netted first (old rows out, new rows in), so
-- an UPDATE that moves no breach to another ticket (the SLA scan's hours overdue) locks and
-- judges nothing.
CREATE FUNCTION count_breaches_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM count_ticket_breaches_changed(array_agg(m.ticket_id), array_agg(m.added))
        FROM (SELECT n.ticket_id, count(*)::INT AS added FROM new_breaches n GROUP BY 1) m
        HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM count_ticket_breaches_changed(array_agg(m.ticket_id), array_agg(m.added))
        FROM (SELECT o.ticket_id, -count(*)::INT AS added FROM old_breaches o GROUP BY 1) m
        HAVING count(*) > 0;
    ELSE
        PERFORM count_ticket_breaches_changed(array_agg(m.ticket_id), array_agg(m.added))
        FROM (SELECT c.ticket_id, sum(c.added)::INT AS added
              FROM (SELECT o.ticket_id, -1 AS added FROM old_breaches o
                    UNION ALL
                    SELECT n.ticket_id, 1 FROM new_breaches n) c
              GROUP BY 1
              HAVING sum(c.added) <> 0) m
        HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END
$$;

-- Everything counted again from the rows: for the rows already stored when 0010 arrives, after
-- the server's zone changes, and after a load that bypassed the triggers
-- (session_replication_role = replica). Writers wait while it counts, and so does a
-- compaction, whose folded rows this would otherwise not see to delete.
CREATE FUNCTION rebuild_ticket_day_totals() RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_zone TEXT := app_timezone();
BEGIN
    LOCK TABLE tickets, sla_breaches IN SHARE MODE;
    LOCK TABLE ticket_day_deltas IN EXCLUSIVE MODE;
    DELETE FROM ticket_day_deltas;
    INSERT INTO ticket_day_deltas (day, created, closed, resolved, resolution_time, resolved_in_time)
    SELECT e.day, count(*) FILTER (WHERE e.kind = 1), count(*) FILTER (WHERE e.kind = 2),
           count(*) FILTER (WHERE e.kind = 3), coalesce(sum(e.took), interval '0'),
           count(*) FILTER (WHERE e.kind = 3 AND NOT e.breached)
    FROM (
        SELECT (t.created_at AT TIME ZONE v_zone)::DATE AS day, 1 AS kind, NULL::INTERVAL AS took,
               NULL::BOOLEAN AS breached
        FROM tickets t WHERE t.created_at IS NOT NULL
        UNION ALL
        SELECT (t.closed_at AT TIME ZONE v_zone)::DATE, 2, NULL, NULL
        FROM tickets t WHERE t.closed_at IS NOT NULL
        UNION ALL
        -- EXISTS, a semi-join that can spill to disk: `IN (SELECT ...)` is hashed only while
        -- the breaches fit in work_mem, and is a scan of them per ticket beyond that.
        SELECT (t.resolved_at AT TIME ZONE v_zone)::DATE, 3, t.resolved_at - t.created_at,
               EXISTS (SELECT 1 FROM sla_breaches b WHERE b.ticket_id = t.ticket_id)
        FROM tickets t WHERE t.resolved_at IS NOT NULL
    ) e
    GROUP BY e.day;
END
$$;
REVOKE EXECUTE ON FUNCTION rebuild_ticket_day_totals() FROM PUBLIC;

-- Folds each day's rows into one and returns how many rows went, so the view reads about a
-- row per day; days that already have one row are left alone. Writers carry on meanwhile: the
-- rows a transaction adds while this runs are not among those it folds (its DELETE sees only
-- rows committed before it began), and two folds at once fold each row once (the second skips
-- what the first deleted). A day that sums to nothing keeps no row. `gea-server maintenance`
-- runs it, as the owner or granted.
CREATE FUNCTION compact_ticket_day_totals() RETURNS BIGINT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_before BIGINT;
    v_after BIGINT;
BEGIN
    WITH gone AS (
        DELETE FROM ticket_day_deltas d
        WHERE d.day IN (SELECT x.day FROM ticket_day_deltas x GROUP BY x.day HAVING count(*) > 1)
        RETURNING d.day, d.created, d.closed, d.resolved, d.resolution_time, d.resolved_in_time
    ),
    days AS (
        SELECT g.day, count(*) AS rows_in, sum(g.created) AS created, sum(g.closed) AS closed,
               sum(g.resolved) AS resolved, sum(g.resolution_time) AS took,
               sum(g.resolved_in_time) AS in_time
        FROM gone g
        GROUP BY g.day
    ),
    folded AS (
        INSERT INTO ticket_day_deltas (day, created, closed, resolved, resolution_time, resolved_in_time)
        SELECT d.day, d.created, d.closed, d.resolved, d.took, d.in_time
        FROM days d
        WHERE (d.created, d.closed, d.resolved, d.in_time) <> (0, 0, 0, 0) OR d.took <> interval '0'
        RETURNING 1
    )
    SELECT (SELECT coalesce(sum(d.rows_in), 0) FROM days d), (SELECT count(*) FROM folded)
    INTO v_before, v_after;
    RETURN v_before - v_after;
END
$$;
-- Maintenance, not application work: the owner runs it (gea-server maintenance) or grants it.
REVOKE EXECUTE ON FUNCTION compact_ticket_day_totals() FROM PUBLIC;

CREATE FUNCTION count_tickets_again() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rebuild_ticket_day_totals();
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_count_tickets_inserted
    AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_tickets
    FOR EACH STATEMENT EXECUTE FUNCTION count_tickets_inserted();
-- Named to fire before trg_check_sla_breach (see the top of this file).
-- No column list: set_ticket_status_times (BEFORE) sets resolved_at and closed_at on a status
-- change, and a column list sees only the columns the UPDATE itself names.
CREATE TRIGGER trg_add_ticket_days
    AFTER UPDATE ON tickets
    FOR EACH ROW
    WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.closed_at IS DISTINCT FROM NEW.closed_at
          OR OLD.resolved_at IS DISTINCT FROM NEW.resolved_at)
    EXECUTE FUNCTION count_ticket_changed();
CREATE TRIGGER trg_count_breaches_inserted
    AFTER INSERT ON sla_breaches
    REFERENCING NEW TABLE AS new_breaches
    FOR EACH STATEMENT EXECUTE FUNCTION count_breaches_changed();
CREATE TRIGGER trg_count_breaches_deleted
    AFTER DELETE ON sla_breaches
    REFERENCING OLD TABLE AS old_breaches
    FOR EACH STATEMENT EXECUTE FUNCTION count_breaches_changed();
CREATE TRIGGER trg_count_breaches_moved
    AFTER UPDATE ON sla_breaches
    REFERENCING OLD TABLE AS old_breaches NEW TABLE AS new_breaches
    FOR EACH STATEMENT EXECUTE FUNCTION count_breaches_changed();
-- Nothing references sla_breaches, so it can be truncated: everything is counted again.
CREATE TRIGGER trg_count_breaches_truncated
    AFTER TRUNCATE ON sla_breaches
    FOR EACH STATEMENT EXECUTE FUNCTION count_tickets_again();
CREATE TRIGGER trg_count_tickets_again
    AFTER UPDATE ON app_settings
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION count_tickets_again();
-- Without its row the zone falls back to app_timezone()'s default, so adding or removing the
-- row may change it too (per row: a statement that touches no row counts nothing again).
CREATE TRIGGER trg_count_tickets_again_settings
    AFTER INSERT OR DELETE ON app_settings
    FOR EACH ROW EXECUTE FUNCTION count_tickets_again();
CREATE TRIGGER trg_count_tickets_again_truncated
    AFTER TRUNCATE ON app_settings
    FOR EACH STATEMENT EXECUTE FUNCTION count_tickets_again();

SELECT rebuild_ticket_day_totals();

-- Upgrading a running deployment: roles that write tickets or breaches (the API's) now add
-- the day counts too, or their next ticket is refused, and a role that runs maintenance (it may
-- archive ticket activities) now folds them; `gea-server migrate` says what it granted.
DO $$
DECLARE
    v_owner TEXT := (SELECT tableowner FROM pg_tables
                     WHERE schemaname = current_schema() AND tablename = 'tickets');
    v_role TEXT;
BEGIN
    FOR v_role IN
        SELECT DISTINCT g.grantee
        FROM (SELECT t.grantee, t.table_name, t.privilege_type
              FROM information_schema.role_table_grants t WHERE t.table_schema = current_schema()
              UNION ALL
              SELECT c.grantee, c.table_name, c.privilege_type
              FROM information_schema.role_column_grants c WHERE c.table_schema = current_schema()) g
        WHERE g.table_name IN ('tickets', 'sla_breaches')
          AND g.privilege_type IN ('INSERT', 'UPDATE', 'DELETE') AND g.grantee <> 'PUBLIC'
          AND NOT pg_has_role(g.grantee, v_owner, 'MEMBER')
        ORDER BY 1
    LOOP
        EXECUTE format('GRANT INSERT ON ticket_day_deltas TO %I', v_role);
        RAISE NOTICE USING ERRCODE = '01GEA', MESSAGE = format(
            'role %s writes tickets, and now adds to the daily ticket counts too: granted it INSERT '
            'on ticket_day_deltas (docs/operations.md)', v_role);
    END LOOP;
    FOR v_role IN
        SELECT DISTINCT r.grantee FROM information_schema.role_routine_grants r
        WHERE r.routine_schema = current_schema() AND r.routine_name = 'archive_ticket_activities'
          AND r.privilege_type = 'EXECUTE' AND r.grantee <> 'PUBLIC'
          AND NOT pg_has_role(r.grantee, v_owner, 'MEMBER')
        ORDER BY 1
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION compact_ticket_day_totals() TO %I', v_role);
        RAISE NOTICE USING ERRCODE = '01GEA', MESSAGE = format(
            'role %s runs maintenance, which now folds the daily ticket counts too: granted it '
            'EXECUTE on compact_ticket_day_totals() (docs/maintenance.md)', v_role);
    END LOOP;
END
$$;

-- The same columns and answers as before, from the rows of each day. The average is the sum
-- over the count, the division avg() does on intervals. A filter on the date is pushed below
-- the grouping, to the key's leading column.
CREATE OR REPLACE VIEW v_daily_ticket_stats AS
SELECT
    d.day AS date,
    sum(d.created)::INT AS tickets_created,
    sum(d.closed)::INT AS tickets_closed,
    sum(d.resolved)::INT AS tickets_resolved,
    CASE WHEN sum(d.resolved) > 0 THEN sum(d.resolution_time) / sum(d.resolved)::DOUBLE PRECISION END
        AS avg_resolution_time,
    round(100.0 * sum(d.resolved_in_time) / nullif(sum(d.resolved), 0), 2) AS sla_compliance_rate
FROM ticket_day_deltas d
GROUP BY d.day
HAVING sum(d.created) <> 0 OR sum(d.closed) <> 0 OR sum(d.resolved) <> 0;
