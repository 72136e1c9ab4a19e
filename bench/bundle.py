"""The bundle against the kiosk from source (issue 11), in one run:

- size on disk of the bundle folder (what /opt/gea-kiosk holds), target at most 150 MB;
- start to the attract screen: a new `gea-kiosk --windowed` process (Qt offscreen, a fresh data
  directory) until it says READY=1 on NOTIFY_SOCKET, as systemd hears it, the bundle's
  executable against the virtualenv's `gea-kiosk` in alternating rounds; target at most 1.5x.
  "Warm" starts read their files from the page cache; as root, "cold" starts first drop it
  (echo 3 > /proc/sys/vm/drop_caches), as after power-on.

    python -m bench.bundle [--bundle dist/gea-kiosk] [--rounds N]

Builds the bundle with `make bundle` when there is none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE_KIOSK = Path(sys.executable).parent / "gea-kiosk"
TIMEOUT_S = 120
SIZE_TARGET_MB = 150
START_TARGET_RATIO = 1.5


def size_on_disk(folder: Path) -> int:
    """Bytes the folder's files take on disk (blocks, so as `du` counts; links once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def start_to_attract(executable: Path) -> float:
    """Seconds from spawning the kiosk app until it says READY=1 (its attract screen is up)."""
    scratch = Path(tempfile.mkdtemp(prefix="gea-bench-start-"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(scratch / "notify"))
    listener.settimeout(TIMEOUT_S)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_KIOSK_", "QT_", "NOTIFY_SOCKET"))}
    env |= {
        "QT_QPA_PLATFORM": "offscreen",
        "NOTIFY_SOCKET": str(scratch / "notify"),
        "GEA_KIOSK_DATA_DIR": str(scratch / "data"),
        "GEA_KIOSK_CONFIG": str(scratch / "kiosk.toml"),
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(executable), "--windowed"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while True:
            message = listener.recv(4096).decode()
            if "READY=1" in message.splitlines():
                return time.perf_counter() - started
    except TimeoutError:
        raise SystemExit(f"{executable} said no READY=1 in {TIMEOUT_S} s") from None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:  # a kiosk that will not stop must not outlive the bench
            process.kill()
            _, stderr = process.communicate()
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)
        if process.returncode != 0:
            print(f"  ({executable} ended with {process.returncode}: {stderr.decode()[-500:]})")


def measure(bundle_exe: Path, rounds: int, *, cold: bool) -> tuple[list[float], list[float]]:
    bundled: list[float] = []
    source: list[float] = []
    start_to_attract(bundle_exe)  # one unmeasured start of each: the first writes caches of its own
    start_to_attract(SOURCE_KIOSK)
    for round_number in range(rounds):
        # Alternate which goes first, so neither always runs after the other's warm-up.
        order = [(bundle_exe, bundled), (SOURCE_KIOSK, source)]
        for executable, times in order if round_number % 2 == 0 else order[::-1]:
            if cold:
                drop_caches()
            times.append(start_to_attract(executable))
    return bundled, source


def report(name: str, bundled: list[float], source: list[float]) -> float:
    b, s = statistics.median(bundled), statistics.median(source)
    ratio = b / s
    print(
        f"{name:<5} start to attract: bundle median {b * 1000:.0f} ms (min {min(bundled) * 1000:.0f}), "
        f"source median {s * 1000:.0f} ms (min {min(source) * 1000:.0f}); ratio {ratio:.2f}x "
        f"(target <= {START_TARGET_RATIO}x)"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "dist" / "gea-kiosk")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    executable = args.bundle / "gea-kiosk"
    if not executable.is_file():
        subprocess.run(["make", "--no-print-directory", "bundle"], cwd=REPO, check=True)
    size = size_on_disk(args.bundle)
    print(f"bundle {args.bundle}: {size / 1e6:.1f} MB on disk (target <= {SIZE_TARGET_MB} MB)")
    report("warm", *measure(executable, args.rounds, cold=False))
    if os.geteuid() == 0:
        report("cold", *measure(executable, args.rounds, cold=True))
    else:
        print("cold  start not measured: dropping the page cache needs root")
    return 0


if __name__ == "__main__":
    sys.exit(main())
