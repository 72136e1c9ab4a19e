"""The demo (kiosk/demo.py) and the built-in catalog it starts from (kiosk/catalog.py).

The offline demo runs on real SQLite files; the online demo runs the real `gea-server`
subprocess against a PostgreSQL database of its own, created here and dropped afterwards.
`gea-kiosk demo` itself opens a window, so it is not run here."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL, make_url

from kiosk import catalog, config, demo, pin
from kiosk.catalog import Catalog
from kiosk.local_db import catalog_cache, database, identity, local_settings, outbox
from kiosk.local_db.models import OutboxState
from kiosk.services import KioskServices
from kiosk.staff_gate import StaffGate
from kiosk.sync.client import SyncClient, open_client
from kiosk.sync.worker import SyncWorker
from server_sync_api import embedded_pg
from tests.helpers import desk as desk_helpers
from tests.helpers import pg
from tests.helpers.fault_proxy import FaultProxy, Mode
from tests.helpers.processes import wait_until
from tests.helpers.server import EnrolledDevice, LiveServer, enroll, free_port
from tests.helpers.terminal import Terminal

# --- the built-in catalog ------------------------------------------------------------------------


@pytest.fixture
def builtin() -> Catalog:
    return Catalog(demo.builtin_catalog())


def names(services: list[catalog.Service]) -> list[str]:
    return [s.service_id for s in services]


def test_a_counter_offers_every_active_service_by_name(builtin: Catalog) -> None:
    # Sorted by name, as the service picker lists them.
    assert names(builtin.counter_services([])) == ["SVC-002", "SVC-001", "SVC-008"]
    assert [s.name for s in builtin.counter_services([])] == [
        "Driver's Licence Renewal",
        "Passport Application and Renewal",
        "Vehicle Registration",
    ]


def test_a_counter_offers_what_it_listed_in_its_order(builtin: Catalog) -> None:
    assert names(builtin.counter_services(["SVC-008", "SVC-001"])) == ["SVC-008", "SVC-001"]
    # A service the catalog no longer has is dropped, not shown as a broken button.
    assert names(builtin.counter_services(["SVC-404", "SVC-002"])) == ["SVC-002"]


def test_an_inactive_service_is_never_offered() -> None:
    body = demo.builtin_catalog()
    for service in body["services"]:
        if service["service_id"] == "SVC-001":
            service["active"] = False
    retired = Catalog(body)
    assert names(retired.counter_services([])) == ["SVC-002", "SVC-008"]
    assert names(retired.counter_services(["SVC-001", "SVC-008"])) == ["SVC-008"]


def test_the_categories_of_a_service_nearest_first(builtin: Catalog) -> None:
    passports = builtin.services["SVC-001"]
    assert builtin.categories_of(passports) == [
        (2, "Passport delays"),
        (3, "Passport counter service"),
        (14, "National security services"),
        (1, "General"),
    ]
    licences = builtin.services["SVC-002"]
    assert [cid for cid, _ in builtin.categories_of(licences)] == [5, 4, 14, 1]
    # A category the catalog does not name still shows (by its number) rather than vanish.
    odd = catalog.Service("SVC-X", "X", "AGY-002", True, (99, 1))
    assert builtin.categories_of(odd) == [(99, "99"), (1, "General")]


def test_entity_names_and_priorities(builtin: Catalog) -> None:
    assert builtin.entity_name("AGY-002") == "Immigration and Passport Office"
    assert builtin.entity_name("MIN-004") == "Ministry of National Security and Home Affairs"
    assert builtin.entity_name("AGY-999") == "AGY-999"
    assert builtin.priorities == [(1, "Critical"), (2, "High"), (3, "Medium"), (4, "Low")]
    assert builtin.priority_ids == {1, 2, 3, 4}
    assert builtin.comment_max_chars == 2_000


def test_the_builtin_catalog_is_what_the_demo_server_serves(live_server: LiveServer, db_url: URL) -> None:
    # The offline demo must show what the online one does: same services, same category and
    # priority ids (a walk-in's category is an id), same limits.
    device = enroll(live_server, db_url, demo.DEMO_ENTITY)
    with SyncClient(live_server.base_url, device.token) as client:
        fetched = client.catalog()
    assert fetched is not None
    served = fetched[1]
    ours = demo.builtin_catalog()
    for key in ("entities", "services", "categories", "priorities", "limits"):
        assert ours[key] == served[key], key
    assert ours["entity_id"] == served["entity_id"] == demo.DEMO_ENTITY


# --- the offline demo ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_pin_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """GEA_KIOSK_PIN in a developer's shell would change the demo's PIN."""
    monkeypatch.delenv("GEA_KIOSK_PIN", raising=False)


def test_the_offline_demo_is_a_kiosk_that_works(tmp_path: Path) -> None:
    demo.prepare_offline(tmp_path)
    engine = database.open_database(tmp_path)
    try:
        me = identity.load(engine)
        assert me is not None
        assert (me.device_code, me.entity_id) == (demo.OFFLINE_DEVICE, demo.DEMO_ENTITY)
        assert identity.read_token(tmp_path) is not None
        cached = catalog.load(engine)
        assert cached is not None
        assert cached.body == demo.builtin_catalog()

        submission = KioskServices(engine).begin_feedback("SVC-001", 2)
        assert submission.reference_code.startswith(f"{demo.OFFLINE_DEVICE}-000001-")

        stored = local_settings.get_value(engine, local_settings.STAFF_PIN_HASH)
        assert stored is not None
        assert pin.verify_pin(stored, demo.DEMO_PIN)
        assert StaffGate(engine, None).try_pin(demo.DEMO_PIN).ok
    finally:
        engine.dispose()


def test_preparing_the_offline_demo_again_keeps_everything(tmp_path: Path) -> None:
    demo.prepare_offline(tmp_path)
    engine = database.open_database(tmp_path)
    try:
        token = identity.read_token(tmp_path)
        services = KioskServices(engine)
        queued = [services.submit_card("SVC-001", r) for r in (1, 4)]
        opened = services.begin_feedback("SVC-008", 5)
        # A catalog the kiosk got later is not put back to the built-in one.
        newer = {**demo.builtin_catalog(), "limits": {"comment_max_chars": 500}}
        catalog_cache.store(engine, newer, etag='"v2"')

        demo.prepare_offline(tmp_path)

        assert identity.read_token(tmp_path) == token
        me = identity.load(engine)
        assert me is not None
        assert me.device_code == demo.OFFLINE_DEVICE
        assert outbox.counts(engine)["pending"] == 2
        assert outbox.counts(engine)["open"] == 1
        for submission in [*queued, opened]:
            assert outbox.find(engine, submission.reference_code) is not None
        cached = catalog.load(engine)
        assert cached is not None
        assert cached.comment_max_chars == 500
        # The sequence goes on: no reference code is handed out twice.
        again = services.submit_card("SVC-001", 3)
        assert again.reference_code.startswith(f"{demo.OFFLINE_DEVICE}-000004-")
        stored = local_settings.get_value(engine, local_settings.STAFF_PIN_HASH)
        assert stored is not None
        assert pin.verify_pin(stored, demo.DEMO_PIN)
    finally:
        engine.dispose()


def test_the_demo_pin_can_be_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEA_KIOSK_PIN", "97531086")
    demo.prepare_offline(tmp_path)
    engine = database.open_database(tmp_path)
    try:
        stored = local_settings.get_value(engine, local_settings.STAFF_PIN_HASH)
        assert stored is not None
        assert pin.verify_pin(stored, "97531086")
        assert not pin.verify_pin(stored, demo.DEMO_PIN)
    finally:
        engine.dispose()


# --- the online demo -----------------------------------------------------------------------------


def test_no_postgresql_is_said_plainly(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there once the probe socket is closed
    url = f"postgresql://postgres@127.0.0.1:{port}/gea_demo"

    with pytest.raises(demo.NoDatabase) as caught:
        demo._database_reachable(url)
    message = str(caught.value)
    assert str(port) in message
    assert "refused" in message.lower()
    assert "\n" not in message  # one line, for the "No PostgreSQL for the demo server (...)" notice

    # online() gives up before it writes anything or starts a server.
    with pytest.raises(demo.NoDatabase), demo.online(tmp_path / "demo", url, free_port()):
        pass
    assert not (tmp_path / "demo").exists()


@pytest.fixture
def demo_database() -> Iterator[str]:
    """A database name nobody uses: online() creates it, the test drops it."""
    name = f"gea_demo_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        # The plain libpq form, as DEMO_DATABASE_URL and GEA_DEMO_DATABASE_URL are written.
        yield pg.admin_url().set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        pg.drop_database(name)


def demo_devices(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.conninfo(make_url(database_url))) as conn:
        return conn.execute("SELECT device_code, entity_id, name FROM kiosk_devices ORDER BY 1").fetchall()


def server_is_gone(url: str) -> bool:
    try:
        httpx.get(f"{url}/readyz", timeout=2)
    except httpx.ConnectError:
        return True
    return False


@pytest.mark.slow
def test_the_online_demo_enrolls_once_and_follows_its_server(tmp_path: Path, demo_database: str) -> None:
    directory = tmp_path / "demo"

    with demo.online(directory, demo_database, free_port()) as first:
        assert first.process.poll() is None
        assert httpx.get(f"{first.url}/readyz", timeout=5).status_code == 200
        engine = database.open_database(directory)
        try:
            me = identity.load(engine)
            assert me is not None
            assert me.device_code != demo.OFFLINE_DEVICE
            assert (me.entity_id, me.server_url, me.public_base_url) == (
                demo.DEMO_ENTITY,
                first.url,
                first.url,
            )
            stored = local_settings.get_value(engine, local_settings.STAFF_PIN_HASH)
            assert stored is not None
            assert pin.verify_pin(stored, demo.DEMO_PIN)

            # The demo is a working product: a complaint recorded at the kiosk gets a ticket.
            with open_client(engine, directory) as client:
                worker = SyncWorker(engine, client)
                assert worker.refresh_catalog()
                complaint = KioskServices(engine).submit_card("SVC-001", 1, channel="kiosk")
                report = worker.drain_once()
            assert report.synced == 1, report
            row = outbox.find(engine, complaint.reference_code)
            assert row is not None
            assert row.state is OutboxState.SYNCED
            assert row.ticket_number is not None
        finally:
            engine.dispose()
        device_code = me.device_code
        token = identity.read_token(directory)
    assert first.process.poll() is not None
    assert server_is_gone(first.url)

    with demo.online(directory, demo_database, free_port()) as second:
        assert second.url != first.url
        engine = database.open_database(directory)
        try:
            again = identity.load(engine)
            assert again is not None
            assert (again.device_code, again.server_url, again.public_base_url) == (
                device_code,
                second.url,
                second.url,
            )
            assert identity.read_token(directory) == token
            # Still authorized on the new port (a ticket look-up needs the device token), and the
            # ticket is still there.
            with open_client(engine, directory) as client:
                found = client.ticket(str(row.ticket_number))
            assert found is not None
            assert found["reference_code"] == complaint.reference_code
        finally:
            engine.dispose()
        # The demo's supervisor (added once, not twice) finds the ticket in the desk.
        with desk_helpers.sign_in(second.url, demo.DEMO_OFFICER, demo.DEMO_OFFICER_PASSWORD) as officer:
            assert str(row.ticket_number) in officer.get("/desk/").text
    assert second.process.poll() is not None
    assert server_is_gone(second.url)

    assert demo_devices(demo_database) == [(device_code, demo.DEMO_ENTITY, "Demo counter")]


# --- the online demo on its own embedded PostgreSQL ---------------------------------------------------


@pytest.fixture
def demo_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """GEA_DEMO_DATA_DIR for a demo that starts the embedded PostgreSQL.

    As root, the embedded server runs as the account gea-postgres, which must be able to enter
    every folder above its cluster's. pytest's tmp_path lies under /tmp/pytest-of-root (0700,
    shared by every test), so this test makes a folder of its own in the system's temp
    directory and opens it (0755) for that account; what the demo keeps inside stays
    owner-only."""
    home = Path(tempfile.mkdtemp(prefix="gea-demo-test-"))
    home.chmod(0o755)
    monkeypatch.setenv("GEA_DEMO_DATA_DIR", str(home))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def nothing_on_5432() -> tuple[str, int]:
    """Where the demo looks for a PostgreSQL of the machine's own: a port nobody listens on, as
    on a machine without PostgreSQL (the real 5432 is left alone)."""
    return ("127.0.0.1", free_port())


def cluster_running(home: Path) -> bool:
    """Is a server of the demo's embedded cluster in `home` running? (Its process, not its
    port: another test may take a port as soon as it is free.)"""
    bindir = embedded_pg.wheel_bindir()
    assert bindir is not None
    return embedded_pg.Cluster(home / "postgres", bindir, account=None).is_running()


def offline_because_embedded_cannot_start() -> str:
    """Start the online demo where nothing answers on 5432 and the embedded PostgreSQL cannot
    start: it runs offline, and says why in one line, which is returned."""
    said = Terminal()
    with contextlib.ExitStack() as stack:
        assert demo.start_online(stack, None, free_port(), said, local=nothing_on_5432()) is None
    (line,) = said.err()
    assert line.startswith("No PostgreSQL for the demo server; the embedded one cannot start: ")
    return line


def embedded_url(said: Terminal) -> URL:
    (line,) = [line for line in said.out() if line.startswith("Database: an embedded PostgreSQL, ")]
    return make_url(line.split(", ")[1])


@pytest.mark.slow
def test_without_postgresql_the_demo_runs_the_whole_loop_on_an_embedded_one(demo_home: Path) -> None:
    said = Terminal()
    with contextlib.ExitStack() as stack:
        server = demo.start_online(stack, None, free_port(), said, local=nothing_on_5432())
        assert server is not None, said.lines
        first_line = said.out()[0]
        assert first_line.startswith(
            "Database: an embedded PostgreSQL, postgresql+psycopg://postgres@127.0.0.1:"
        )
        assert f"/gea_demo, data in {demo_home / 'postgres'} (started in " in first_line
        assert first_line.endswith(" s, first start: made the cluster).")
        cluster = embedded_url(said)
        assert cluster.port != 5432

        # A complaint at the demo kiosk, sent the way its sync worker sends it.
        directory = demo_home / "online"
        engine = database.open_database(directory)
        try:
            with open_client(engine, directory) as client:
                worker = SyncWorker(engine, client)
                assert worker.refresh_catalog()
                complaint = KioskServices(engine).submit_card("SVC-001", 1, channel="kiosk")
                assert worker.drain_once().synced == 1
            row = outbox.find(engine, complaint.reference_code)
            assert row is not None
            assert row.ticket_number is not None
        finally:
            engine.dispose()

        # The terminal says the ticket, with the page the receipt's QR code opens.
        number = str(row.ticket_number)
        wait_until(lambda: number in said.tickets(), "the ticket in the terminal")
        line = said.ticket_line(number)
        assert line.startswith(f"New ticket {number} (High): respond by ")
        page = line.rsplit("status page ", 1)[1]
        assert page == f"{server.url}/s/{complaint.reference_code}"
        shown = httpx.get(page, timeout=10)
        assert shown.status_code == 200
        assert number in shown.text
        assert said.err() == []
    # The feed, the server and the cluster are stopped with the demo, in that order: the
    # cluster's shutdown found no client of theirs to cut off.
    assert server.process.poll() is not None
    assert server_is_gone(server.url)
    assert not cluster_running(demo_home)
    server_log = (demo_home / "postgres" / "server.log").read_text()
    assert "received fast shutdown request" in server_log
    assert "terminating connection due to administrator command" not in server_log

    # The next start reuses the cluster: no initdb, the ticket still there, and not said again.
    again = Terminal()
    with contextlib.ExitStack() as stack:
        second = demo.start_online(stack, None, free_port(), again, local=nothing_on_5432())
        assert second is not None, again.lines
        assert "first start" not in again.out()[0]
        assert again.out()[0].endswith(" s).")
        shown = httpx.get(f"{second.url}/s/{complaint.reference_code}", timeout=10)
        assert shown.status_code == 200
        assert number in shown.text
    assert again.tickets() == []
    assert not cluster_running(demo_home)


@pytest.mark.slow
def test_an_embedded_postgresql_that_cannot_start_leaves_the_demo_offline(demo_home: Path) -> None:
    # Another demo holds the cluster's folder (its lock): this one says so and runs offline.
    with embedded_pg.running(demo_home / "postgres", durable=True):
        said = Terminal()
        with contextlib.ExitStack() as stack:
            server = demo.start_online(stack, None, free_port(), said, local=nothing_on_5432())
        assert server is None
        assert said.out() == []
        (line,) = said.err()
        assert line.startswith(
            "No PostgreSQL for the demo server; the embedded one cannot start: another run is using "
            f"the embedded PostgreSQL in {demo_home / 'postgres'}"
        )
    assert not (demo_home / "online").exists()


def test_a_data_folder_that_cannot_be_made_leaves_the_demo_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "demo").write_text("a file where the demo's folder should be")
    monkeypatch.setenv("GEA_DEMO_DATA_DIR", str(tmp_path / "demo"))
    line = offline_because_embedded_cannot_start()
    assert line.endswith("GEA_DEMO_DATA_DIR moves the demo's data.")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's embedded server runs as another account")
def test_as_root_a_data_folder_the_servers_account_cannot_enter_is_said_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest's tmp_path lies under /tmp/pytest-of-root (0700): gea-postgres cannot get in.
    monkeypatch.setenv("GEA_DEMO_DATA_DIR", str(tmp_path / "demo"))
    line = offline_because_embedded_cannot_start()
    assert "gea-postgres, which may not enter" in line
    assert line.endswith(
        f"Its folder is {tmp_path / 'demo' / 'postgres'}; GEA_DEMO_DATA_DIR moves the demo's data."
    )
    assert not (tmp_path / "demo" / "online").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's embedded server runs as another account")
def test_as_root_a_data_folder_that_exists_is_never_opened_up(demo_home: Path) -> None:
    # The user's own folder (a home, say): the demo names it rather than widen its modes.
    (demo_home / "postgres").mkdir()
    demo_home.chmod(0o700)
    assert f"may not enter {demo_home}" in offline_because_embedded_cannot_start()
    assert stat.S_IMODE(demo_home.stat().st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="only root's embedded server runs as another account")
def test_as_root_the_demo_data_folder_it_makes_lets_the_servers_account_through(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gea-kiosk runs with umask 077: a data folder it makes would be root's alone.
    fresh = demo_home / "fresh"
    monkeypatch.setenv("GEA_DEMO_DATA_DIR", str(fresh))
    previous = os.umask(0o077)
    try:
        with demo.embedded_database(demo.embedded_root()) as started:
            assert started.initialized
            assert cluster_running(fresh)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o711  # passable, never listable
    assert stat.S_IMODE((fresh / "postgres").stat().st_mode) == 0o700


@pytest.mark.slow
def test_a_demo_that_fails_after_the_embedded_postgresql_started_stops_it(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEA_KIOSK_PIN", "12ab56")  # refused by online(), once the cluster runs
    said = Terminal()
    with pytest.raises(demo.DemoProblem, match="GEA_KIOSK_PIN"), contextlib.ExitStack() as stack:
        demo.start_online(stack, None, free_port(), said, local=nothing_on_5432())
    assert not cluster_running(demo_home)
    # The folder is free again: the next demo starts it.
    monkeypatch.delenv("GEA_KIOSK_PIN")
    with embedded_pg.running(demo_home / "postgres", durable=True) as started:
        assert not started.initialized
        assert not started.stale_stopped


# --- bad input, refused before anything starts -----------------------------------------------------

GEA_KIOSK = shutil.which("gea-kiosk", path=os.path.dirname(sys.executable))


def demo_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`gea-kiosk demo` with no screen: bad input must be said before a screen is looked for,
    and before any database or data directory is touched."""
    assert GEA_KIOSK is not None
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GEA_KIOSK_", "GEA_DEMO_")) and k not in SCREEN_VARIABLES
    }
    full_env = {
        **base,
        "GEA_KIOSK_DATA_DIR": str(tmp_path / "kiosk"),
        "GEA_KIOSK_CONFIG": str(tmp_path / "none.toml"),
        "GEA_DEMO_DATA_DIR": str(tmp_path / "demo"),
        **env,
    }
    return subprocess.run(
        [GEA_KIOSK, "demo", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


SCREEN_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")

BAD_URLS = [
    pytest.param("foo", "is not a URL", id="not a URL"),
    pytest.param("postgresql://postgres@127.0.0.1:5432", "names no database", id="no database"),
    pytest.param("postgresql://postgres@127.0.0.1:5432/", "names no database", id="empty database"),
    pytest.param("postgresql://postgres@127.0.0.1:5432/postgres", "keeps for itself", id="maintenance"),
    pytest.param("sqlite:///demo.db", "not a PostgreSQL URL", id="not PostgreSQL"),
]


@pytest.mark.parametrize(("url", "said"), BAD_URLS)
def test_a_bad_demo_database_url_is_refused_before_anything_starts(
    tmp_path: Path, url: str, said: str
) -> None:
    with pytest.raises(demo.DemoProblem, match=said) as caught:
        demo.check_database_url(url)
    assert "gea_demo" in str(caught.value)  # what to write instead
    # online() refuses it before it creates a database, writes a file or starts a server.
    with pytest.raises(demo.DemoProblem), demo.online(tmp_path / "demo", url, free_port()):
        pass
    assert not (tmp_path / "demo").exists()


@pytest.mark.parametrize(("url", "said"), BAD_URLS)
def test_the_demo_command_refuses_a_bad_database_url_without_a_traceback(
    tmp_path: Path, url: str, said: str
) -> None:
    result = demo_cli(tmp_path, "--database-url", url)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()


def test_the_demo_command_takes_its_database_url_from_the_environment_too(tmp_path: Path) -> None:
    refused = demo_cli(tmp_path, GEA_DEMO_DATABASE_URL="sqlite:///demo.db")
    assert refused.returncode == 2, refused.stderr
    assert "not a PostgreSQL URL" in refused.stderr
    # Set but empty names nothing: the demo chooses (and here stops at the missing screen).
    unset = demo_cli(tmp_path, GEA_DEMO_DATABASE_URL="")
    assert unset.returncode == 2, unset.stderr
    assert "No screen" in unset.stderr
    assert "URL" not in unset.stderr
    assert not (tmp_path / "demo").exists()


def test_the_demo_commands_help_says_what_it_chooses(tmp_path: Path) -> None:
    shown = demo_cli(tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert f"Default: {demo.DEMO_DATABASE_URL} if a PostgreSQL answers there, else an embedded" in text
    assert "GEA_DEMO_DATABASE_URL" in text


def test_the_demo_command_refuses_a_bad_pin_without_a_traceback(tmp_path: Path) -> None:
    for args in ((), ("--offline",)):
        result = demo_cli(tmp_path, *args, GEA_KIOSK_PIN="1234")
        assert result.returncode == 2, result.stderr
        assert "GEA_KIOSK_PIN" in result.stderr
        assert "6 to 12 digits" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()


def test_a_bad_demo_pin_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEA_KIOSK_PIN", "12ab56")
    with pytest.raises(demo.DemoProblem, match="GEA_KIOSK_PIN"):
        demo.prepare_offline(tmp_path / "offline")
    assert not (tmp_path / "offline").exists()


# --- what the demo kiosk is set up with ------------------------------------------------------------


def test_the_demo_kiosk_ignores_a_real_kiosks_pin_hash_and_serves_passports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEA_DEMO_DATA_DIR", str(tmp_path / "demo"))
    toml = tmp_path / "kiosk.toml"
    toml.write_text(f"pin_hash = '{pin.hash_pin('97531086')}'\nlanguage = 'es'\n", "utf-8")
    configured = config.load_settings(toml)
    assert configured.pin_hash is not None

    settings = demo.settings_for(configured)

    # The PIN the demo prints opens staff mode: kiosk.toml's pin_hash would win over it.
    assert settings.pin_hash is None
    assert settings.language == "es"  # the rest of kiosk.toml still counts
    assert settings.print_to_pdf == tmp_path / "demo" / "receipts"
    directory = tmp_path / "demo" / "offline"
    demo.prepare_offline(directory)
    engine = database.open_database(directory)
    try:
        assert StaffGate(engine, settings.pin_hash).try_pin(demo.DEMO_PIN).ok
    finally:
        engine.dispose()
    # Passports alone, as the module says: one tap to rate, no service picker.
    assert settings.services == list(demo.DEMO_SERVICES) == ["SVC-001"]
    assert names(Catalog(demo.builtin_catalog()).counter_services(settings.services)) == ["SVC-001"]
    # A counter that lists its services in kiosk.toml keeps them.
    listed = configured.model_copy(update={"services": ["SVC-008", "SVC-002"]})
    assert demo.settings_for(listed).services == ["SVC-008", "SVC-002"]


def test_the_demo_server_secret_is_never_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Watch every chmod: the file must not exist with looser permissions even for a moment.
    seen: list[int] = []
    real_chmod = os.chmod

    def watching_chmod(path: Any, mode: int, **kwargs: Any) -> None:
        seen.append(stat.S_IMODE(os.stat(path).st_mode))
        real_chmod(path, mode, **kwargs)

    monkeypatch.setattr(os, "chmod", watching_chmod)
    previous = os.umask(0o022)  # the usual umask: new files readable by everyone
    try:
        env = demo._server_env(tmp_path / "demo", demo.DEMO_DATABASE_URL, "http://127.0.0.1:1")
    finally:
        os.umask(previous)
    secret_file = tmp_path / "demo" / "demo-server-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert all(mode & 0o077 == 0 for mode in seen), [oct(m) for m in seen]
    assert len(env["GEA_SERVER_IP_HASH_SECRET"]) >= 32
    # The next start reads the same secret.
    again = demo._server_env(tmp_path / "demo", demo.DEMO_DATABASE_URL, "http://127.0.0.1:1")
    assert again["GEA_SERVER_IP_HASH_SECRET"] == env["GEA_SERVER_IP_HASH_SECRET"]


# --- enrolling the demo kiosk --------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Traceback (most recent call last):\n  ...",
        "[]",
        '{"device_code": "K0001"}',
        '{"enrollment_code": ""}',
    ],
)
def test_unreadable_devices_add_output_is_said_plainly(output: str) -> None:
    with pytest.raises(demo.DemoProblem, match="devices add") as caught:
        demo.enrollment_code(output)
    assert "\n" not in str(caught.value)


def test_the_enrollment_code_is_read_from_devices_add() -> None:
    assert demo.enrollment_code('{"device_code": "K0001", "enrollment_code": "7QX4-K2M9"}\n') == "7QX4-K2M9"


def test_a_failed_enrollment_is_said_plainly(tmp_path: Path, db_url: URL) -> None:
    # A real `gea-server devices add` against a real database, then a server that does not answer.
    database_url = db_url.set(drivername="postgresql").render_as_string(hide_password=False)
    nobody = f"http://127.0.0.1:{free_port()}"
    env = demo._server_env(tmp_path / "demo", database_url, nobody)
    with pytest.raises(demo.DemoProblem, match="could not enroll.*--offline"):
        demo._enroll(tmp_path / "demo", nobody, env)


def test_only_a_server_that_says_not_authorized_makes_the_demo_enroll_again(
    live_server: LiveServer, device: EnrolledDevice
) -> None:
    assert demo._still_enrolled(live_server.base_url, device.token)
    assert not demo._still_enrolled(live_server.base_url, "not-a-device-token")
    # Unreachable, or busy for a moment: the enrollment is kept, not thrown away for a new one.
    assert demo._still_enrolled(f"http://127.0.0.1:{free_port()}", device.token)
    upstream = int(live_server.base_url.rsplit(":", 1)[1])
    with FaultProxy(upstream, retry_after="1") as proxy:
        proxy.set_mode(Mode.STATUS_503)
        assert demo._still_enrolled(proxy.url, device.token)
        assert proxy.counts(Mode.STATUS_503).requests >= 1


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_the_demo_server_stops_when_the_demo_is_killed(tmp_path: Path) -> None:
    # The demo starts its server with demo._stop_with_parent; a parent killed with SIGKILL
    # runs no cleanup, so only the kernel can stop the server it left behind.
    script = (
        "import subprocess, sys, time\n"
        "from kiosk import demo\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " preexec_fn=demo._stop_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=tmp_path) as parent:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        parent.kill()
    # The orphan is reparented and reaped by init (or a subreaper), so poll for its end.
    for _ in range(200):
        try:
            if Path(f"/proc/{child_pid}/stat").read_text().split()[2] == "Z":
                break  # dead, waiting for whoever inherited it to reap it
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(child_pid, 9)
        pytest.fail("the server outlived the demo that started it")
