"""Retention and statistics (seed 6.1 and 12): what `gea-server maintenance` and serve's
scheduler run, once a day. `run(conn)` is the whole of it; docs/maintenance.md tells IT.

What goes (the report is the caller's to print or log: the CLI prints it, the scheduler logs it):

- `submission_rate_limit`: rows whose window has ended. `check_rate_limit` and
  `requires_captcha` count only rows of the last hour (ARCHITECTURE 4.10).
- `submission_attempts`: older than 7 days, the security log's retention (seed 6.1,
  ARCHITECTURE 4.9); the enrollment throttle reads minutes.
- `captcha_challenges`: expired; `validate_captcha` refuses them.
- `officer_sessions`: past their absolute end or idle longer than the limit, the rule
  `desk_sessions.resume` applies.
- `officer_sign_ins`: older than a year, like the audit trail, except each officer's latest
  successful sign-in, which `officers list` and the desk's administration show as "last
  sign-in" (a dormant account must not look never used). The throttle reads 24 hours.
- `notification_outbox`: sent or skipped more than 90 days ago, with their deliveries
  (cascade); pending rows stay whatever their age.
- `ticket_activities`: older than a year, moved (not deleted) to `ticket_activities_archive` by
  `archive_ticket_activities()`, the only path the audit trigger lets through (seed 6.1).

What is folded: `ticket_day_deltas`, the rows the ticket triggers append to the daily counts
v_daily_ticket_stats sums, each day's rows into one by `compact_ticket_day_totals()`, so the
view reads about a row per day (docs/decisions.md, "The reporting views at a year of data").

Safe while the API serves: every purge statement is its own short transaction touching at most
`batch_rows` rows, walking the primary key so no batch rescans what an earlier one passed, and
re-checking its rule as it deletes, so a row changed meanwhile (a session touched) is kept.
Activities are archived `batch_rows` per call too, oldest first. The fold is one statement over
the days that have more than one row (a day's changes since the last run), which writers never
wait on: they only append. A step the role may not run
(`permission denied`) is skipped with the GRANT that fixes it; the others still run.

ANALYZE where it pays: a table is analysed when the run changed at least ANALYZE_SHARE of the
rows the planner believes it holds (`pg_class.reltuples`; a table never analysed counts as
empty), the share at which autovacuum would analyse it anyway, done at once so tonight's plans
do not count rows that are gone. Only a table's owner (PostgreSQL 17: MAINTAIN) may; for
another role the table is left to autovacuum (`left_to_autovacuum`, not a skipped step: there is
nothing to fix).

One run at a time: a session advisory lock, LOCK_KEY (0x6EA4D41; in `pg_locks`,
`locktype = 'advisory'`, `objid = 116018497`), beside migrate's 0x6EAF00D. A run that finds it
taken does nothing and says so. Being a session lock, it needs a direct connection (or a
session-mode pool), not a transaction-mode PgBouncer.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from server_sync_api.services.job_locks import JobLock, try_job_lock

LOCK_KEY = int(JobLock.MAINTENANCE)
BATCH_ROWS = 5_000
ANALYZE_SHARE = 0.10
# An ANALYZE waits this long for a table another VACUUM or ANALYZE holds, then leaves it.
ANALYZE_LOCK_TIMEOUT = "10s"
# GEA_SERVER_SESSION_IDLE_MINUTES' default; the CLI and the scheduler pass the setting.
DEFAULT_SESSION_IDLE = timedelta(minutes=30)
ARCHIVE_STEP = "archive ticket_activities"
FOLD_STEP = "fold ticket_day_deltas"


@dataclass(frozen=True)
class Purge:
    table: str
    key: str  # the primary key, walked in order
    rule: str  # SQL over `t`: the rows past their retention
    what: str  # for the report


_SIGN_IN_PAST = """t.at < now() - interval '1 year'
    AND NOT (t.outcome = 'ok' AND t.officer_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM officer_sign_ins later
        WHERE later.officer_id = t.officer_id AND later.outcome = 'ok'
          AND (later.at, later.sign_in_id) > (t.at, t.sign_in_id)))"""

PURGES = (
    Purge("submission_rate_limit", "rate_limit_id", "t.window_end <= now()", "past their window"),
    Purge(
        "submission_attempts", "attempt_id", "t.created_at < now() - interval '7 days'", "older than 7 days"
    ),
    Purge("captcha_challenges", "challenge_id", "t.expires_at <= now()", "expired"),
    Purge(
        "officer_sessions",
        "token_hash",
        "t.expires_at <= now() OR t.last_seen_at <= now() - %(idle)s",
        "ended or idle",
    ),
    Purge("officer_sign_ins", "sign_in_id", _SIGN_IN_PAST, "older than a year, last sign-ins kept"),
    Purge(
        "notification_outbox",
        "notification_id",
        "t.state IN ('sent', 'skipped') AND coalesce(t.sent_at, t.created_at) < now() - interval '90 days'",
        "sent or skipped over 90 days ago",
    ),
)
# Tables whose rows move with another's: analysed with it.
_ANALYSED_WITH = {
    "notification_outbox": ("notification_deliveries",),
    "ticket_activities": ("ticket_activities_archive",),
}

_BATCH = """
WITH batch AS (
    SELECT t.{key} AS k FROM {table} AS t
    WHERE ({rule}) {after}
    ORDER BY t.{key} LIMIT %(limit)s
), gone AS (
    DELETE FROM {table} AS t WHERE t.{key} IN (SELECT k FROM batch) AND ({rule}) RETURNING 1
)
-- max() has no bytea version (officer_sessions' key): the last of the batch instead.
SELECT (SELECT count(*) FROM batch),
       (SELECT k FROM batch ORDER BY k DESC LIMIT 1),
       (SELECT count(*) FROM gone)
"""


@dataclass(frozen=True)
class Skipped:
    step: str
    reason: str


@dataclass
class MaintenanceReport:
    """What a run did. `ran` is False when another run held the lock (nothing was done)."""

    ran: bool = True
    removed: dict[str, int] = field(default_factory=dict)
    archived: dict[str, int] = field(default_factory=dict)
    # Rows folded away: a table's rows before, less its rows after.
    folded: dict[str, int] = field(default_factory=dict)
    analysed: list[str] = field(default_factory=list)
    # Tables worth analysing that this role may not (or that were busy), and why: nothing to fix.
    left_to_autovacuum: dict[str, str] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.ran:
            return f"Another maintenance run holds its lock (advisory lock {LOCK_KEY}); this one did nothing."
        removed, archived = sum(self.removed.values()), sum(self.archived.values())
        lines = [
            f"Maintenance done in {self.seconds:.1f} s: removed {removed} row{'' if removed == 1 else 's'}, "
            f"archived {archived} ticket activit{'y' if archived == 1 else 'ies'}."
        ]
        for purge in PURGES:
            lines.append(_line(purge.table, self.removed.get(purge.table), "removed", purge.what))
        moved = self.archived.get("ticket_activities")
        lines.append(_line("ticket_activities", moved, "archived", "older than a year"))
        folded = self.folded.get("ticket_day_deltas")
        lines.append(_line("ticket_day_deltas", folded, "folded", "each day's counts into one row"))
        lines.append(f"Analysed: {', '.join(self.analysed) or 'none'}.")
        if self.left_to_autovacuum:
            why = "; ".join(f"{table} ({reason})" for table, reason in self.left_to_autovacuum.items())
            lines.append(f"Left to autovacuum: {why}.")
        lines.extend(f"Skipped {s.step}: {s.reason}" for s in self.skipped)
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (`--json`)."""
        return {
            "ran": self.ran,
            "removed": self.removed,
            "archived": self.archived,
            "folded": self.folded,
            "analysed": self.analysed,
            "left_to_autovacuum": self.left_to_autovacuum,
            "skipped": [{"step": s.step, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
        }


def _line(table: str, count: int | None, verb: str, what: str) -> str:
    done = "skipped" if count is None else f"{count} {verb}"
    return f"  {table:<22} {done:>14}  ({what})"


def run(
    conn: psycopg.Connection[Any],
    *,
    session_idle: timedelta = DEFAULT_SESSION_IDLE,
    batch_rows: int = BATCH_ROWS,
) -> MaintenanceReport:
    """Everything past its retention goes, old activities are archived, statistics refreshed.

    `conn` must have no transaction open; it is used in autocommit (each batch commits on its
    own) and given back as it came. `session_idle` is the desk's idle limit
    (GEA_SERVER_SESSION_IDLE_MINUTES): pass the value serve runs with."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise ValueError("maintenance.run needs a connection with no transaction open")
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        with try_job_lock(conn, JobLock.MAINTENANCE) as held:
            if not held:
                return MaintenanceReport(ran=False)
            return _run_locked(conn, session_idle, batch_rows)
    finally:
        if not conn.broken:
            conn.autocommit = autocommit


def _run_locked(conn: psycopg.Connection[Any], session_idle: timedelta, batch_rows: int) -> MaintenanceReport:
    started = time.monotonic()
    report = MaintenanceReport()
    tables = [p.table for p in PURGES] + ["ticket_activities", "ticket_day_deltas"]
    tables += [t for linked in _ANALYSED_WITH.values() for t in linked]
    stats = _table_stats(conn, tables)
    changed: dict[str, int] = {}
    for purge in PURGES:
        try:
            changed[purge.table] = report.removed[purge.table] = _purge(conn, purge, session_idle, batch_rows)
        except psycopg.errors.InsufficientPrivilege as exc:
            report.skipped.append(Skipped(purge.table, _denied(exc, _grant_delete(conn, purge.table))))
    try:
        moved = report.archived["ticket_activities"] = _archive(conn, batch_rows)
        changed["ticket_activities"] = moved
    except psycopg.errors.InsufficientPrivilege as exc:
        report.skipped.append(Skipped(ARCHIVE_STEP, _denied(exc, _grant_archive(conn))))
    try:
        folded = report.folded["ticket_day_deltas"] = int(_one(conn, "SELECT compact_ticket_day_totals()"))
        changed["ticket_day_deltas"] = folded
    except psycopg.errors.InsufficientPrivilege as exc:
        report.skipped.append(Skipped(FOLD_STEP, _denied(exc, _grant_fold(conn))))
    for table, count in list(changed.items()):
        for linked in _ANALYSED_WITH.get(table, ()):
            changed[linked] = count
    _analyse(conn, changed, stats, report)
    report.seconds = time.monotonic() - started
    return report


def _purge(conn: psycopg.Connection[Any], purge: Purge, idle: timedelta, batch_rows: int) -> int:
    """Deletes the table's rows past their rule in batches; how many went."""
    removed = 0
    after: object = None
    while True:
        query = sql.SQL(_BATCH).format(
            table=sql.Identifier(purge.table),
            key=sql.Identifier(purge.key),
            rule=sql.SQL(purge.rule),
            after=sql.SQL("" if after is None else "AND t.{} > %(after)s").format(sql.Identifier(purge.key)),
        )
        row = conn.execute(query, {"limit": batch_rows, "after": after, "idle": idle}).fetchone()
        assert row is not None
        seen, after, gone = row
        removed += gone
        if seen < batch_rows:
            return removed


def _archive(conn: psycopg.Connection[Any], batch_rows: int) -> int:
    """Moves activities older than a year to the archive, `batch_rows` per call (more where
    many share a created_at), oldest first."""
    due = "FROM ticket_activities WHERE created_at < now() - interval '1 year'"
    count = int(_one(conn, f"SELECT count(*) {due}"))
    cutoffs: list[datetime] = []
    if count > batch_rows:
        # The (i * batch_rows + 1)-th due row's time: each call moves the batch_rows before it.
        places = [(i * batch_rows + 0.5) / count for i in range(1, math.ceil(count / batch_rows))]
        cutoffs = _one(
            conn, f"SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY created_at) {due}", (places,)
        )
    moved = 0
    for cutoff in sorted(set(cutoffs)):
        # As seconds, not days, so a daylight-saving change in the session's zone moves nothing.
        moved += int(
            _one(
                conn,
                "SELECT archive_ticket_activities(make_interval(secs => extract(epoch FROM now() - %s)))",
                (cutoff,),
            )
        )
    # Always called, even with nothing due, so a missing grant shows the first day; it also
    # takes what came due while the batches ran.
    return moved + int(_one(conn, "SELECT archive_ticket_activities(interval '1 year')"))


@dataclass(frozen=True)
class _Stats:
    reltuples: float
    may_analyse: bool


def _table_stats(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, _Stats]:
    # Owner (or member of the owning role), database owner, superuser; from 17 also MAINTAIN.
    maintain = "OR has_table_privilege(c.oid, 'MAINTAIN')" if conn.info.server_version >= 170000 else ""
    rows = conn.execute(
        sql.SQL(
            "SELECT c.relname, c.reltuples, "
            "pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE') {maintain} "
            "FROM pg_class c JOIN pg_database d ON d.datname = current_database() "
            "WHERE c.oid = ANY(%s::regclass[])"
        ).format(maintain=sql.SQL(maintain)),
        (tables,),
    ).fetchall()
    return {name: _Stats(float(reltuples), bool(may)) for name, reltuples, may in rows}


def _analyse(
    conn: psycopg.Connection[Any],
    changed: dict[str, int],
    stats: dict[str, _Stats],
    report: MaintenanceReport,
) -> None:
    for table, count in changed.items():
        known = stats[table]
        if count == 0 or count < ANALYZE_SHARE * max(known.reltuples, 0.0):
            continue
        if not known.may_analyse:
            report.left_to_autovacuum[table] = "only its owner may ANALYZE it; from PostgreSQL 17, MAINTAIN"
            continue
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(ANALYZE_LOCK_TIMEOUT)))
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        except psycopg.errors.LockNotAvailable:
            report.left_to_autovacuum[table] = "busy: another VACUUM or ANALYZE had it"
            continue
        report.analysed.append(table)


def _denied(exc: psycopg.Error, fix: str) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "permission denied"
    return f"{first_line}. {fix}"


def _grant_delete(conn: psycopg.Connection[Any], table: str) -> str:
    return (
        f"Grant it (GRANT SELECT, DELETE ON {table} TO {_role(conn)}) or run gea-server maintenance "
        "as the database owner; docs/maintenance.md lists the grants."
    )


def _grant_archive(conn: psycopg.Connection[Any]) -> str:
    return (
        "Grant it (GRANT EXECUTE ON FUNCTION archive_ticket_activities(interval) TO "
        f"{_role(conn)}) or run gea-server maintenance as the database owner; "
        "docs/maintenance.md lists the grants."
    )


def _grant_fold(conn: psycopg.Connection[Any]) -> str:
    return (
        f"Grant it (GRANT EXECUTE ON FUNCTION compact_ticket_day_totals() TO {_role(conn)}) or run "
        "gea-server maintenance as the database owner; docs/maintenance.md lists the grants."
    )


def _role(conn: psycopg.Connection[Any]) -> str:
    # Quoted only where SQL needs it, so the GRANT in the message reads as IT would type it.
    return str(_one(conn, "SELECT quote_ident(current_user)"))


def _one(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]
