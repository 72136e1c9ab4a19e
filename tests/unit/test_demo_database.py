"""Which database `gea-kiosk demo` uses (kiosk/demo.choose_database), and how it says so.

The probe is pointed at ports this test controls, so the machine's own PostgreSQL on 5432 (or
its absence) changes nothing here."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import demo
from kiosk.demo import DatabaseSource


@pytest.fixture
def answering() -> Iterator[int]:
    """A port where something accepts connections (the probe only connects)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.fixture
def silent() -> int:
    """A port where nothing listens once the probe socket is closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_given_url_is_always_used(answering: int, silent: int) -> None:
    given = "postgresql://me:secret@db.example:5433/my_demo"
    for port in (answering, silent):
        choice = demo.choose_database(given, host="127.0.0.1", port=port)
        assert choice == demo.DatabaseChoice(DatabaseSource.GIVEN, given)


def test_a_postgresql_answering_on_the_machine_comes_before_the_embedded_one(answering: int) -> None:
    choice = demo.choose_database(None, host="127.0.0.1", port=answering)
    assert choice == demo.DatabaseChoice(
        DatabaseSource.LOCAL, f"postgresql://postgres@127.0.0.1:{answering}/gea_demo"
    )
    # An empty value (GEA_DEMO_DATABASE_URL= in a shell) names nothing.
    assert demo.choose_database("", host="127.0.0.1", port=answering).source is DatabaseSource.LOCAL


def test_with_nothing_given_and_nothing_answering_the_demo_starts_its_own(silent: int) -> None:
    assert demo.choose_database(None, host="127.0.0.1", port=silent) == demo.DatabaseChoice(
        DatabaseSource.EMBEDDED, None
    )


def test_a_password_is_never_shown() -> None:
    shown = demo.shown("postgresql://me:s3cret@db.example:5433/my_demo")
    assert "s3cret" not in shown
    assert shown == "postgresql://me:***@db.example:5433/my_demo"
    assert demo.shown("postgresql+psycopg://postgres@127.0.0.1:5999/gea_demo") == (
        "postgresql+psycopg://postgres@127.0.0.1:5999/gea_demo"
    )


def test_the_embedded_database_says_where_its_data_is_and_how_long_it_took() -> None:
    first = demo.EmbeddedDatabase(
        "postgresql+psycopg://postgres@127.0.0.1:5999/gea_demo", Path("/data/postgres"), 1.234, True, False
    )
    assert first.describe() == (
        "Database: an embedded PostgreSQL, postgresql+psycopg://postgres@127.0.0.1:5999/gea_demo, "
        "data in /data/postgres (started in 1.2 s, first start: made the cluster)."
    )
    later = demo.EmbeddedDatabase(first.url, first.root, 0.31, False, False)
    assert later.describe().endswith("(started in 0.3 s).")
    after_a_kill = demo.EmbeddedDatabase(first.url, first.root, 0.4, False, True)
    assert after_a_kill.describe().endswith(
        "(started in 0.4 s, after stopping one a killed run had left running)."
    )
