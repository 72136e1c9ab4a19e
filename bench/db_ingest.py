"""Ingest speed of feedback_db: the full trigger path against a trigger-free copy.

Inserts the same 20,000 feedback rows (about 30% of them make tickets) into
`service_feedback` (ticket creation, numbering, SLA targets, audit, notification and
rate-limit rows) and into `feedback_plain`, a copy of the table made with
`CREATE TABLE ... (LIKE service_feedback INCLUDING ALL)`: the same columns, defaults, checks
and indexes but no triggers and no foreign keys. One transaction per batch, each run in a
fresh database, two ways:

- **unnest** (how the API writes a kiosk's batch): one `INSERT ... SELECT FROM unnest(...)
  ORDER BY client_uuid ON CONFLICT DO NOTHING` statement per batch of 100 and of 500;
- **rows**: psycopg's pipelined executemany, one INSERT per row, batches of 500.

Prints rows/second and the ratio of the two tables' times for each way. `--before REV` also
runs the full path in a database migrated only to that revision (e.g. 0006: the row triggers
before issue 16), in the same run. Nothing here asserts on time.

    python -m bench.db_ingest [--rows N] [--before REV]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from server_sync_api import demo, migrate
from server_sync_api.core.db import make_engine
from tests.helpers import pg

# (way, batch size) in the order they run.
RUNS = (("unnest", 100), ("unnest", 500), ("rows", 500))
DEFAULT_ROWS = 20_000
COLUMNS = (
    "client_uuid", "reference_code", "service_id", "entity_id", "rating", "service_quality",
    "staff_behavior", "waiting_time", "cleanliness", "grievance_flag", "feedback_text", "channel",
    "ip_hash", "recorded_at", "clock_offset_s",
)  # fmt: skip
PLAIN_TABLE = """
    CREATE TABLE feedback_plain (LIKE service_feedback INCLUDING ALL);
"""

Row = tuple[object, ...]


@dataclass(frozen=True)
class Result:
    path: str
    way: str
    batch: int
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def make_rows(count: int, services: Sequence[tuple[str, str]], seed: int = 42) -> list[Row]:
    """Realistic submissions: mostly kiosk ratings, some portal ones, ~30% low or grievances."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    rows: list[Row] = []
    for i in range(count):
        service_id, entity_id = services[rnd.randrange(len(services))]
        rating = rnd.choices((1, 2, 3, 4, 5), weights=(12, 13, 15, 30, 30))[0]
        grievance = rating >= 3 and rnd.random() < 0.07
        portal = rnd.random() < 0.2
        subs = [rnd.randint(1, 5) if rnd.random() < 0.5 else None for _ in range(4)]
        text = (
            "The queue did not move for an hour. " * rnd.randint(1, 6) if rating <= 2 or grievance else None
        )
        rows.append(
            (
                uuid.UUID(int=rnd.getrandbits(128), version=4),
                f"K{i % 40:04d}-{i:06d}-{rnd.getrandbits(20):05X}",
                service_id,
                entity_id,
                rating,
                *subs,
                grievance,
                text,
                "portal" if portal else "kiosk",
                f"{rnd.getrandbits(256):064x}" if portal else None,
                now - timedelta(minutes=rnd.randint(0, 3 * 24 * 60)),
                rnd.randint(-120, 120),
            )
        )
    return rows


def _unnest_statement(table: str) -> str:
    """The API's statement (services/ingest.py) for this bench's columns."""
    types = (
        "uuid", "varchar", "varchar", "varchar", "int", "int", "int", "int", "int", "bool", "text",
        "varchar", "varchar", "timestamptz", "int",
    )  # fmt: skip
    arrays = ", ".join(f"%s::{t}[]" for t in types)
    return (
        f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT * FROM unnest({arrays}) AS u "
        "ORDER BY 1 ON CONFLICT DO NOTHING"
    )


def insert_batches(conninfo: str, table: str, rows: list[Row], way: str, batch: int) -> float:
    by_row = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    unnest = _unnest_statement(table)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            with conn.transaction():
                if way == "rows":
                    cur.executemany(by_row, chunk)
                else:
                    cur.execute(unnest, [list(column) for column in zip(*chunk, strict=True)])
        return time.perf_counter() - started


def template_at(name: str, revision: str) -> None:
    """pg.create_template, at an older revision."""
    pg.drop_database(name)
    with psycopg.connect(pg.conninfo(pg.admin_url()), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = make_engine(pg.admin_url().set(database=name))
    try:
        migrate.upgrade(engine, revision=revision, timezone=pg.TEST_TIMEZONE)
        with engine.begin() as connection:
            demo.seed_demo(connection)
    finally:
        engine.dispose()


def run(row_count: int, before: str | None = None) -> tuple[list[Result], TicketSummary]:
    pg.check_admin_connection()
    template = f"gea_bench_tpl_{uuid.uuid4().hex[:8]}"
    old_template = f"gea_bench_old_{uuid.uuid4().hex[:8]}"
    pg.create_template(template)
    if before:
        template_at(old_template, before)
    try:
        with psycopg.connect(pg.conninfo(pg.admin_url().set(database=template)), autocommit=True) as conn:
            conn.execute(PLAIN_TABLE)
            services = conn.execute("SELECT service_id, entity_id FROM service_master ORDER BY 1").fetchall()
        rows = make_rows(row_count, services)
        results: list[Result] = []
        summary = TicketSummary(0, 0)
        for way, batch in RUNS:
            # Plain first, then full, each in its own fresh copy, so neither warms the other's cache.
            paths = [("plain", "feedback_plain", template), ("full", "service_feedback", template)]
            if before:
                paths.append(("before", "service_feedback", old_template))
            for path, table, source in paths:
                with pg.fresh_database(source, prefix="gea_bench") as url:
                    info = pg.conninfo(url)
                    seconds = insert_batches(info, table, rows, way, batch)
                    if path == "full":
                        summary = count_tickets(info)
                results.append(Result(path, way, batch, row_count, seconds))
        return results, summary
    finally:
        pg.drop_database(template)
        pg.drop_database(old_template)


@dataclass(frozen=True)
class TicketSummary:
    tickets: int
    distinct_numbers: int


def count_tickets(conninfo: str) -> TicketSummary:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT ticket_number) FROM tickets").fetchone()
    assert row is not None
    return TicketSummary(int(row[0]), int(row[1]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows per run (default 20,000)")
    parser.add_argument("--before", metavar="REV", help="also the full path at this revision (e.g. 0006)")
    args = parser.parse_args(argv)
    largest = max(batch for _, batch in RUNS)
    if args.rows < largest:
        parser.error(f"--rows must be at least {largest}")

    results, summary = run(args.rows, args.before)
    share = 100 * summary.tickets / args.rows
    print(
        f"{args.rows:,} feedback rows per run made {summary.tickets:,} tickets ({share:.1f}%), "
        f"{summary.distinct_numbers:,} distinct ticket numbers"
    )
    print()
    print(f"{'way':<6} {'batch':>5}  {'path':<38} {'rows/s':>10}  {'seconds':>8}")
    by_key = {(r.path, r.way, r.batch): r for r in results}
    labels = {
        "plain": "trigger-free copy (baseline)",
        "full": "full trigger path (tickets, SLA, audit)",
        "before": f"full trigger path at {args.before}",
    }
    paths = ("plain", "full", "before") if args.before else ("plain", "full")
    for way, batch in RUNS:
        for path in paths:
            r = by_key[(path, way, batch)]
            print(f"{way:<6} {batch:>5}  {labels[path]:<38} {r.rows_per_second:>10,.0f}  {r.seconds:>8.2f}")
        for path in paths[1:]:
            ratio = by_key[(path, way, batch)].seconds / by_key[("plain", way, batch)].seconds
            print(f"{way:<6} {batch:>5}  ratio {labels[path]} / baseline (time): {ratio:.2f}x")
    print()


if __name__ == "__main__":
    main()
