"""Chaos run (issue 16): simulated kiosks, the fault proxy, the API and a private PostgreSQL
cluster, with faults injected at random while citizens keep submitting; at the end, nothing
lost, nothing twice, ticket numbers 1..N per month, every outbox empty.

The parts, all real: a private cluster (initdb on a free port, tests/helpers/private_pg.py)
with feedback_db at head and the demo catalog; `gea-server serve --workers 2` against it;
tests/helpers/fault_proxy.py between the kiosks and the server; `--kiosks` kiosks
(bench/fleet.py: each its own data directory, the app's sync keeper and worker, the app's
services), two to a host process, each citizen about every `60 / --rate` seconds.

The faults come one after another from a seeded schedule (`--seed`; printed): the first six
are each kind once in a random order, then random proxy faults and kills until `--minutes`
have passed.

- `drop_response`: the proxy forwards each request (the server commits) and closes without
  answering; the kiosk re-sends and the server answers `duplicate`.
- `503`: the proxy answers 503 with Retry-After: 5 (as the API does when its database is
  away); the server never sees the request.
- `stall`: the proxy reads the request and never answers, until the kiosk's read timeout
  (5 s in this run instead of the default 30, so a stall costs seconds, not minutes).
- `kill9`: SIGKILL to a host process (two kiosks), while one of its pushes is in flight when
  there is one within 10 s; it is started again on the same data directories, as the app
  restarts after a power cut (start-up recovery: `sending` rows go back to `pending`).
- `server_restart`: SIGTERM to gea-server (uvicorn finishes its requests), then a new one on
  the same port.
- `pg_restart`: `pg_ctl stop -m fast` on the cluster (every connection ends), then start.

Each fault is held for a few seconds (seeded), then ended; the run then waits until it has
recovered, at most RECOVERY_CAP_S, before a healthy gap and the next fault. "Recovered" is
when every kiosk has delivered everything recorded before the fault ended (from the kiosks'
reports, every 0.5 s); the report also gives the first successful push after the end. Then
submissions stop, the proxy passes everything, and the kiosks drain on their own (their
backoff as it stands). Exit status 1 if anything is lost, duplicated, misnumbered or left in
an outbox, or if the kiosks did not drain.

    python -m bench.chaos [--seed N] [--minutes M] [--kiosks K] [--rate PER_MIN]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.fleet import (
    Accounting,
    ApiServer,
    Fleet,
    HostConfig,
    account,
    enroll_fleet,
    percentile,
    running_fleet,
    scratch_dir,
)
from bench.unwind import on_sigterm_unwind
from server_sync_api.core.db import libpq_conninfo
from tests.helpers.fault_proxy import FaultProxy, Mode
from tests.helpers.private_pg import PrivateCluster, feedback_db, private_cluster

PROXY_FAULTS = {"drop_response": Mode.DROP_RESPONSE, "503": Mode.STATUS_503, "stall": Mode.STALL}
KINDS = ("drop_response", "503", "stall", "kill9", "server_restart", "pg_restart")
# After the first six, what comes next, by weight.
LATER_KINDS = ("drop_response", "503", "stall", "kill9")
LATER_WEIGHTS = (3, 2, 2, 2)
DEFAULT_MINUTES = 10.0
DEFAULT_KIOSKS = 8
KIOSKS_PER_HOST = 2
DEFAULT_RATE_PER_MIN = 30.0
SERVER_WORKERS = 2
RETRY_AFTER = "5"  # the proxy's 503s ask for what the API's own 503 asks (api/errors.py)
READ_TIMEOUT_S = 5.0
WARMUP_S = 8.0
FAULT_SECONDS = (3.0, 8.0)  # how long a proxy fault is held
DOWN_SECONDS = (1.0, 4.0)  # how long a killed kiosk host, the server or PostgreSQL stays down
GAP_SECONDS = (3.0, 8.0)  # healthy time after a recovery, before the next fault
MID_SYNC_WAIT_S = 10.0
RECOVERY_CAP_S = 120.0
# The kiosks' backoff is capped at 300 s (SyncSettings.backoff_max_s) plus jitter margins.
DRAIN_TIMEOUT_S = 420.0


@dataclass
class Fault:
    kind: str
    injected: float  # epoch seconds
    ended: float | None = None
    first_ok: float | None = None  # the first successful push begun after the end
    recovered: float | None = None
    detail: str = ""


@dataclass
class ChaosResult:
    seed: int
    minutes: float
    kiosks: int
    started: float
    faults: list[Fault] = field(default_factory=list)
    drained: bool = False
    drain_seconds: float | None = None
    hosts_quit_cleanly: bool = False
    pushes: dict[str, int] = field(default_factory=dict)
    batch_p95_s: float | None = None
    duplicates_answered: int = 0
    # Items the server created in answers the proxy dropped: each must come back as a duplicate.
    created_unanswered: int = 0
    accounting: Accounting = field(default_factory=Accounting)
    kiosk_errors: int = 0

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.faults}

    @property
    def ok(self) -> bool:
        return self.accounting.ok and self.drained


def schedule(rng: random.Random) -> Iterator[str]:
    """Each kind once in a random order, then proxy faults and kills at random."""
    first = list(KINDS)
    rng.shuffle(first)
    yield from first
    while True:
        yield rng.choices(LATER_KINDS, weights=LATER_WEIGHTS)[0]


class Chaos:
    def __init__(
        self,
        rng: random.Random,
        fleet: Fleet,
        proxy: FaultProxy,
        server: ApiServer,
        cluster: PrivateCluster,
        out: Callable[[str], None],
    ) -> None:
        self.rng = rng
        self.fleet = fleet
        self.proxy = proxy
        self.server = server
        self.cluster = cluster
        self.out = out

    def inject(self, kind: str) -> Fault:
        rng = self.rng
        if kind in PROXY_FAULTS:
            mode = PROXY_FAULTS[kind]
            before = self.proxy.counts(mode)
            fault = Fault(kind, time.time())
            self.proxy.set_mode(mode)
            time.sleep(rng.uniform(*FAULT_SECONDS))
            self.proxy.set_mode(Mode.PASS)
            fault.ended = time.time()
            after = self.proxy.counts(mode)
            fault.detail = f"{after.requests - before.requests} requests met it"
            if mode is Mode.DROP_RESPONSE:
                fault.detail += f", {after.forwarded - before.forwarded} committed but unanswered"
        elif kind == "kill9":
            host = rng.choice(self.fleet.hosts)
            down = rng.uniform(*DOWN_SECONDS)
            mid_sync = self.fleet.wait_until(lambda: host.inflight > 0, MID_SYNC_WAIT_S)
            fault = Fault(kind, time.time())
            host.kill()
            time.sleep(down)
            self.fleet.restart(host)
            fault.ended = time.time()
            names = ", ".join(k.name for k in host.kiosks)
            fault.detail = (
                f"host of {names} {'mid-push' if mid_sync else 'between pushes'}, down {down:.1f} s"
            )
        elif kind == "server_restart":
            down = rng.uniform(*DOWN_SECONDS)
            fault = Fault(kind, time.time())
            self.server.stop()
            time.sleep(down)
            self.server.start()
            fault.ended = time.time()
            fault.detail = (
                f"SIGTERM, {down:.1f} s, started again ({fault.ended - fault.injected:.1f} s to ready)"
            )
        elif kind == "pg_restart":
            down = rng.uniform(*DOWN_SECONDS)
            fault = Fault(kind, time.time())
            self.cluster.stop("fast")
            time.sleep(down)
            self.cluster.start()
            fault.ended = time.time()
            fault.detail = f"pg_ctl stop -m fast, {down:.1f} s, start"
        else:
            raise ValueError(f"unknown fault {kind!r}")
        return fault

    def await_recovery(self, fault: Fault) -> None:
        assert fault.ended is not None
        ended = fault.ended
        self.fleet.wait_until(lambda: self.fleet.caught_up_since(ended) is not None, RECOVERY_CAP_S)
        fault.recovered = self.fleet.caught_up_since(ended)
        fault.first_ok = self.fleet.first_push_ok_after(ended)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def fault_table(result: ChaosResult) -> list[str]:
    lines = [
        f"{'#':>2} {'fault':<15} {'at s':>6} {'held s':>6} {'1st ok s':>8} {'recovered s':>11}  detail",
    ]
    for i, f in enumerate(result.faults, 1):
        held = None if f.ended is None else f.ended - f.injected
        first_ok = None if f.first_ok is None or f.ended is None else f.first_ok - f.ended
        recovered = None if f.recovered is None or f.ended is None else f.recovered - f.ended
        lines.append(
            f"{i:>2} {f.kind:<15} {f.injected - result.started:>6.1f} {_fmt(held):>6} {_fmt(first_ok):>8} "
            f"{(_fmt(recovered) if f.recovered else 'NOT in ' + str(int(RECOVERY_CAP_S))):>11}  {f.detail}"
        )
    return lines


def report(result: ChaosResult) -> list[str]:
    p95_ms = _fmt(None if result.batch_p95_s is None else result.batch_p95_s * 1000)
    drained = f"done in {_fmt(result.drain_seconds)} s" if result.drained else "NOT DONE"
    lines = [
        f"chaos run: seed {result.seed}, {result.minutes:g} min of faults, {result.kiosks} kiosks "
        f"({KIOSKS_PER_HOST} per host process), gea-server --workers {SERVER_WORKERS}, a private PostgreSQL",
        "",
        "times in seconds: 'at' from the start, 'held' how long the fault lasted, '1st ok' from its end to",
        "the first successful push begun after it, 'recovered' from its end until every kiosk had delivered",
        "everything recorded before the end (kiosk reports every 0.5 s)",
        *fault_table(result),
        "",
        "faults injected: "
        + ", ".join(f"{k} {n}" for k, n in sorted(Counter(f.kind for f in result.faults).items())),
        "pushes: "
        + ", ".join(f"{k} {n}" for k, n in sorted(result.pushes.items()))
        + f"; p95 of successful pushes {p95_ms} ms",
        f"items created by the server in answers the proxy dropped: {result.created_unanswered}; "
        f"'duplicate' answers (re-sent after a lost answer or a kill): {result.duplicates_answered}",
        f"kiosk-side submission errors: {result.kiosk_errors}",
        f"drain with faults off: {drained}",
        *result.accounting.lines(),
    ]
    problems = result.accounting.problems()
    lines.append(
        "RESULT: "
        + ("ok: zero lost, zero duplicated, numbers contiguous, outboxes empty" if result.ok else "FAILED")
    )
    lines += [f"  {p}" for p in problems]
    if not result.drained:
        lines.append("  the kiosks did not drain within the deadline")
    return lines


def run(
    seed: int,
    minutes: float = DEFAULT_MINUTES,
    kiosks: int = DEFAULT_KIOSKS,
    rate_per_min: float = DEFAULT_RATE_PER_MIN,
    root: Path | None = None,
    out: Callable[[str], None] = print,
) -> ChaosResult:
    rng = random.Random(seed)
    work = root or scratch_dir("gea-chaos-")
    out(f"chaos: seed {seed}, {minutes:g} minutes, {kiosks} kiosks; scratch in {work}")
    result = ChaosResult(seed, minutes, kiosks, time.time())
    try:
        with private_cluster("gea-chaos-pg-") as cluster:
            url = feedback_db(cluster)
            conninfo = libpq_conninfo(url)
            server = ApiServer(url, SERVER_WORKERS, work / "server.log")
            try:
                server.start()
                with FaultProxy(server.port, retry_after=RETRY_AFTER) as proxy:
                    fleet_dirs = enroll_fleet(conninfo, server.base_url, proxy.url, work, kiosks)
                    config = HostConfig(rate_per_min=rate_per_min, read_timeout_s=READ_TIMEOUT_S)
                    hosts = max(1, -(-kiosks // KIOSKS_PER_HOST))
                    with running_fleet(fleet_dirs, hosts, work, config, rng.randrange(2**32)) as fleet:
                        result.started = time.time()  # the clock starts with the kiosks running
                        _chaos(result, Chaos(rng, fleet, proxy, server, cluster, out), minutes)
                        fleet.stop_submitting()
                        proxy.set_mode(Mode.PASS)
                        drain_start = time.time()
                        result.drained = fleet.wait_until(
                            lambda: fleet.drained(drain_start + 0.01), DRAIN_TIMEOUT_S
                        )
                        result.drain_seconds = time.time() - drain_start if result.drained else None
                        result.hosts_quit_cleanly = fleet.stop()
                        _tally(result, fleet, proxy)
                    server.stop()
                    result.accounting = account(conninfo, fleet_dirs)
            finally:
                server.stop()
    finally:
        if root is None:
            shutil.rmtree(work, ignore_errors=True)
    return result


def _chaos(result: ChaosResult, chaos: Chaos, minutes: float) -> None:
    time.sleep(WARMUP_S)
    end = result.started + minutes * 60
    for kind in schedule(chaos.rng):
        if time.time() >= end and result.kinds >= set(KINDS):
            break
        fault = chaos.inject(kind)
        result.faults.append(fault)
        chaos.await_recovery(fault)
        line = fault_table(result)[-1]
        chaos.out(line)
        time.sleep(chaos.rng.uniform(*GAP_SECONDS))


def _tally(result: ChaosResult, fleet: Fleet, proxy: FaultProxy) -> None:
    _, pushes = fleet.snapshot()
    counts: Counter[str] = Counter()
    for push in pushes:
        if not push.items:
            continue
        counts["ok" if push.ok else (f"HTTP {push.status}" if push.status else str(push.error))] += 1
    result.pushes = dict(counts)
    ok = [p.seconds for p in pushes if p.ok and p.items]
    result.batch_p95_s = percentile(ok, 0.95) if ok else None
    result.kiosk_errors = fleet.kiosk_errors
    answered: Counter[str] = Counter()
    for exchange in list(proxy.exchanges):
        if not exchange.request_line.startswith("POST") or exchange.status != 200:
            continue
        try:
            body = json.loads(exchange.body)
        except ValueError:
            continue
        for item in body.get("results", []):
            if item.get("status") == "duplicate":
                answered["duplicate"] += 1
            elif item.get("status") == "created" and exchange.mode is Mode.DROP_RESPONSE:
                answered["created_unanswered"] += 1
    result.duplicates_answered = answered["duplicate"]
    result.created_unanswered = answered["created_unanswered"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seed", type=int, default=None, help="the schedule's seed (default: a random one, printed)"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        help=f"faults for this long (default {DEFAULT_MINUTES:g})",
    )
    parser.add_argument(
        "--kiosks", type=int, default=DEFAULT_KIOSKS, help=f"simulated kiosks (default {DEFAULT_KIOSKS})"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE_PER_MIN,
        help=f"submissions per kiosk per minute (default {DEFAULT_RATE_PER_MIN:g})",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the kiosks' data and logs in this new directory"
    )
    args = parser.parse_args(argv)
    if args.kiosks < 2 or args.minutes <= 0 or args.rate <= 0:
        parser.error("--kiosks must be at least 2 (a kill needs one host), --minutes and --rate positive")
    on_sigterm_unwind()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    root = None
    if args.keep is not None:
        args.keep.mkdir(parents=True)
        root = args.keep
    result = run(seed, args.minutes, args.kiosks, args.rate, root)
    print()
    for line in report(result):
        print(line)
    if not result.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
