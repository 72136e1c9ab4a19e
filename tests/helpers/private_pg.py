"""A throwaway PostgreSQL cluster for tests that stop and restart the database (ARCHITECTURE 8).

`private_cluster()` runs initdb (as the postgres user when the tests run as root: PostgreSQL
refuses to run as root) in a temporary directory, starts the server on a free 127.0.0.1 port
and removes everything afterwards. It never touches the shared server on port 5432.
`feedback_db(cluster)` creates feedback_db on it, migrated to head with the demo catalog, by
the same code as the shared template (tests/helpers/pg.py).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api import demo, migrate
from server_sync_api.core.db import libpq_conninfo, make_engine
from tests.helpers.pg import TEST_TIMEZONE
from tests.helpers.server import free_port

PG_CTL_TIMEOUT_S = 60
SHARED_PORT = 5432


def postgres_bindir() -> Path:
    """The directory of initdb and pg_ctl: pg_config's answer, else Debian's layout."""
    found = shutil.which("pg_config")
    if found:
        bindir = Path(
            subprocess.run([found, "--bindir"], check=True, capture_output=True, text=True).stdout.strip()
        )
        if (bindir / "initdb").exists():
            return bindir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        pytest.fail("initdb was not found: install the PostgreSQL server package (postgresql-15)")
    return Path(candidates[0]).parent


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster in a temporary directory, on its own port."""

    bindir: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=PG_CTL_TIMEOUT_S, check=False)
        if done.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"{args[0]} {args[1]} failed: {done.stderr or done.stdout}\n{log[-2000:]}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        """Returns once the server accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every client connection; returns once the server has exited."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> URL:
        return URL.create(
            "postgresql+psycopg", username="postgres", host="127.0.0.1", port=self.port, database=database
        )


@contextmanager
def private_cluster(prefix: str = "gea-pg-") -> Iterator[PrivateCluster]:
    """A started cluster, stopped and deleted when the block ends."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(postgres_bindir(), root, free_port())
    assert cluster.port != SHARED_PORT
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            if cluster.is_running():
                cluster.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def feedback_db(cluster: PrivateCluster) -> URL:
    """feedback_db on the cluster, at head with the demo catalog."""
    with psycopg.connect(libpq_conninfo(cluster.url("postgres")), autocommit=True) as conn:
        conn.execute("CREATE DATABASE feedback_db")
    url = cluster.url("feedback_db")
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, timezone=TEST_TIMEZONE)
        with engine.begin() as connection:
            demo.seed_demo(connection)
    finally:
        engine.dispose()
    return url
