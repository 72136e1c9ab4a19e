"""The PyInstaller bundle as `make bundle` builds it (installer/gea-kiosk.spec): the kiosk
alone, smoke-tested by its own --selftest, and a smoke test that catches a broken build."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import kiosk
from tests.helpers import packaging
from tests.helpers.escpos_listener import escpos_listener

pytestmark = pytest.mark.slow


def _smoke_test_module() -> ModuleType:
    """installer/smoke_test.py, the build's own smoke test (installer/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "smoke_test", packaging.REPO / "installer" / "smoke_test.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


smoke_test = _smoke_test_module()


def test_the_bundle_passes_its_smoke_test_and_says_its_version() -> None:
    bundle = packaging.bundle()
    passed, said = smoke_test.check(bundle / "gea-kiosk")
    assert passed, said
    checks = packaging.selftest_checks(said)
    assert checks["version"] == ("ok", f"gea-kiosk {kiosk.__version__}")
    assert checks["font"] == (
        "ok",
        f"Atkinson Hyperlegible, from {bundle / '_internal' / 'kiosk' / 'resources'}",
    )
    version = subprocess.run(
        [str(bundle / "gea-kiosk"), "--version"], env=packaging.scrubbed_env(), capture_output=True, text=True
    )
    assert version.stdout.strip() == f"gea-kiosk, version {kiosk.__version__}"


def test_the_bundle_holds_the_kiosk_alone() -> None:
    internal = packaging.bundle() / "_internal"
    names = {path.relative_to(internal).as_posix() for path in internal.rglob("*")}
    # What the kiosk needs to run at all.
    for needed in (
        "kiosk/resources/kiosk.qss",
        "kiosk/resources/i18n/kiosk_es.qm",
        "kiosk/local_db/migrations/env.py",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/printsupport/libcupsprintersupport.so",
    ):
        assert needed in names, needed
    assert {p.name for p in (packaging.REPO / "kiosk/local_db/migrations/versions").glob("*.py")} <= {
        Path(n).name for n in names if n.startswith("kiosk/local_db/migrations/versions/")
    }
    # Python packages that are not the kiosk's: the spec's exclusions hold.
    frozen = subprocess.run(
        [str(packaging.bundle() / "gea-kiosk"), "--help"], env=packaging.scrubbed_env(), capture_output=True
    )
    assert frozen.returncode == 0
    pyz_names = _frozen_module_names(internal)
    for unwanted in ("server_sync_api", "tests", "fastapi", "uvicorn", "psycopg", "pytest", "PyInstaller"):
        assert not any(n == unwanted or n.startswith(f"{unwanted}.") for n in pyz_names), unwanted
    assert "kiosk.ui.window" in pyz_names  # the check reads the archive it means to
    # Qt modules and plugins the kiosk never uses.
    for module in ("QtNetwork", "QtQml", "QtQuick", "QtSql", "QtTest", "QtDBus", "QtOpenGL", "QtPdf"):
        assert not any(n.startswith(f"PySide6/{module}.") for n in names), module
    for folder in ("translations", "qml", "plugins/platformthemes", "plugins/sqldrivers", "plugins/tls"):
        assert not any(n.startswith(f"PySide6/Qt/{folder}/") for n in names), folder


def _frozen_module_names(internal: Path) -> set[str]:
    """The Python modules frozen into the bundle's executable archive (PyInstaller's PYZ)."""
    from PyInstaller.archive.readers import CArchiveReader, ZlibArchiveReader  # type: ignore[import-untyped]

    executable = internal.parent / "gea-kiosk"
    outer = CArchiveReader(str(executable))
    (pyz_name,) = [name for name in outer.toc if name.endswith(".pyz")]
    scratch = internal.parents[1] / "PYZ-listing.pyz"
    scratch.write_bytes(outer.extract(pyz_name))
    try:
        return set(ZlibArchiveReader(str(scratch)).toc)
    finally:
        scratch.unlink()


def test_the_smoke_test_fails_a_bundle_without_its_platform_plugin_and_shows_why(tmp_path: Path) -> None:
    """A build that lost a Qt plugin fails its smoke test, which then runs the bundle again with
    Qt's plugin debugging on and shows both outputs (the build log says what is missing)."""
    broken = tmp_path / "gea-kiosk"
    shutil.copytree(packaging.bundle(), broken, symlinks=True, copy_function=os.link)
    (broken / "_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so").unlink()
    passed, said = smoke_test.check(broken / "gea-kiosk")
    assert not passed
    assert "---- selftest: exit" in said
    assert "---- again with QT_DEBUG_PLUGINS=1" in said
    assert "offscreen" in said
    # The plugin debugging shows where Qt looked for platform plugins.
    debug_part = said.split("---- again with QT_DEBUG_PLUGINS=1", 1)[1]
    assert "platforms" in debug_part


def test_the_smoke_test_fails_on_an_unexpected_line_on_stderr(tmp_path: Path) -> None:
    script = tmp_path / "gea-kiosk"
    script.write_text(
        "#!/bin/sh\necho 'ok    version  gea-kiosk'\necho 'qt.qpa.plugin: could not load' >&2\n"
    )
    script.chmod(0o755)
    passed, said = smoke_test.check(script)
    assert not passed
    assert "unexpected lines on stderr:\n  qt.qpa.plugin: could not load" in said


def test_the_bundle_prints_on_a_network_thermal_printer_and_finds_libusb(tmp_path: Path) -> None:
    """python-escpos loads its printer profiles from a data file and pyusb loads libusb by name:
    both out of the analysis' sight, so the frozen kiosk proves they travelled."""
    executable = packaging.bundle() / "gea-kiosk"
    env = packaging.scrubbed_env(
        QT_QPA_PLATFORM="offscreen",
        GEA_KIOSK_DATA_DIR=str(tmp_path / "data"),
        GEA_KIOSK_CONFIG=str(tmp_path / "kiosk.toml"),
    )
    with escpos_listener() as printer:
        done = subprocess.run(
            [str(executable), "print-test"],
            env=env | {"GEA_KIOSK_ESCPOS": printer.url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        (job,) = printer.wait_for_jobs(1)
    assert f"on the ESC/POS printer {printer.url.removeprefix('tcp://')} (escpos)" in done.stdout
    url = re.search(r"Its QR code opens (\S+)", done.stdout)
    assert url is not None, done.stdout
    data = url.group(1).encode("ascii")
    # GS ( k, function 180: the printer stores the QR symbol's data (the status page's address).
    assert b"\x1d(k" + (len(data) + 3).to_bytes(2, "little") + b"1P0" + data in job

    usb = subprocess.run(
        [str(executable), "--selftest"],
        env=env | {"GEA_KIOSK_ESCPOS": "usb://0000:0001"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    status, detail = packaging.selftest_checks(usb.stdout)["printer"]
    assert status == "warn"
    assert "no USB 0000:0001 is plugged in" in detail, detail


def test_a_bundle_that_lost_its_resources_says_reinstall_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "gea-kiosk"
    shutil.copytree(packaging.bundle(), broken, symlinks=True, copy_function=os.link)
    shutil.rmtree(broken / "_internal" / "kiosk" / "resources")
    done = subprocess.run(
        [str(broken / "gea-kiosk"), "--windowed"],
        env=packaging.scrubbed_env(
            QT_QPA_PLATFORM="offscreen",
            GEA_KIOSK_DATA_DIR=str(tmp_path / "data"),
            GEA_KIOSK_CONFIG=str(tmp_path / "kiosk.toml"),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines()[-1].startswith("Error: no kiosk resources in "), done.stderr
    assert done.stderr.rstrip().endswith("reinstall the kiosk")
    assert "Traceback" not in done.stderr
