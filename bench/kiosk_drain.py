"""Drain speed of a kiosk's outbox: SyncWorker.drain_once against the direct insert and one
item per request.

A fresh kiosk data directory, enrolled against the real API (`gea-server serve` on a free
127.0.0.1 port, against a fresh copy of a migrated database with the demo catalog), queues
10,000 submissions offline, each in a durable transaction of its own with the payload the app
stores for a finished tap: about 30% of them rated 1-2 or marked a complaint, with a comment,
half of the sub-ratings given (bench/sync_server.py's mix). Then, each in a fresh database:

- **kiosk drain**: `SyncWorker.drain_once()` with its default batch size (250), the worker
  built as `gea-kiosk sync --once` builds it (`kiosk.bootstrap.sync_session`: the lock, the
  start-up recovery, the sync-health observer) on a copy of the queued kiosk, enrolled anew
  under the same device code: claim a batch in SQLite (one UPDATE ... RETURNING), POST it
  (the worker claims the next batch while it is in flight), settle the batch's answers
  (`outbox.settle`: one transaction, one UPDATE per kind of answer run for all its rows),
  tell the observers (counts kept in memory between reads of the outbox, sync health
  written at most once a second while syncing), repeat.
- **direct insert** (the baseline of ARCHITECTURE section 8): the same rows inserted straight
  into `service_feedback` through the same triggers with the API's own statement (one
  `INSERT ... SELECT FROM unnest(...)` per batch, services/ingest.py), in batches of the same
  size, one transaction per batch, from this machine.
- **one item per request**: the same rows, each POSTed alone (a one-item batch with its
  `device_status`) by a plain httpx client that keeps one connection open; bodies are
  encoded before the clock starts.

The drain and the direct insert run `--repeat` times (default 3) in turns, so each pair meets
the same moment of a shared machine's load: the table shows each path's median run, and
drain / direct is the median of the pairs' ratios, with their spread. One item per request
(over a minute) runs once and is compared with the median drain.

The rows are the kiosk's own (client_uuid, reference code, payload, recorded_at), read from
its outbox before the drain; only the reference code's device prefix is changed to the
device registered in each database. Each HTTP path sends two heartbeats before its clock
starts, so connections and the API's pools are open. Prints items/second, CPU seconds of the
client (this process: for the drain that is the whole kiosk side, SQLite included), the API
processes and the PostgreSQL backends, the two ratios, and the rows each database ended with:
a run that loses a row stops with an error. Nothing here asserts on time.

    python -m bench.kiosk_drain [--items N] [--batch N] [--workers N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bench.sync_server import (
    APP_VERSION,
    DEVICE_ENTITY,
    HEARTBEATS_BEFORE_TIMING,
    MAX_ITEMS,
    REQUEST_TIMEOUT_S,
    SUB_RATINGS,
    Device,
    Spec,
    add_devices,
    api_process,
    backend_pids,
    check_count,
    count_tickets,
    cpu_text,
    demo_template,
    descendants,
    insert_as_the_api_does,
    make_specs,
    sample,
    spent,
)
from bench.unwind import on_sigterm_unwind
from kiosk.bootstrap import sync_session
from kiosk.config import KioskSettings
from kiosk.local_db import identity, outbox
from kiosk.local_db.database import open_database
from kiosk.local_db.models import OutboxItem, OutboxState
from kiosk.sync import client as sync_client
from kiosk.sync.worker import SyncSettings
from tests.helpers import pg

DEFAULT_ITEMS = 10_000
DEFAULT_BATCH = SyncSettings().batch_size
DEFAULT_REPEAT = 3
PATHS = ("direct", "drain", "single")

Item = dict[str, Any]


@dataclass(frozen=True)
class Result:
    path: str
    items: int
    seconds: float
    stored: int  # feedback rows in the database afterwards
    tickets: int
    client_cpu: float
    api_cpu: float | None
    db_cpu: float | None

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds


@dataclass(frozen=True)
class Queued:
    """What the kiosk queued offline, in queue order, and how long that took."""

    device_code: str
    items: list[Item]
    seconds: float


# --- the kiosk ---------------------------------------------------------------------------


def kiosk_payload(spec: Spec) -> dict[str, Any]:
    """What the app stores for a finished tap: the first tap's fields, then the details."""
    payload: dict[str, Any] = {
        "service_id": spec.service_id,
        "entity_id": spec.entity_id,
        "rating": spec.rating,
        "channel": "kiosk",
        "misuse_suspected": False,
    }
    payload.update(
        (name, value) for name, value in zip(SUB_RATINGS, spec.subs, strict=True) if value is not None
    )
    if spec.text is not None:
        payload["feedback_text"] = spec.text
    if spec.grievance:
        payload["grievance_flag"] = True
    return payload


def queue_offline(engine: Engine, specs: Sequence[Spec]) -> float:
    """Each submission in a durable transaction of its own, straight to `pending`. (The app
    takes three: first tap, details, finish; the end state is the same row, and a third of
    the waiting is enough for a benchmark of the drain.)"""
    started = time.perf_counter()
    for spec in specs:
        outbox.enqueue(engine, kiosk_payload(spec), recorded_at=spec.recorded_at)
    return time.perf_counter() - started


def pending_items(engine: Engine) -> list[Item]:
    """The queued rows as the worker sends them, oldest first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(OutboxItem).where(OutboxItem.state == OutboxState.PENDING).order_by(OutboxItem.sequence)
        ).all()
        return [outbox.OutboxRow.of(row).wire_item() for row in rows]


def save_enrollment(
    engine: Engine, data_dir: Path, enrolled: sync_client.Enrollment, server_url: str
) -> None:
    """The kiosk's identity as `gea-kiosk enroll` saves it."""
    me = identity.Identity(enrolled.device_code, enrolled.entity_id, server_url, enrolled.public_base_url)
    identity.save(engine, data_dir, me, enrolled.device_token)


def queue_kiosk(template: str, specs: Sequence[Spec], data_dir: Path) -> Queued:
    """A kiosk enrolled against a fresh copy of the template (its device code is the first
    a fresh copy gives), with `specs` queued offline in `data_dir`; the file is closed."""
    with pg.fresh_database(template, prefix="gea_bench") as url, api_process(url, 1) as api:
        [(_, new)] = add_devices(pg.conninfo(url), 1)
        enrolled = sync_client.enroll(api.base_url, new.enrollment_code)
        engine = open_database(data_dir)
        try:
            save_enrollment(engine, data_dir, enrolled, api.base_url)
            queue_seconds = queue_offline(engine, specs)
            queued = Queued(enrolled.device_code, pending_items(engine), queue_seconds)
        finally:
            engine.dispose()  # the last connection: SQLite checkpoints the WAL into the file
    check_count("kiosk queue", len(queued.items), len(specs))
    return queued


def run_drain(
    template: str, queued: Queued, queue_dir: Path, batch: int, workers: int, data_dir: Path
) -> Result:
    """Drain a copy of the queued kiosk (`queue_dir`) into a fresh copy of the template, the
    kiosk enrolled anew there under the same device code, so every run drains the same file."""
    shutil.copytree(queue_dir, data_dir)
    count = len(queued.items)
    with pg.fresh_database(template, prefix="gea_bench") as url, api_process(url, workers) as api:
        info = pg.conninfo(url)
        [(device, new)] = add_devices(info, 1)
        if device.code != queued.device_code:
            raise RuntimeError(f"a fresh database gave {device.code}, the queue is {queued.device_code}'s")
        enrolled = sync_client.enroll(api.base_url, new.enrollment_code)
        engine = open_database(data_dir)
        try:
            save_enrollment(engine, data_dir, enrolled, api.base_url)
        finally:
            engine.dispose()
        # The worker as `gea-kiosk sync --once` builds it: the lock, the start-up recovery and
        # the observer that records sync health in the same SQLite file.
        sync_engine = open_database(data_dir)
        with sync_session(sync_engine, data_dir, KioskSettings(batch_size=batch)) as session:
            try:
                for _ in range(HEARTBEATS_BEFORE_TIMING):
                    session.worker.send_heartbeat()
                with psycopg.connect(info, autocommit=True) as monitor:
                    api_pids = descendants(api.pid)
                    db_before, api_before = sample(backend_pids(monitor)), sample(api_pids)
                    client_before, started = time.process_time(), time.perf_counter()
                    report = session.worker.drain_once()
                    seconds = time.perf_counter() - started
                    client_cpu = time.process_time() - client_before
                    db_cpu = spent(db_before, sample(backend_pids(monitor)))
                    api_cpu = spent(api_before, sample(api_pids))
                counts = outbox.counts(session.engine)
            finally:
                session.engine.dispose()
        if not report.ok or report.rejected or report.synced != count:
            raise RuntimeError(f"the drain did not deliver everything: {report}")
        check_count("kiosk outbox (synced)", counts["synced"], count)
        feedback, tickets = count_tickets(info)
    return Result("drain", count, seconds, feedback, tickets, client_cpu, api_cpu, db_cpu)


# --- the baselines -----------------------------------------------------------------------


def for_device(item: Item, kiosk_code: str, device_code: str) -> Item:
    """The same item, its reference code moved to another database's device."""
    suffix = item["reference_code"].removeprefix(kiosk_code)
    return {**item, "reference_code": device_code + suffix}


def direct_row(item: Item, device: Device) -> tuple[object, ...]:
    """The columns the API writes (bench.sync_server.COLUMNS), with its defaults."""
    return (
        uuid.UUID(item["client_uuid"]), item["reference_code"], item.get("channel", "kiosk"),
        item["service_id"], item["entity_id"], item["rating"], *(item.get(s) for s in SUB_RATINGS),
        item.get("grievance_flag", False), item.get("feedback_text"), item.get("category_id"),
        item.get("priority_id"), item.get("misuse_suspected", False), item.get("submitted_by"),
        datetime.fromisoformat(item["recorded_at"]), 0, device.device_id,
    )  # fmt: skip


def run_direct(template: str, queued: Queued, batch: int) -> Result:
    with pg.fresh_database(template, prefix="gea_bench") as url:
        info = pg.conninfo(url)
        [(device, _)] = add_devices(info, 1)
        rows = [
            direct_row(for_device(item, queued.device_code, device.code), device) for item in queued.items
        ]
        with psycopg.connect(info) as conn, conn.cursor() as cur:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            pid = int(row[0])
            conn.commit()
            db_before, client_before, started = sample([pid]), time.process_time(), time.perf_counter()
            for start in range(0, len(rows), batch):
                with conn.transaction():
                    insert_as_the_api_does(cur, rows[start : start + batch])
            seconds = time.perf_counter() - started
            client_cpu, db_cpu = time.process_time() - client_before, spent(db_before, sample([pid]))
        feedback, tickets = count_tickets(info)
    return Result("direct", len(rows), seconds, feedback, tickets, client_cpu, None, db_cpu)


def single_body(item: Item, queue_depth: int) -> bytes:
    status = {
        "queue_depth": queue_depth,
        "oldest_pending_at": item["recorded_at"],
        "device_time": datetime.now(UTC).isoformat(),
        "app_version": APP_VERSION,
        "printer": "ok",
    }
    return json.dumps({"items": [item], "device_status": status}, separators=(",", ":")).encode("utf-8")


def run_single(template: str, queued: Queued, workers: int) -> Result:
    with pg.fresh_database(template, prefix="gea_bench") as url, api_process(url, workers) as api:
        info = pg.conninfo(url)
        [(device, new)] = add_devices(info, 1)
        response = httpx.post(
            f"{api.base_url}/api/v1/devices/enroll", json={"enrollment_code": new.enrollment_code}
        )
        response.raise_for_status()
        headers = {
            "Authorization": f"Bearer {response.json()['device_token']}",
            "Content-Type": "application/json",
        }
        items = [for_device(item, queued.device_code, device.code) for item in queued.items]
        bodies = [single_body(item, len(items) - i) for i, item in enumerate(items)]
        replies: list[httpx.Response] = []
        # One connection, kept open: the best a client sending one item per request can do.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with (
            httpx.Client(
                base_url=api.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S, limits=limits
            ) as http,
            psycopg.connect(info, autocommit=True) as monitor,
        ):
            for _ in range(HEARTBEATS_BEFORE_TIMING):
                http.post("/api/v1/submissions", content=b'{"items":[]}').raise_for_status()
            api_pids = descendants(api.pid)
            db_before, api_before = sample(backend_pids(monitor)), sample(api_pids)
            client_before, started = time.process_time(), time.perf_counter()
            for body in bodies:
                replies.append(http.post("/api/v1/submissions", content=body))
            seconds = time.perf_counter() - started
            client_cpu = time.process_time() - client_before
            db_cpu = spent(db_before, sample(backend_pids(monitor)))
            api_cpu = spent(api_before, sample(api_pids))
        check_count("one item per request (created)", created(replies), len(items))
        feedback, tickets = count_tickets(info)
    return Result("single", len(items), seconds, feedback, tickets, client_cpu, api_cpu, db_cpu)


def created(replies: Sequence[httpx.Response]) -> int:
    count = 0
    for response in replies:
        if response.status_code != 200:
            raise RuntimeError(f"the API answered {response.status_code}: {response.text[:500]}")
        count += sum(1 for result in response.json()["results"] if result["status"] == "created")
    return count


# --- the run -----------------------------------------------------------------------------


def run(item_count: int, batch: int, workers: int, repeat: int) -> tuple[Queued, list[Result]]:
    with demo_template() as (template, services):
        specs = make_specs(item_count, services)
        results: list[Result] = []
        with tempfile.TemporaryDirectory(prefix="gea_bench_kiosk_") as tmp:
            queue_dir = Path(tmp) / "queued"
            queued = queue_kiosk(template, specs, queue_dir)
            # Drain and direct in turns, each in a fresh copy: on a shared machine each pair
            # meets the same moment's load, and its ratio is the one to trust.
            for n in range(repeat):
                results.append(
                    run_drain(template, queued, queue_dir, batch, workers, Path(tmp) / f"kiosk-{n}")
                )
                results.append(run_direct(template, queued, batch))
        results.append(run_single(template, queued, workers))
        return queued, results


def typical(results: Sequence[Result], path: str) -> Result:
    """The run of `path` with the median time (the lower of the two middle ones)."""
    runs = sorted((r for r in results if r.path == path), key=lambda r: r.seconds)
    return runs[(len(runs) - 1) // 2]


def pair_ratios(results: Sequence[Result]) -> list[float]:
    """drain / direct of each pair run one after the other."""
    drains = [r.seconds for r in results if r.path == "drain"]
    directs = [r.seconds for r in results if r.path == "direct"]
    return sorted(d / b for d, b in zip(drains, directs, strict=True))


def report(queued: Queued, results: Sequence[Result], batch: int, workers: int) -> None:
    count = len(queued.items)
    tickets = sorted({r.tickets for r in results})
    made = ", ".join(f"{t:,}" for t in tickets)
    commented = sum(1 for item in queued.items if item.get("feedback_text"))
    repeat = sum(1 for r in results if r.path == "drain")
    print(
        f"{count:,} items per run ({commented:,} with a comment) made {made} tickets "
        f"({100 * tickets[0] / count:.1f}%); kiosk enrolled at {DEVICE_ENTITY}; API: gea-server serve "
        f"--workers {workers} on 127.0.0.1; {os.cpu_count()} cores shared by kiosk, API and PostgreSQL"
    )
    print(
        f"queued offline, one durable transaction each (outbox.enqueue): {queued.seconds:.1f} s, "
        f"{count / queued.seconds:,.0f} submissions/s"
    )
    if repeat > 1:
        for path in ("drain", "direct"):
            times = ", ".join(f"{r.seconds:.2f}" for r in results if r.path == path)
            print(f"{path} runs, in turns with the other (s): {times}; the median run is shown")
    print()
    labels = {
        "direct": f"direct insert, batches of {batch}",
        "drain": f"kiosk drain_once, batches of {batch}",
        "single": "one item per request",
    }
    header = f"{'path':<34} {'items/s':>8} {'seconds':>8}"
    print(f"{header}   CPU seconds: {'client':>6} {'API':>6} {'PostgreSQL':>10}   {'feedback rows':>13}")
    shown = {path: typical(results, path) for path in PATHS}
    for path in PATHS:
        r = shown[path]
        ok = "ok" if r.stored == count else "LOST ROWS"
        print(
            f"{labels[path]:<34} {r.items_per_second:>8,.0f} {r.seconds:>8.2f}   {'':>12} "
            f"{cpu_text(r.client_cpu):>6} {cpu_text(r.api_cpu):>6} {cpu_text(r.db_cpu):>10}   "
            f"{r.stored:>10,} {ok}"
        )
    ratios = pair_ratios(results)
    spread = f" ({ratios[0]:.2f}-{ratios[-1]:.2f}x over {len(ratios)} pairs)" if len(ratios) > 1 else ""
    print(f"ratio drain / direct (time, the median pair): {ratios[(len(ratios) - 1) // 2]:.2f}x{spread}")
    print(
        "ratio one-per-request / drain (time, the median drain): "
        f"{shown['single'].seconds / shown['drain'].seconds:.2f}x"
    )
    print()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--items", type=int, default=DEFAULT_ITEMS, help=f"submissions per run (default {DEFAULT_ITEMS:,})"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"items per push and per direct transaction (default {DEFAULT_BATCH}, the worker's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="API worker processes (default: one per core)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"drain and direct runs, in turns (default {DEFAULT_REPEAT}); one item per request runs once",
    )
    args = parser.parse_args(argv)
    on_sigterm_unwind()
    if not 1 <= args.items <= MAX_ITEMS:
        parser.error(f"--items must be between 1 and {MAX_ITEMS:,}")
    if not 1 <= args.batch <= 500:
        parser.error("--batch must be between 1 and 500 (the server's limit)")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    queued, results = run(args.items, args.batch, args.workers, args.repeat)
    report(queued, results, args.batch, args.workers)
    lost = sorted({r.path for r in results if r.stored != len(queued.items)})
    if lost:
        raise SystemExit(f"rows were lost in: {', '.join(lost)}")


if __name__ == "__main__":
    main()
