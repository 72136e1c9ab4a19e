"""`gea-server qr-poster` as IT runs it, against real PostgreSQL: the qr_codes row it registers
or reuses, the PDF it writes (rendered by a real PDF renderer, its QR code read by a real
decoder: it opens exactly the printed address), --all, --retire, the refusals (exit 2, one
clear line, nothing changed, no file), two runs at once, and the grants it needs as a role
that owns nothing."""

from __future__ import annotations

import os
import re
import threading
import traceback
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import URL

from server_sync_api import cli, demo
from server_sync_api.security import CROCKFORD
from server_sync_api.services import qr_codes
from tests.helpers import pg, roles
from tests.helpers.cups import read_pdf

Conn = psycopg.Connection[tuple[Any, ...]]

BASE_URL = "https://feedback.gov.gd"
OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"
API_ROLE_HEADING = "## The database role for the API"
NEW_VALUE = re.compile(f"[{CROCKFORD}]{{8}}")
# Demo services that have no QR code of their own, and one that does (demo.QR_CODES).
BARE_SERVICE = "SVC-004"
DEMO_CODE, DEMO_SERVICE, DEMO_PLACE, _ = demo.QR_CODES[0]
# The least this command needs: what every command reads (the schema's revision), the service
# and its office, and qr_codes (INSERT for a new code, UPDATE of is_active for --retire).
GRANTS = """
GRANT CONNECT ON DATABASE feedback TO gea_api;
GRANT USAGE ON SCHEMA public TO gea_api;
GRANT SELECT ON alembic_version, entity_master, service_master TO gea_api;
GRANT SELECT, INSERT ON qr_codes TO gea_api;
GRANT UPDATE (is_active) ON qr_codes TO gea_api;
"""


def env_for(db_url: URL, **extra: str) -> dict[str, str | None]:
    # Every GEA_SERVER_ setting of the surrounding shell is unset, so only these count.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GEA_SERVER_")}
    return {
        **unset,
        "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False),
        "GEA_SERVER_PUBLIC_BASE_URL": BASE_URL,
        **extra,
    }


def run(db_url: URL, *args: str, **env: str) -> Result:
    """`gea-server qr-poster ARGS`; any exception other than click's own exit is a traceback."""
    result = CliRunner().invoke(cli.main, ["qr-poster", *args], env=env_for(db_url, **env))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail("".join(traceback.format_exception(result.exception)))
    return result


def ok(db_url: URL, *args: str, **env: str) -> str:
    result = run(db_url, *args, **env)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(db_url: URL, *args: str) -> str:
    """The command fails as bad input (exit 2) with one clear message."""
    result = run(db_url, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "Error: " in result.stderr
    return " ".join(result.stderr.split())


def codes(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT qr_code_value, service_id, entity_id, location, is_active FROM qr_codes ORDER BY qr_code_id"
    ).fetchall()


def codes_of(conn: Conn, service_id: str) -> list[tuple[Any, ...]]:
    return [row for row in codes(conn) if row[1] == service_id]


def url_of(value: str) -> str:
    return f"{BASE_URL}/q/{value}"


def assert_poster(path: Path, url: str) -> None:
    pdf = read_pdf(path)
    assert pdf.pages == 1
    assert pdf.width_mm == pytest.approx(210, abs=0.5)
    assert pdf.height_mm == pytest.approx(297, abs=0.5)
    assert pdf.qr_codes == [url]


# --- one poster ----------------------------------------------------------------------------------


def test_a_service_without_a_code_gets_a_new_one_and_its_poster_opens_it(
    db_url: URL, conn: Conn, tmp_path: Path
) -> None:
    before = codes(conn)
    out = ok(db_url, "--service", BARE_SERVICE, "--location", "Counter 2", "--out", str(tmp_path / "c2.pdf"))

    (added,) = [row for row in codes(conn) if row not in before]
    value, service_id, entity_id, location, active = added
    assert NEW_VALUE.fullmatch(value), value
    # The service's entity, as the composite foreign key wants it: DEPT-003 for SVC-004.
    assert (service_id, entity_id, location, active) == (BARE_SERVICE, "DEPT-003", "Counter 2", True)
    assert_poster(tmp_path / "c2.pdf", url_of(value))
    assert (
        out
        == f"Wrote {tmp_path / 'c2.pdf'} for {BARE_SERVICE} at 'Counter 2': {url_of(value)}, a new QR code.\n"
    )


def test_printing_again_reuses_the_code_so_posters_on_the_wall_keep_working(
    db_url: URL, conn: Conn, tmp_path: Path
) -> None:
    ok(db_url, "--service", BARE_SERVICE, "--location", "Counter 2", "--out", str(tmp_path / "a.pdf"))
    after_first = codes(conn)

    # The same place however it is spaced, and in Spanish this time.
    again = ok(
        db_url, "--service", BARE_SERVICE, "--location", " Counter  2 ", "--out", str(tmp_path / "b.pdf"),
        "--language", "es",
    )  # fmt: skip

    assert codes(conn) == after_first
    (value,) = [row[0] for row in codes_of(conn, BARE_SERVICE)]
    assert "its QR code reused (0 scans so far)" in again
    assert url_of(value) in again
    assert_poster(tmp_path / "b.pdf", url_of(value))


def test_a_code_seed_demo_registered_is_reused_with_its_value(
    db_url: URL, conn: Conn, tmp_path: Path
) -> None:
    conn.execute("UPDATE qr_codes SET scan_count = 12 WHERE qr_code_value = %s", (DEMO_CODE,))
    before = codes(conn)

    out = ok(db_url, "--service", DEMO_SERVICE, "--location", DEMO_PLACE, "--out", str(tmp_path / "p.pdf"))

    assert codes(conn) == before
    assert f"{url_of(DEMO_CODE)}, its QR code reused (12 scans so far)." in out
    assert_poster(tmp_path / "p.pdf", url_of(DEMO_CODE))


def test_each_place_has_its_own_code_and_no_place_is_a_place_too(
    db_url: URL, conn: Conn, tmp_path: Path
) -> None:
    out = tmp_path / "p.pdf"
    for place in ("Counter 1", "Counter 2", None, "Counter 1", None):
        ok(db_url, "--service", BARE_SERVICE, "--out", str(out), *(["--location", place] if place else []))

    rows = codes_of(conn, BARE_SERVICE)
    assert [row[3] for row in rows] == ["Counter 1", "Counter 2", None]
    assert len({row[0] for row in rows}) == 3


def test_a_retired_code_is_not_reused(db_url: URL, conn: Conn, tmp_path: Path) -> None:
    out = tmp_path / "p.pdf"
    ok(db_url, "--service", DEMO_SERVICE, "--location", DEMO_PLACE, "--out", str(out))

    retired = ok(db_url, "--retire", DEMO_CODE.lower())
    again = ok(db_url, "--service", DEMO_SERVICE, "--location", DEMO_PLACE, "--out", str(out))

    rows = codes_of(conn, DEMO_SERVICE)
    assert [(row[0], row[3], row[4]) for row in rows][0] == (DEMO_CODE, DEMO_PLACE, False)
    assert [(row[3], row[4]) for row in rows[1:]] == [(DEMO_PLACE, True)]
    new_value = rows[1][0]
    assert NEW_VALUE.fullmatch(new_value)
    assert (
        f"QR code {DEMO_CODE} ({DEMO_SERVICE} at {DEMO_PLACE!r}) retired: take its posters down." in retired
    )
    assert f"{url_of(new_value)}, a new QR code." in again
    assert_poster(out, url_of(new_value))
    # Again, by the address on the poster this time: nothing left to do.
    assert (
        ok(db_url, "--retire", url_of(DEMO_CODE))
        == f"QR code {DEMO_CODE} was already retired; nothing changed.\n"
    )


def test_the_address_follows_the_public_base_url(db_url: URL, conn: Conn, tmp_path: Path) -> None:
    base = "https://www.gov.gd/feedback/"
    out = ok(
        db_url, "--service", BARE_SERVICE, "--out", str(tmp_path / "p.pdf"), GEA_SERVER_PUBLIC_BASE_URL=base
    )

    (value,) = [row[0] for row in codes_of(conn, BARE_SERVICE)]
    assert f"https://www.gov.gd/feedback/q/{value}," in out
    assert_poster(tmp_path / "p.pdf", f"https://www.gov.gd/feedback/q/{value}")


@pytest.mark.parametrize(
    ("base", "reach"),
    [
        ("http://127.0.0.1:8000", "this computer"),
        ("http://localhost:8000", "this computer"),
        ("http://192.168.1.20", "a private network, not from mobile data"),
    ],
)
def test_an_address_phones_cannot_reach_is_pointed_out(
    db_url: URL, tmp_path: Path, base: str, reach: str
) -> None:
    out = ok(
        db_url, "--service", BARE_SERVICE, "--out", str(tmp_path / "p.pdf"), GEA_SERVER_PUBLIC_BASE_URL=base
    )

    assert out.startswith(
        f"Note: GEA_SERVER_PUBLIC_BASE_URL is {base}, reachable only from {reach}: set it to the "
        "server's public address before printing posters for citizens.\n"
    )


def test_letters_the_font_lacks_are_pointed_out(db_url: URL, conn: Conn, tmp_path: Path) -> None:
    conn.execute(
        "UPDATE service_master SET service_name = 'Łódź twinning office' WHERE service_id = %s",
        (BARE_SERVICE,),
    )

    out = ok(db_url, "--service", BARE_SERVICE, "--out", str(tmp_path / "p.pdf"))

    assert (
        f"Note: the poster's font has no Ł ź, printed as a box in the names on {tmp_path / 'p.pdf'}." in out
    )


# --- every service -------------------------------------------------------------------------------


def test_all_writes_one_poster_per_active_service_into_a_new_folder(
    db_url: URL, conn: Conn, tmp_path: Path
) -> None:
    # Three active services keep the test quick; the other demo services are inactive.
    conn.execute("UPDATE service_master SET is_active = service_id IN ('SVC-001', 'SVC-002', 'SVC-003')")
    active = ["SVC-001", "SVC-002", "SVC-003"]
    folder = tmp_path / "posters"

    first = ok(db_url, "--all", "--out", str(folder), "--language", "es")

    assert sorted(p.name for p in folder.iterdir()) == [f"{sid}.pdf" for sid in active]
    unplaced = {row[1]: row[0] for row in codes(conn) if row[3] is None}
    assert sorted(unplaced) == active
    assert f"3 posters in {folder}: 3 with a new QR code, 0 with their code reused." in first
    for sid in active:
        assert f"Wrote {folder / (sid + '.pdf')} for {sid}: {url_of(unplaced[sid])}, a new QR code." in first
        assert_poster(folder / f"{sid}.pdf", url_of(unplaced[sid]))
    before = codes(conn)

    second = ok(db_url, "--all", "--out", str(folder))

    assert codes(conn) == before
    assert f"3 posters in {folder}: 0 with a new QR code, 3 with their code reused." in second


def test_all_with_no_active_service_writes_nothing(db_url: URL, conn: Conn, tmp_path: Path) -> None:
    conn.execute("UPDATE service_master SET is_active = false")

    out = ok(db_url, "--all", "--out", str(tmp_path / "posters"))

    assert out == "No active services, so no posters. The services are in service_master.\n"
    assert not (tmp_path / "posters").exists()


def test_all_names_each_file_after_its_service_and_keeps_it_in_the_folder(
    db_url: URL, conn: Conn, tmp_path: Path
) -> None:
    conn.execute("UPDATE service_master SET is_active = false")
    conn.execute(
        "INSERT INTO service_master (service_id, service_name, entity_id) "
        "VALUES ('../PAY/2', 'Payments', 'MIN-001'), ('.hidden', 'Hidden', 'MIN-001')"
    )
    folder = tmp_path / "posters"

    ok(db_url, "--all", "--out", str(folder))

    assert sorted(p.name for p in folder.iterdir()) == ["_PAY_2.pdf", "hidden.pdf"]


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--service", "SVC-999", "--out", "{tmp}/p.pdf"], "no service 'SVC-999' in feedback_db"),
        (["--service", "svc-004", "--out", "{tmp}/p.pdf"], "no service 'svc-004': did you mean SVC-004?"),
        (
            ["--service", "SVC-012", "--out", "{tmp}/p.pdf"],
            "service SVC-012 (School Transfer Request) is inactive, so it takes no feedback: choose an "
            "active service, or make it active again first (UPDATE service_master SET is_active = true "
            "WHERE service_id = 'SVC-012')",
        ),
        (
            ["--service", "SVC-004", "--all", "--out", "{tmp}"],
            "give either --service SERVICE_ID or --all, not both",
        ),
        (["--out", "{tmp}/p.pdf"], "say which poster: --service SERVICE_ID for one, or --all"),
        (["--all", "--location", "Counter 1", "--out", "{tmp}"], "--location is one place and --all covers"),
        (["--service", "SVC-004"], "--out is needed: the PDF to write"),
        (["--service", "SVC-004", "--out", "{tmp}/nowhere/p.pdf"], "the folder {tmp}/nowhere does not exist"),
        (["--all", "--out", "{tmp}/nowhere/posters"], "the folder {tmp}/nowhere does not exist"),
        (["--service", "SVC-004", "--out", "{tmp}"], "--out {tmp} is a folder: give the file to write"),
        (["--service", "SVC-004", "--out", "{tmp}/poster"], "give a file name ending in .pdf"),
        (["--all", "--out", "{tmp}/file.pdf"], "--out {tmp}/file.pdf is a file: with --all it is the folder"),
        (["--service", "SVC-004", "--location", "  ", "--out", "{tmp}/p.pdf"], "--location is blank"),
        (["--service", "SVC-004", "--location", "x" * 256, "--out", "{tmp}/p.pdf"], "at most 255 fit"),
        (["--retire", "7QX4K2M9"], "no QR code '7QX4K2M9'"),
        (["--retire", DEMO_CODE, "--service", "SVC-001"], "--retire takes no other option (--service)"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_changes_nothing(
    db_url: URL, conn: Conn, tmp_path: Path, args: list[str], expected: str
) -> None:
    conn.execute("UPDATE service_master SET is_active = false WHERE service_id = 'SVC-012'")
    (tmp_path / "file.pdf").write_bytes(b"not this one")
    before = codes(conn)
    files = sorted(tmp_path.rglob("*"))

    message = refused(db_url, *(arg.replace("{tmp}", str(tmp_path)) for arg in args))

    assert expected.replace("{tmp}", str(tmp_path)) in message
    assert codes(conn) == before
    assert sorted(tmp_path.rglob("*")) == files


# --- two at once, and the grants -----------------------------------------------------------------


def test_two_runs_at_once_for_one_place_make_one_code(db_url: URL, conn: Conn) -> None:
    """The first run holds the service's poster lock until it commits: the second waits, then
    finds and reuses the first one's code instead of adding another."""
    conninfo = pg.conninfo(db_url)
    with psycopg.connect(conninfo) as first, psycopg.connect(conninfo) as second:
        service = qr_codes.active_service(first, BARE_SERVICE)
        mine = qr_codes.code_for(first, service, "Counter 1")  # lock held, row not yet committed
        second_pid = second.info.backend_pid
        theirs: list[qr_codes.PosterCode] = []
        failed: list[BaseException] = []

        def other_run() -> None:
            try:
                theirs.append(qr_codes.code_for(second, service, "Counter 1"))
                second.commit()
            except BaseException as exc:  # reported below, in the test's thread
                failed.append(exc)

        thread = threading.Thread(target=other_run)
        thread.start()
        try:
            wait_until_waiting_for_a_lock(conn, second_pid)
        finally:
            first.commit()
            thread.join(timeout=30)
    assert not failed, failed
    assert mine.new
    assert theirs == [
        qr_codes.PosterCode(mine.qr_code_id, mine.value, service, "Counter 1", new=False, scan_count=0)
    ]
    assert len(codes_of(conn, BARE_SERVICE)) == 1


def wait_until_waiting_for_a_lock(conn: Conn, pid: int) -> None:
    for _ in range(1000):
        row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        if row is not None and row[0] == "Lock":
            return
        conn.execute("SELECT pg_sleep(0.01)")
    pytest.fail("the second run never waited for the first one's lock")


@pytest.mark.parametrize("grants", ["minimal", "documented"])
def test_a_role_that_owns_nothing_makes_reuses_and_retires(
    db_url: URL, conn: Conn, tmp_path: Path, grants: str
) -> None:
    """SELECT and INSERT on qr_codes (UPDATE of is_active to retire) beyond what every command
    reads; and the API's role as docs/operations.md grants it can do all of it."""
    given = GRANTS if grants == "minimal" else roles.documented_grants(OPERATIONS, API_ROLE_HEADING)
    out = tmp_path / "p.pdf"
    with roles.login_role(db_url, given, prefix="gea_poster") as as_role:
        made = ok(as_role, "--service", BARE_SERVICE, "--out", str(out))
        reused = ok(as_role, "--service", DEMO_SERVICE, "--location", DEMO_PLACE, "--out", str(out))
        retired = ok(as_role, "--retire", DEMO_CODE)

    assert "a new QR code" in made
    assert "its QR code reused" in reused
    assert "retired" in retired
    assert [row[4] for row in codes_of(conn, DEMO_SERVICE)] == [False]


def test_without_insert_on_qr_codes_a_registered_code_prints_and_a_new_one_is_refused(
    db_url: URL, tmp_path: Path
) -> None:
    grants = GRANTS.replace("GRANT SELECT, INSERT ON qr_codes", "GRANT SELECT ON qr_codes")
    with roles.login_role(db_url, grants, prefix="gea_poster") as as_role:
        reused = ok(
            as_role, "--service", DEMO_SERVICE, "--location", DEMO_PLACE, "--out", str(tmp_path / "a.pdf")
        )
        result = run(as_role, "--service", BARE_SERVICE, "--out", str(tmp_path / "b.pdf"))

    assert "its QR code reused" in reused
    assert result.exit_code == 2, result.output
    assert "Error: the database refused: permission denied for table qr_codes" in result.stderr
    assert not (tmp_path / "b.pdf").exists()
