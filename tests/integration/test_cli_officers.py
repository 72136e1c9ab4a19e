"""`gea-server officers ...` as IT runs them: real processes (click's runner only where a
password is typed at the prompt), real PostgreSQL, and the sign-in service to prove that what
the CLI changes takes effect."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from psycopg import AsyncConnection
from sqlalchemy.engine import URL

from server_sync_api import cli
from server_sync_api.services import officers
from tests.helpers import pg

Conn = psycopg.Connection[tuple[Any, ...]]

GEA_SERVER = shutil.which("gea-server", path=os.path.dirname(sys.executable))
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
ANA = ("officers", "add", "Ana@Gov.GD", "--name", "Ana Pérez", "--entity", "DEPT-003", "--role", "supervisor")


def base_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL", "GEA_OFFICER_PASSWORD"))
    }


def url_env(url: URL, **extra: str) -> dict[str, str]:
    return {"FEEDBACK_DB_URL": url.render_as_string(hide_password=False), **extra}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert GEA_SERVER is not None, "gea-server is not installed next to this Python"
    return subprocess.run(
        [GEA_SERVER, *args],
        env={**base_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def add_ana(db_url: URL, *extra: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(*ANA, *extra, env=url_env(db_url, GEA_OFFICER_PASSWORD=PASSWORD))
    assert result.returncode == 0, result.stderr
    return result


def sign_in(db_url: URL, email: str, password: str) -> officers.SignIn:
    async def attempt() -> officers.SignIn:
        async with await AsyncConnection.connect(pg.conninfo(db_url), autocommit=True) as conn:
            return await officers.sign_in_with_password(
                conn, email=email, password=password, ip_hash="c" * 64
            )

    return asyncio.run(attempt())


def stored_hash(conn: Conn) -> str:
    row = conn.execute("SELECT password_hash FROM officers WHERE email = 'ana@gov.gd'").fetchone()
    assert row is not None
    return str(row[0])


# --- add -----------------------------------------------------------------------------------------


def test_add_takes_the_password_from_the_environment_and_never_prints_it(db_url: URL, conn: Conn) -> None:
    result = run_cli(*ANA, env=url_env(db_url, GEA_OFFICER_PASSWORD=PASSWORD))

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Added officer ana@gov.gd (Ana Pérez), supervisor of DEPT-003 and the entities under it; "
        "signs in with a password.\n"
    )
    password_hash = stored_hash(conn)
    assert password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(password_hash, PASSWORD)
    for secret in (PASSWORD, password_hash, "$argon2"):
        assert secret not in result.stdout + result.stderr
    assert sign_in(db_url, "ana@gov.gd", PASSWORD).ok


def test_add_asks_twice_for_the_password_without_echoing_it(db_url: URL, conn: Conn) -> None:
    runner = CliRunner()
    # The first confirmation does not match: click says so and asks again.
    typed = f"{PASSWORD}\n{PASSWORD}x\n{PASSWORD}\n{PASSWORD}\n"
    env = {**url_env(db_url), "GEA_OFFICER_PASSWORD": None}

    result = runner.invoke(cli.main, list(ANA), input=typed, env=env)

    assert result.exit_code == 0, result.output
    assert result.output.count("Password for ana@gov.gd") == 2
    assert "do not match" in result.output
    assert PASSWORD not in result.output
    assert "Added officer ana@gov.gd" in result.output
    assert PasswordHasher().verify(stored_hash(conn), PASSWORD)


def test_an_identity_provider_account_needs_no_password(db_url: URL, conn: Conn) -> None:
    without = run_cli(
        "officers",
        "add",
        "ben@gov.gd",
        "--name",
        "Ben",
        "--entity",
        "GOV-000",
        "--role",
        "admin",
        "--no-password",
        env=url_env(db_url),
    )
    assert without.returncode == 0, without.stderr
    assert without.stdout.startswith(
        "Added officer ben@gov.gd (Ben), administrator of every entity (home entity GOV-000); "
        "signs in through the identity provider"
    )
    # Nothing configured here to sign in through: the output says what to do.
    assert "Note: no identity provider is configured here" in without.stdout
    assert "gea-server officers reset-password ben@gov.gd" in without.stdout

    oidc = {
        "GEA_SERVER_OIDC_ISSUER": "https://sso.gov.gd/realms/gov",
        "GEA_SERVER_OIDC_CLIENT_ID": "gea-desk",
        "GEA_SERVER_OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),
    }
    configured = run_cli(
        "officers",
        "add",
        "cy@gov.gd",
        "--name",
        "Cy",
        "--entity",
        "AGY-002",
        "--role",
        "officer",
        "--no-password",
        env=url_env(db_url, GEA_OFFICER_PASSWORD=PASSWORD, **oidc),
    )
    assert configured.returncode == 0, configured.stderr
    assert "officer of AGY-002 and the entities under it" in configured.stdout
    assert "Note:" not in configured.stdout
    assert conn.execute("SELECT count(*) FROM officers WHERE password_hash IS NULL").fetchone() == (2,)


@pytest.mark.parametrize(
    ("args", "password", "expected"),
    [
        (("--entity", "DEPT-999", "--role", "officer"), PASSWORD, "No entity 'DEPT-999'"),
        (("--entity", "DEPT-003", "--role", "boss"), PASSWORD, "Invalid value for '--role'"),
        (("--entity", "DEPT-003", "--role", "officer"), "short", "at least 12 characters"),
        (("--entity", "DEPT-003", "--role", "officer"), "Ana.Perez@gov.gd", "not be the email address"),
        (("--role", "officer"), PASSWORD, "Missing option '--entity'"),
    ],
)
def test_add_refuses_bad_input_with_what_to_fix(
    db_url: URL, conn: Conn, args: tuple[str, ...], password: str, expected: str
) -> None:
    result = run_cli(
        "officers",
        "add",
        "ana.perez@gov.gd",
        "--name",
        "Ana",
        *args,
        env=url_env(db_url, GEA_OFFICER_PASSWORD=password),
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    if password != "Ana.Perez@gov.gd":
        assert password not in result.stdout + result.stderr
    assert conn.execute("SELECT count(*) FROM officers").fetchone() == (0,)


def test_add_the_same_email_in_another_case_is_refused(db_url: URL, conn: Conn) -> None:
    add_ana(db_url)
    again = run_cli(
        "officers",
        "add",
        "ANA@gov.gd",
        "--name",
        "Ana Again",
        "--entity",
        "MIN-001",
        "--role",
        "officer",
        env=url_env(db_url, GEA_OFFICER_PASSWORD=PASSWORD),
    )
    assert again.returncode == 2
    assert "An officer with the email ana@gov.gd exists already" in again.stderr
    assert "Traceback" not in again.stderr
    assert conn.execute("SELECT count(*) FROM officers").fetchone() == (1,)


# --- list ----------------------------------------------------------------------------------------


def test_list_shows_roles_sign_in_methods_and_last_sign_in(db_url: URL) -> None:
    env = url_env(db_url, GEA_SERVER_TIMEZONE="UTC")
    empty = run_cli("officers", "list", env=env)
    assert empty.returncode == 0, empty.stderr
    assert "No officers yet" in empty.stdout

    add_ana(db_url)
    run_cli(
        *ANA[:2],
        "ben@gov.gd",
        "--name",
        "Ben",
        "--entity",
        "AGY-001",
        "--role",
        "officer",
        "--no-password",
        env=env,
    )
    assert sign_in(db_url, "ana@gov.gd", PASSWORD).ok
    run_cli("officers", "disable", "ben@gov.gd", env=env)

    table = run_cli("officers", "list", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "EMAIL",
        "NAME",
        "ROLE",
        "ENTITY",
        "STATE",
        "SIGNS",
        "IN",
        "WITH",
        "LAST",
        "SIGN-IN",
    ]
    assert lines[1].split()[:7] == [
        "ana@gov.gd",
        "Ana",
        "Pérez",
        "supervisor",
        "DEPT-003",
        "active",
        "password",
    ]
    assert lines[1].split()[7].startswith("20")  # a date: she signed in
    assert lines[2].split() == ["ben@gov.gd", "Ben", "officer", "AGY-001", "disabled", "none", "yet", "never"]
    assert lines[3] == "2 officers, 1 disabled."

    as_json = run_cli("officers", "list", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)
    assert [o["email"] for o in listed] == ["ana@gov.gd", "ben@gov.gd"]
    assert listed[0]["sign_in"] == "password"
    assert listed[0]["last_sign_in_at"] is not None
    assert listed[0]["disabled_at"] is None
    assert (listed[1]["sign_in"], listed[1]["active"], listed[1]["last_sign_in_at"]) == (
        "none yet",
        False,
        None,
    )
    assert listed[1]["disabled_at"] is not None
    assert "password_hash" not in as_json.stdout
    assert "$argon2" not in as_json.stdout + table.stdout


# --- disable, enable, reset-password -------------------------------------------------------------


def test_disable_ends_sessions_and_enable_brings_the_officer_back(db_url: URL, conn: Conn) -> None:
    add_ana(db_url)
    officer_id = conn.execute("SELECT officer_id FROM officers").fetchone()
    assert officer_id is not None
    conn.execute(
        "INSERT INTO officer_sessions (token_hash, officer_id, method, expires_at) "
        "VALUES (%s, %s, 'password', now() + interval '1 hour')",
        (secrets.token_bytes(32), officer_id[0]),
    )

    disabled = run_cli("officers", "disable", "ANA@gov.gd", env=url_env(db_url))
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout.startswith("Officer ana@gov.gd disabled: their desk sessions have ended")
    assert conn.execute("SELECT count(*) FROM officer_sessions").fetchone() == (0,)
    assert sign_in(db_url, "ana@gov.gd", PASSWORD).outcome == "disabled"

    again = run_cli("officers", "disable", "ana@gov.gd", env=url_env(db_url))
    assert again.returncode == 0, again.stderr
    assert "was already disabled; nothing changed" in again.stdout

    enabled = run_cli("officers", "enable", "ana@gov.gd", env=url_env(db_url))
    assert enabled.returncode == 0, enabled.stderr
    assert enabled.stdout == "Officer ana@gov.gd enabled: they can sign in again.\n"
    assert sign_in(db_url, "ana@gov.gd", PASSWORD).ok


@pytest.mark.parametrize("command", ["disable", "enable", "reset-password"])
def test_an_unknown_officer_is_named_with_where_to_look(db_url: URL, command: str) -> None:
    result = run_cli("officers", command, "nobody@gov.gd", env=url_env(db_url, GEA_OFFICER_PASSWORD=PASSWORD))
    assert result.returncode == 2
    assert "No officer with the email nobody@gov.gd: see gea-server officers list." in result.stderr
    assert "Traceback" not in result.stderr


def test_reset_password_reads_gea_officer_password_and_restarts_the_delay(db_url: URL, conn: Conn) -> None:
    add_ana(db_url)
    for _ in range(4):
        sign_in(db_url, "ana@gov.gd", "a wrong guess")
    assert sign_in(db_url, "ana@gov.gd", PASSWORD).outcome == "throttled"

    result = run_cli(
        "officers", "reset-password", "Ana@gov.gd", env=url_env(db_url, GEA_OFFICER_PASSWORD=NEW_PASSWORD)
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("New password set for ana@gov.gd")
    assert NEW_PASSWORD not in result.stdout + result.stderr
    assert conn.execute(
        "SELECT ip_hash, method FROM officer_sign_ins WHERE outcome = 'password_reset'"
    ).fetchall() == [("cli", "password")]
    assert sign_in(db_url, "ana@gov.gd", NEW_PASSWORD).ok
    assert sign_in(db_url, "ana@gov.gd", PASSWORD).outcome == "wrong_password"


def test_reset_password_refuses_a_weak_one_before_touching_the_database(db_url: URL, conn: Conn) -> None:
    add_ana(db_url)
    before = stored_hash(conn)
    result = run_cli(
        "officers",
        "reset-password",
        "ana@gov.gd",
        env=url_env(db_url, GEA_OFFICER_PASSWORD="aaaaaaaaaaaaaaa"),
    )
    assert result.returncode == 2
    assert "GEA_OFFICER_PASSWORD: The password must not be one character repeated." in result.stderr
    assert stored_hash(conn) == before


# --- the environment -----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("officers", "list"), ANA, ("officers", "reset-password", "ana@gov.gd")])
def test_officers_before_migrate_says_what_to_run_before_asking_a_password(
    empty_db_url: URL, args: tuple[str, ...]
) -> None:
    result = run_cli(*args, env=url_env(empty_db_url))
    assert result.returncode == 2
    assert "run `gea-server migrate` first" in result.stderr
    assert "Password" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_officers_without_a_database_url_names_it() -> None:
    result = run_cli("officers", "list", env={})
    assert result.returncode == 2
    assert "FEEDBACK_DB_URL is not set" in result.stderr


def test_a_script_without_a_password_is_told_to_set_it(db_url: URL, conn: Conn) -> None:
    result = CliRunner().invoke(
        cli.main, list(ANA), input="", env={**url_env(db_url), "GEA_OFFICER_PASSWORD": None}
    )

    assert result.exit_code == 2
    assert "set GEA_OFFICER_PASSWORD" in result.output
    assert conn.execute("SELECT count(*) FROM officers").fetchone() == (0,)
