"""A kiosk release other than the working tree, run for real: its `kiosk/` package taken from
this repository's git history and run as its own processes, with the current virtualenv's
dependencies (the kiosk's dependencies did not change between the two).

- `commit_before(path)`: the last commit without `path`, i.e. the tree just before the change
  that added it (a migration), found in the history, so it survives rebases and needs no
  hash written down.
- `extract(commit, dest)`: that commit's `kiosk/`, unpacked with `git archive`.
- `KioskTree`: `gea-kiosk` (or a few lines of its library code) run from a tree, each run a
  fresh `python -P`, so neither the working directory nor the editable install of the working
  tree can slip the current code in instead.

Without git, or in a shallow clone that lacks the needed commits, the test fails saying so:
an upgrade test that quietly skipped would prove nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Bounds one command of the kiosk; a healthy one takes about a second.
PROCESS_TIMEOUT_S = 120.0
STAFF_PIN = "246810"
CLI = "from kiosk.cli import main; main()"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        pytest.fail("The upgrade test needs git: it takes the previous release's code from the history.")
    return subprocess.run(
        [git, "-C", str(REPO), *args], capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S
    )


def _no_history(what: str) -> str:
    shallow = _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    hint = (
        "This clone is shallow: run `git fetch --unshallow` (or clone without --depth)."
        if shallow
        else "Run the tests from a full git clone of the repository."
    )
    return f"The upgrade test needs the git history: {what}. {hint}"


def commit_before(path: str) -> str:
    """The commit just before the one that added `path` (a path relative to the repository)."""
    if _git("rev-parse", "--git-dir").returncode != 0:
        pytest.fail(_no_history(f"{REPO} is not a git working tree"))
    added = _git("log", "--diff-filter=A", "--format=%H", "--", path)
    commits = added.stdout.split()
    if added.returncode != 0 or not commits:
        pytest.fail(_no_history(f"no commit in the history adds {path} (is it committed?)"))
    first = commits[-1]  # log lists the newest first; the first addition is the change itself
    parent = _git("rev-parse", "--verify", "--quiet", f"{first}^")
    if parent.returncode != 0:
        pytest.fail(_no_history(f"the parent of {first[:12]}, which added {path}, is not in this clone"))
    return parent.stdout.strip()


def extract(commit: str, dest: Path) -> Path:
    """`kiosk/` as it was at `commit`, unpacked under `dest`; returns `dest`."""
    archive = subprocess.run(
        [shutil.which("git") or "git", "-C", str(REPO), "archive", "--format=tar", commit, "kiosk"],
        capture_output=True,
        timeout=PROCESS_TIMEOUT_S,
    )
    if archive.returncode != 0:
        pytest.fail(_no_history(f"git archive {commit[:12]} failed: {archive.stderr.decode().strip()}"))
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def kiosk_env(data_dir: Path, root: Path, **extra: str) -> dict[str, str]:
    """The environment of a kiosk command IT runs: its data directory, no kiosk.toml (the
    defaults), the PIN for enroll, and `root` first on the import path. Nothing of the test
    process's own GEA_KIOSK_* settings leaks in."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_KIOSK_", "NOTIFY_SOCKET"))}
    return {
        **base,
        "PYTHONPATH": str(root),
        "GEA_KIOSK_DATA_DIR": str(data_dir),
        "GEA_KIOSK_CONFIG": str(data_dir.parent / "no-kiosk.toml"),
        "GEA_KIOSK_PIN": STAFF_PIN,
        **extra,
    }


@dataclass(frozen=True)
class KioskTree:
    """A folder holding a `kiosk/` package: the kiosk as that tree has it."""

    root: Path

    def argv(self, code: str, *args: str) -> list[str]:
        # -P: no working directory (nor script folder) ahead of PYTHONPATH on sys.path.
        return [sys.executable, "-P", "-c", code, *args]

    def run(self, data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`gea-kiosk ARGS` of this tree, to its end."""
        return self.python(data_dir, CLI, *args, **env)

    def python(self, data_dir: Path, code: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`python -c CODE ARGS` with this tree's kiosk package, to its end."""
        return subprocess.run(
            self.argv(code, *args),
            env=kiosk_env(data_dir, self.root, **env),
            cwd=data_dir.parent,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )

    def start(self, data_dir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
        """`gea-kiosk ARGS` of this tree, left running (the caller ends it)."""
        return subprocess.Popen(
            self.argv(CLI, *args),
            env=kiosk_env(data_dir, self.root, **env),
            cwd=data_dir.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
