"""The data directory holds citizens' words and the device token: it is 0700 and every file in
it 0600, set on creation whatever the umask, repaired at start-up, and the self-test says so
when something widened them."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import demo
from kiosk.local_db import database, identity, privacy
from tests.integration.test_kiosk_cli import selftest


@pytest.fixture
def desktop_umask() -> Iterator[None]:
    """The umask a desktop session usually has: files 0644, folders 0755 by default."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_directory_is_owner_only_from_the_start(tmp_path: Path, desktop_umask: None) -> None:
    del desktop_umask
    data_dir = tmp_path / "kiosk"
    engine = database.open_database(data_dir)
    try:
        identity.save(
            engine, data_dir, identity.Identity("K0001", "AGY-002", "http://x", "http://x"), "t0ken"
        )
        files = sorted(p.name for p in data_dir.iterdir())
        assert {"kiosk.sqlite3", "kiosk.sqlite3-wal", "kiosk.sqlite3-shm", "device_token"} <= set(files)
        assert mode(data_dir) == 0o700
        for path in data_dir.iterdir():
            assert mode(path) == 0o600, path
        assert privacy.too_wide(data_dir) == []
    finally:
        engine.dispose()


def test_a_widened_data_directory_is_repaired_when_the_kiosk_opens_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "kiosk"
    demo.prepare_offline(data_dir)
    (data_dir / "logs").mkdir()
    (data_dir / "logs" / "kiosk.log").write_text("old log")
    # Restored from a backup, or copied by hand with the wrong modes:
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    assert len(privacy.too_wide(data_dir)) == len([data_dir, *data_dir.rglob("*")])
    with caplog.at_level(logging.WARNING, logger="kiosk.local_db"):
        database.open_database(data_dir).dispose()
    assert privacy.too_wide(data_dir) == []
    assert mode(data_dir / "logs") == 0o700
    assert mode(data_dir / "logs" / "kiosk.log") == 0o600
    warned = {r.getMessage() for r in caplog.records}
    assert f"{data_dir / 'device_token'} could be read by other accounts; made it owner-only" in warned


def test_the_selftest_warns_when_other_accounts_could_read_the_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "kiosk"
    demo.prepare_offline(data_dir)
    os.chmod(data_dir / "kiosk.sqlite3", 0o644)
    status, checks = selftest(data_dir)
    assert status == 0, checks
    level, detail = checks["privacy"]
    assert level == "warn"
    assert str(data_dir / "kiosk.sqlite3") in detail
    assert mode(data_dir / "kiosk.sqlite3") == 0o600, "opening the data repaired it"
    status, checks = selftest(data_dir)
    assert checks["privacy"] == ("ok", "the data directory and its files are owner-only (700/600)")
