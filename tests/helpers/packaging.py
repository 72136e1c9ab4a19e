"""The kiosk as IT receives it, built by the tests: the wheel installed into a fresh virtual
environment, the PyInstaller bundle (`make bundle`, smoke test included) and the Debian package
(`make deb`).

A build is made once per test run and shared by the xdist workers: the first worker to ask
builds it under a file lock in a folder named after the run, the others wait and reuse it.
Folders of runs a day old are removed when a new run builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from filelock import FileLock

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUILDS = Path(tempfile.gettempdir()) / "gea-kiosk-test-builds"
# Shared by the xdist workers of one run (pytest-xdist sets it in every worker).
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
BUILD_TIMEOUT_S = 1200
STALE_AFTER_S = 24 * 3600


class BuildFailed(AssertionError):
    pass


def _run(command: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        said = f"-- stdout\n{done.stdout}\n-- stderr\n{done.stderr}"
        raise BuildFailed(f"{' '.join(command)} failed ({done.returncode})\n{said}")
    return done.stdout


def _run_folder() -> Path:
    # Readable by all: the kiosk-mode test runs the bundle as an unprivileged account.
    BUILDS.mkdir(mode=0o755, exist_ok=True)
    BUILDS.chmod(0o755)
    folder = BUILDS / RUN_ID
    with FileLock(str(BUILDS / "cleanup.lock")):
        for old in BUILDS.iterdir():
            # Another run may still be testing with its builds: only a day-old folder goes.
            if old.is_dir() and old != folder and time.time() - old.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(old, ignore_errors=True)
        folder.mkdir(mode=0o755, exist_ok=True)
        folder.chmod(0o755)
    return folder


def bundle() -> Path:
    """The bundle's folder (…/gea-kiosk, with the executable gea-kiosk), built and smoke-tested
    by `make bundle` exactly as IT's build does."""
    folder = _run_folder()
    with FileLock(str(folder / "build.lock")):
        built = folder / "dist" / "gea-kiosk"
        failed = folder / "bundle.failed"
        if failed.exists():  # one worker's failed build fails the others at once
            raise BuildFailed(failed.read_text("utf-8"))
        if not (folder / "bundle.done").exists():
            # The test's own virtualenv builds it: a fresh stamp keeps make from setting one up.
            (folder / "stamp").touch()
            try:
                _make_bundle(folder)
            except BuildFailed as exc:
                failed.write_text(str(exc), "utf-8")
                raise
            (folder / "bundle.done").touch()
        return built


def _make_bundle(folder: Path) -> None:
    _run(
        [
            "make",
            "--no-print-directory",
            "bundle",
            f"BIN={BIN}",
            f"STAMP={folder / 'stamp'}",
            f"DIST={folder / 'dist'}",
            f"BUNDLE_WORK={folder / 'work'}",
        ],
    )


def read_kiosk_version() -> str:
    """The version every build says it is (kiosk/__init__.py; build_deb.py reads the same)."""
    import kiosk

    return kiosk.__version__


def deb(version: str) -> Path:
    """The Debian package of the bundle, as `make deb` builds it, with the given version (tests
    build two to upgrade from one to the other)."""
    built = bundle()
    folder = built.parents[1]
    with FileLock(str(folder / "build.lock")):
        out = folder / "debs" / version
        found = sorted(out.glob("*.deb")) if out.is_dir() else []
        if not found:
            _run(
                [str(BIN / "python"), "installer/linux/build_deb.py", "--bundle", str(built)]
                + ["--out", str(out), "--version", version]
            )
            found = sorted(out.glob("*.deb"))
        return found[0]


def wheel_venv() -> Path:
    """The bin folder of a fresh virtual environment with the kiosk's wheel (not editable) and
    its `kiosk` extra installed, at the versions constraints.txt pins."""
    folder = _run_folder()
    with FileLock(str(folder / "wheel.lock")):
        venv = folder / "wheel-venv"
        if not (folder / "wheel.done").exists():
            wheels = folder / "wheels"
            _run(
                [
                    str(BIN / "python"),
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "--quiet",
                    "-w",
                    str(wheels),
                    str(REPO),
                ]
            )
            (wheel,) = wheels.glob("gea_feedback-*.whl")
            _run([sys.executable, "-m", "venv", "--clear", str(venv)])
            _run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ]
                + ["-c", str(REPO / "constraints.txt"), f"{wheel}[kiosk]"]
            )
            (folder / "wheel.done").touch()
        return venv / "bin"


def scrubbed_env(**extra: str) -> dict[str, str]:
    """This process's environment without what points at the checkout or its virtualenv, so an
    installed kiosk runs on its own files."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "GEA_KIOSK_", "QT_", "LD_LIBRARY_PATH"))
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN)
    return env | extra


def selftest_checks(stdout: str) -> dict[str, tuple[str, str]]:
    """{check: (status, detail)} from `gea-kiosk --selftest`'s output (its last line is the sum)."""
    checks = {}
    for line in stdout.strip().splitlines()[:-1]:
        status_word, rest = line.split(maxsplit=1)
        name, _, detail = rest.partition("  ")
        checks[name.strip()] = (status_word, detail.strip())
    return checks
