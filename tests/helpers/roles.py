"""Login roles owning nothing, for tests that prove a set of grants is enough (or not).

`documented_grants(doc, heading)` reads the SQL a docs page prints for IT under a heading, so a
grant the code needs and the page lacks fails in a test before it fails in production.
`login_role(db_url, grants)` creates a role of its own, runs those grants on the test's database
as written there (for `gea_api` and the `feedback` database), yields the URL that connects as
the role, and drops the role afterwards, whatever happened in between.

Role names carry the process id and a random part: xdist workers share one cluster, where a
role is not per database but per cluster. Each starts with `gea_`, so a role a killed run left
behind shows in `SELECT rolname FROM pg_roles WHERE rolname LIKE 'gea_%'`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from tests.helpers import pg

# The name the docs give the API's role, and the database they grant CONNECT on.
DOCUMENTED_ROLE = "gea_api"
DOCUMENTED_DATABASE = "DATABASE feedback"
# Written into SQL text as they are: lower case and unquoted, like the docs' `gea_api`.
_PREFIX = re.compile(r"gea_[a-z0-9_]*")


def documented_grants(doc: Path, heading: str) -> str:
    """The first ```sql block after the line `heading` (e.g. "## The grants it needs") of `doc`."""
    text = doc.read_text("utf-8")
    found = re.search(rf"^{re.escape(heading)}[ \t]*$", text, re.M)
    assert found, f"{_shown(doc)} has no heading {heading!r}"
    block = re.search(r"```sql\n(.*?)```", text[found.end() :], re.S)
    assert block, f"{_shown(doc)} has no SQL block under its heading {heading!r}"
    return block.group(1)


def _shown(doc: Path) -> str:
    return str(doc.relative_to(pg.REPO)) if doc.is_relative_to(pg.REPO) else str(doc)


def role_name(prefix: str) -> str:
    """A role name no other call, worker or run on the cluster is using."""
    assert _PREFIX.fullmatch(prefix), f"a role prefix starts with gea_ and needs no quoting: {prefix!r}"
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


@contextmanager
def login_role(db_url: URL, grants: str | None = None, *, prefix: str = "gea_role") -> Iterator[URL]:
    """A new login role owning nothing, given `grants` on `db_url`'s database; the URL for it.

    `grants` is SQL as the docs print it: `gea_api` becomes the role's name and
    `DATABASE feedback` the test database, and it runs there as `db_url`'s user (the owner).
    Afterwards, also when the grants or the test failed, what the role came to own there is
    dropped, everything it was granted there (by `grants` or later, by a migration say) and on
    the database itself is revoked, and the role is dropped."""
    role = role_name(prefix)
    database = str(db_url.database)
    with psycopg.connect(pg.conninfo(pg.admin_url()), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        if grants is not None:
            quoted = '"' + database.replace('"', '""') + '"'
            written = grants.replace(DOCUMENTED_ROLE, role).replace(DOCUMENTED_DATABASE, f"DATABASE {quoted}")
            with psycopg.connect(pg.conninfo(db_url), autocommit=True) as owner:
                owner.execute(written)  # the page's own SQL, run as written
        yield db_url.set(username=role, password=None)
    finally:
        _drop(db_url, role)


def _drop(db_url: URL, role: str) -> None:
    """Every step is tried, each on a connection of its own (the test's may be broken); what
    failed is raised after the last, since a role left behind would only show in a later run."""
    steps = [
        (db_url, sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role))),
        (
            pg.admin_url(),
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                sql.Identifier(str(db_url.database)), sql.Identifier(role)
            ),
        ),
        (pg.admin_url(), sql.SQL("DROP ROLE {}").format(sql.Identifier(role))),
    ]
    failures: list[psycopg.Error] = []
    for url, statement in steps:
        try:
            with psycopg.connect(pg.conninfo(url), autocommit=True) as connection:
                connection.execute(statement)
        except psycopg.Error as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ExceptionGroup(f"dropping the test role {role}", failures)
