"""Speed of the SLA scan (`gea-server sla-scan`) over 100,000 open tickets at a year of data.

Builds a scratch database as bench/desk.py does (N feedback rows, default 1,000,000, through
the real trigger path, about 30% becoming tickets, each with a life), then tops the open
tickets up to --open (default 100,000) with tickets whose deadlines are spread around now:
about a third overdue on one clock or both. Then, on one connection, in rounds that each roll
back so every round starts from the same rows:

- first scan: the running breaches of open tickets are not recorded yet (a scan after a long
  weekend with no scheduler): `record_sla_breaches()` records them all;
- next scan: a minute later everything is recorded, and only breaches whose hours overdue or
  escalation changed are written;
- baseline: the bare SELECT of the overdue open tickets the scan has to look at, rows fetched.

Prints p50 and p95 in milliseconds, the rows each scan wrote, and the ratio of each scan's
p95 to the baseline's, all measured in the same run. Nothing here asserts on time.

    python -m bench.sla_scan [--rows N] [--open M] [--rounds R]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from bench.desk import percentile, year_of_data

DEFAULT_ROWS = 1_000_000
DEFAULT_OPEN = 100_000
DEFAULT_ROUNDS = 15

# Open tickets, created over the last 30 days, with deadlines spread from 3 days before now to
# 9 days after: about a third past one target or both. Half have been answered.
TOP_UP = """
INSERT INTO tickets (entity_id, service_id, title, priority_id, status_id, sla_start, created_at,
                     response_target, responded_at, resolution_target)
SELECT s.entity_id, s.service_id, 'Open complaint ' || g, 1 + g %% 4, CASE WHEN g %% 2 = 0 THEN 2 ELSE 1 END,
       now() - interval '30 days' * r, now() - interval '30 days' * r,
       now() + interval '1 hour' * (-72 + 288 * random()),
       CASE WHEN g %% 2 = 0 THEN now() - interval '1 hour' * 100 * r END,
       now() + interval '1 hour' * (-48 + 264 * random())
FROM (SELECT g, random() AS r FROM generate_series(1, %(n)s) AS g) AS x
JOIN LATERAL (SELECT service_id, entity_id FROM service_master
              ORDER BY service_id OFFSET (x.g %% 12) LIMIT 1) AS s ON TRUE
"""

OVERDUE = """
SELECT ticket_id, response_target, resolution_target, waiting_since FROM tickets
WHERE (responded_at IS NULL AND response_target < now())
   OR (resolved_at IS NULL AND closed_at IS NULL AND resolution_target < now())
"""

FORGET_RUNNING = "DELETE FROM sla_breaches WHERE actual_time IS NULL"
SCAN = "SELECT new_breaches, new_escalations, updated FROM record_sla_breaches()"


def timed(
    conn: psycopg.Connection[Any], work: Callable[[], int], prepare: Callable[[], None]
) -> tuple[float, int]:
    """One round in a transaction that is rolled back: (milliseconds of `work`, rows it wrote)."""
    with conn.transaction(force_rollback=True):
        prepare()
        started = time.perf_counter()
        rows = work()
        return (time.perf_counter() - started) * 1000, rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="feedback rows (default 1,000,000)")
    parser.add_argument("--open", type=int, default=DEFAULT_OPEN, help="open tickets (default 100,000)")
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds of each measure (default 15)"
    )
    args = parser.parse_args(argv)
    if args.rows < 1000 or args.open < 1000 or args.rounds < 3:
        parser.error("use at least 1000 rows, 1000 open tickets and 3 rounds")

    with year_of_data(args.rows) as (info, data), psycopg.connect(info, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.17)")
        open_now = _one(conn, "SELECT count(*) FROM tickets WHERE status_id NOT IN (4, 5)")
        if open_now < args.open:
            conn.execute(TOP_UP, {"n": args.open - open_now})
        conn.execute("VACUUM ANALYZE tickets")
        conn.execute("VACUUM ANALYZE sla_breaches")
        open_total = _one(conn, "SELECT count(*) FROM tickets WHERE status_id NOT IN (4, 5)")
        tickets = _one(conn, "SELECT count(*) FROM tickets")
        # Record everything once, as a scheduler running every minute would have.
        conn.execute(SCAN)
        conn.execute("VACUUM ANALYZE sla_breaches")
        overdue = len(conn.execute(OVERDUE).fetchall())
        print(
            f"{data.feedback:,} feedback rows, {tickets:,} tickets, {open_total:,} open; "
            f"{overdue:,} open tickets past a target; generated in {data.seconds:.0f} s"
        )
        conn.autocommit = False
        results = _measure(conn, args.rounds)

    bare_p95 = percentile(results["bare SELECT of the overdue"][0], 95)
    print()
    print(f"{'':<34} {'p50 ms':>9} {'p95 ms':>9} {'rows written':>13} {'p95 ratio':>10}")
    for name, (times, rows) in results.items():
        p95 = percentile(times, 95)
        print(f"{name:<34} {percentile(times, 50):>9.1f} {p95:>9.1f} {rows:>13,} {p95 / bare_p95:>9.2f}x")


def _measure(conn: psycopg.Connection[Any], rounds: int) -> dict[str, tuple[list[float], int]]:
    def scan() -> int:
        row = conn.execute(SCAN).fetchone()
        assert row is not None
        return int(row[0]) + int(row[2])  # rows inserted + rows updated

    def bare() -> int:
        conn.execute(OVERDUE).fetchall()
        return 0

    def nothing() -> None:
        pass

    def forget() -> None:
        conn.execute(FORGET_RUNNING)

    results: dict[str, tuple[list[float], int]] = {
        "first scan (nothing recorded yet)": ([], 0),
        "next scan (a minute later)": ([], 0),
        "bare SELECT of the overdue": ([], 0),
    }
    for _ in range(rounds):  # interleaved, so a slow moment of the machine hits all three
        for name, work, prepare in (
            ("first scan (nothing recorded yet)", scan, forget),
            ("next scan (a minute later)", scan, nothing),
            ("bare SELECT of the overdue", bare, nothing),
        ):
            ms, rows = timed(conn, work, prepare)
            results[name][0].append(ms)
            results[name] = (results[name][0], rows)
    return results


def _one(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


if __name__ == "__main__":
    main()
