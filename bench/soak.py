"""Soak (issue 16): fifty kiosks at once against one server for ten minutes, while kiosks go
offline one at a time and come back with a backlog.

The parts, all real: a fresh copy of a migrated template database with the demo catalog on the
PostgreSQL the tests use (127.0.0.1:5432 unless GEA_TEST_PG_URL says otherwise); `gea-server
serve --workers 2` on a free 127.0.0.1 port; `--kiosks` simulated kiosks (bench/fleet.py: each
its own data directory with the real outbox, the app's sync keeper and worker with their
default settings, the app's services), `--hosts` processes sharing them. Each kiosk is enrolled
at the root entity as `gea-kiosk enroll` does it, and a citizen comes about every
`60 / --rate` seconds (first tap, details for half of them, finish; ~30% make a ticket).

From the start, one kiosk at a time loses its link for `--offline-seconds` (every request fails
to connect, as when an office's line is down; its citizens keep coming), then it comes back and
the next one goes. After `--minutes`, the citizens stop and the run waits for every outbox to
drain, then stops everything and does the exact accounting of bench/fleet.py.

Prints: submissions and deliveries per second; every push's HTTP time (request to whole answer,
in the kiosk) as p50/p95/p99, for all pushes and for backlog pushes (more than one item); CPU
seconds of the API processes, of this database's PostgreSQL backends and of the kiosk
processes, each as a share of one core and per 1,000 submissions; each offline episode (its
backlog when the link came back and how long until it was delivered); and the accounting.
Exit status 1 if anything is lost, duplicated, misnumbered or left in an outbox. Nothing here
asserts on time.

    python -m bench.soak [--kiosks 50] [--minutes 10] [--rate 12] [--offline-seconds 60]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.fleet import (
    Accounting,
    ApiServer,
    CpuMeter,
    Fleet,
    HostConfig,
    Push,
    account,
    backend_pids,
    enroll_fleet,
    percentile,
    running_fleet,
    scratch_dir,
)
from bench.sync_server import demo_template
from bench.unwind import on_sigterm_unwind
from tests.helpers import pg

DEFAULT_KIOSKS = 50
DEFAULT_MINUTES = 10.0
DEFAULT_HOSTS = 5
DEFAULT_RATE_PER_MIN = 12.0  # a busy counter: a citizen every five seconds
DEFAULT_OFFLINE_S = 60.0
SERVER_WORKERS = 2
WARMUP_S = 5.0
CPU_SAMPLE_S = 2.0
# Each kiosk reports its outbox this often (fifty kiosks: fifty small SQLite reads a second).
REPORT_INTERVAL_S = 1.0
# The kiosks' backoff is capped at 300 s (SyncSettings.backoff_max_s) plus jitter margins.
DRAIN_TIMEOUT_S = 420.0


@dataclass
class Episode:
    kiosk: str
    offline_at: float
    online_at: float | None = None
    backlog: int | None = None  # unsent rows when the link came back
    drained_at: float | None = None


@dataclass
class SoakResult:
    kiosks: int
    hosts: int
    minutes: float
    rate_per_min: float
    started: float = 0.0
    load_ended: float = 0.0
    drained_at: float | None = None
    pushes: list[Push] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    server_cpu: float = 0.0
    db_cpu: float = 0.0
    kiosk_cpu: float = 0.0
    kiosk_errors: int = 0
    hosts_quit_cleanly: bool = False
    accounting: Accounting = field(default_factory=Accounting)

    @property
    def ok(self) -> bool:
        return self.accounting.ok and self.drained_at is not None


class Sampler(threading.Thread):
    """Samples the CPU of the API's processes, this database's backends and the kiosk hosts
    every CPU_SAMPLE_S, so backends that come and go are counted too."""

    def __init__(self, server: ApiServer, fleet: Fleet, conninfo: str, database: str) -> None:
        super().__init__(name="cpu-sampler", daemon=True)
        self.server, self.fleet, self.conninfo, self.database = server, fleet, conninfo, database
        self.db = CpuMeter()
        self.stopping = threading.Event()

    def begin(self) -> None:
        self.server.cpu.start(self.server.pids())
        self.db.start(backend_pids(self.conninfo, self.database))
        self.fleet.cpu.start(self.fleet.host_pids())
        self.start()

    def sample(self) -> None:
        self.server.cpu.track(self.server.pids())
        self.db.track(backend_pids(self.conninfo, self.database))
        self.fleet.track_cpu()

    def run(self) -> None:
        while not self.stopping.wait(CPU_SAMPLE_S):
            self.sample()

    def finish(self) -> None:
        self.stopping.set()
        self.join()
        self.sample()


def offline_one_at_a_time(
    fleet: Fleet, rng: random.Random, until: float, offline_s: float, episodes: list[Episode]
) -> None:
    """Kiosks lose their link one after another, in a seeded order, each for `offline_s`."""
    order = [k.name for k in fleet.kiosks]
    rng.shuffle(order)
    turn = 0
    while time.time() + offline_s <= until:
        kiosk = order[turn % len(order)]
        turn += 1
        episode = Episode(kiosk, time.time())
        episodes.append(episode)
        fleet.set_link(kiosk, up=False)
        watch_episodes(fleet, episodes, episode.offline_at + offline_s)
        reports, _ = fleet.snapshot()
        report = reports.get(kiosk)
        episode.backlog = None if report is None else report.unsent
        fleet.set_link(kiosk, up=True)
        episode.online_at = time.time()
    watch_episodes(fleet, episodes, until)


def watch_episodes(fleet: Fleet, episodes: list[Episode], until: float) -> None:
    """Until `until`, note when each kiosk back online has delivered its backlog."""
    while True:
        reports, _ = fleet.snapshot()
        for episode in episodes:
            if episode.online_at is None or episode.drained_at is not None:
                continue
            report = reports.get(episode.kiosk)
            if report is not None and report.at > episode.online_at:
                if report.oldest_unsent is None or report.oldest_unsent > episode.online_at:
                    episode.drained_at = report.at
        left = until - time.time()
        if left <= 0:
            return
        time.sleep(min(0.25, left))


def run(
    kiosks: int = DEFAULT_KIOSKS,
    minutes: float = DEFAULT_MINUTES,
    hosts: int = DEFAULT_HOSTS,
    rate_per_min: float = DEFAULT_RATE_PER_MIN,
    offline_s: float = DEFAULT_OFFLINE_S,
    seed: int = 16,
    root: Path | None = None,
) -> SoakResult:
    rng = random.Random(seed)
    work = root or scratch_dir("gea-soak-")
    result = SoakResult(kiosks, hosts, minutes, rate_per_min)
    try:
        with demo_template() as (template, _), pg.fresh_database(template, prefix="gea_soak") as url:
            conninfo = pg.conninfo(url)
            assert url.database is not None
            server = ApiServer(url, SERVER_WORKERS, work / "server.log")
            try:
                server.start()
                print(f"soak: {kiosks} kiosks in {hosts} processes; gea-server at {server.base_url}")
                dirs = enroll_fleet(conninfo, server.base_url, server.base_url, work, kiosks)
                config = HostConfig(rate_per_min=rate_per_min, report_interval_s=REPORT_INTERVAL_S)
                with running_fleet(dirs, hosts, work, config, rng.randrange(2**32)) as fleet:
                    sampler = Sampler(server, fleet, conninfo, url.database)
                    result.started = time.time()
                    sampler.begin()
                    until = result.started + minutes * 60
                    watch_episodes(fleet, result.episodes, result.started + WARMUP_S)
                    offline_one_at_a_time(fleet, rng, until, offline_s, result.episodes)
                    fleet.stop_submitting()
                    result.load_ended = time.time()
                    drained = fleet.wait_until(
                        lambda: fleet.drained(result.load_ended + 0.01), DRAIN_TIMEOUT_S
                    )
                    result.drained_at = time.time() if drained else None
                    watch_episodes(fleet, result.episodes, time.time())
                    sampler.finish()
                    result.server_cpu, result.db_cpu = server.cpu.seconds, sampler.db.seconds
                    result.kiosk_cpu = fleet.cpu.seconds
                    _, result.pushes = fleet.snapshot()
                    result.kiosk_errors = fleet.kiosk_errors
                    result.hosts_quit_cleanly = fleet.stop()
                server.stop()
                result.accounting = account(conninfo, dirs)
            finally:
                server.stop()
    finally:
        if root is None:
            shutil.rmtree(work, ignore_errors=True)
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def _times(pushes: Sequence[Push]) -> str:
    seconds = [p.seconds for p in pushes]
    return (
        f"p50 {_ms(percentile(seconds, 0.5))} ms, p95 {_ms(percentile(seconds, 0.95))} ms, "
        f"p99 {_ms(percentile(seconds, 0.99))} ms, max {_ms(max(seconds, default=0.0))} ms"
    )


def report(result: SoakResult) -> list[str]:
    a = result.accounting
    end = result.drained_at or time.time()
    load_s = result.load_ended - result.started
    total_s = end - result.started
    ok = [p for p in result.pushes if p.ok and p.items]
    failed = [p for p in result.pushes if p.items and not p.ok]
    delivered = sum(p.items for p in ok)
    backlog = [p for p in ok if p.items > 1]
    mean_backlog = sum(p.items for p in backlog) / max(1, len(backlog))
    lines = [
        f"soak: {result.kiosks} kiosks in {result.hosts} processes, a citizen every "
        f"{60 / result.rate_per_min:g} s per kiosk, {result.minutes:g} min of load; gea-server serve "
        f"--workers {SERVER_WORKERS} on 127.0.0.1; {os.cpu_count()} cores shared by kiosks, API "
        "and PostgreSQL",
        f"submissions: {a.queued:,} in {load_s:.0f} s ({a.queued / load_s:.1f}/s)",
        f"delivered: {delivered:,} items in {len(ok):,} pushes ({delivered / total_s:.1f}/s over "
        f"{total_s:.0f} s, "
        f"the final drain included; {delivered / max(1, len(ok)):.1f} items per push); "
        f"failed pushes {len(failed):,} (offline kiosks' tries)",
        f"push time (kiosk: request to whole answer), all pushes: {_times(ok)}",
        f"push time, backlogs (more than one item: {len(backlog):,}, mean {mean_backlog:.0f} items): "
        f"{_times(backlog)}",
    ]
    per_k = 1000 / max(1, a.queued)
    for label, cpu in (
        ("API (2 workers)", result.server_cpu),
        ("PostgreSQL backends", result.db_cpu),
        ("kiosk processes", result.kiosk_cpu),
    ):
        lines.append(
            f"CPU {label:<20} {cpu:8.1f} s = {100 * cpu / total_s:5.1f}% of one core, "
            f"{cpu * per_k:.2f} s per 1,000 submissions"
        )
    lines.append(
        f"offline episodes: {len(result.episodes)}; backlog when the link came back: "
        + ", ".join(str(e.backlog) for e in result.episodes)
    )
    waits = [e.drained_at - e.online_at for e in result.episodes if e.drained_at and e.online_at]
    if waits:
        lines.append(
            "from link back to backlog delivered (s): "
            + ", ".join(f"{w:.1f}" for w in waits)
            + f"; p50 {percentile(waits, 0.5):.1f}, max {max(waits):.1f}"
        )
    final = f"{result.drained_at - result.load_ended:.1f} s" if result.drained_at else "NOT DONE"
    lines.append(f"final drain after the citizens stopped: {final}")
    lines.append(
        f"kiosk-side submission errors: {result.kiosk_errors}; hosts quit: {result.hosts_quit_cleanly}"
    )
    lines += a.lines()
    verdict = "ok: every submission exactly once, every expected ticket once, every outbox empty"
    lines.append("RESULT: " + (verdict if result.ok else "FAILED"))
    lines += [f"  {p}" for p in a.problems()]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--kiosks", type=int, default=DEFAULT_KIOSKS, help=f"simulated kiosks (default {DEFAULT_KIOSKS})"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        help=f"minutes of load (default {DEFAULT_MINUTES:g})",
    )
    parser.add_argument(
        "--hosts", type=int, default=DEFAULT_HOSTS, help=f"kiosk processes (default {DEFAULT_HOSTS})"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE_PER_MIN,
        help=f"citizens per kiosk per minute (default {DEFAULT_RATE_PER_MIN:g})",
    )
    parser.add_argument(
        "--offline-seconds",
        type=float,
        default=DEFAULT_OFFLINE_S,
        help=f"each offline episode (default {DEFAULT_OFFLINE_S:g})",
    )
    parser.add_argument(
        "--seed", type=int, default=16, help="the offline order's and the citizens' seed (default 16)"
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the kiosks' data and logs in this new directory"
    )
    args = parser.parse_args(argv)
    if args.kiosks < 1 or args.hosts < 1 or args.minutes <= 0 or args.rate <= 0 or args.offline_seconds <= 0:
        parser.error(
            "--kiosks and --hosts must be at least 1; --minutes, --rate and --offline-seconds positive"
        )
    on_sigterm_unwind()
    root = None
    if args.keep is not None:
        args.keep.mkdir(parents=True)
        root = args.keep
    result = run(args.kiosks, args.minutes, args.hosts, args.rate, args.offline_seconds, args.seed, root)
    print()
    for line in report(result):
        print(line)
    if not result.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
