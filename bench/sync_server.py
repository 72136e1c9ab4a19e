"""Ingest speed of the sync API: POST /api/v1/submissions against the direct insert.

The same 10,000 kiosk submissions (about 30% of them make tickets) go into feedback_db two
ways, in batches of 100 and 500, from 1 and from 8 concurrent clients:

- **HTTP API**: each client is an enrolled kiosk with its own device code and token, posting
  its share of the items with httpx, one batch per request, each with its `device_status`
  (what a kiosk's sync worker sends). The bodies are encoded before the clock starts.
- **direct insert**: the same rows inserted straight into `service_feedback` through the
  same triggers with the API's own statement (one `INSERT ... SELECT FROM unnest(...)` per
  batch, services/ingest.py), in batches of the same size, one transaction per batch, from
  this machine; with 8 clients, 8 threads each insert their share. The ratio HTTP / direct is
  against this, the fastest way there is (docs/decisions.md, "The direct-insert baseline is
  the API's own statement").
- **in flight**: how many requests each client keeps on their way, and how many direct
  transactions each client runs at once (its batches shared in turn between that many
  connections of its own). 1 is a client that waits for each answer before it sends the next
  batch; 2 is what a kiosk's sync worker does (`SyncSettings.pushes_in_flight`). Two direct
  transactions at once are a stricter baseline than ARCHITECTURE section 8's one batch at a
  time: on 2 shared cores they keep both busy. With 2 in flight the report gives HTTP's
  ratio to both.
- **row by row**: ARCHITECTURE section 8's baseline, the same batches by psycopg's pipelined
  `executemany`, one INSERT per row; since the triggers run per statement (0007) it pays them
  per row. Its ratio is printed too, for comparison with that section's definition, for one
  client only: concurrent row-by-row transactions take the services' totals rows in
  different orders and deadlock over and over.

Each run gets a fresh copy of a migrated template database, so feedback and tickets start
empty, as on a new installation, and PostgreSQL has no statistics on them during the run (no
autovacuum ANALYZE comes within a few seconds). Prints items/second, the CPU
seconds the client, the API processes and the PostgreSQL backends spent (from /proc, Linux
only), the API's and PostgreSQL's CPU microseconds per item (the figures to compare between
runs on a busy machine, where wall-clock times move with whatever else runs), and the ratio
HTTP / direct of the wall-clock times. Nothing here asserts on time.

With `--pin`, PostgreSQL has a core of its own, as on a server where the database runs on its
own host or cores: a private cluster (initdb in a temporary directory, durable settings, on a
free 127.0.0.1 port; tests/helpers/private_pg.py) is pinned to the first core, and the clients
and the API to the others (Linux `sched_setaffinity`). With several clients the API's work then
overlaps the database's instead of taking turns with it for the same cores; with one client
sending one request at a time it still adds to it.

The API runs as a separate process, `gea-server serve --host 127.0.0.1 --port P --workers N`
(N = the number of cores unless `--workers` says otherwise), started for each HTTP run and
stopped at its end. That is the deployment: uvicorn with uvloop and httptools, several worker
processes, proxy headers and access log on, and its own interpreter. An in-process uvicorn
thread would share this process's GIL with the httpx clients and run one worker only, so it
would measure the client's contention more than the server. Clients, API workers and
PostgreSQL all share this machine's cores, as the direct insert's client does.

    python -m bench.sync_server [--items N] [--workers N] [--batch 100|500]... [--clients 1|8]...
                                [--in-flight 1|2]... [--pin]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import URL

from server_sync_api.security import CROCKFORD
from server_sync_api.services import devices, ingest
from tests.helpers import pg
from tests.helpers.private_pg import private_cluster
from tests.helpers.server import free_port

BATCH_SIZES = (100, 500)
CLIENT_COUNTS = (1, 8)
# Requests (or direct transactions) each client keeps on their way: 1, a client that waits for
# each answer; 2, a kiosk's sync worker (SyncSettings.pushes_in_flight).
IN_FLIGHT = (1, 2)
DEFAULT_ITEMS = 10_000
MAX_ITEMS = 999_999  # the reference code's sequence has six digits
# The root entity: a kiosk enrolled there may submit for every service of the demo catalog.
DEVICE_ENTITY = "GOV-000"
APP_VERSION = "bench"
HEARTBEATS_BEFORE_TIMING = 2
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 120.0
SUB_RATINGS = ("service_quality", "staff_behavior", "waiting_time", "cleanliness")
# What the API inserts (services/ingest.py), in the same order.
COLUMNS = (
    "client_uuid", "reference_code", "channel", "service_id", "entity_id", "rating",
    "service_quality", "staff_behavior", "waiting_time", "cleanliness", "grievance_flag",
    "feedback_text", "category_id", "priority_id", "misuse_suspected", "submitted_by", "recorded_at",
    "clock_offset_s", "device_id",
)  # fmt: skip
INSERT = f"INSERT INTO service_feedback ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"


def insert_as_the_api_does(cur: psycopg.Cursor[Any], rows: Sequence[tuple[object, ...]]) -> None:
    """One batch of one device in one statement, the API's own `INSERT ... SELECT FROM unnest`
    (services/ingest.py), so the direct insert and the HTTP path run the same SQL."""
    columns = list(zip(*rows, strict=True))
    params: dict[str, object] = {
        name: list(values)
        for name, values in zip(ingest.BATCH_COLUMNS, columns[: len(ingest.BATCH_COLUMNS)], strict=True)
    }
    params["offset"], params["device_id"] = rows[0][-2], rows[0][-1]
    cur.execute(ingest.INSERT_BATCH, params)


# --- the items ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One citizen's submission, before it is given to a device."""

    client_uuid: uuid.UUID
    sequence: int
    suffix: str
    service_id: str
    entity_id: str
    rating: int
    subs: tuple[int | None, ...]
    grievance: bool
    text: str | None
    recorded_at: datetime

    def reference_code(self, device_code: str) -> str:
        return f"{device_code}-{self.sequence:06d}-{self.suffix}"


def make_specs(count: int, services: Sequence[tuple[str, str]], seed: int = 42) -> list[Spec]:
    """Kiosk ratings as in bench/db_ingest.py: ~25% rated 1-2, ~5% grievances on a better rating."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    specs: list[Spec] = []
    for i in range(count):
        service_id, entity_id = services[rnd.randrange(len(services))]
        rating = rnd.choices((1, 2, 3, 4, 5), weights=(12, 13, 15, 30, 30))[0]
        grievance = rating >= 3 and rnd.random() < 0.07
        specs.append(
            Spec(
                client_uuid=uuid.UUID(int=rnd.getrandbits(128), version=4),
                sequence=i + 1,
                suffix="".join(rnd.choice(CROCKFORD) for _ in range(4)),
                service_id=service_id,
                entity_id=entity_id,
                rating=rating,
                subs=tuple(rnd.randint(1, 5) if rnd.random() < 0.5 else None for _ in SUB_RATINGS),
                grievance=grievance,
                text=(
                    "The queue did not move for an hour. " * rnd.randint(1, 6)
                    if rating <= 2 or grievance
                    else None
                ),
                recorded_at=now - timedelta(minutes=rnd.randint(0, 3 * 24 * 60)),
            )
        )
    return specs


def shares(specs: Sequence[Spec], clients: int) -> list[list[Spec]]:
    """Contiguous, nearly equal shares, one per client."""
    size, extra = divmod(len(specs), clients)
    result, start = [], 0
    for i in range(clients):
        end = start + size + (1 if i < extra else 0)
        result.append(list(specs[start:end]))
        start = end
    return result


def batches(items: Sequence[Spec], batch: int) -> list[Sequence[Spec]]:
    return [items[start : start + batch] for start in range(0, len(items), batch)]


def item_json(spec: Spec, device_code: str) -> dict[str, Any]:
    return {
        "client_uuid": str(spec.client_uuid),
        "reference_code": spec.reference_code(device_code),
        "channel": "kiosk",
        "service_id": spec.service_id,
        "entity_id": spec.entity_id,
        "rating": spec.rating,
        **dict(zip(SUB_RATINGS, spec.subs, strict=True)),
        "grievance_flag": spec.grievance,
        "feedback_text": spec.text,
        "category_id": None,
        "priority_id": None,
        "misuse_suspected": False,
        "submitted_by": None,
        "recorded_at": spec.recorded_at.isoformat(),
    }


def batch_body(items: Sequence[Spec], device_code: str, queue_depth: int) -> bytes:
    status = {
        "queue_depth": queue_depth,
        "oldest_pending_at": min(s.recorded_at for s in items).isoformat(),
        "device_time": datetime.now(UTC).isoformat(),
        "app_version": APP_VERSION,
        "printer": "ok",
    }
    body = {"items": [item_json(s, device_code) for s in items], "device_status": status}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def direct_row(spec: Spec, device: Device) -> tuple[object, ...]:
    return (
        spec.client_uuid, spec.reference_code(device.code), "kiosk", spec.service_id, spec.entity_id,
        spec.rating, *spec.subs, spec.grievance, spec.text, None, None, False, None, spec.recorded_at,
        0, device.device_id,
    )  # fmt: skip


# --- CPU accounting (Linux /proc) --------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process so far, or None when it is gone or /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """The process and everything it started, as far as /proc tells."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        queue.extend(int(child) for child in children)
    return found


def sample(pids: Sequence[int]) -> dict[int, float]:
    return {pid: cpu for pid in pids if (cpu := cpu_seconds(pid)) is not None}


def spent(before: dict[int, float], after: dict[int, float]) -> float | None:
    """CPU spent between two samples; processes that appeared in between count from zero."""
    if not after:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def backend_pids(conn: psycopg.Connection[Any]) -> list[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return [int(r[0]) for r in rows]


# --- runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    device_id: int
    code: str


@dataclass(frozen=True)
class Result:
    path: str
    batch: int
    clients: int
    in_flight: int
    items: int
    seconds: float
    tickets: int
    client_cpu: float
    api_cpu: float | None
    db_cpu: float | None

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds


def add_devices(conninfo: str, count: int) -> list[tuple[Device, devices.NewCode]]:
    """Register `count` kiosks as `gea-server devices add` does."""
    added = []
    with psycopg.connect(conninfo) as conn:
        for i in range(count):
            new = devices.add_device(conn, f"Bench counter {i + 1}", DEVICE_ENTITY, ttl_hours=1)
            row = conn.execute(
                "SELECT device_id FROM kiosk_devices WHERE device_code = %s", (new.device_code,)
            ).fetchone()
            assert row is not None
            added.append((Device(int(row[0]), new.device_code), new))
    return added


def count_tickets(conninfo: str) -> tuple[int, int]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM service_feedback), (SELECT count(*) FROM tickets)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def run_threads(workers: Sequence[Callable[[], None]]) -> float:
    """Start every worker at the same moment; returns the wall-clock seconds until all end."""
    start = threading.Barrier(len(workers) + 1)
    errors: list[BaseException] = []

    def body(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=body, args=(w,), name=f"bench-client-{i}") for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return seconds


def run_direct(
    template: str, parts: list[list[Spec]], batch: int, in_flight: int = 1, path: str = "direct"
) -> Result:
    """`path` "direct": the API's statement per batch; "rows": one INSERT per row, pipelined.
    Each client's batches are shared in turn between `in_flight` connections of its own."""
    with pg.fresh_database(template, prefix="gea_bench") as url, ExitStack() as stack:
        info = pg.conninfo(url)
        added = add_devices(info, len(parts))
        conns = [stack.enter_context(psycopg.connect(info)) for _ in range(len(parts) * in_flight)]
        pids = []
        for conn in conns:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            pids.append(int(row[0]))
            conn.commit()
        work = []
        deadlocks: list[int] = []
        for n, conn in enumerate(conns):
            part, (device, _) = parts[n // in_flight], added[n // in_flight]
            rows = [direct_row(spec, device) for spec in part]
            turns = range((n % in_flight) * batch, len(rows), in_flight * batch)

            def insert(
                conn: psycopg.Connection[Any] = conn,
                rows: list[tuple[object, ...]] = rows,
                turns: range = turns,
            ) -> None:
                with conn.cursor() as cur:
                    for start in turns:
                        while True:
                            try:
                                with conn.transaction():
                                    if path == "rows":
                                        cur.executemany(INSERT, rows[start : start + batch])
                                    else:
                                        insert_as_the_api_does(cur, rows[start : start + batch])
                                break
                            except psycopg.errors.DeadlockDetected:
                                # Row by row, concurrent batches take the month's counter and
                                # the services' totals in different orders; retried, as the
                                # API retries its own (services/ingest.py).
                                deadlocks.append(start)

            work.append(insert)
        db_before, client_before = sample(pids), time.process_time()
        seconds = run_threads(work)
        client_cpu, db_after = time.process_time() - client_before, sample(pids)
        for conn in conns:
            conn.close()
        feedback, tickets = count_tickets(info)
    check_count(path, feedback, sum(map(len, parts)))
    if deadlocks:
        retried = len(deadlocks)
        print(
            f"({path}, batch {batch}, {len(parts)} clients, {in_flight} in flight: "
            f"{retried} batches deadlocked and were retried)"
        )
    return Result(
        path,
        batch,
        len(parts),
        in_flight,
        feedback,
        seconds,
        tickets,
        client_cpu,
        None,
        spent(db_before, db_after),
    )


@dataclass(frozen=True)
class ApiProcess:
    base_url: str
    pid: int


def gea_server_command() -> str:
    beside = Path(sys.executable).with_name("gea-server")
    found = str(beside) if beside.exists() else shutil.which("gea-server")
    if found is None:
        raise SystemExit("gea-server is not installed: run `make test` or pip install -e '.[server,kiosk]'.")
    return found


@contextmanager
def api_process(db_url: URL, workers: int) -> Iterator[ApiProcess]:
    """`gea-server serve` on a free 127.0.0.1 port against `db_url`, stopped when the block ends."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False),
        "GEA_SERVER_IP_HASH_SECRET": secrets.token_urlsafe(32),
        "GEA_SERVER_PUBLIC_BASE_URL": base_url,
    }
    command = [gea_server_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with tempfile.TemporaryFile(mode="w+") as log:
        # Its own session, so a server that ignores SIGTERM can be stopped with its workers.
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_ready(base_url, process, log)
            yield ApiProcess(base_url, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    log.seek(0)
    tail = "".join(log.readlines()[-20:])
    raise RuntimeError(f"gea-server serve did not become ready at {base_url}:\n{tail}")


def run_http(template: str, parts: list[list[Spec]], batch: int, workers: int, in_flight: int = 1) -> Result:
    """Each client keeps `in_flight` requests on their way, on threads sharing its httpx
    client (and so its connections), as a kiosk's sync worker does with two."""
    with pg.fresh_database(template, prefix="gea_bench") as url, api_process(url, workers) as api:
        info = pg.conninfo(url)
        added = add_devices(info, len(parts))
        with ExitStack() as stack:
            clients = []
            for _, new in added:
                response = httpx.post(
                    f"{api.base_url}/api/v1/devices/enroll", json={"enrollment_code": new.enrollment_code}
                )
                response.raise_for_status()
                token = response.json()["device_token"]
                client = httpx.Client(
                    base_url=api.base_url,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    timeout=REQUEST_TIMEOUT_S,
                )
                clients.append(stack.enter_context(client))
            # Heartbeats open each client's connection and warm the workers' pools.
            for client in clients:
                for _ in range(HEARTBEATS_BEFORE_TIMING):
                    client.post("/api/v1/submissions", content=b'{"items":[]}').raise_for_status()
            answers: list[list[httpx.Response]] = [[] for _ in parts]
            work = []
            for client, part, (device, _), replies in zip(clients, parts, added, answers, strict=True):
                groups = batches(part, batch)
                bodies = [
                    batch_body(group, device.code, len(part) - i * batch) for i, group in enumerate(groups)
                ]

                for turn in range(in_flight):

                    def send(
                        client: httpx.Client = client,
                        bodies: list[bytes] = bodies[turn::in_flight],
                        replies: list[httpx.Response] = replies,
                    ) -> None:
                        for body in bodies:
                            replies.append(client.post("/api/v1/submissions", content=body))

                    work.append(send)
            with psycopg.connect(info, autocommit=True) as monitor:
                api_pids = descendants(api.pid)
                before = sample(backend_pids(monitor)), sample(api_pids), time.process_time()
                seconds = run_threads(work)
                client_cpu = time.process_time() - before[2]
                db_cpu = spent(before[0], sample(backend_pids(monitor)))
                api_cpu = spent(before[1], sample(api_pids))
        created = check_answers(answers)
        feedback, tickets = count_tickets(info)
    check_count("HTTP", feedback, sum(map(len, parts)))
    check_count("HTTP (created)", created, feedback)
    return Result(
        "http", batch, len(parts), in_flight, feedback, seconds, tickets, client_cpu, api_cpu, db_cpu
    )


def check_answers(answers: list[list[httpx.Response]]) -> int:
    """Every batch answered 200 and every item `created`; returns how many were."""
    created = 0
    for replies in answers:
        for response in replies:
            if response.status_code != 200:
                raise RuntimeError(f"the API answered {response.status_code}: {response.text[:500]}")
            for result in response.json()["results"]:
                if result["status"] != "created":
                    raise RuntimeError(f"an item was not created: {result}")
                created += 1
    return created


def check_count(path: str, stored: int, sent: int) -> None:
    if stored != sent:
        raise RuntimeError(f"{path}: {sent:,} items sent but {stored:,} stored; the figures mean nothing")


@contextmanager
def demo_template() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A migrated template database with the demo catalog, and its (service_id, entity_id)
    pairs; each run copies it into a fresh database. Dropped afterwards."""
    pg.check_admin_connection()
    template = f"gea_bench_tpl_{uuid.uuid4().hex[:8]}"
    pg.create_template(template)
    try:
        with psycopg.connect(pg.conninfo(pg.admin_url().set(database=template))) as conn:
            services = [
                (str(r[0]), str(r[1]))
                for r in conn.execute("SELECT service_id, entity_id FROM service_master ORDER BY 1")
            ]
        yield template, services
    finally:
        pg.drop_database(template)


def run(
    item_count: int,
    workers: int,
    batch_sizes: Sequence[int],
    client_counts: Sequence[int],
    in_flights: Sequence[int] = (1,),
) -> list[Result]:
    with demo_template() as (template, services):
        specs = make_specs(item_count, services)
        results: list[Result] = []
        for batch in batch_sizes:
            for clients in client_counts:
                parts = shares(specs, clients)
                for in_flight in in_flights:
                    # Direct first, then HTTP, each in its own fresh copy.
                    results.append(run_direct(template, parts, batch, in_flight))
                    results.append(run_http(template, parts, batch, workers, in_flight))
                if clients == 1 and 1 in in_flights:
                    # Concurrent row-by-row writers take the services' totals in different
                    # orders and deadlock over and over (each retry waits out deadlock_timeout):
                    # that baseline is measured with one client, one transaction at a time.
                    results.append(run_direct(template, parts, batch, path="rows"))
        return results


@contextmanager
def postgres_on_its_own_core() -> Iterator[str]:
    """A private cluster pinned to the first core this process may use, and this process (the
    clients, and the API it starts) to the others; the benches' databases go there
    (GEA_TEST_PG_URL) until the block ends. Yields what to print."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--pin needs at least 2 cores: one for PostgreSQL, the rest for the rest")
    database_core, others = cores[0], set(cores[1:])
    before = os.environ.get(pg.ADMIN_URL_ENV)
    with private_cluster("gea-bench-pg-", durable=True) as cluster:
        postmaster = cluster.running_pid()
        if postmaster is None:
            raise RuntimeError("the private cluster's postmaster was not found")
        # Its helpers (checkpointer, WAL writer, ...) now, and every backend it forks later.
        for pid in (postmaster, *descendants(postmaster)):
            os.sched_setaffinity(pid, {database_core})
        os.sched_setaffinity(0, others)
        os.environ[pg.ADMIN_URL_ENV] = cluster.url("postgres").render_as_string(hide_password=False)
        try:
            yield (
                f"PostgreSQL (a private cluster, durable settings) pinned to core {database_core}; "
                f"clients and API to core(s) {', '.join(map(str, sorted(others)))}"
            )
        finally:
            os.sched_setaffinity(0, set(cores))
            if before is None:
                os.environ.pop(pg.ADMIN_URL_ENV, None)
            else:
                os.environ[pg.ADMIN_URL_ENV] = before


# --- report ------------------------------------------------------------------------------


def cpu_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def per_item_text(value: float | None, items: int) -> str:
    """CPU microseconds per item: the figure to compare between runs on a busy machine, where
    wall-clock times move with what else runs."""
    return "-" if value is None else f"{value / items * 1e6:.0f}"


def report(results: Sequence[Result], item_count: int, workers: int, placement: str | None = None) -> None:
    tickets = sorted({r.tickets for r in results})
    made = ", ".join(f"{t:,}" for t in tickets)
    share = 100 * tickets[0] / item_count
    cores = placement or f"{os.cpu_count()} cores shared by clients, API and PostgreSQL"
    print(
        f"{item_count:,} items per run made {made} tickets ({share:.1f}%); "
        f"API: gea-server serve --workers {workers} on 127.0.0.1; {cores}"
    )
    print()
    header = f"{'batch':>5} {'clients':>7} {'in flight':>9}  {'path':<14} {'items/s':>8} {'seconds':>8}"
    print(
        f"{header}   CPU seconds: {'client':>6} {'API':>6} {'PostgreSQL':>10}"
        f"   CPU µs per item: {'API':>4} {'PostgreSQL':>10}"
    )
    by_key = {(r.path, r.batch, r.clients, r.in_flight): r for r in results}
    labels = {"direct": "direct insert", "http": "HTTP API", "rows": "row by row"}
    for batch in sorted({r.batch for r in results}):
        for clients in sorted({r.clients for r in results}):
            for in_flight in sorted({r.in_flight for r in results if r.path == "http"}):
                key = (batch, clients, in_flight)
                for path in ("direct", "http", "rows"):
                    if (path, *key) not in by_key:
                        continue
                    r = by_key[(path, *key)]
                    print(
                        f"{batch:>5} {clients:>7} {in_flight:>9}  {labels[path]:<14} "
                        f"{r.items_per_second:>8,.0f} {r.seconds:>8.2f}   {'':>12} "
                        f"{cpu_text(r.client_cpu):>6} {cpu_text(r.api_cpu):>6} {cpu_text(r.db_cpu):>10}"
                        f"   {'':>16} {per_item_text(r.api_cpu, r.items):>4} "
                        f"{per_item_text(r.db_cpu, r.items):>10}"
                    )
                http = by_key[("http", *key)].seconds
                ratio = http / by_key[("direct", *key)].seconds
                rows = by_key.get(("rows", *key))
                by_rows = (
                    ""
                    if rows is None
                    else f"; HTTP / row by row (ARCHITECTURE 8): {http / rows.seconds:.2f}x"
                )
                one_at_a_time = by_key.get(("direct", batch, clients, 1))
                by_one = (
                    ""
                    if in_flight == 1 or one_at_a_time is None
                    else f"; HTTP / direct one batch at a time (ARCHITECTURE 8): "
                    f"{http / one_at_a_time.seconds:.2f}x"
                )
                where = f"{batch:>5} {clients:>7} {in_flight:>9}"
                print(f"{where}  ratio HTTP / direct (time): {ratio:.2f}x{by_rows}{by_one}")
        print()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--items", type=int, default=DEFAULT_ITEMS, help=f"items per run (default {DEFAULT_ITEMS:,})"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="API worker processes (default: one per core)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        action="append",
        choices=BATCH_SIZES,
        help="only this batch size (repeat for several; default: all)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        action="append",
        choices=CLIENT_COUNTS,
        help="only this many concurrent clients (repeat for several; default: all)",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        action="append",
        choices=IN_FLIGHT,
        help="requests each client keeps on their way, and direct transactions each client runs "
        "at once: 1 waits for each answer, 2 as a kiosk's sync worker (repeat for both; default: both)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="give PostgreSQL a core of its own: a private cluster pinned to the first core, the "
        "clients and the API to the others (Linux, 2 cores or more)",
    )
    args = parser.parse_args(argv)
    if not max(CLIENT_COUNTS) <= args.items <= MAX_ITEMS:
        parser.error(f"--items must be between {max(CLIENT_COUNTS)} and {MAX_ITEMS:,}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    batch_sizes = sorted(set(args.batch or BATCH_SIZES))
    client_counts = sorted(set(args.clients or CLIENT_COUNTS))
    in_flights = sorted(set(args.in_flight or IN_FLIGHT))
    if args.pin and not hasattr(os, "sched_setaffinity"):
        parser.error("--pin needs Linux (it pins processes to cores with sched_setaffinity)")
    with postgres_on_its_own_core() if args.pin else nullcontext(None) as placement:
        results = run(args.items, args.workers, batch_sizes, client_counts, in_flights)
    report(results, args.items, args.workers, placement)


if __name__ == "__main__":
    main()
