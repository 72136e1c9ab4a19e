"""`gea-server serve`'s app factory moves what start-up made out of the garbage collector's
reach (server_sync_api.main.create_served_app); the tests' own create_app does not."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy.engine import make_url

from tests.helpers.processes import server_env

# In a process of its own: a freeze here would keep this test process's objects for good.
SCRIPT = """
import gc
from server_sync_api.main import create_app, create_served_app
create_app()
print(gc.get_freeze_count())
create_served_app()
print(gc.get_freeze_count())
"""


def test_served_app_freezes_what_start_up_made() -> None:
    # Building the app reads the settings but opens no connection: no database is needed.
    env = server_env(make_url("postgresql+psycopg://nobody@127.0.0.1:9/none"))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    plain, served = map(int, done.stdout.split())
    assert plain == 0
    # The modules, routes and validators: about 140,000 objects when this was written.
    assert served > 50_000
