"""`gea-server` as an operator runs it: a real process, real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import psycopg
import psycopg.sql
import pytest
from sqlalchemy.engine import URL

from server_sync_api import migrate
from tests.helpers import pg

GEA_SERVER = shutil.which("gea-server", path=os.path.dirname(sys.executable))


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert GEA_SERVER is not None, "gea-server is not installed next to this Python"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL"))}
    return subprocess.run(
        [GEA_SERVER, *args], env={**base, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def url_env(url: URL, **extra: str) -> dict[str, str]:
    return {"FEEDBACK_DB_URL": url.render_as_string(hide_password=False), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_migrate_then_seed_demo_on_an_empty_database(empty_db_url: URL) -> None:
    env = url_env(empty_db_url, GEA_SERVER_TIMEZONE="UTC")

    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    # Every revision in one run, up to the newest.
    assert f"upgraded from empty to {migrate.head_revision()}" in first.stdout
    assert "time zone UTC" in first.stdout

    again = run_cli("migrate", env=env)
    assert again.returncode == 0, again.stderr
    assert f"already at revision {migrate.head_revision()}" in again.stdout

    seeded = run_cli("seed-demo", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "12 services" in seeded.stdout
    reseeded = run_cli("seed-demo", env=env)
    assert reseeded.returncode == 0
    assert "nothing changed" in reseeded.stdout

    with psycopg.connect(pg.conninfo(empty_db_url)) as conn:
        assert conn.execute("SELECT timezone FROM app_settings").fetchone() == ("UTC",)
        assert conn.execute("SELECT count(*) FROM service_master").fetchone() == (12,)


def test_seed_demo_before_migrate_says_what_to_run(empty_db_url: URL) -> None:
    result = run_cli("seed-demo", env=url_env(empty_db_url))
    assert result.returncode == 2
    assert "run `gea-server migrate` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_database_url_is_named() -> None:
    result = run_cli("migrate")
    assert result.returncode == 2
    assert "FEEDBACK_DB_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FEEDBACK_DB_URL": "mysql://root@127.0.0.1/feedback"}, "feedback_db is PostgreSQL"),
        ({"FEEDBACK_DB_URL": "not a url"}, "not a database URL"),
        ({"FEEDBACK_DB_URL": "postgresql://postgres@127.0.0.1:5432"}, "names no database"),
        (
            {"FEEDBACK_DB_URL": "postgresql://postgres@127.0.0.1/x", "GEA_SERVER_TIMEZONE": "Mars/Base"},
            "GEA_SERVER_TIMEZONE: unknown time zone 'Mars/Base'",
        ),
    ],
)
def test_malformed_settings_are_refused_with_what_to_fix(env: dict[str, str], expected: str) -> None:
    result = run_cli("migrate", env=env)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_server_is_reported_with_where_we_looked() -> None:
    port = free_port()
    result = run_cli("migrate", env={"FEEDBACK_DB_URL": f"postgresql://postgres@127.0.0.1:{port}/feedback"})
    assert result.returncode == 2
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_database_says_how_to_create_it(pg_template: str) -> None:
    url = pg.admin_url().set(database=f"{pg_template}_does_not_exist")
    result = run_cli("migrate", env=url_env(url))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "createdb" in result.stderr


def test_password_is_not_echoed(empty_db_url: URL) -> None:
    # A role of the test's own with that password, owning the database: the command succeeds
    # whether the server checks passwords (the suite's embedded one) or trusts (the machine's).
    role = f"gea_pw_{empty_db_url.database}"
    with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD 's3cret-pw'").format(psycopg.sql.Identifier(role))
        )
        admin.execute(
            psycopg.sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                psycopg.sql.Identifier(str(empty_db_url.database)), psycopg.sql.Identifier(role)
            )
        )
    try:
        with_password = empty_db_url.set(username=role, password="s3cret-pw", query={})
        result = run_cli("migrate", env=url_env(with_password))
    finally:
        with psycopg.connect(pg.conninfo(empty_db_url), autocommit=True) as admin:
            admin.execute(
                psycopg.sql.SQL("REASSIGN OWNED BY {} TO postgres").format(psycopg.sql.Identifier(role))
            )
            admin.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))
    assert result.returncode == 0, result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
