"""The kiosk UI's speed and memory, offscreen, on the built-in demo catalog.

- Tap to thank-you: a real click on a face until the thank-you screen shows, the durable
  `open` row (synchronous=FULL) included, over 500 taps; against the bare durable write
  (KioskServices.begin_feedback alone) in the same run, so the ratio is what the UI adds.
- The cost of logging on that path: the same taps with the kiosk's logging configured as the
  app does it (the rotating file in logs/ and stderr, at INFO), against none, in alternating
  blocks of the same run.
- Cold start: a new process until the attract screen is shown, against a new process that
  shows an empty Qt window (the floor any PySide6 app pays).
- Resident memory after 1,000 submissions through the window, against after the first one.

    python -m bench.kiosk_ui [--taps N] [--submissions N]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, Qt  # noqa: E402 (the platform must be set first)
from PySide6.QtTest import QTest  # noqa: E402

from kiosk import demo, logs  # noqa: E402
from kiosk.citizen_flow import CitizenFlow  # noqa: E402
from kiosk.config import KioskSettings  # noqa: E402
from kiosk.ui.app import REFERENCE_SIZE, build_parts, qt_app  # noqa: E402
from kiosk.ui.window import KioskWindow  # noqa: E402

COLD_START_KIOSK = """
import os, sys, tempfile, time
from pathlib import Path
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from kiosk import demo
from kiosk.config import KioskSettings
from kiosk.ui.app import build_parts, qt_app
from kiosk.ui.window import KioskWindow
from PySide6.QtCore import QCoreApplication
d = Path(sys.argv[1])
settings = KioskSettings(services=["SVC-001"])
app = qt_app(settings)
window = KioskWindow(build_parts(d, settings))
window.show()
QCoreApplication.processEvents()
assert window.current is window.attract and window.attract.faces.isVisible()
"""
COLD_START_BARE = """
import os
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
w = QWidget()
w.show()
QCoreApplication.processEvents()
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def window_in(directory: Path) -> KioskWindow:
    settings = KioskSettings(services=["SVC-001"], print_to_pdf=directory / "receipts")
    qt_app(settings)
    parts = build_parts(directory / "kiosk", settings)
    parts.flow = CitizenFlow(parts.services, thank_you_s=0.0)
    window = KioskWindow(parts)
    window.allow_close()
    window.resize(*REFERENCE_SIZE)
    window.show()
    QCoreApplication.processEvents()
    return window


def tap_latencies(window: KioskWindow, taps: int) -> list[float]:
    """Milliseconds from the click to the thank-you screen being the current one."""
    times = []
    for i in range(taps):
        face = window.attract.faces.buttons[i % 5]
        started = time.perf_counter()
        QTest.mouseClick(face, Qt.MouseButton.LeftButton)
        assert window.current is window.thanks
        window.thanks.repaint()  # painted, not only chosen
        times.append((time.perf_counter() - started) * 1000)
        window.flow.finish()
        window.to_attract()
        QCoreApplication.processEvents()
    return times


def bare_write_latencies(window: KioskWindow, taps: int) -> list[float]:
    services = window.parts.services
    times = []
    for i in range(taps):
        started = time.perf_counter()
        submission = services.begin_feedback("SVC-001", i % 5 + 1)
        times.append((time.perf_counter() - started) * 1000)
        services.finish_feedback(submission.client_uuid)
    return times


def logging_cost(
    window: KioskWindow, directory: Path, taps: int, blocks: int = 4
) -> tuple[list[float], list[float]]:
    """Tap latencies without and with the app's logging, in alternating blocks, so a machine
    that speeds up or slows down during the run weighs on both alike."""
    quiet: list[float] = []
    logged: list[float] = []
    per_block = max(1, taps // blocks)
    with open(os.devnull, "w") as console:
        for _ in range(blocks):
            logs.reset()
            logging.getLogger("kiosk").setLevel(logging.NOTSET)  # as before any configure()
            quiet += tap_latencies(window, per_block)
            logs.configure(directory, "INFO", stream=console)  # what app.run's process does
            logged += tap_latencies(window, per_block)
        logs.reset()
    return quiet, logged


def cold_start(script: str, directory: Path, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", script, str(directory)], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--taps", type=int, default=500)
    parser.add_argument("--submissions", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gea-bench-ui-") as scratch:
        directory = Path(scratch)
        demo.prepare_offline(directory / "kiosk")
        window = window_in(directory)

        ui = tap_latencies(window, args.taps)
        bare = bare_write_latencies(window, args.taps)
        print(f"Tap to thank-you over {args.taps} taps (durable open row included), 2 cores:")
        print(f"  UI tap:      p50 {statistics.median(ui):6.2f} ms   p95 {percentile(ui, 95):6.2f} ms")
        print(f"  bare write:  p50 {statistics.median(bare):6.2f} ms   p95 {percentile(bare, 95):6.2f} ms")
        print(f"  ratio (UI / bare write): p50 {statistics.median(ui) / statistics.median(bare):.2f}x")

        quiet, logged = logging_cost(window, directory / "kiosk", args.taps)
        log_file = logs.log_file(directory / "kiosk")
        print(
            f"Logging on the tap path ({len(logged)} taps each, alternating blocks; "
            "log file and stderr at INFO):"
        )
        print(f"  no logging:  p50 {statistics.median(quiet):6.2f} ms   p95 {percentile(quiet, 95):6.2f} ms")
        print(
            f"  logging:     p50 {statistics.median(logged):6.2f} ms   p95 {percentile(logged, 95):6.2f} ms"
        )
        print(
            f"  ratio (logging / none): p50 {statistics.median(logged) / statistics.median(quiet):.2f}x, "
            f"{log_file.stat().st_size / len(logged):.0f} bytes of log per tap"
        )

        kiosk_s = cold_start(COLD_START_KIOSK, directory / "kiosk")
        bare_s = cold_start(COLD_START_BARE, directory)
        print("Cold start to the attract screen (best of 3 new processes):")
        ratio = kiosk_s / bare_s
        print(
            f"  kiosk: {kiosk_s * 1000:.0f} ms   empty Qt window: {bare_s * 1000:.0f} ms   ratio {ratio:.2f}x"
        )

        first = rss_mib()
        tap_latencies(window, 1)
        after_one = rss_mib()
        tap_latencies(window, args.submissions - 1)
        after_all = rss_mib()
        print(f"Resident memory: {first:.1f} MiB at start, {after_one:.1f} MiB after 1 submission,")
        print(
            f"  {after_all:.1f} MiB after {args.submissions} submissions "
            f"(growth {after_all - after_one:+.1f} MiB, ratio {after_all / after_one:.2f}x)"
        )
        window.close()


if __name__ == "__main__":
    main()
