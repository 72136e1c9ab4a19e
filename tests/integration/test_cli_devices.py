"""`gea-server devices ...` and `gea-server serve` as IT runs them: real processes, real
PostgreSQL, and the real API to prove that what the CLI prints and changes takes effect."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.helpers import server
from tests.helpers.server import EnrolledDevice, LiveServer

Conn = psycopg.Connection[tuple[Any, ...]]

GEA_SERVER = shutil.which("gea-server", path=os.path.dirname(sys.executable))
PUBLIC_BASE_URL = "https://feedback.example.gd"
CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")
ENROLL = "/api/v1/devices/enroll"
CATALOG = "/api/v1/catalog"


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL"))}


def url_env(url: URL, **extra: str) -> dict[str, str]:
    return {
        "FEEDBACK_DB_URL": url.render_as_string(hide_password=False),
        "GEA_SERVER_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        **extra,
    }


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert GEA_SERVER is not None, "gea-server is not installed next to this Python"
    return subprocess.run(
        [GEA_SERVER, *args], env={**base_env(), **env}, capture_output=True, text=True, timeout=120
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def enroll(live: LiveServer, code: str) -> httpx.Response:
    with live.client() as client:
        return client.post(ENROLL, json={"enrollment_code": code})


# --- devices add ---------------------------------------------------------------------------------


def test_devices_add_json_prints_a_code_that_enrolls_over_http(
    db_url: URL, live_server: LiveServer, conn: Conn
) -> None:
    result = run_cli(
        "devices",
        "add",
        "--name",
        "Passport office, counter 2",
        "--entity",
        "AGY-002",
        "--json",
        env=url_env(db_url),
    )

    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert {"device_code", "enrollment_code"} <= set(printed)
    assert CODE.fullmatch(printed["enrollment_code"])
    stored = conn.execute(
        "SELECT name, entity_id, is_active, token_hash FROM kiosk_devices WHERE device_code = %s",
        (printed["device_code"],),
    ).fetchone()
    assert stored == ("Passport office, counter 2", "AGY-002", False, None)

    response = enroll(live_server, printed["enrollment_code"])

    assert response.status_code == 200, response.text
    assert response.json()["device_code"] == printed["device_code"]
    assert response.json()["entity_id"] == "AGY-002"


def test_devices_add_names_the_code_and_the_kiosk_enroll_command(db_url: URL, conn: Conn) -> None:
    result = run_cli(
        "devices", "add", "--name", "Licensing, Grenville", "--entity", "AGY-003", env=url_env(db_url)
    )

    assert result.returncode == 0, result.stderr
    codes = CODE.findall(result.stdout)
    assert codes, result.stdout
    code = codes[0]
    assert f"gea-kiosk enroll --server {PUBLIC_BASE_URL} --code {code}" in result.stdout
    row = conn.execute("SELECT device_code FROM kiosk_devices WHERE name = 'Licensing, Grenville'").fetchone()
    assert row is not None
    assert row[0] in result.stdout


def test_devices_add_for_an_unknown_entity_fails_clearly_and_adds_nothing(db_url: URL, conn: Conn) -> None:
    result = run_cli("devices", "add", "--name", "Nowhere", "--entity", "NOPE-999", env=url_env(db_url))

    assert result.returncode != 0
    assert "NOPE-999" in result.stderr
    assert "No entity" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert conn.execute("SELECT count(*) FROM kiosk_devices").fetchone() == (0,)


# --- devices list (the fleet view) -------------------------------------------------------------


def heartbeat(live: LiveServer, device: EnrolledDevice, last_error: dict[str, str] | None = None) -> None:
    status: dict[str, Any] = {
        "queue_depth": 0,
        "device_time": datetime.now(UTC).isoformat(),
        "app_version": "1.4.2",
        "printer": "ok",
    }
    if last_error is not None:
        status["last_error"] = last_error
    with live.client(device.token) as client:
        response = client.post("/api/v1/submissions", json={"items": [], "device_status": status})
    assert response.status_code == 200, response.text


def build_fleet(live: LiveServer, db_url: URL, conn: Conn) -> dict[str, str]:
    """One kiosk in each state the fleet view distinguishes; returns role -> device code."""
    codes: dict[str, str] = {"pending": server.add_device(db_url, "AGY-002", "Pending kiosk").device_code}
    for role in ("revoked", "never_seen", "healthy", "silent", "backlog", "printer", "clock"):
        device = server.enroll(live, db_url, "AGY-002", f"Kiosk {role}")
        codes[role] = device.device_code
        if role not in ("revoked", "never_seen"):
            heartbeat(live, device)
    updates = {
        "revoked": "is_active = FALSE, token_hash = NULL",
        "silent": "last_seen_at = now() - interval '2 days'",
        "backlog": "queue_depth = 7, oldest_pending_at = now() - interval '2 hours'",
        "printer": "printer_state = 'error'",
        "clock": "clock_drift_seconds = 400",
    }
    for role, assignment in updates.items():
        conn.execute(f"UPDATE kiosk_devices SET {assignment} WHERE device_code = %s", (codes[role],))
    return codes


FLAG_WORDS = ("never seen", "silent", "backlog", "printer", "clock", "awaiting")


def test_devices_list_shows_states_and_flags_the_kiosks_that_need_a_visit(
    db_url: URL, live_server: LiveServer, conn: Conn
) -> None:
    codes = build_fleet(live_server, db_url, conn)

    result = run_cli("devices", "list", env=url_env(db_url))

    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    state = {role: lines[code].split()[2] for role, code in codes.items()}
    assert state == {
        "pending": "pending",
        "revoked": "revoked",
        "never_seen": "active",
        "healthy": "active",
        "silent": "active",
        "backlog": "active",
        "printer": "active",
        "clock": "active",
    }
    assert "never seen" in lines[codes["never_seen"]]
    assert "silent 2 days" in lines[codes["silent"]]
    assert "backlog 7 items" in lines[codes["backlog"]]
    assert "printer failing" in lines[codes["printer"]]
    assert "clock off by 6 min" in lines[codes["clock"]]
    healthy = lines[codes["healthy"]]
    assert "1.4.2" in healthy
    assert not any(word in healthy for word in FLAG_WORDS), healthy
    assert "8 kiosks, 5 need attention" in result.stdout


def test_devices_list_json_gives_each_kiosks_state_and_problems(
    db_url: URL, live_server: LiveServer, conn: Conn
) -> None:
    codes = build_fleet(live_server, db_url, conn)

    result = run_cli("devices", "list", "--json", env=url_env(db_url))

    assert result.returncode == 0, result.stderr
    rows = {row["device_code"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(codes.values())
    problems = {role: rows[code]["problems"] for role, code in codes.items()}
    assert problems["healthy"] == []
    assert problems["never_seen"] == ["never seen"]
    assert [p.split()[0] for p in problems["silent"]] == ["silent"]
    assert [p.split()[0] for p in problems["backlog"]] == ["backlog"]
    assert problems["printer"] == ["printer failing"]
    assert [p.split()[0] for p in problems["clock"]] == ["clock"]
    assert rows[codes["healthy"]]["app_version"] == "1.4.2"
    assert rows[codes["healthy"]]["printer_state"] == "ok"
    assert rows[codes["clock"]]["clock_drift_seconds"] == 400
    # A kiosk waiting for its first enrollment is not a revoked one.
    states = {role: rows[code].get("state") for role, code in codes.items()}
    assert states["pending"] == "pending"
    assert states["revoked"] == "revoked"
    assert states["healthy"] == "active"


DISK_FULL = {"code": "disk_full", "message": "Only 120 MB left on the data disk; receipts cannot be saved."}


def table_lines(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line for line in stdout.splitlines() if line.strip()}


def test_devices_list_shows_a_kiosks_last_error_until_a_heartbeat_without_it(
    db_url: URL, live_server: LiveServer
) -> None:
    failing = server.enroll(live_server, db_url, "AGY-002", "Passport office, counter 2")
    healthy = server.enroll(live_server, db_url, "AGY-002", "Passport office, counter 3")
    heartbeat(live_server, failing, last_error=DISK_FULL)
    heartbeat(live_server, healthy)

    result = run_cli("devices", "list", env=url_env(db_url))

    assert result.returncode == 0, result.stderr
    lines = table_lines(result.stdout)
    assert re.search(
        r"error disk_full for [^:;]+: Only 120 MB left on the data disk", lines[failing.device_code]
    )
    assert "error" not in lines[healthy.device_code]
    assert "2 kiosks, 1 need attention" in result.stdout

    listed = run_cli("devices", "list", "--json", env=url_env(db_url))
    assert listed.returncode == 0, listed.stderr
    rows = {row["device_code"]: row for row in json.loads(listed.stdout)}
    reported = rows[failing.device_code]
    assert (reported["last_error_code"], reported["last_error_message"]) == (
        "disk_full",
        DISK_FULL["message"],
    )
    assert datetime.fromisoformat(reported["last_error_at"]) <= datetime.fromisoformat(
        reported["last_seen_at"]
    )
    assert [p.split()[:2] for p in reported["problems"]] == [["error", "disk_full"]]
    assert rows[healthy.device_code]["problems"] == []
    assert rows[healthy.device_code]["last_error_code"] is None

    heartbeat(live_server, failing)  # the disk was cleared: the kiosk reports no error

    after = run_cli("devices", "list", "--json", env=url_env(db_url))
    assert after.returncode == 0, after.stderr
    cleared = {row["device_code"]: row for row in json.loads(after.stdout)}[failing.device_code]
    assert cleared["problems"] == []
    assert (cleared["last_error_code"], cleared["last_error_message"], cleared["last_error_at"]) == (
        None,
        None,
        None,
    )
    table = run_cli("devices", "list", env=url_env(db_url))
    assert "disk_full" not in table.stdout
    assert "2 kiosks, 0 need attention" in table.stdout


def test_devices_list_keeps_one_line_per_kiosk_whatever_the_error_message_holds(
    db_url: URL, live_server: LiveServer
) -> None:
    device = server.enroll(live_server, db_url, "AGY-002", "Passport office, counter 2")
    # The longest message the API takes, with a line break, a tab and a terminal escape sequence.
    message = ("Printer says:\n\tPAPER OUT \x1b[31mred\x1b[0m " + "x" * 300)[:300]
    heartbeat(live_server, device, last_error={"code": "printer_paper_out", "message": message})

    result = run_cli("devices", "list", env=url_env(db_url))

    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout  # header, the kiosk, the summary
    row = table_lines(result.stdout)[device.device_code]
    assert "error printer_paper_out for" in row
    assert "Printer says: PAPER OUT [31mred [0m x" in row
    assert row.endswith("...")
    assert len(row) < 250, row  # the message is cut short; the JSON has all of it

    listed = run_cli("devices", "list", "--json", env=url_env(db_url))
    assert listed.returncode == 0, listed.stderr
    [stored] = json.loads(listed.stdout)
    assert stored["last_error_message"] == message


# --- devices revoke / reenroll -------------------------------------------------------------------


def test_devices_revoke_refuses_the_kiosks_next_request(
    db_url: URL, live_server: LiveServer, device: EnrolledDevice
) -> None:
    with live_server.client(device.token) as client:
        assert client.get(CATALOG).status_code == 200

        result = run_cli("devices", "revoke", device.device_code, env=url_env(db_url))

        assert result.returncode == 0, result.stderr
        assert f"gea-server devices reenroll {device.device_code}" in result.stdout
        refused = client.get(CATALOG)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "device_not_authorized"


def test_devices_reenroll_json_gives_a_code_for_the_same_device_code(
    db_url: URL, live_server: LiveServer, device: EnrolledDevice
) -> None:
    result = run_cli("devices", "reenroll", device.device_code, "--json", env=url_env(db_url))

    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["device_code"] == device.device_code
    response = enroll(live_server, printed["enrollment_code"])
    assert response.status_code == 200, response.text
    assert response.json()["device_code"] == device.device_code


@pytest.mark.parametrize("command", ["reenroll", "revoke"])
def test_devices_reenroll_or_revoke_of_an_unknown_code_fails_clearly(db_url: URL, command: str) -> None:
    result = run_cli("devices", command, "K9999", env=url_env(db_url))

    assert result.returncode != 0
    assert "K9999" in result.stderr
    assert "gea-server devices list" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# --- serve ---------------------------------------------------------------------------------------


def serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    assert GEA_SERVER is not None
    return subprocess.Popen(
        [GEA_SERVER, "serve", "--port", str(port)],
        env={**base_env(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Wait for a process expected to exit; if it keeps running, stop it and fail."""
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.communicate(timeout=30)
        pytest.fail("gea-server serve kept running although it should have refused to start")
    return process.returncode, stderr


@pytest.mark.parametrize(
    "secret",
    [None, "changeme", "CHANGEME", "too-short-a-secret"],
    ids=["missing", "placeholder", "placeholder-uppercase", "short"],
)
def test_serve_refuses_to_start_without_a_real_ip_hash_secret(db_url: URL, secret: str | None) -> None:
    env = url_env(db_url)
    if secret is not None:
        env["GEA_SERVER_IP_HASH_SECRET"] = secret

    returncode, stderr = finish(serve(env, free_port()))

    assert returncode == 2
    assert "GEA_SERVER_IP_HASH_SECRET" in stderr
    assert "secrets.token_urlsafe" in stderr
    assert "Traceback" not in stderr


def test_serve_with_a_real_secret_answers_readyz(db_url: URL) -> None:
    port = free_port()
    env = url_env(db_url, GEA_SERVER_IP_HASH_SECRET=server.TEST_IP_HASH_SECRET)
    process = serve(env, port)
    try:
        deadline = time.monotonic() + 30
        ready: httpx.Response | None = None
        while ready is None and process.poll() is None and time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)  # polling for the port to open, not a timing assumption
        assert process.poll() is None, process.communicate()[1]
        assert ready is not None, "gea-server serve did not open its port"
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
    finally:
        process.terminate()
        process.communicate(timeout=30)
