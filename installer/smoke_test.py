"""Smoke-test a built kiosk: run its `--selftest` as IT would after installing it, with a fresh
data directory and no screen (`QT_QPA_PLATFORM=offscreen`).

It fails on a non-zero exit or on any line on stderr that is not known to be harmless (a
missing Qt plugin or library shows up there first). On failure it runs the selftest again with
Qt's plugin debugging on (QT_DEBUG_PLUGINS=1) and prints both outputs, so the build log says
which plugin or library is missing. Mature Qt projects smoke-test their frozen builds the same
way (qutebrowser's build_release.py).

    python installer/smoke_test.py dist/gea-kiosk/gea-kiosk
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Lines on stderr that a healthy kiosk may print; anything else fails the build.
HARMLESS_STDERR = (
    # Qt as root without a runtime directory (CI machines): it makes one and says so.
    re.compile(r"^QStandardPaths: (XDG_RUNTIME_DIR not set|runtime directory .* is not owned by).*"),
    re.compile(r"^QStandardPaths: wrong permissions on runtime directory .*"),
)
TIMEOUT_S = 120


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def unexpected(self) -> list[str]:
        return [
            line
            for line in self.stderr.splitlines()
            if line.strip() and not any(allowed.match(line) for allowed in HARMLESS_STDERR)
        ]

    def show(self, title: str) -> str:
        return f"---- {title}: exit {self.returncode}\n-- stdout\n{self.stdout}\n-- stderr\n{self.stderr}"


def selftest(executable: Path, *, debug_plugins: bool = False) -> Run:
    with tempfile.TemporaryDirectory(prefix="gea-kiosk-smoke-") as scratch:
        env = {
            key: value
            for key, value in os.environ.items()
            # The bundle must find its own Qt and Python, never the build machine's.
            if not key.startswith(("QT_", "PYTHON", "GEA_KIOSK_", "LD_LIBRARY_PATH"))
        }
        env |= {
            "QT_QPA_PLATFORM": "offscreen",
            "GEA_KIOSK_DATA_DIR": str(Path(scratch) / "data"),
            "GEA_KIOSK_CONFIG": str(Path(scratch) / "kiosk.toml"),
        }
        if debug_plugins:
            env["QT_DEBUG_PLUGINS"] = "1"
        try:
            done = subprocess.run(
                [str(executable), "--selftest"],
                env=env,
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            out, err = (
                part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                for part in (exc.stdout, exc.stderr)
            )
            return Run(-1, out, f"{err}\n(no answer in {TIMEOUT_S} s)")
        return Run(done.returncode, done.stdout, done.stderr)


def check(executable: Path) -> tuple[bool, str]:
    """(passed, what to print)."""
    if not os.access(executable, os.X_OK):
        return False, f"no executable at {executable}: build the bundle first (make bundle)"
    first = selftest(executable)
    problems = first.unexpected()
    if first.returncode == 0 and not problems:
        return True, first.stdout
    said = [first.show("selftest")]
    if problems:
        said.append("unexpected lines on stderr:\n" + "\n".join(f"  {line}" for line in problems))
    said.append(selftest(executable, debug_plugins=True).show("again with QT_DEBUG_PLUGINS=1"))
    return False, "\n".join(said)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("executable", type=Path, help="the bundle's gea-kiosk")
    args = parser.parse_args()
    passed, said = check(args.executable.resolve())
    print(said)
    print(f"smoke test {'passed' if passed else 'FAILED'}: {args.executable}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
