"""The kiosk installed from its wheel, not editable, into a fresh virtualenv: it must find its
resources and its migrations inside the installed package (issue 11)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

import kiosk
from tests.helpers import packaging

pytestmark = pytest.mark.slow


def test_the_wheel_carries_the_resources_and_the_local_migrations() -> None:
    venv_bin = packaging.wheel_venv()
    (wheel,) = (venv_bin.parents[1] / "wheels").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    resources = packaging.REPO / "resources"
    for path in resources.rglob("*"):
        if path.is_file():
            assert f"kiosk/resources/{path.relative_to(resources).as_posix()}" in names
    migrations = packaging.REPO / "kiosk" / "local_db" / "migrations"
    for path in migrations.rglob("*.py"):
        assert f"kiosk/local_db/migrations/{path.relative_to(migrations).as_posix()}" in names


def test_the_installed_wheel_passes_its_selftest_on_its_own_files(tmp_path: Path) -> None:
    venv_bin = packaging.wheel_venv()
    site = subprocess.run(
        [str(venv_bin / "python"), "-c", "import kiosk, pathlib; print(pathlib.Path(kiosk.__file__).parent)"],
        cwd=tmp_path,
        env=packaging.scrubbed_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(site).is_relative_to(venv_bin.parent), "the kiosk must come from the fresh venv"

    data_dir = tmp_path / "data"
    done = subprocess.run(
        [str(venv_bin / "gea-kiosk"), "--selftest"],
        cwd=tmp_path,
        env=packaging.scrubbed_env(
            QT_QPA_PLATFORM="offscreen",
            GEA_KIOSK_DATA_DIR=str(data_dir),
            GEA_KIOSK_CONFIG=str(tmp_path / "kiosk.toml"),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    checks = packaging.selftest_checks(done.stdout)
    assert checks["version"] == ("ok", f"gea-kiosk {kiosk.__version__}")
    # The font, stylesheets and translation came out of the installed package...
    assert checks["font"] == ("ok", f"Atkinson Hyperlegible, from {Path(site) / 'resources'}")
    for check in ("stylesheets", "Spanish", "receipt"):
        assert checks[check][0] == "ok", checks[check]
    # ...and so did the migrations that made the data directory's database.
    assert checks["data directory"][0] == "ok", checks["data directory"]
    assert "schema up to date" in checks["data directory"][1]
    assert (data_dir / "kiosk.sqlite3").is_file()
