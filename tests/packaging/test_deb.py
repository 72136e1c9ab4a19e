"""The Debian package as IT installs it (`make deb`; issue 11): `dpkg -i` on this machine, the
installed kiosk run through /usr/bin/gea-kiosk as root (it switches to the kiosk's account),
enrollment by command and by IT's enroll.toml against the real server, an upgrade that keeps
IT's kiosk.toml and every queued submission, removal that keeps the data and purge that does
not. The maintainer scripts run without systemd here, as on CI machines and image builds.

The package is installed system-wide, so these tests hold a lock (one at a time across xdist
workers), and each purges it before and after itself, also when it fails.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from filelock import FileLock
from sqlalchemy.engine import URL

from kiosk import pin
from server_sync_api.core.db import libpq_conninfo
from tests.helpers import packaging
from tests.helpers.server import LiveServer, add_device

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a Debian package: needs root (CI runs as root)"),
]

PACKAGE = "gea-kiosk"
ACCOUNT = "gea-kiosk"
DATA = Path("/var/lib/gea-kiosk")
ETC = Path("/etc/gea-kiosk")
CONFIG = ETC / "kiosk.toml"
ENROLL_FILE = ETC / "enroll.toml"
UNIT = Path("/lib/systemd/system/gea-kiosk@.service")
WRAPPER = "/usr/bin/gea-kiosk"
STAFF_PIN = "482915"
# The version that upgrades the kiosk's own: dpkg sorts "0.1.0+upgrade" after "0.1.0".
UPGRADE_SUFFIX = "+upgrade"


def _dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dpkg", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # a conffile question would fail the test instead of hanging it
        env=packaging.scrubbed_env(DEBIAN_FRONTEND="noninteractive"),
        timeout=300,
    )


def _purge(*, check: bool = True) -> None:
    """Purge the package; `check=False` after a test, so a failed purge never hides the test's
    own failure (the next test's purge, which checks, then says so)."""
    done = _dpkg("--purge", PACKAGE)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
        assert not DATA.exists()
        assert not ETC.exists()


def _missing_dependencies() -> list[str]:
    lines = (packaging.REPO / "installer/linux/depends.txt").read_text("utf-8").splitlines()
    wanted = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [name for name in wanted if _dpkg("-s", name).returncode != 0]


@pytest.fixture(scope="module")
def debs() -> tuple[Path, Path]:
    """(this version's package, a newer build of it)."""
    version = packaging.read_kiosk_version()
    return packaging.deb(version), packaging.deb(version + UPGRADE_SUFFIX)


@pytest.fixture
def installed(debs: tuple[Path, Path]) -> Iterator[Path]:
    """This version installed with dpkg -i on a machine that had none; purged afterwards."""
    missing = _missing_dependencies()
    assert not missing, f"install the package's dependencies first: apt-get install {' '.join(missing)}"
    with FileLock(str(packaging.BUILDS / "dpkg.lock")):
        _purge()
        try:
            done = _dpkg("-i", str(debs[0]))
            assert done.returncode == 0, done.stdout + done.stderr
            yield debs[0]
        finally:
            _purge(check=False)


def kiosk(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed kiosk as IT runs it: `sudo gea-kiosk ...` (this test runs as root)."""
    return subprocess.run(
        [WRAPPER, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd="/",
        env=packaging.scrubbed_env(QT_QPA_PLATFORM="offscreen", **env),
        timeout=180,
    )


def _owned_by_the_kiosk_alone(folder: Path) -> None:
    account = pwd.getpwnam(ACCOUNT)
    for path in [folder, *folder.rglob("*")]:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (account.pw_uid, account.pw_gid), path
        assert stat.S_IMODE(info.st_mode) & 0o077 == 0, f"{path} is {oct(stat.S_IMODE(info.st_mode))}"


def _status() -> dict[str, object]:
    done = kiosk("status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert isinstance(report, dict)
    return report


@pytest.mark.usefixtures("installed")
def test_the_package_installs_the_kiosk_its_account_and_private_folders() -> None:
    assert os.access("/opt/gea-kiosk/gea-kiosk", os.X_OK)
    account = pwd.getpwnam(ACCOUNT)
    assert account.pw_uid != 0
    assert account.pw_shell == "/usr/sbin/nologin"
    assert Path(account.pw_dir) == DATA
    groups = subprocess.run(["id", "-nG", ACCOUNT], capture_output=True, text=True, check=True).stdout.split()
    assert "lp" in groups  # USB receipt printers
    info = DATA.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (account.pw_uid, 0o700)
    for path, mode in ((ETC, 0o750), (CONFIG, 0o640)):
        info = path.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, account.pw_gid, mode), path
    conffiles = subprocess.run(
        ["dpkg-query", "-W", "-f=${Conffiles}", PACKAGE], capture_output=True, text=True, check=True
    ).stdout
    assert str(CONFIG) in conffiles
    # The template names every setting the kiosk has (commented out: the defaults).
    from kiosk.config import KioskSettings

    template = CONFIG.read_text("utf-8")
    for key in KioskSettings.model_fields:
        assert re.search(rf"^# {key} = ", template, re.MULTILINE), key


@pytest.mark.usefixtures("installed")
def test_the_installed_selftest_runs_as_the_kiosk_account() -> None:
    done = kiosk("--selftest")
    assert done.returncode == 0, done.stdout + done.stderr
    checks = packaging.selftest_checks(done.stdout)
    assert checks["data directory"][0] == "ok"
    assert checks["data directory"][1].startswith(f"{DATA}: schema up to date")
    assert checks["font"] == ("ok", "Atkinson Hyperlegible, from /opt/gea-kiosk/_internal/kiosk/resources")
    assert checks["privacy"][0] == "ok"
    # root ran it, but the kiosk's account owns everything it made.
    assert (DATA / "kiosk.sqlite3").is_file()
    _owned_by_the_kiosk_alone(DATA)


@pytest.mark.usefixtures("installed")
def test_the_kiosk_mode_unit_is_valid_and_supervised() -> None:
    if shutil.which("systemd-analyze") is not None:
        done = subprocess.run(
            ["systemd-analyze", "verify", "gea-kiosk@tty7.service"], capture_output=True, text=True
        )
        # verify only warns about an unknown key: any output is a finding.
        assert (done.returncode, done.stdout + done.stderr) == (0, "")
    unit = UNIT.read_text("utf-8")
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, re.MULTILINE))
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "all"  # cage is the main process; the kiosk pings
    assert settings["Restart"] == "always"
    assert 0 < int(settings["WatchdogSec"]) <= 60
    assert settings["User"] == ACCOUNT
    assert settings["TTYPath"] == "/dev/%I"
    assert settings["ExecStart"].split()[0] == "/usr/bin/cage"
    assert settings["ExecStart"].endswith("-- /opt/gea-kiosk/gea-kiosk")
    assert " -s" not in settings["ExecStart"]  # no switching to another terminal
    assert settings["ExecStartPre"] == f"-+{WRAPPER} enroll --from-file {ENROLL_FILE}"
    assert f"Environment=GEA_KIOSK_DATA_DIR={DATA}" in unit
    assert f"Environment=GEA_KIOSK_CONFIG={CONFIG}" in unit


@pytest.mark.usefixtures("installed")
def test_enrolled_by_command_then_upgraded_keeping_settings_and_every_queued_submission(
    debs: tuple[Path, Path], live_server: LiveServer, db_url: URL
) -> None:
    new = add_device(db_url, "AGY-003")
    done = kiosk(
        "enroll", "--server", live_server.base_url, "--code", new.enrollment_code, GEA_KIOSK_PIN=STAFF_PIN
    )
    assert done.returncode == 0, done.stdout + done.stderr
    queued = []
    for rating in (1, 4, 5):
        done = kiosk("submit", "--service", "SVC-008", "--rating", str(rating), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        queued.append(json.loads(done.stdout)["client_uuid"])
    _owned_by_the_kiosk_alone(DATA)
    before = _status()
    assert before["counts"]["pending"] == 3  # type: ignore[index]
    # IT's edit to the conffile.
    CONFIG.write_text(CONFIG.read_text("utf-8") + '\nlanguage = "es"\n', "utf-8")

    done = _dpkg("-i", str(debs[1]))
    assert done.returncode == 0, done.stdout + done.stderr
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True, text=True)
    assert version.stdout.endswith(UPGRADE_SUFFIX)
    assert CONFIG.read_text("utf-8").endswith('\nlanguage = "es"\n')
    assert _status()["counts"] == before["counts"]

    done = kiosk("sync", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    with psycopg.connect(libpq_conninfo(db_url)) as conn:
        rows = conn.execute(
            "SELECT f.client_uuid::text, count(*) FROM service_feedback f "
            "JOIN kiosk_devices d ON d.device_id = f.device_id WHERE d.device_code = %s GROUP BY 1",
            (before["device_code"],),
        ).fetchall()
    assert dict(rows) == dict.fromkeys(queued, 1)
    assert _status()["counts"]["pending"] == 0  # type: ignore[index]
    _owned_by_the_kiosk_alone(DATA)


def _write_enroll_file(server_url: str, code: str, pin_hash: str) -> None:
    ENROLL_FILE.write_text(
        f'server_url = "{server_url}"\ncode = "{code}"\npin_hash = "{pin_hash}"\n', "utf-8"
    )
    ENROLL_FILE.chmod(0o600)


@pytest.mark.usefixtures("installed")
def test_enrolled_by_the_file_it_drops_as_the_service_does(live_server: LiveServer, db_url: URL) -> None:
    """The unit's root step (ExecStartPre=-+/usr/bin/gea-kiosk enroll --from-file ...): a bad
    code is reported where staff and `status` see it and the file stays; a good one enrolls
    the kiosk as its own account and the file goes."""
    pin_hash = pin.hash_pin(STAFF_PIN)
    nothing = kiosk("enroll", "--from-file", str(ENROLL_FILE))
    assert nothing.returncode == 0
    assert "nothing to do" in nothing.stdout

    _write_enroll_file(live_server.base_url, "NOT-A-REAL-CODE", pin_hash)
    failed = kiosk("enroll", "--from-file", str(ENROLL_FILE))
    assert failed.returncode == 2
    # Warnings go to stderr too (and the journal); the last line is click's, with what to do.
    assert failed.stderr.splitlines()[-1].startswith(
        "Error: Enrollment failed: This enrollment code"
    ), failed.stderr
    assert "Traceback" not in failed.stderr
    assert ENROLL_FILE.is_file(), "kept for the next try"
    report = _status()
    assert report["device_code"] is None
    assert str(report["enroll_problem"]).startswith(f"{ENROLL_FILE}: Enrollment failed")
    assert str(report["enroll_problem"]).count(str(ENROLL_FILE)) == 1
    _owned_by_the_kiosk_alone(DATA)

    # IT enrolls by command instead: the file's failure is no longer the kiosk's problem.
    by_hand = add_device(db_url, "AGY-003")
    done = kiosk(
        "enroll", "--server", live_server.base_url, "--code", by_hand.enrollment_code, GEA_KIOSK_PIN=STAFF_PIN
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _status()["enroll_problem"] is None

    new = add_device(db_url, "AGY-003")
    _write_enroll_file(live_server.base_url, new.enrollment_code, pin_hash)
    done = kiosk("enroll", "--from-file", str(ENROLL_FILE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert not ENROLL_FILE.exists(), "a spent code is removed"
    report = _status()
    assert report["device_code"] is not None
    assert report["enroll_problem"] is None
    checks = packaging.selftest_checks(kiosk("--selftest").stdout)
    assert checks["staff PIN"][0] == "ok"
    assert checks["enrollment"] == ("ok", f"{report['device_code']}, server {live_server.base_url}")
    _owned_by_the_kiosk_alone(DATA)


@pytest.mark.usefixtures("installed")
def test_removal_keeps_the_queue_and_settings_and_purge_removes_them() -> None:
    assert kiosk("--selftest").returncode == 0  # makes the database
    done = _dpkg("--remove", PACKAGE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not Path("/opt/gea-kiosk").exists()
    assert not Path(WRAPPER).exists()
    assert (DATA / "kiosk.sqlite3").is_file()
    assert CONFIG.is_file()
    done = _dpkg("--purge", PACKAGE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not DATA.exists()
    assert not ETC.exists()


@pytest.mark.usefixtures("installed")
def test_another_account_is_told_to_use_sudo_not_shown_a_traceback() -> None:
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", WRAPPER, "status"],
        capture_output=True,
        text=True,
        cwd="/",
        env=packaging.scrubbed_env(),
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{CONFIG} cannot be read by this account: run the command with sudo" in done.stderr
    assert "Traceback" not in done.stderr
