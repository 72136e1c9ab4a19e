"""Latency of the kiosk's durable first tap, and the size of its SQLite file per queued row.

- **first tap**: `KioskServices.begin_feedback`, which checks the service against the cached
  catalog and commits an `open` row (WAL, synchronous=FULL: on disk when it returns), timed
  over 2,000 calls in a fresh data directory holding the demo catalog (stored straight into
  the catalog cache, in the shape the server sends) and an identity. After each tap the row
  is finished, untimed, as the next citizen's tap does in the app.
- **baselines**, measured in the same run, in the same directory, interleaved call by call
  with the taps so that all three see the same disk and the same background load:
  a bare `sqlite3` INSERT of a row of the same size into a file of its own with the same
  pragmas, in its own BEGIN IMMEDIATE ... COMMIT (SQLite's floor, no SQLAlchemy, no catalog);
  and a 200-byte append to a file followed by `os.fsync` (the disk's floor).
- **size**: 10,000 `pending` rows, each with a typical comment (28-153 characters) and
  sub-ratings, queued one transaction each (`outbox.enqueue`) in another fresh data
  directory; then `PRAGMA wal_checkpoint(TRUNCATE)`, and the database plus its WAL, less the
  same measure of the empty file, per row.

Prints p50/p95/p99/max in milliseconds, the ratios first tap / bare insert, and bytes per
row. Nothing here asserts on time.

    python -m bench.kiosk_submit [--calls N] [--rows N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.unwind import on_sigterm_unwind
from kiosk.local_db import database, identity, outbox
from kiosk.local_db.models import CatalogCache
from kiosk.services import SUB_RATINGS, KioskServices
from server_sync_api import demo, protocol

DEFAULT_CALLS = 2_000
DEFAULT_ROWS = 10_000
WARMUP_CALLS = 20  # not counted: the first calls load modules and fill SQLAlchemy's caches
FSYNC_BYTES = 200
DEVICE_CODE = "K0001"
ROOT_ENTITY = "GOV-000"
# Never contacted: nothing here talks to a server.
SERVER_URL = "http://127.0.0.1:9"
TOKEN = "bench-token-" + "x" * 32
COMMENTS = (
    "Waited over an hour and nobody told us why the queue had stopped.",
    "The clerk was helpful but the form was confusing; I had to fill it in twice because "
    "the instructions on the wall did not match the ones at the counter.",
    "Very quick today, thank you.",
    "Third visit for the same passport renewal. Each time I am told a different document is "
    "missing. Please publish one list of what is needed and keep to it.",
    "No seats for the elderly in the waiting area and the air conditioning was off.",
    "Staff were polite, but the payment machine was out of order and cash was the only option, "
    "which nobody mentioned when I booked the appointment online.",
)


# --- the data directory ------------------------------------------------------------------


def demo_catalog() -> dict[str, Any]:
    """The demo catalog in the shape GET /api/v1/catalog answers. Category chains are left
    empty: they come from the server's database, and a first tap does not use them."""
    catalog = protocol.Catalog(
        device_code=DEVICE_CODE,
        entity_id=ROOT_ENTITY,
        public_base_url=SERVER_URL,
        entities=[
            protocol.CatalogEntity(entity_id=e, name=n, entity_type=t, parent_entity_id=p, active=True)
            for e, n, t, p in demo.ENTITIES
        ],
        services=[
            protocol.CatalogService(
                service_id=s,
                name=n,
                entity_id=e,
                service_category=c,
                description=d,
                active=True,
                category_ids=[],
            )
            for s, n, e, c, d in demo.SERVICES
        ],
        categories=[],
        priorities=[],
        limits=protocol.CatalogLimits(),
    )
    return catalog.model_dump(mode="json")


@contextmanager
def kiosk_dir(parent: Path | None) -> Iterator[tuple[Path, Engine]]:
    """A fresh, enrolled data directory with the demo catalog cached; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="gea_bench_kiosk_", dir=parent) as tmp:
        data_dir = Path(tmp)
        engine = database.open_database(data_dir)
        try:
            me = identity.Identity(DEVICE_CODE, ROOT_ENTITY, SERVER_URL, SERVER_URL)
            identity.save(engine, data_dir, me, TOKEN)
            with Session(engine) as session, session.begin():
                session.add(CatalogCache(id=1, etag=None, body=demo_catalog(), fetched_at=outbox.utcnow()))
            yield data_dir, engine
        finally:
            engine.dispose()


# --- latency -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    label: str
    samples_ns: list[int]

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.samples_ns)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / 1e6

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.samples_ns) / 1e6


class BareInsert:
    """One row of the same size per transaction through sqlite3 itself, same pragmas."""

    def __init__(self, path: Path, payload: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            f"busy_timeout={round(database.BUSY_TIMEOUT_S * 1000)}",
        ):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute(
            "CREATE TABLE item (id INTEGER PRIMARY KEY, client_uuid TEXT UNIQUE, reference_code TEXT "
            "UNIQUE, payload TEXT, recorded_at TEXT, state TEXT)"
        )
        self._payload = payload
        self._sequence = 0

    def __call__(self) -> None:
        self._sequence += 1
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute(
            "INSERT INTO item (client_uuid, reference_code, payload, recorded_at, state) "
            "VALUES (?, ?, ?, ?, 'open')",
            (
                str(uuid.uuid4()),
                f"{DEVICE_CODE}-{self._sequence:06d}-ABCD",
                self._payload,
                outbox.utcnow().isoformat(),
            ),
        )
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


class FsyncAppend:
    """The disk's floor: a small append made durable."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._block = b"x" * FSYNC_BYTES

    def __call__(self) -> None:
        os.write(self._fd, self._block)
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def measure_taps(calls: int, parent: Path | None, seed: int = 7) -> list[Latency]:
    rnd = random.Random(seed)
    service_ids = [s[0] for s in demo.SERVICES]
    with kiosk_dir(parent) as (data_dir, engine):
        services = KioskServices(engine)
        # The open row's payload, for a bare insert of the same size.
        sample_payload = json.dumps(
            {
                "service_id": "SVC-001",
                "entity_id": "AGY-002",
                "rating": 4,
                "channel": "kiosk",
                "misuse_suspected": False,
            }
        )
        bare = BareInsert(data_dir / "baseline.sqlite3", sample_payload)
        flush = FsyncAppend(data_dir / "baseline.bin")
        try:
            taps: list[int] = []
            inserts: list[int] = []
            fsyncs: list[int] = []
            for i in range(WARMUP_CALLS + calls):
                started = time.perf_counter_ns()
                submission = services.begin_feedback(rnd.choice(service_ids), rnd.randint(1, 5))
                tap = time.perf_counter_ns() - started
                services.finish_feedback(submission.client_uuid)  # the next citizen's tap does this
                started = time.perf_counter_ns()
                bare()
                insert = time.perf_counter_ns() - started
                started = time.perf_counter_ns()
                flush()
                fsync = time.perf_counter_ns() - started
                if i >= WARMUP_CALLS:
                    taps.append(tap)
                    inserts.append(insert)
                    fsyncs.append(fsync)
            counts = outbox.counts(engine)
        finally:
            bare.close()
            flush.close()
    if counts["pending"] != WARMUP_CALLS + calls:
        raise RuntimeError(f"expected {WARMUP_CALLS + calls:,} pending rows, found {counts}")
    return [
        Latency("first tap: KioskServices.begin_feedback", taps),
        Latency("bare sqlite3 INSERT, own transaction", inserts),
        Latency(f"append {FSYNC_BYTES} bytes + fsync", fsyncs),
    ]


# --- size --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    rows: int
    empty_bytes: int  # db + wal after a checkpoint, before any row
    full_bytes: int  # the same after the rows
    wal_before_checkpoint: int
    mean_comment_chars: float

    @property
    def bytes_per_row(self) -> float:
        return (self.full_bytes - self.empty_bytes) / self.rows


def file_bytes(data_dir: Path) -> tuple[int, int]:
    """(db + wal after a checkpoint, wal before it). The checkpoint runs on a connection of
    its own, outside any transaction, so that it can move the whole WAL and truncate it."""
    path = database.database_path(data_dir)
    wal = path.with_name(path.name + "-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RuntimeError("the checkpoint could not finish: is another process using the file?")
    after = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return after, wal_before


def measure_size(rows: int, parent: Path | None, seed: int = 11) -> Size:
    rnd = random.Random(seed)
    services = [(s[0], s[2]) for s in demo.SERVICES]
    with kiosk_dir(parent) as (data_dir, engine):
        empty, _ = file_bytes(data_dir)
        lengths = []
        for _ in range(rows):
            service_id, entity_id = rnd.choice(services)
            comment = rnd.choice(COMMENTS)
            lengths.append(len(comment))
            rating = rnd.randint(1, 5)
            # The payload a finished tap leaves: the first tap's fields and the details.
            payload = {
                "service_id": service_id,
                "entity_id": entity_id,
                "rating": rating,
                "channel": "kiosk",
                "misuse_suspected": False,
                **{name: rnd.randint(1, 5) for name in SUB_RATINGS},
                "feedback_text": comment,
                "grievance_flag": rating <= 2,
            }
            outbox.enqueue(engine, payload)
        full, wal_before = file_bytes(data_dir)
        pending = outbox.counts(engine)["pending"]
    if pending != rows:
        raise RuntimeError(f"expected {rows:,} pending rows, found {pending:,}")
    return Size(rows, empty, full, wal_before, statistics.fmean(lengths))


# --- report ------------------------------------------------------------------------------


def report(latencies: Sequence[Latency], size: Size, calls: int, where: str) -> None:
    print(
        f"{calls:,} calls each (after {WARMUP_CALLS} uncounted), interleaved, in {where}; "
        f"{os.cpu_count()} cores"
    )
    print()
    print(f"{'':<42} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for latency in latencies:
        print(
            f"{latency.label:<42} {latency.quantile_ms(0.50):>8.2f} {latency.quantile_ms(0.95):>8.2f} "
            f"{latency.quantile_ms(0.99):>8.2f} {latency.quantile_ms(1.0):>8.2f} {latency.mean_ms:>8.2f}"
        )
    tap, bare, fsync = latencies
    for q, name in ((0.50, "p50"), (0.99, "p99")):
        print(
            f"ratio first tap / bare insert ({name}): {tap.quantile_ms(q) / bare.quantile_ms(q):.2f}x; "
            f"bare insert / fsync ({name}): {bare.quantile_ms(q) / fsync.quantile_ms(q):.2f}x"
        )
    print()
    added = size.full_bytes - size.empty_bytes
    print(
        f"{size.rows:,} pending rows with a comment (mean {size.mean_comment_chars:.0f} characters) "
        f"and four sub-ratings: {added / 1e6:.2f} MB added (db + wal after a checkpoint; the empty "
        f"file is {size.empty_bytes / 1e3:.0f} kB), {size.bytes_per_row:,.0f} bytes/row, "
        f"{size.bytes_per_row * 10_000 / 1e6:.2f} MB per 10,000 rows; the WAL reached "
        f"{size.wal_before_checkpoint / 1e6:.2f} MB before the checkpoint"
    )
    print()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--calls", type=int, default=DEFAULT_CALLS, help=f"timed first taps (default {DEFAULT_CALLS:,})"
    )
    parser.add_argument(
        "--rows", type=int, default=DEFAULT_ROWS, help=f"rows queued for the size (default {DEFAULT_ROWS:,})"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where to make the throwaway data directories (default: the system's temporary "
        "directory); point it at the disk the kiosk uses",
    )
    args = parser.parse_args(argv)
    on_sigterm_unwind()
    if args.calls < 100:
        parser.error("--calls must be at least 100 (a p99 needs them)")
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if args.dir is not None and not args.dir.is_dir():
        parser.error(f"--dir {args.dir} is not a directory")
    latencies = measure_taps(args.calls, args.dir)
    size = measure_size(args.rows, args.dir)
    report(latencies, size, args.calls, str(args.dir or tempfile.gettempdir()))


if __name__ == "__main__":
    main()
