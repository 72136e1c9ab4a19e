"""The osTicket bridge (issue 14): new tickets queued by the database reach a real HTTP server on
127.0.0.1 that answers as osTicket's ticket API does, exactly once when answers arrive, and a
send whose answer was lost waits for a person instead of being sent again.

No test waits for time to pass: a retry's time is moved in the database instead."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import URL

from server_sync_api import cli
from server_sync_api.core.config import ServerSettings
from server_sync_api.services import osticket, osticket_api
from tests.helpers import pg
from tests.helpers.osticket_server import API_KEY, Answer, Drop, FakeOsticket, Stall, running
from tests.helpers.roles import documented_grants, login_role
from tests.helpers.server import free_port, settings_for
from tests.helpers.tickets import insert_ticket, ticket_number

Conn = psycopg.Connection[tuple[Any, ...]]

GEA_SERVER = shutil.which("gea-server", path=os.path.dirname(sys.executable))
PUBLIC_BASE_URL = "https://feedback.example.gd"
QUICK = httpx.Timeout(10.0, connect=5.0)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours the proxy variables; the requests here are for 127.0.0.1 itself."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeOsticket]:
    with running() as server:
        yield server


@pytest.fixture
def settings(db_url: URL, fake: FakeOsticket) -> ServerSettings:
    return settings_for(db_url, osticket_url=fake.url, osticket_api_key=API_KEY)


@pytest.fixture
def enabled(conn: Conn) -> Conn:
    conn.execute("UPDATE app_settings SET osticket_enabled = TRUE")
    return conn


def new_ticket(conn: Conn, **columns: object) -> str:
    return ticket_number(conn, insert_ticket(conn, **columns))


def push(
    db_url: URL, settings: ServerSettings, timeout: httpx.Timeout = QUICK, limit: int = 100
) -> osticket.PushReport:
    return osticket.push_due(pg.conninfo(db_url), settings, limit=limit, timeout=timeout)


def outbox(conn: Conn, number: str) -> dict[str, Any]:
    cur = conn.execute(
        "SELECT o.state, o.attempts, o.remote_id, o.last_error, o.sent_at, o.claimed_at, "
        "o.next_attempt_at - now() AS due_in FROM osticket_outbox o "
        "JOIN tickets t USING (ticket_id) WHERE t.ticket_number = %s",
        (number,),
    )
    row = cur.fetchone()
    assert row is not None, f"ticket {number} is not in the outbox"
    assert cur.description is not None
    return dict(zip([c.name for c in cur.description], row, strict=True))


def make_due(conn: Conn) -> None:
    """The retry time of every pending row comes now, instead of waiting for it."""
    conn.execute("UPDATE osticket_outbox SET next_attempt_at = now() WHERE state = 'pending'")


# --- the command line ------------------------------------------------------------------------


def cli_env(db_url: URL, **extra: str) -> dict[str, str]:
    """The command's settings: the test's database, and what else the test gives."""
    return {
        "FEEDBACK_DB_URL": db_url.render_as_string(hide_password=False),
        "GEA_SERVER_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        **extra,
    }


def osticket_env(db_url: URL, fake: FakeOsticket) -> dict[str, str]:
    return cli_env(db_url, GEA_SERVER_OSTICKET_URL=fake.url, GEA_SERVER_OSTICKET_API_KEY=API_KEY)


def process_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of a real `gea-server` process: this one's, with only `env`'s settings."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GEA_SERVER_", "FEEDBACK_DB_URL")) and not k.lower().endswith("_proxy")
    }
    return {**keep, **env}


def run_process(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert GEA_SERVER is not None, "gea-server is not installed next to this Python"
    result = subprocess.run(
        [GEA_SERVER, *args], env=process_env(env), capture_output=True, text=True, timeout=120
    )
    assert API_KEY not in result.stdout + result.stderr
    return result


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str]) -> Ran:
    """`gea-server ARGS` in this process (a subprocess per call would add seconds per test;
    test_two_pushers_at_once runs real processes), with only `env`'s settings."""
    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("GEA_SERVER_") or name == "FEEDBACK_DB_URL"
    }
    result = CliRunner().invoke(cli.main, list(args), env={**unset, **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    # Whatever a command prints, the key is never in it.
    assert API_KEY not in ran.stdout + ran.stderr
    return ran


# --- queueing --------------------------------------------------------------------------------


def test_migrate_with_the_osticket_url_queues_new_tickets_and_without_it_stops(
    db_url: URL, conn: Conn, fake: FakeOsticket
) -> None:
    before = new_ticket(conn)
    assert conn.execute("SELECT count(*) FROM osticket_outbox").fetchone() == (0,)

    # A real process: `migrate` leaves its engine's connections to the process's exit.
    result = run_process("migrate", env=osticket_env(db_url, fake))
    assert result.returncode == 0, result.stderr
    queued = new_ticket(conn)
    assert outbox(conn, queued)["state"] == "pending"

    result = run_process("migrate", env=cli_env(db_url))
    assert result.returncode == 0, result.stderr
    after = new_ticket(conn)
    numbers = [
        r[0]
        for r in conn.execute("SELECT t.ticket_number FROM osticket_outbox JOIN tickets t USING (ticket_id)")
    ]
    assert numbers == [queued], (before, after)


# --- sending ---------------------------------------------------------------------------------


def test_a_ticket_is_created_once_with_its_number_in_the_subject(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    number = new_ticket(enabled, description='The queue was <b>3 hours</b> long & "nobody" came.\nNone.')

    report = push(db_url, settings)

    assert [(d.ticket_number, d.remote_id) for d in report.sent] == [(number, fake.tickets[0].number)]
    assert not report.failed
    assert report.pending == 0
    [created] = fake.tickets
    assert created.subject == f"[GEA {number}] Counter complaint"
    assert (created.name, created.email) == ("GEA Citizen Feedback", "feedback@feedback.example.gd")
    assert created.message_type == "text/html"
    for fact in (
        "Birth Certificate Request",
        "Civil Registry and Vital Statistics (DEPT-003)",
        "Medium",
        "First response due",
        "Resolution due",
        "The queue was &lt;b&gt;3 hours&lt;/b&gt; long &amp; &quot;nobody&quot; came.<br>None.",
        f'<a href="{PUBLIC_BASE_URL}/desk/tickets/{number}">',
    ):
        assert fact in created.message
    assert created.payload["source"] == "API"
    assert created.payload["alert"] is True
    assert created.payload["autorespond"] is False
    assert "ip" not in created.payload
    assert fake.warnings == []  # nothing osTicket would log as unexpected
    [request] = fake.requests
    assert request.headers["x-api-key"] == API_KEY
    assert API_KEY not in request.path

    row = outbox(enabled, number)
    assert (row["state"], row["attempts"], row["remote_id"]) == ("sent", 1, created.number)
    assert row["sent_at"] is not None

    again = push(db_url, settings)
    assert again.sent == []
    assert len(fake.requests) == 1


def test_an_error_answer_is_retried_later_with_a_growing_wait_then_sent(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    number = new_ticket(enabled)
    fake.fail_next(
        Answer(500, "Unable to create new ticket :unknown error"),
        Answer(500, "Unable to create new ticket :unknown error"),
    )

    first = push(db_url, settings)
    assert [f.ticket_number for f in first.retrying] == [number]
    assert first.sent == []
    row = outbox(enabled, number)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "HTTP 500: Unable to create new ticket :unknown error" in row["last_error"]
    assert 50 <= row["due_in"].total_seconds() <= 60  # a minute from the failure

    assert push(db_url, settings).sent == []  # not due yet: nothing is asked
    assert len(fake.requests) == 1

    make_due(enabled)
    push(db_url, settings)
    row = outbox(enabled, number)
    assert (row["state"], row["attempts"]) == ("pending", 2)
    assert 110 <= row["due_in"].total_seconds() <= 120  # then two

    make_due(enabled)
    last = push(db_url, settings)
    assert [d.ticket_number for d in last.sent] == [number]
    assert outbox(enabled, number)["state"] == "sent"
    assert len(fake.tickets) == 1


def test_the_wait_between_retries_stops_growing_at_an_hour(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    number = new_ticket(enabled)
    enabled.execute("UPDATE osticket_outbox SET attempts = 40")
    fake.fail_next(Answer(503, "Service Unavailable"))
    report = push(db_url, settings)
    assert report.stopped is not None
    assert "unavailable" in report.stopped
    row = outbox(enabled, number)
    assert row["attempts"] == 41
    assert 3590 <= row["due_in"].total_seconds() <= 3600


def test_a_refused_connection_stops_the_run_and_is_retried(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    first, second = new_ticket(enabled), new_ticket(enabled)
    nobody = settings.model_copy(update={"osticket_url": f"http://127.0.0.1:{free_port()}/helpdesk"})

    report = push(db_url, nobody)

    assert [f.ticket_number for f in report.retrying] == [first]
    assert report.stopped is not None
    assert "could not connect to osTicket" in report.stopped
    assert "nothing was sent" in report.stopped
    assert outbox(enabled, first)["attempts"] == 1
    assert outbox(enabled, second)["attempts"] == 0  # not tried: it would have failed the same way

    make_due(enabled)
    report = push(db_url, settings)
    assert sorted(d.ticket_number for d in report.sent) == [first, second]
    assert sorted(fake.subjects()) == sorted(f"[GEA {n}] Counter complaint" for n in (first, second))


def test_a_lost_answer_is_parked_not_sent_again_and_marked_sent_by_a_person(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    number = new_ticket(enabled)
    fake.fail_next(Drop(create=True))

    report = push(db_url, settings)

    assert [f.ticket_number for f in report.parked] == [number]
    row = outbox(enabled, number)
    assert row["state"] == "parked"
    assert "answer was lost" in row["last_error"]
    assert f"[GEA {number}]" in row["last_error"]
    enabled.execute("UPDATE osticket_outbox SET next_attempt_at = now() - interval '1 day'")
    assert push(db_url, settings).sent == []
    assert len(fake.requests) == 1
    assert len(fake.tickets) == 1

    env = osticket_env(db_url, fake)
    listed = run_cli("osticket-push", "--parked", env=env)
    assert listed.returncode == 0, listed.stderr
    assert number in listed.stdout
    assert "answer was lost" in listed.stdout
    assert "--mark-sent" in listed.stdout
    assert "--retry" in listed.stdout
    as_json = json.loads(run_cli("osticket-push", "--parked", "--json", env=env).stdout)
    assert [r["ticket_number"] for r in as_json] == [number]

    remote = fake.tickets[0].number
    marked = run_cli("osticket-push", "--mark-sent", number, "--remote-id", f"#{remote}", env=env)
    assert marked.returncode == 0, marked.stderr
    assert f"osTicket #{remote}" in marked.stdout
    row = outbox(enabled, number)
    assert (row["state"], row["remote_id"]) == ("sent", remote)
    assert run_cli("osticket-push", "--parked", env=env).stdout.startswith("No parked tickets")
    assert push(db_url, settings).sent == []
    assert len(fake.tickets) == 1


def test_a_parked_ticket_missing_in_osticket_is_sent_again_after_retry(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    number = new_ticket(enabled)
    fake.fail_next(Drop(create=False))
    assert [f.ticket_number for f in push(db_url, settings).parked] == [number]
    assert fake.tickets == []

    env = osticket_env(db_url, fake)
    retried = run_cli("osticket-push", "--retry", number, env=env)
    assert retried.returncode == 0, retried.stderr
    assert outbox(enabled, number)["state"] == "pending"

    sent = run_cli("osticket-push", env=env)
    assert sent.returncode == 0, sent.stderr
    assert "1 sent" in sent.stdout
    assert number in sent.stdout
    assert fake.subjects() == [f"[GEA {number}] Counter complaint"]
    assert outbox(enabled, number)["attempts"] == 2


def test_an_answer_later_than_the_timeout_is_parked(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    number = new_ticket(enabled)
    stall = Stall()
    fake.fail_next(stall)

    report = push(db_url, settings, timeout=httpx.Timeout(0.5, connect=5.0))

    assert [f.ticket_number for f in report.parked] == [number]
    assert "ReadTimeout" in outbox(enabled, number)["last_error"]
    stall.release()
    fake.wait_idle()
    assert fake.subjects() == [f"[GEA {number}] Counter complaint"]  # osTicket made it after all
    make_due(enabled)
    assert push(db_url, settings).sent == []
    assert len(fake.tickets) == 1


def test_a_row_left_sending_by_a_dead_sender_is_parked(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    dead, live = new_ticket(enabled), new_ticket(enabled)
    enabled.execute(
        "UPDATE osticket_outbox o SET state = 'sending', attempts = 1, claimed_at = now() - "
        "CASE WHEN t.ticket_number = %s THEN interval '11 minutes' ELSE interval '1 minute' END "
        "FROM tickets t WHERE t.ticket_id = o.ticket_id",
        (dead,),
    )

    report = push(db_url, settings)

    assert [f.ticket_number for f in report.parked] == [dead]
    assert "never recorded an answer" in outbox(enabled, dead)["last_error"]
    assert outbox(enabled, live)["state"] == "sending"  # its sender may still be waiting
    assert fake.requests == []


def test_two_pushers_at_once_create_each_ticket_once(db_url: URL, enabled: Conn, fake: FakeOsticket) -> None:
    numbers = [new_ticket(enabled) for _ in range(30)]
    env = process_env(osticket_env(db_url, fake))
    assert GEA_SERVER is not None
    runs = [
        subprocess.Popen(
            [GEA_SERVER, "osticket-push", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    sent = [d["ticket_number"] for report in reports for d in report["sent"]]
    assert sorted(sent) == sorted(numbers)
    assert sorted(fake.subjects()) == sorted(f"[GEA {n}] Counter complaint" for n in numbers)
    assert remote_ids(enabled) == {
        t.subject.split("]")[0].removeprefix("[GEA "): t.number for t in fake.tickets
    }


def test_a_pusher_skips_the_ticket_another_is_sending(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    numbers = [new_ticket(enabled) for _ in range(5)]
    stall = Stall()
    fake.fail_next(stall)  # the first pusher's first request waits here, its row 'sending'
    first: list[osticket.PushReport] = []
    thread = threading.Thread(target=lambda: first.append(push(db_url, settings)))
    thread.start()
    try:
        fake.wait_for_requests(1)
        second = push(db_url, settings)
    finally:
        stall.release()
        thread.join(timeout=60)

    assert [d.ticket_number for d in second.sent] == numbers[1:]
    assert [d.ticket_number for d in first[0].sent] == numbers[:1]
    assert sorted(fake.subjects()) == sorted(f"[GEA {n}] Counter complaint" for n in numbers)
    assert remote_ids(enabled) == {
        t.subject.split("]")[0].removeprefix("[GEA "): t.number for t in fake.tickets
    }


def remote_ids(conn: Conn) -> dict[str, str]:
    rows = conn.execute(
        "SELECT t.ticket_number, o.remote_id FROM osticket_outbox o JOIN tickets t USING (ticket_id) "
        "WHERE o.state = 'sent'"
    ).fetchall()
    return {str(number): str(remote_id) for number, remote_id in rows}


# --- what IT is told -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("set_up", "hint"),
    [
        (lambda f: setattr(f, "api_key", "F" * 32), "GEA_SERVER_OSTICKET_API_KEY"),
        (lambda f: setattr(f, "key_ip", "10.9.8.7"), "the address this server reaches osTicket from"),
        (lambda f: setattr(f, "key_active", False), "set it Active"),
        (lambda f: setattr(f, "can_create_tickets", False), "Can Create Tickets"),
    ],
    ids=["unknown-key", "key-bound-to-another-address", "key-disabled", "key-may-not-create"],
)
def test_a_refused_key_says_what_to_fix_in_osticket(
    db_url: URL,
    enabled: Conn,
    settings: ServerSettings,
    fake: FakeOsticket,
    set_up: Any,
    hint: str,
) -> None:
    number, other = new_ticket(enabled), new_ticket(enabled)
    set_up(fake)

    report = push(db_url, settings)

    [failure] = report.retrying
    assert failure.ticket_number == number
    assert "HTTP 401" in failure.error
    assert hint in failure.error
    assert report.stopped == failure.error
    assert outbox(enabled, other)["attempts"] == 0
    assert API_KEY not in json.dumps(report.as_json()) + report.summary()


def test_osticket_refusing_the_ticket_is_retried_with_its_words(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    first, second = new_ticket(enabled), new_ticket(enabled)
    fake.max_open_tickets = 1  # every GEA ticket comes from one sender address

    report = push(db_url, settings)

    assert [d.ticket_number for d in report.sent] == [first]
    [failure] = report.retrying
    assert failure.ticket_number == second
    assert report.stopped is None
    assert "maximum open tickets" in failure.error
    assert "Maximum Open Tickets to 0" in failure.error


def test_the_key_is_in_no_output_log_or_repr(
    db_url: URL,
    enabled: Conn,
    settings: ServerSettings,
    fake: FakeOsticket,
    caplog: pytest.LogCaptureFixture,
) -> None:
    new_ticket(enabled)
    new_ticket(enabled)
    fake.fail_next(Answer(400, f"echoing X-API-Key: {API_KEY}"))  # a proxy that repeats headers
    caplog.set_level(logging.DEBUG)

    report = push(db_url, settings)

    assert len(report.sent) == 1
    assert len(report.retrying) == 1
    assert "[API key]" in report.retrying[0].error
    sender = osticket_api.endpoint(settings)
    stored = enabled.execute(
        "SELECT string_agg(coalesce(last_error, ''), ' ') FROM osticket_outbox"
    ).fetchone()
    for text in (
        caplog.text,
        repr(sender),
        repr(settings),
        report.summary(),
        json.dumps(report.as_json()),
        str(stored),
    ):
        assert API_KEY not in text


def test_the_command_needs_the_osticket_settings(db_url: URL) -> None:
    neither = run_cli("osticket-push", env=cli_env(db_url))
    assert neither.returncode == 2
    assert "GEA_SERVER_OSTICKET_URL" in neither.stderr
    assert "Traceback" not in neither.stderr

    only_url = run_cli(
        "osticket-push", env=cli_env(db_url, GEA_SERVER_OSTICKET_URL="https://helpdesk.gov.gd")
    )
    assert only_url.returncode == 2
    assert "go together" in only_url.stderr


def test_the_command_prints_what_it_did_and_fails_when_a_ticket_did_not_go(
    db_url: URL, enabled: Conn, fake: FakeOsticket
) -> None:
    env = osticket_env(db_url, fake)
    nothing = run_cli("osticket-push", env=env)
    assert nothing.returncode == 0
    assert "nothing was due" in nothing.stdout
    assert fake.url in nothing.stdout

    number = new_ticket(enabled)
    fake.fail_next(Answer(500, "Unable to create new ticket :Issue Details: This field is required"))
    failed = run_cli("osticket-push", env=env)
    assert failed.returncode == 1, failed.stderr
    assert f"retry   {number}" in failed.stdout
    assert "This field is required" in failed.stdout

    make_due(enabled)
    sent = run_cli("osticket-push", "--json", env=env)
    assert sent.returncode == 0, sent.stderr
    report = json.loads(sent.stdout)
    assert report["sent"] == [{"ticket_number": number, "remote_id": fake.tickets[0].number}]
    assert (report["pending"], report["parked_waiting"], report["queueing"]) == (0, 0, True)


def test_the_command_says_when_the_database_does_not_queue(db_url: URL, fake: FakeOsticket) -> None:
    result = run_cli("osticket-push", env=osticket_env(db_url, fake))
    assert result.returncode == 0
    assert "does not queue new tickets" in result.stdout
    assert "gea-server migrate" in result.stdout


def test_settling_commands_check_what_they_are_given(
    db_url: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    env = osticket_env(db_url, fake)
    number = new_ticket(enabled)
    push(db_url, settings)
    cases: list[tuple[tuple[str, ...], int, str]] = [
        (("--retry", "12345"), 2, "not a GEA ticket number"),
        (("--mark-sent", number), 2, "--mark-sent needs --remote-id"),
        (("--remote-id", "7"), 2, "--remote-id goes with --mark-sent"),
        (("--mark-sent", number, "--remote-id", "a b"), 2, "no spaces"),
        (("--parked", "--retry", number), 2, "go one at a time"),
        (("--retry", "209901-999999"), 1, "No ticket 209901-999999"),
        (("--retry", number), 1, f"already in osTicket as #{fake.tickets[0].number}"),
        (("--mark-sent", number, "--remote-id", "9"), 1, "already in osTicket"),
    ]
    for args, status, words in cases:
        result = run_cli("osticket-push", *args, env=env)
        assert (result.returncode, words in result.stderr) == (status, True), (args, result.stderr)

    waiting = new_ticket(enabled)
    result = run_cli("osticket-push", "--retry", waiting, env=env)
    assert result.returncode == 1
    assert "waiting to be sent" in result.stderr


# --- as the API's role -----------------------------------------------------------------------

OSTICKET_DOC = Path(__file__).parents[2] / "docs" / "osticket.md"


@pytest.fixture
def push_role(db_url: URL) -> Iterator[URL]:
    """A login role given exactly the grants docs/osticket.md prints; its URL."""
    grants = documented_grants(OSTICKET_DOC, "## The grants it needs")
    with login_role(db_url, grants, prefix="gea_ost") as url:
        yield url


def test_the_documented_grants_are_enough_to_push_and_settle(
    push_role: URL, enabled: Conn, settings: ServerSettings, fake: FakeOsticket
) -> None:
    first, second = new_ticket(enabled), new_ticket(enabled)
    fake.fail_next(Answer(500, "Unable to create new ticket :unknown error"))
    report = push(push_role, settings)
    assert [f.ticket_number for f in report.retrying] == [first]
    assert [d.ticket_number for d in report.sent] == [second]
    make_due(enabled)
    fake.fail_next(Drop(create=False))
    assert [f.ticket_number for f in push(push_role, settings).parked] == [first]

    env = osticket_env(push_role, fake)
    assert run_cli("osticket-push", "--parked", env=env).returncode == 0
    retried = run_cli("osticket-push", "--retry", first, env=env)
    assert retried.returncode == 0, retried.stderr
    pushed = run_cli("osticket-push", env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert outbox(enabled, first)["state"] == "sent"
    assert sorted(fake.subjects()) == sorted(f"[GEA {n}] Counter complaint" for n in (first, second))
