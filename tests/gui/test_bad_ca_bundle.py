"""A CA bundle in kiosk.toml that is a file but not a PEM certificate used to end the kiosk at
start-up with a traceback. Now the kiosk runs on, offline, and staff and IT read what to fix:
the staff screen, the log, `gea-kiosk sync --once`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from kiosk.config import KioskSettings
from kiosk.ui import app
from kiosk.ui.window import KioskWindow
from tests.gui.conftest import WindowFactory
from tests.integration.test_kiosk_cli import kiosk


@pytest.fixture
def not_pem(tmp_path: Path) -> Path:
    bundle = tmp_path / "gov-ca.pem"
    bundle.write_text("this is not a certificate\n")
    return bundle


def test_the_kiosk_runs_on_and_staff_read_what_to_fix(
    qtbot: QtBot,
    kiosk_dir: Path,
    not_pem: Path,
    make_window: WindowFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    del qtbot
    settings = KioskSettings(ca_bundle=not_pem, services=["SVC-001"])
    with caplog.at_level(logging.INFO, logger="kiosk"), app.running_kiosk(kiosk_dir, settings) as parts:
        assert parts.keeper is not None
        state = parts.keeper.state
        assert state.device_code == "DEMO1"
        assert state.problem is not None
        assert str(not_pem) in state.problem
        window: KioskWindow = make_window(parts)
        window.show_health()
        text = window.sync_health.state.text()
        assert text.startswith("Cannot sync: The CA bundle")
        assert "Check the path and its PEM" in text
        window.close()
    assert any("sync cannot start: The CA bundle" in r.getMessage() for r in caplog.records)


def test_sync_once_says_what_is_wrong_with_the_bundle(kiosk_dir: Path, not_pem: Path) -> None:
    result = kiosk(kiosk_dir, "sync", "--once", GEA_KIOSK_CA_BUNDLE=str(not_pem))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"The CA bundle {not_pem} cannot be used" in result.stderr.strip().splitlines()[-1]
