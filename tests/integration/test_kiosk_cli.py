"""`gea-kiosk` as IT runs it: real processes, the real server over HTTP, real PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

import kiosk as kiosk_package
from kiosk import pin
from kiosk.local_db import database, identity, local_settings, lock
from server_sync_api.services import devices
from tests.helpers import packaging, pg
from tests.helpers.server import LiveServer, add_device, free_port

GEA_KIOSK = shutil.which("gea-kiosk", path=os.path.dirname(sys.executable))
STAFF_PIN = "246810"


def kiosk(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert GEA_KIOSK is not None
    base = {k: v for k, v in os.environ.items() if not k.startswith("GEA_KIOSK_")}
    full_env = {
        **base,
        "GEA_KIOSK_DATA_DIR": str(data_dir),
        "GEA_KIOSK_CONFIG": str(data_dir / "none.toml"),
        **env,
    }
    return subprocess.run(
        [GEA_KIOSK, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def enrolled_dir(tmp_path: Path, live_server: LiveServer, db_url: URL) -> Path:
    """A data directory enrolled (through the CLI) as a kiosk of AGY-003 (SVC-008, SVC-002)."""
    new = add_device(db_url, "AGY-003")
    data_dir = tmp_path / "kiosk"
    result = kiosk(
        data_dir,
        "enroll",
        "--server",
        live_server.base_url,
        "--code",
        new.enrollment_code,
        GEA_KIOSK_PIN=STAFF_PIN,
    )
    assert result.returncode == 0, result.stderr
    assert f"Enrolled as {new.device_code}" in result.stdout
    assert "Catalog downloaded" in result.stdout
    return data_dir


def status(data_dir: Path) -> dict[str, object]:
    result = kiosk(data_dir, "status", "--json")
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_enroll_stores_identity_token_and_pin_hash_but_never_prints_them(enrolled_dir: Path) -> None:
    engine = database.open_database(enrolled_dir)
    who = identity.load(engine)
    token = identity.read_token(enrolled_dir)
    pin_hash = local_settings.get_value(engine, local_settings.STAFF_PIN_HASH)
    assert who is not None
    assert who.entity_id == "AGY-003"
    assert token is not None
    assert (enrolled_dir / "device_token").stat().st_mode & 0o077 == 0
    assert pin_hash is not None
    assert pin.verify_pin(pin_hash, STAFF_PIN)
    assert not pin.verify_pin(pin_hash, "135790")
    assert STAFF_PIN not in pin_hash


def test_submit_then_sync_once_delivers_exactly_once(enrolled_dir: Path, db_url: URL) -> None:
    first = kiosk(enrolled_dir, "submit", "--service", "SVC-002", "--rating", "1", "--text", "slow", "--json")
    second = kiosk(enrolled_dir, "submit", "--service", "SVC-008", "--rating", "5", "--grievance")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    reference = json.loads(first.stdout)["reference_code"]
    assert status(enrolled_dir)["counts"] == {
        "open": 0,
        "pending": 2,
        "sending": 0,
        "synced": 0,
        "rejected": 0,
    }

    synced = kiosk(enrolled_dir, "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    again = kiosk(enrolled_dir, "sync", "--once")
    assert again.returncode == 0, again.stderr

    report = status(enrolled_dir)
    assert report["counts"] == {"open": 0, "pending": 0, "sending": 0, "synced": 2, "rejected": 0}
    assert report["authorized"] is True
    assert report["last_success_at"]
    assert report["offline_since"] is None
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        rows = {
            code: (channel, has_ticket)
            for code, channel, has_ticket in conn.execute(
                "SELECT f.reference_code, f.channel, t.ticket_number IS NOT NULL FROM service_feedback f "
                "LEFT JOIN tickets t ON t.feedback_id = f.feedback_id"
            )
        }
    assert len(rows) == 2
    assert rows.pop(reference) == ("walk_in", True)
    assert list(rows.values()) == [("walk_in", True)]  # the grievance made a ticket too


def test_bad_input_is_refused_with_what_to_fix(enrolled_dir: Path) -> None:
    outside = kiosk(enrolled_dir, "submit", "--service", "SVC-001", "--rating", "3")
    assert outside.returncode == 2
    assert "not in this kiosk's catalog" in outside.stderr
    too_long = kiosk(enrolled_dir, "submit", "--service", "SVC-002", "--rating", "3", "--text", "x" * 2001)
    assert too_long.returncode == 2
    assert "at most 2,000" in too_long.stderr
    portal = kiosk(enrolled_dir, "submit", "--service", "SVC-002", "--rating", "3", "--channel", "portal")
    assert portal.returncode == 2
    assert "'portal' is not one of 'kiosk', 'walk_in', 'api'" in portal.stderr
    assert status(enrolled_dir)["counts"]["pending"] == 0  # type: ignore[index]


def test_sync_once_while_another_process_syncs_says_so(enrolled_dir: Path) -> None:
    held = lock.acquire(enrolled_dir)
    try:
        result = kiosk(enrolled_dir, "sync", "--once")
    finally:
        held.release()
    assert result.returncode == 3
    assert "Another process is syncing" in result.stderr


def test_revoked_kiosk_keeps_its_queue_and_reports_not_authorized(enrolled_dir: Path, db_url: URL) -> None:
    engine = database.open_database(enrolled_dir)
    who = identity.load(engine)
    assert who is not None
    with psycopg.connect(pg.conninfo(db_url)) as conn:
        devices.revoke_device(conn, who.device_code)
    assert kiosk(enrolled_dir, "submit", "--service", "SVC-002", "--rating", "2").returncode == 0

    result = kiosk(enrolled_dir, "sync", "--once")
    assert result.returncode == 4
    assert "not authorized" in result.stderr
    report = status(enrolled_dir)
    assert report["authorized"] is False
    assert report["counts"]["pending"] == 1  # type: ignore[index]


def test_unreachable_server_keeps_the_queue_and_records_the_outage(enrolled_dir: Path) -> None:
    engine = database.open_database(enrolled_dir)
    who = identity.load(engine)
    token = identity.read_token(enrolled_dir)
    assert who is not None
    assert token is not None
    nowhere = identity.Identity(
        who.device_code, who.entity_id, f"http://127.0.0.1:{free_port()}", who.public_base_url
    )
    identity.save(engine, enrolled_dir, nowhere, token)
    assert kiosk(enrolled_dir, "submit", "--service", "SVC-002", "--rating", "4").returncode == 0

    result = kiosk(enrolled_dir, "sync", "--once")
    assert result.returncode == 1
    assert "The queue is kept" in result.stderr
    report = status(enrolled_dir)
    assert report["counts"]["pending"] == 1  # type: ignore[index]
    assert report["offline_since"]


def test_a_wrong_enrollment_code_is_refused_cleanly(tmp_path: Path, live_server: LiveServer) -> None:
    result = kiosk(
        tmp_path,
        "enroll",
        "--server",
        live_server.base_url,
        "--code",
        "AAAA-BBBB-CCCC",
        GEA_KIOSK_PIN=STAFF_PIN,
    )
    assert result.returncode == 2
    assert "Enrollment failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert identity.read_token(tmp_path) is None


def test_commands_that_need_enrollment_say_so(tmp_path: Path) -> None:
    result = kiosk(tmp_path, "sync", "--once")
    assert result.returncode == 2
    assert "gea-kiosk enroll" in result.stderr


# --- gea-kiosk --selftest ---------------------------------------------------------------------


def selftest(data_dir: Path, **env: str) -> tuple[int, dict[str, tuple[str, str]]]:
    """Exit status and {check: (status, detail)} from a real `gea-kiosk --selftest`."""
    result = kiosk(data_dir, "--selftest", QT_QPA_PLATFORM="offscreen", **env)
    return result.returncode, packaging.selftest_checks(result.stdout)


def test_version_is_the_kiosks_own(tmp_path: Path) -> None:
    """--version, the self-test and every heartbeat (tests/integration/test_kiosk_enrollment_live.py)
    say the same version: kiosk.__version__."""
    result = kiosk(tmp_path / "kiosk", "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gea-kiosk, version {kiosk_package.__version__}"
    assert not (tmp_path / "kiosk").exists(), "--version touches no data directory"


def test_selftest_on_a_new_kiosk_says_what_is_left_to_do(tmp_path: Path) -> None:
    code, checks = selftest(tmp_path / "kiosk")
    assert code == 0, checks
    assert checks["data directory"][0] == "ok"
    assert checks["enrollment"] == ("warn", "not enrolled yet: run gea-kiosk enroll --server URL --code CODE")
    assert checks["staff PIN"][0] == "warn"
    for part in ("screen", "font", "stylesheets", "Spanish", "receipt"):
        assert checks[part][0] == "ok", (part, checks[part])
    # A checkout's kiosk reads the checkout's resources/ (an installed one, tests/packaging).
    checkout_resources = Path(kiosk_package.__file__).parents[1] / "resources"
    assert checks["font"][1] == f"Atkinson Hyperlegible, from {checkout_resources}"
    assert checks["Spanish"][1] == "¿Cómo le atendimos hoy?"


def test_selftest_on_an_enrolled_kiosk_reaches_the_server(enrolled_dir: Path, tmp_path: Path) -> None:
    receipts = tmp_path / "receipts"
    code, checks = selftest(enrolled_dir, GEA_KIOSK_PRINT_TO_PDF=str(receipts))
    assert code == 0, checks
    assert {name: status for name, (status, _) in checks.items()} == {
        name: "ok"
        for name in (
            "version", "data directory", "privacy", "log", "enrollment", "staff PIN", "screen", "font",
            "stylesheets", "Spanish", "receipt", "printer", "server",
        )
    }  # fmt: skip
    assert checks["staff PIN"][1] == "argon2id hash, set at enrollment"
    assert checks["version"][1] == f"gea-kiosk {kiosk_package.__version__}"
    assert checks["log"][1].startswith(f"{enrolled_dir / 'logs' / 'kiosk.log'} at INFO")
    assert not list(receipts.glob("*.pdf")), "the sample receipt is not left among the real ones"


def test_selftest_fails_on_what_stops_the_kiosk_working(
    enrolled_dir: Path, db_url: URL, tmp_path: Path
) -> None:
    engine = database.open_database(enrolled_dir)
    who = identity.load(engine)
    engine.dispose()
    assert who is not None
    with psycopg.connect(pg.conninfo(db_url), autocommit=True) as conn:
        devices.revoke_device(conn, who.device_code)
    blocked = tmp_path / "receipts"
    blocked.write_text("a file where the receipts folder should be")
    code, checks = selftest(enrolled_dir, GEA_KIOSK_PRINT_TO_PDF=str(blocked))
    assert code == 1
    assert checks["server"][0] == "FAIL"
    assert "reenroll" in checks["server"][1]
    assert checks["printer"] == ("FAIL", f"receipts cannot be saved in {blocked}: check print_to_pdf")
    assert checks["enrollment"][0] == "ok", "the kiosk still knows who it is; the server refused it"
