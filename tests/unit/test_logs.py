"""The kiosk's logging (kiosk/logs.py): one rotating, owner-only file per program in the data
directory, bounded in size and count; stderr when there is one; secrets masked."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import pytest

from kiosk import logs

# Each test configures logging; the process's own is put back after it (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("restore_logging")


def test_the_log_file_is_owner_only_in_an_owner_only_folder(tmp_path: Path) -> None:
    os.umask(0o022)  # what a desktop session usually has
    try:
        setup = logs.configure(tmp_path / "data", "INFO", stream=io.StringIO())
        logging.getLogger("kiosk.sync").info("push: 3 items")
    finally:
        os.umask(0o022)
    assert setup.file == tmp_path / "data" / "logs" / "kiosk.log"
    assert stat.S_IMODE(setup.file.stat().st_mode) == 0o600
    assert stat.S_IMODE(setup.file.parent.stat().st_mode) == 0o700
    assert "INFO    kiosk.sync" in setup.file.read_text()


def test_each_program_has_its_own_file_and_the_level_is_kept(tmp_path: Path) -> None:
    console = io.StringIO()
    setup = logs.configure(tmp_path, "WARNING", program="sync", stream=console)
    logging.getLogger("kiosk.sync").info("not at WARNING")
    logging.getLogger("kiosk.local_db").warning("disk nearly full")
    logging.getLogger("httpx").info("a library's chatter")
    assert setup.file == tmp_path / "logs" / "sync.log"
    text = setup.file.read_text()
    assert "disk nearly full" in text
    assert "not at WARNING" not in text
    assert "chatter" not in text
    assert "disk nearly full" in console.getvalue()


def test_stderr_can_be_quieter_than_the_file(tmp_path: Path) -> None:
    console = io.StringIO()
    setup = logs.configure(tmp_path, "DEBUG", program="cli", stderr_level="WARNING", stream=console)
    logging.getLogger("kiosk.cli").info("queued K0007-000001-ABCD")
    assert setup.file is not None
    assert "queued" in setup.file.read_text()
    assert console.getvalue() == ""


def test_no_stderr_in_a_gui_build_without_a_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", None)  # a frozen Windows build started from the desktop
    setup = logs.configure(tmp_path, "INFO")
    logging.getLogger("kiosk.ui").info("starting")
    handlers = logging.getLogger().handlers
    assert not any(type(h) is logging.StreamHandler for h in handlers)
    assert setup.file is not None
    assert "starting" in setup.file.read_text()


def test_the_file_rotates_within_its_bounds(tmp_path: Path) -> None:
    setup = logs.configure(tmp_path, "INFO", stream=io.StringIO())
    assert setup.file is not None
    line = "x" * 1000
    for _ in range(int(logs.MAX_BYTES * (logs.BACKUP_COUNT + 2) / 1000)):
        logging.getLogger("kiosk.ui").info(line)
    files = sorted(setup.file.parent.glob("kiosk.log*"))
    assert [f.name for f in files] == [
        "kiosk.log",
        *(f"kiosk.log.{i}" for i in range(1, logs.BACKUP_COUNT + 1)),
    ]
    for file in files:
        assert file.stat().st_size <= logs.MAX_BYTES
        assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_a_data_directory_that_takes_no_log_is_no_reason_not_to_start(tmp_path: Path) -> None:
    blocked = tmp_path / "data"
    blocked.mkdir()
    (blocked / "logs").write_text("a file where the folder should be")
    console = io.StringIO()
    setup = logs.configure(blocked, "INFO", stream=console)
    assert setup.file is None
    assert setup.problem is not None
    assert "logging to stderr only" in console.getvalue()


def test_configuring_again_replaces_the_handlers(tmp_path: Path) -> None:
    logs.configure(tmp_path / "a", "INFO", stream=io.StringIO())
    logs.configure(tmp_path / "b", "INFO", stream=io.StringIO())
    logging.getLogger("kiosk.ui").info("only in b")
    assert "only in b" not in (tmp_path / "a" / "logs" / "kiosk.log").read_text()
    assert "only in b" in (tmp_path / "b" / "logs" / "kiosk.log").read_text()


def test_a_bad_level_is_refused() -> None:
    with pytest.raises(ValueError, match="DEBUG, INFO, WARNING, ERROR"):
        logs.configure(Path("/nonexistent"), "LOUD")


@pytest.mark.parametrize(
    ("said", "secret"),
    [
        ("request failed: Authorization: Bearer s3cr3t-T0ken_value", "s3cr3t-T0ken_value"),
        ('{"device_token": "abc.def-ghi", "device_code": "K0007"}', "abc.def-ghi"),
        ("enrollment_code=7QX4-K2M9-A3DE refused", "7QX4-K2M9-A3DE"),
        ("pin_hash = $argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g", "aGFzaGhhc2g"),
    ],
)
def test_anything_shaped_like_a_secret_is_masked(tmp_path: Path, said: str, secret: str) -> None:
    console = io.StringIO()
    setup = logs.configure(tmp_path, "INFO", stream=console)
    try:
        raise RuntimeError(said)
    except RuntimeError:
        logging.getLogger("kiosk.sync").exception("failed: %s", said)
    assert setup.file is not None
    for text in (setup.file.read_text(), console.getvalue()):
        assert "failed:" in text
        assert secret not in text, "neither in the message nor in the traceback"
        assert "***" in text
