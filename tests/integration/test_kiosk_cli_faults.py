"""`gea-kiosk` as IT runs it when the kiosk's own machine is in the way, for real: a data
directory on a tiny tmpfs that fills up or is remounted read-only, and a second process holding
the SQLite write lock. Each command ends with status 2 and one line naming the problem (no
traceback), nothing already queued is lost, and the same command works once the fault is gone.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import demo, faults
from kiosk.local_db import database, outbox
from kiosk.local_db.models import OutboxItem
from tests.helpers.faults import TinyDisk, open_files_under, write_lock_held

GEA_KIOSK = shutil.which("gea-kiosk", path=os.path.dirname(sys.executable))
COMMAND_TIMEOUT_S = 120
SUBMIT = ("submit", "--service", "SVC-001", "--rating", "2", "--text", "queue too long")


def gea_kiosk(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """One real `gea-kiosk` process on `data_dir`, its config file outside the tiny disk."""
    assert GEA_KIOSK is not None, "gea-kiosk is not installed in this virtualenv"
    base = {k: v for k, v in os.environ.items() if not k.startswith("GEA_KIOSK_")}
    full_env = {
        **base,
        "GEA_KIOSK_DATA_DIR": str(data_dir),
        "GEA_KIOSK_CONFIG": str(data_dir.parent.parent / "none.toml"),  # beside the disk: no file
        **env,
    }
    try:
        return subprocess.run(
            [GEA_KIOSK, *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"gea-kiosk {' '.join(args)} still ran after {exc.timeout} s") from None


def assert_refused_with(result: subprocess.CompletedProcess[str], fault: faults.StorageFault) -> None:
    """Status 2, and stderr ends with the one line that says what is wrong and what to do."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing said"
    assert lines[-1] == f"Error: {fault.staff_message}", result.stderr
    assert [line for line in lines if line.startswith("Error:")] == [lines[-1]], result.stderr
    assert result.stdout == ""


def rows(data_dir: Path) -> list[outbox.OutboxRow]:
    """Every outbox row, in order (read in this process, outside the fault)."""
    engine = database.open_database(data_dir)
    try:
        with Session(database.reader(engine)) as session:
            items = session.scalars(select(OutboxItem).order_by(OutboxItem.sequence))
            return [outbox.OutboxRow.of(item) for item in items]
    finally:
        engine.dispose()


def queue_one(data_dir: Path) -> str:
    """`gea-kiosk submit`, which must work; its reference code."""
    result = gea_kiosk(data_dir, *SUBMIT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Queued "), result.stdout
    return result.stdout.split()[1].rstrip(".")


def assert_works_again(data_dir: Path, before: list[outbox.OutboxRow]) -> None:
    """The fault gone, the same command queues a row; every earlier row is as it was."""
    reference = queue_one(data_dir)
    after = rows(data_dir)
    assert after[:-1] == before, "rows queued before the fault are all there, unchanged"
    assert [r.reference_code for r in after[len(before) :]] == [reference], "nothing half-written"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[TinyDisk]:
    with TinyDisk.mounted(tmp_path / "disk") as mounted:
        yield mounted


@pytest.fixture
def data_dir(disk: TinyDisk) -> Path:
    """The offline demo kiosk on the tiny disk, with one submission queued by the CLI."""
    directory = disk.path / "kiosk"
    demo.prepare_offline(directory)
    queue_one(directory)
    assert open_files_under(disk.path) == []
    return directory


@pytest.fixture
def running_app(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """An open connection to the database, as the kiosk app keeps one while it runs: the WAL
    and -shm files stay on the disk."""
    connection = sqlite3.connect(database.database_path(data_dir), isolation_level=None)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        yield connection
    finally:
        connection.close()


def empty_wal(connection: sqlite3.Connection, data_dir: Path) -> None:
    """Checkpoint and truncate the WAL: the next write must take new space on the disk (a WAL
    that kept its earlier frames' space would take it, full disk or not)."""
    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    assert data_dir.joinpath("kiosk.sqlite3-wal").stat().st_size == 0


# --- a full disk --------------------------------------------------------------------------------


def test_submit_on_a_full_disk_while_the_app_runs_says_the_disk_is_full(
    data_dir: Path, disk: TinyDisk, running_app: sqlite3.Connection
) -> None:
    before = rows(data_dir)
    empty_wal(running_app, data_dir)
    disk.fill()
    result = gea_kiosk(data_dir, *SUBMIT)
    assert_refused_with(result, faults.DiskFull(data_dir))
    disk.free()
    assert_works_again(data_dir, before)


def test_submit_on_a_full_disk_with_nothing_else_running_says_the_disk_is_full(
    data_dir: Path, disk: TinyDisk
) -> None:
    """The last process to close the database removed its WAL and -shm: SQLite must create
    and grow the -shm before anything else, and says only "disk I/O error" when it cannot."""
    before = rows(data_dir)
    assert not data_dir.joinpath("kiosk.sqlite3-shm").exists()
    disk.fill()
    result = gea_kiosk(data_dir, *SUBMIT)
    assert_refused_with(result, faults.DiskFull(data_dir))
    disk.free()
    assert_works_again(data_dir, before)


def test_a_full_disk_that_cannot_take_the_log_line_still_gives_one_clear_line(
    data_dir: Path, disk: TinyDisk, running_app: sqlite3.Connection
) -> None:
    """The first command ever run on this kiosk: its log file is new and holds no block yet,
    so the log line is refused too."""
    for log in data_dir.joinpath("logs").glob("cli.log*"):
        log.unlink()
    before = rows(data_dir)
    empty_wal(running_app, data_dir)
    disk.fill()
    result = gea_kiosk(data_dir, *SUBMIT)
    assert_refused_with(result, faults.DiskFull(data_dir))
    assert "Logging error" not in result.stderr
    disk.free()
    assert_works_again(data_dir, before)


# --- the database held by another process -------------------------------------------------------


@pytest.mark.slow  # the command waits out the real busy timeout (database.BUSY_TIMEOUT_S)
def test_submit_while_another_process_holds_the_write_lock_says_the_database_is_busy(
    data_dir: Path,
) -> None:
    before = rows(data_dir)
    with write_lock_held(database.database_path(data_dir)) as holder:
        result = gea_kiosk(data_dir, *SUBMIT)
        holder.let_go()
    assert_refused_with(result, faults.DatabaseBusy())
    assert_works_again(data_dir, before)


# --- a read-only data directory -----------------------------------------------------------------


def test_submit_on_a_read_only_data_directory_says_it_cannot_write(data_dir: Path, disk: TinyDisk) -> None:
    before = rows(data_dir)
    disk.read_only()
    result = gea_kiosk(data_dir, *SUBMIT)
    assert_refused_with(result, faults.DataDirNotWritable(data_dir))
    disk.writable()
    assert_works_again(data_dir, before)


def test_the_app_on_a_read_only_data_directory_exits_2_with_a_clear_line(
    data_dir: Path, disk: TinyDisk
) -> None:
    before = rows(data_dir)
    disk.read_only()
    result = gea_kiosk(data_dir, "--windowed", QT_QPA_PLATFORM="offscreen")
    assert_refused_with(result, faults.DataDirNotWritable(data_dir))
    disk.writable()
    assert rows(data_dir) == before
